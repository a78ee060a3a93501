"""Operations on the HTTP side: GET /metrics (Prometheus), request metrics and one log line per request."""

from __future__ import annotations

import functools
import logging
import os
import time

from flask import Flask, Response, g, request
from flask_restx import Namespace, Resource
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

logger = logging.getLogger("max_fashion_mnist.requests")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # the endpoint label of a request no route matched: keeps the label set bounded
# Any other method a client invents is counted as OTHER_METHOD, for the same reason.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"

HTTP_REQUESTS = Counter(
    "fashion_mnist_http_requests",
    "HTTP requests answered, by method, route and status",
    ["method", "endpoint", "status"],
)
HTTP_LATENCY = Histogram(
    "fashion_mnist_http_request_duration_seconds",
    "Time from request start to response, by method, route and status",
    ["method", "endpoint", "status"],
    buckets=LATENCY_BUCKETS,
)

operations = Namespace("metrics", path="/metrics", description="Prometheus metrics")


@operations.route("")
class Metrics(Resource):
    @operations.produces([CONTENT_TYPE_LATEST])
    def get(self):
        """Prometheus text format: request counts and latencies, batch sizes, predictions per class, load time"""
        # content_type, not mimetype: Werkzeug appends "; charset=utf-8" to a mimetype, and CONTENT_TYPE_LATEST
        # already has one; a parameter twice is a Content-Type Prometheus 3 cannot parse, and it fails the scrape.
        return Response(generate_latest(current_registry()), content_type=CONTENT_TYPE_LATEST)


def current_registry() -> CollectorRegistry:
    """Every worker's samples merged (multiprocess mode), or this process's own."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def start_timer() -> None:
    g.request_started = time.perf_counter()


def observe(response: Response, request_log: bool = True) -> Response:
    """Counts and times every answer, errors included, and logs it (with the REQUEST_LOG setting)."""
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    method = request.method if request.method in KNOWN_METHODS else OTHER_METHOD
    count, latency = request_metrics(method, endpoint, response.status_code)
    count.inc()
    latency.observe(seconds)
    if request_log and logger.isEnabledFor(logging.INFO):  # no record built for a dropped line
        logger.info(
            "%s %s %d %.1f ms",
            request.method,
            request.path,
            response.status_code,
            seconds * 1000,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 3),
                "remote_addr": request.remote_addr,
            },
        )
    return response


@functools.lru_cache(maxsize=1024)  # bounded label set: known methods × routes × statuses
def request_metrics(method: str, endpoint: str, status: int) -> tuple:
    """The labelled request counter and histogram, looked up once (labels() takes a lock and builds a key)."""
    labels = {"method": method, "endpoint": endpoint, "status": str(status)}
    return HTTP_REQUESTS.labels(**labels), HTTP_LATENCY.labels(**labels)


def register_monitoring(app: Flask, request_log: bool) -> None:
    app.before_request(start_timer)
    app.after_request(functools.partial(observe, request_log=request_log))
