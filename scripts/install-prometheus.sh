#!/bin/sh
# Debian's Prometheus server for tests/test_prometheus.py, which scrapes the real service's GET /metrics with it;
# called by `make install-dev` and `make install-prometheus`. Installs it when it is missing and this may (root,
# with apt-get); otherwise says why not, and that test is skipped with that reason in pytest's summary. Never
# fails the build: the rest of the suite does not need Prometheus. The package's own service is not wanted (the
# test starts its own server on a free port); where there is no init system it does not start one anyway.
# apt-get waits up to 300 s for another apt-get's lock.
set -u
prometheus="${PROMETHEUS_PATH:-prometheus}"

if command -v "$prometheus" >/dev/null 2>&1; then
    echo "prometheus test: using $("$prometheus" --version 2>/dev/null | head -n 1 || command -v "$prometheus")"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "prometheus test: no prometheus on PATH and no root apt-get to install it; it will be skipped" \
         "(install Debian's prometheus package, or set PROMETHEUS_PATH)" >&2
    exit 0
fi
echo "prometheus test: installing Debian's prometheus package"
if ! { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
       DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
           prometheus >/dev/null; }; then
    echo "prometheus test: apt-get install prometheus failed; it will be skipped" >&2
fi
exit 0
