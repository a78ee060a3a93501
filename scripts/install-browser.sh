#!/bin/sh
# Debian's Chromium for the browser tests (tests/test_browser.py), called by `make install-dev`.
# Installs it when it is missing and this may (root, with apt-get); otherwise says why not, and those
# tests are skipped with that reason in pytest's summary. Never fails the build: the rest of the suite
# does not need a browser. Playwright drives this Chromium; it never downloads one of its own.
set -u
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$chromium" ]; then
    echo "browser tests: using $("$chromium" --version 2>/dev/null || echo "$chromium")"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "browser tests: no Chromium at $chromium and no root apt-get to install it; they will be skipped" \
         "(install Debian's chromium package, or set CHROMIUM_PATH)" >&2
    exit 0
fi
echo "browser tests: installing Debian's chromium package"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
    echo "browser tests: apt-get install chromium failed; they will be skipped" >&2
fi
exit 0
