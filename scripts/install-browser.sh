#!/bin/sh
# Debian's Chromium for the browser tests (tests/test_browser.py), called by `make install-dev`. Without it those
# tests are skipped with that reason in pytest's summary; the rest of the suite does not need a browser.
# Playwright drives this Chromium; it never downloads one of its own.
exec sh "$(dirname "$0")/install-debian-tool.sh" "browser tests" "${CHROMIUM_PATH:-/usr/bin/chromium}" chromium \
    "they will be skipped (or set CHROMIUM_PATH)"
