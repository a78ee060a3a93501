"""The gRPC server a gunicorn worker runs beside its HTTP loop (gunicorn_worker.EventWorker starts and stops it).

Every worker binds GRPC_PORT with SO_REUSEPORT, so the kernel shares new gRPC connections between them as it
does HTTP's, and a worker gunicorn replaces brings its gRPC side back with it. Calls are answered in GRPC_THREADS
threads that call the worker's own ModelWrapper, whose micro-batcher HTTP's request threads use too: no second
copy of the model. grpc's C core reads every connection and message outside Python, and a call reaches a thread
only once its whole message has arrived, so idle and slow connections hold no thread.

Limits: at most GRPC_MAX_CONCURRENT_RPCS calls are held at once (more: RESOURCE_EXHAUSTED); a message over
MAX_CONTENT_LENGTH is refused by grpc's own receive limit (RESOURCE_EXHAUSTED); an idle connection is closed after
GRPC_MAX_CONNECTION_IDLE seconds; every connection is asked to reconnect after GRPC_MAX_CONNECTION_AGE seconds, so
that a long-lived client's next connection may land on another worker (or pod). Also served: grpc.health.v1.Health
(SERVING while the model takes requests, NOT_SERVING once the worker shuts down) and server reflection.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from api.grpc.messages import POOL, SERVICE_NAME
from api.grpc.monitoring import CallMonitor
from api.grpc.service import InferenceService, rpc_handler
from config import Settings
from core.model import ModelWrapper

logger = logging.getLogger("max_fashion_mnist.server")

OVERALL_HEALTH = ""  # grpc.health.v1's name for the server as a whole


def server_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.so_reuseport", 1),
        ("grpc.max_receive_message_length", settings.max_content_length),
        ("grpc.max_connection_idle_ms", int(settings.grpc_max_connection_idle * 1000)),
        ("grpc.max_connection_age_ms", int(settings.grpc_max_connection_age * 1000)),
        ("grpc.max_connection_age_grace_ms", int(settings.graceful_timeout * 1000)),
    ]


class GrpcServer:
    """One worker's gRPC server: started after the model is loaded, stopped gracefully with the worker."""

    def __init__(self, model: ModelWrapper, settings: Settings) -> None:
        self.settings = settings
        self.server = grpc.server(
            ThreadPoolExecutor(max_workers=settings.grpc_threads, thread_name_prefix="grpc"),
            handlers=[rpc_handler(InferenceService(model, settings))],
            interceptors=[CallMonitor(settings.request_log)],
            options=server_options(settings),
            maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs,
        )
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server, pool=POOL
        )
        self.stopped: threading.Event | None = None

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.grpc_port}"

    def start(self) -> None:
        self.server.add_insecure_port(self.address)  # raises RuntimeError when the port cannot be bound
        self.server.start()
        for name in (OVERALL_HEALTH, SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info("gRPC (Open Inference Protocol) listening on %s", self.address)

    def begin_stop(self) -> threading.Event:
        """NOT_SERVING, no new call; the calls in flight are answered within GRACEFUL_TIMEOUT seconds."""
        if self.stopped is None:
            self.health.enter_graceful_shutdown()
            self.stopped = self.server.stop(grace=self.settings.graceful_timeout)
        return self.stopped

    def stop(self) -> None:
        """begin_stop, then wait until the calls in flight are answered (or their grace is over)."""
        self.begin_stop().wait(self.settings.graceful_timeout + 1)
