#!/bin/sh
# Debian's hey, the HTTP load generator that `make bench` drives (benchmarks/hey.py), called by
# `make install-dev` and `make install-hey`. Without it `make bench` stops with a message naming `make install-hey`;
# only the benchmark needs it.
exec sh "$(dirname "$0")/install-debian-tool.sh" bench hey hey "make bench needs it"
