"""Operations on the gRPC side: Prometheus counters and latency histograms by method and status code, and one log
line per call, like HTTP's (api/monitoring.py; /metrics serves both)."""

from __future__ import annotations

import functools
import logging
import time

import grpc
from prometheus_client import Counter, Histogram

from api.monitoring import LATENCY_BUCKETS

logger = logging.getLogger("max_fashion_mnist.requests")

GRPC_REQUESTS = Counter(
    "fashion_mnist_grpc_requests",
    "gRPC calls answered, by method and status code",
    ["method", "code"],
)
GRPC_LATENCY = Histogram(
    "fashion_mnist_grpc_request_duration_seconds",
    "Time from a gRPC call's arrival to its answer, by method and status code",
    ["method", "code"],
    buckets=LATENCY_BUCKETS,
)


@functools.lru_cache(maxsize=256)  # bounded label set: the services' methods × status codes
def call_metrics(method: str, code: str) -> tuple:
    return GRPC_REQUESTS.labels(method=method, code=code), GRPC_LATENCY.labels(method=method, code=code)


class CallMonitor(grpc.ServerInterceptor):
    """Counts, times and logs every unary call the server has a method for (an unknown method is answered
    UNIMPLEMENTED by grpc itself, before any handler)."""

    def __init__(self, request_log: bool) -> None:
        self.request_log = request_log

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method.lstrip("/")  # "inference.GRPCInferenceService/ModelInfer"
        return handler._replace(unary_unary=self._observed(handler.unary_unary, method))

    def _observed(self, behaviour, method: str):
        def call(request, context: grpc.ServicerContext):
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return behaviour(request, context)
            except Exception:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                self.observe(method, code, time.perf_counter() - started, context)

        return call

    def observe(self, method: str, code: grpc.StatusCode, seconds: float, context: grpc.ServicerContext) -> None:
        count, latency = call_metrics(method, code.name)
        count.inc()
        latency.observe(seconds)
        if self.request_log and logger.isEnabledFor(logging.INFO):
            logger.info(
                "gRPC %s %s %.1f ms",
                method,
                code.name,
                seconds * 1000,
                extra={
                    "method": "gRPC",
                    "path": method,
                    "status": code.name,
                    "duration_ms": round(seconds * 1000, 3),
                    "remote_addr": context.peer(),
                },
            )
