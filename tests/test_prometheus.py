"""Integration: a real Prometheus server scrapes GET /metrics of the real service (2 gunicorn workers) and its
HTTP API answers the requests we sent.

Debian's prometheus (bookworm: 2.42) is the server; `make install-prometheus` installs it (as root), and without
a prometheus binary this test is skipped with that reason. Prometheus 3 fails any scrape whose Content-Type it
cannot parse, and the duplicate charset that Werkzeug used to append ("...; charset=utf-8; charset=utf-8") is
one: the target is down and its lastError names the Content-Type. Prometheus 2.x tolerates it (it falls back to
the text parser), logging "Invalid content type on scrape" at debug level only; so Prometheus runs here with
--log.level=debug and the test fails on that line too. The exact header is guarded without Prometheus as well,
by tests/test_monitoring.py.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.imaging import sample_files
from tooling.bursts import REQUEST_LINE
from tooling.live_server import free_port, serving, spawn, stop_server, wait_for_workers, wait_until

PROMETHEUS = shutil.which(os.environ.get("PROMETHEUS_PATH", "prometheus"))
pytestmark = [
    pytest.mark.integration,
    pytest.mark.owns_server,  # two workers of its own, whose request log it reads
    pytest.mark.skipif(
        PROMETHEUS is None,
        reason="no prometheus binary on PATH: `make install-prometheus` installs "
        "Debian's as root (scripts/install-prometheus.sh), or set PROMETHEUS_PATH",
    ),
]

JOB = "fashion-mnist"
PREDICTIONS_PER_ROUND = 12
CONNECTIONS = 4  # in parallel, one connection per prediction: the two workers accept them
MAX_ROUNDS = 5  # until both workers have served some
WAIT_S = 60  # a bound on waiting for the log, a scrape or a query, never a pause
POLL_S = 0.2
TIMEOUT_S = 30
PREDICT = '{endpoint="/model/predict",method="POST",status="200"}'
CONTENT_TYPE_FALLBACK = "Invalid content type on scrape"  # Prometheus 2.x, debug level


def predicting_workers(log_path: Path) -> list[str]:
    """The pid of the worker that answered each logged POST /model/predict 200, in order."""
    return [
        match[1]
        for line in log_path.read_text().splitlines()
        if "POST /model/predict 200" in line and (match := REQUEST_LINE.search(line))
    ]


def poll(answer, what: str, timeout_s: float = WAIT_S):
    """answer() every POLL_S until it returns something other than None; AssertionError naming `what` after."""
    deadline = time.monotonic() + timeout_s
    while (result := answer()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s:.0f} s")
        time.sleep(POLL_S)
    return result


def send_predictions(base_url: str, log_path: Path) -> tuple[int, set[str]]:
    """Rounds of predictions over parallel connections until both workers have served some; how many were sent
    and the pids that served them."""
    images = [(path.name, path.read_bytes()) for path in sample_files()]

    def predict(index: int) -> int:
        name, content = images[index % len(images)]
        return requests.post(
            f"{base_url}/model/predict", files={"image": (name, content)}, timeout=TIMEOUT_S
        ).status_code

    sent = 0
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        for _ in range(MAX_ROUNDS):
            assert set(pool.map(predict, range(sent, sent + PREDICTIONS_PER_ROUND))) == {200}
            sent += PREDICTIONS_PER_ROUND
            pids = poll(
                lambda logged=sent: pids if len(pids := predicting_workers(log_path)) == logged else None,
                f"{sent} request log lines",
            )
            if len(set(pids)) == 2:
                return sent, set(pids)
    raise AssertionError(f"one worker served all {sent} predictions: {set(pids)}")


def prometheus_config(path: Path, service_port: int) -> Path:
    path.write_text(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: {JOB}
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{service_port}"]
""")
    return path


def query(prometheus_url: str, promql: str) -> list[dict]:
    answer = requests.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=TIMEOUT_S).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def scalar(prometheus_url: str, promql: str) -> float:
    """The one value of an instant query, once Prometheus has one (an empty result: not scraped yet)."""
    result = poll(lambda: query(prometheus_url, promql) or None, f"result for {promql}")
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def scraped_target(prometheus_url: str) -> dict:
    """Our one target, once a scrape of it succeeded; AssertionError with the target (its lastError) if none
    did within WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        active = requests.get(f"{prometheus_url}/api/v1/targets", timeout=TIMEOUT_S).json()["data"]["activeTargets"]
        if active:  # empty until Prometheus has read the static config
            assert [target["labels"]["job"] for target in active] == [JOB], active
            if active[0]["health"] == "up":
                return active[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no successful scrape within {WAIT_S} s: {active}")
        time.sleep(POLL_S)


def test_prometheus_scrapes_both_workers_requests(tmp_path):
    service_log = tmp_path / "gunicorn.log"
    with serving(service_log, {"WORKERS": "2"}) as service:
        wait_for_workers(service_log, 2)
        sent, pids = send_predictions(service.url, service_log)

        port = free_port()
        prometheus_url = f"http://127.0.0.1:{port}"
        prometheus_log = tmp_path / "prometheus.log"
        prometheus = spawn(
            [
                PROMETHEUS,
                f"--config.file={prometheus_config(tmp_path / 'prometheus.yml', service.port)}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=debug",
            ],
            prometheus_log,
            cwd=tmp_path,
        )
        try:
            wait_until(
                prometheus, prometheus_log, lambda: requests.get(f"{prometheus_url}/-/ready", timeout=2).ok or None
            )

            scraped = scraped_target(prometheus_url)
            assert scraped["lastError"] == "", scraped

            assert scalar(prometheus_url, f'up{{job="{JOB}"}}') == 1
            assert scalar(prometheus_url, f"sum(fashion_mnist_http_requests_total{PREDICT})") == sent
            assert scalar(prometheus_url, f"sum(fashion_mnist_http_request_duration_seconds_count{PREDICT})") == sent
            median = scalar(
                prometheus_url,
                f"histogram_quantile(0.5, sum by (le) (fashion_mnist_http_request_duration_seconds_bucket{PREDICT}))",
            )
            assert math.isfinite(median) and median > 0, median
            fallbacks = [line for line in prometheus_log.read_text().splitlines() if CONTENT_TYPE_FALLBACK in line]
            assert not fallbacks, f"Prometheus could not parse the Content-Type of GET /metrics: {fallbacks[0]}"
        finally:
            stop_server(prometheus)
    assert len(pids) == 2
