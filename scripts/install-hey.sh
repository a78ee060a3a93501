#!/bin/sh
# Debian's hey, the HTTP load generator that `make bench` drives (benchmarks/hey.py), called by
# `make install-dev` and `make install-hey`. Installs it when it is missing and this may (root, with apt-get);
# otherwise says why not, and `make bench` stops with a message naming `make install-hey`. Never fails the
# build: only the benchmark needs hey. apt-get waits up to 300 s for another apt-get's lock.
set -u

if command -v hey >/dev/null 2>&1; then
    echo "bench: using $(command -v hey)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bench: hey is not on PATH and there is no root apt-get to install it; make bench needs it" \
         "(install Debian's hey package)" >&2
    exit 0
fi
echo "bench: installing Debian's hey package"
if ! { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
       DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq hey >/dev/null; }; then
    echo "bench: apt-get install hey failed; make bench needs it" >&2
fi
exit 0
