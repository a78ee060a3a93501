#!/bin/sh
# Install one Debian package that a test or a benchmark needs, when its command is missing and this may (root,
# with apt-get); otherwise say why not. Never fails the build: the callers' tests skip (or their benchmark stops)
# with a message of their own. apt-get waits up to 300 s for another apt-get's lock.
# Usage: install-debian-tool.sh WHO COMMAND PACKAGE "WITHOUT IT"
#   WHO: the prefix of every line (e.g. "bench"); COMMAND: a name on PATH or a path; PACKAGE: Debian's package;
#   WITHOUT IT: what happens when it is missing (e.g. "make bench needs it").
set -u
who=$1 command=$2 package=$3 without=$4

if command -v "$command" >/dev/null 2>&1; then
    version=$("$command" --version 2>/dev/null | head -n 1 || true)
    echo "$who: using $(command -v "$command")${version:+ ($version)}"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: no $command and no root apt-get to install it; $without (install Debian's $package package)" >&2
    exit 0
fi
echo "$who: installing Debian's $package package"
if ! { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
       DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
           "$package" >/dev/null; }; then
    echo "$who: apt-get install $package failed; $without" >&2
fi
exit 0
