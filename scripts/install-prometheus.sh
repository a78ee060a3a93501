#!/bin/sh
# Debian's Prometheus server for tests/test_prometheus.py, which scrapes the real service's GET /metrics with it;
# called by `make install-dev` and `make install-prometheus`. Without it that test is skipped with its reason in
# pytest's summary. The package's own service is not wanted (the test starts its own server on a free port); where
# there is no init system it does not start one anyway.
exec sh "$(dirname "$0")/install-debian-tool.sh" "prometheus test" "${PROMETHEUS_PATH:-prometheus}" prometheus \
    "tests/test_prometheus.py will be skipped (or set PROMETHEUS_PATH)"
