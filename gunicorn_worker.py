"""The service's gunicorn worker: gunicorn's gevent worker, with the read and write limits a public server needs.

One event loop per worker accepts every connection, keeps it alive, reads its request head and body and writes
its answer; a connection costs a greenlet, not a thread, so idle, slow and abundant clients cannot hold up anyone
else. Only a request whose whole body has arrived (up to MAX_CONTENT_LENGTH) is handed to one of the worker's
THREADS request threads, which runs Flask and the model while the loop goes on accepting and reading.

gunicorn's gevent worker reads a request head within `keepalive` seconds, but reads the body inside the
application with no time limit and writes the answer with none either. Here (config.py):
- HEADER_TIMEOUT: a new connection must send its whole head within that many seconds, else it is closed;
- KEEPALIVE_TIMEOUT: an answered connection must send its next whole head within that many seconds, else it
  is closed;
- BODY_TIMEOUT: the whole body must arrive within that many seconds of the head, else 408 and close;
- SEND_TIMEOUT: a client that takes no byte of its answer, or sends no byte of its body, for that many seconds
  is cut off;
- BODY_BUFFER_BYTES: the bodies a worker is receiving at once hold at most that many bytes; the request whose
  body would pass it is answered 503, so that uploads cannot exhaust the memory.

A module of its own so that `make bench` (benchmarks/fleet.py) can run its bare reference endpoint on the same worker.
"""

from __future__ import annotations

import io
import json
import logging
import resource
import time
from collections.abc import Callable
from typing import NamedTuple

import gevent
import gevent.local
from gevent import socket
from gevent.server import StreamServer
from gevent.threadpool import ThreadPool
from gunicorn import util
from gunicorn.http.wsgi import Response
from gunicorn.workers import ggevent
from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker

from config import SETTINGS

logger = logging.getLogger("max_fashion_mnist.server")


class PrivateHook(NamedTuple):
    """A part of gunicorn or gevent that is not their public API, which this worker replaces, overrides or calls."""

    package: str
    where: str  # "module:attribute.attribute"
    why: str


# What this worker leans on beyond gunicorn's and gevent's public APIs, and the versions it was checked against.
# tests/test_worker.py fails, listing these, when another version is installed: re-check each, then update here.
HOOKS_CHECKED_WITH = {"gunicorn": "27.0.1", "gevent": "26.9.0"}
PRIVATE_HOOKS = (
    PrivateHook(
        "gunicorn",
        "gunicorn.workers.ggevent:StreamServer",
        "the name GeventWorker.run makes its servers from; EventWorker.run puts SharingServer there",
    ),
    PrivateHook(
        "gunicorn",
        "gunicorn.workers.ggevent:GeventWorker.patch",
        "overridden so that gevent does not monkey-patch the standard library",
    ),
    PrivateHook(
        "gunicorn",
        "gunicorn.workers.base_async:AsyncWorker.handle",
        "called directly, skipping GeventWorker.handle, which clears the socket's send timeout",
    ),
    PrivateHook(
        "gunicorn",
        "gunicorn.workers.base_async:AsyncWorker.timeout_ctx",
        "overridden to bound the reading of each request head (header and keep-alive timeouts)",
    ),
    PrivateHook(
        "gunicorn",
        "gunicorn.http.wsgi:Response",
        "built by hand in EventWorker.handle_error: force_close, start_response, write, close",
    ),
    PrivateHook("gunicorn", "gunicorn.util:close_graceful", "closes a refused connection without resetting it"),
    PrivateHook(
        "gunicorn",
        "gunicorn.workers.base:Worker.handle_exit",
        "overridden so that SIGTERM also starts the gRPC server's graceful stop (api/grpc/server.py)",
    ),
    PrivateHook(
        "gevent",
        "gevent.server:StreamServer.do_read",
        "overridden to pause accepting while the worker is busy (SharingServer)",
    ),
    PrivateHook(
        "gevent",
        "gevent.baseserver:BaseServer.stop_accepting",
        "with start_accepting, pauses and resumes accepting (SharingServer)",
    ),
    PrivateHook(
        "gevent",
        "gevent.baseserver:BaseServer.set_spawn",
        "makes the server's pool, whose size SharingServer.do_read reads as the connections held",
    ),
)

# Descriptors a worker needs besides its connections: the model, logs, metrics files, the listening socket.
SPARE_FILE_DESCRIPTORS = 256
READ_CHUNK_BYTES = 256 * 1024


class RefusedRequestError(Exception):
    """A request the worker answers itself, before the app: its status line, and the message for the client."""

    status: str

    def message(self) -> str:
        raise NotImplementedError


class BodyTimeoutError(RefusedRequestError):
    status = "408 Request Timeout"

    def message(self) -> str:
        return f"The request body did not arrive within {SETTINGS.body_timeout:g} s."


class BodyBufferFullError(RefusedRequestError):
    status = "503 Service Unavailable"

    def message(self) -> str:
        return "The server is receiving too many uploads at once; retry shortly."


class EventWorker(GeventWorker):
    """gunicorn's gevent worker: header, keep-alive, body and send timeouts, bodies read whole, the app run in
    request threads (module docstring)."""

    def patch(self) -> None:
        """The listening sockets become gevent's, and nothing else: gevent's worker monkey-patches the standard
        library, which would turn the request threads (and the micro-batcher's) into greenlets of the loop."""
        self.sockets = [socket.socket(s.FAMILY, socket.SOCK_STREAM, fileno=s.sock.detach()) for s in self.sockets]

    def run(self) -> None:
        SharingServer.busy_at = SETTINGS.threads
        SharingServer.yield_s = SETTINGS.accept_yield_ms / 1000
        ggevent.StreamServer = SharingServer  # gevent's run() makes its servers from this name (this process only)
        try:
            super().run()
        finally:
            if self.grpc is not None:  # after HTTP's drain: the gRPC calls still in flight are answered too
                self.grpc.stop()

    def handle_exit(self, sig, frame) -> None:
        """SIGTERM: HTTP stops accepting (gunicorn), gRPC at once too, and says NOT_SERVING to health checks."""
        super().handle_exit(sig, frame)
        if self.grpc is not None:
            self.grpc.begin_stop()

    def init_process(self) -> None:
        self.connection = gevent.local.local()  # per greenlet, i.e. per connection: requests answered on it
        raise_file_limit(self.cfg.worker_connections + SPARE_FILE_DESCRIPTORS, self.log)
        super().init_process()

    grpc = None  # this worker's api.grpc.server.GrpcServer, when GRPC_PORT is set

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.grpc = start_grpc(self.wsgi)
        threads = ThreadPool(SETTINGS.threads)
        threads.size = SETTINGS.threads  # all started now: a worker's thread count does not drift with its load
        self.wsgi = BodyFirst(
            InThreads(self.wsgi, threads),
            SETTINGS.max_content_length,
            SETTINGS.body_timeout,
            SETTINGS.body_buffer_bytes,
            self.close_after_answer,
        )

    def handle(self, listener, client, addr) -> None:
        # A timeout on each send and receive: a client that neither reads its answer nor sends its body is
        # cut off (gevent's worker otherwise makes the socket blocking, with no limit).
        client.settimeout(SETTINGS.send_timeout)
        self.connection.answered = 0
        AsyncWorker.handle(self, listener, client, addr)  # not GeventWorker.handle: it clears that timeout

    def timeout_ctx(self):
        """Bounds the reading of each request head (gunicorn's keep-alive loop): closed silently when over."""
        seconds = SETTINGS.keepalive_timeout if self.connection.answered else SETTINGS.header_timeout
        return gevent.Timeout(seconds, False)

    def handle_request(self, listener_name, req, sock, addr):
        self.connection.answered += 1
        self.connection.request = req
        try:
            return super().handle_request(listener_name, req, sock, addr)
        except TimeoutError:  # SEND_TIMEOUT while writing the answer: logged without a traceback
            logger.warning(
                "%s: %s %s: answer not taken for %g s, connection closed",
                client_address(addr),
                req.method,
                req.path,
                SETTINGS.send_timeout,
            )
            raise StopIteration from None

    def close_after_answer(self) -> None:
        """The request being handled leaves body bytes unread (over the size limit): its answer says
        `Connection: close` and the connection is closed after it, instead of reading the rest to reuse it."""
        self.connection.request.must_close = True

    def handle_error(self, req, client, addr, exc) -> None:
        """A request the worker refuses (RefusedRequestError) gets a JSON answer, then the connection is closed;
        every other error as gunicorn answers it."""
        if not isinstance(exc, RefusedRequestError):
            super().handle_error(req, client, addr, exc)
            return
        logger.warning("%s: %s %s: %s", client_address(addr), req.method, req.path, exc.status)
        # Imported here, in the worker, where the app has loaded it: the master imports this module and stays
        # without Flask.
        from api.errors import error_body

        body = json.dumps(error_body(req.path, exc.message())).encode()
        answer = Response(req, client, self.cfg)
        answer.force_close()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if isinstance(exc, BodyBufferFullError):
            headers.append(("Retry-After", "1"))
        answer.start_response(exc.status, headers)
        try:
            answer.write(body)
            answer.close()
        except OSError:
            return  # the client is gone
        util.close_graceful(client)  # the client may still be sending: a plain close would reset, losing the answer


class BodyFirst:
    """WSGI middleware: reads the whole request body (at most max_bytes + 1) within timeout_s, then calls the app
    with it in memory, so the app never waits on the network (a body over the limit still gets the app's own
    413). A body declared larger than max_bytes is left unread: the app refuses it without reading it. Either
    way oversized() is called (the worker then closes the connection after the answer). The bodies being
    received hold at most budget_bytes between them."""

    def __init__(
        self, app, max_bytes: int, timeout_s: float, budget_bytes: int, oversized: Callable[[], None] = lambda: None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.budget_bytes = budget_bytes
        self.oversized = oversized
        self.held_bytes = 0  # bodies being received now, in this worker

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        declared = int(length) if length and length.isdigit() and not chunked else 0
        if declared > self.max_bytes:
            self.oversized()
        elif chunked or declared:
            wanted = self.max_bytes + 1 if chunked else declared
            try:
                with gevent.Timeout(self.timeout_s, BodyTimeoutError):
                    body = self.receive(environ["wsgi.input"], wanted)
            except TimeoutError:  # no byte for SEND_TIMEOUT
                raise BodyTimeoutError() from None
            if len(body) > self.max_bytes:
                self.oversized()
            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def receive(self, stream, wanted: int) -> bytes:
        chunks, received = [], 0
        try:
            while received < wanted:
                chunk = stream.read(min(READ_CHUNK_BYTES, wanted - received))
                if not chunk:
                    break  # shorter than announced: the app says what is wrong with it
                received += len(chunk)
                self.held_bytes += len(chunk)
                if self.held_bytes > self.budget_bytes:
                    raise BodyBufferFullError()
                chunks.append(chunk)
        finally:
            self.held_bytes -= received
        return b"".join(chunks)


class InThreads:
    """WSGI middleware: runs the app in one of `threads` (real threads) and gives its whole answer back to the
    event loop, which sends it. The loop keeps accepting and reading while Flask and the model work (ONNX Runtime
    and image decoding release the GIL), and concurrent requests can share a forward pass (core/batching.py)."""

    def __init__(self, app, threads: ThreadPool) -> None:
        self.app = app
        self.threads = threads

    def __call__(self, environ, start_response):
        status_and_headers, chunks = self.threads.apply(self.answer, (environ,))
        start_response(*status_and_headers)
        return chunks

    def answer(self, environ) -> tuple[list, list[bytes]]:
        """In a request thread: the app's status, headers and body."""
        status_and_headers = []

        def start_response(status, headers, exc_info=None):
            status_and_headers[:] = [status, headers]

        body = self.app(environ, start_response)
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        return status_and_headers, chunks


class SharingServer(StreamServer):
    """gevent's server, sharing new connections out between the workers: every worker waits on the one
    listening socket, and a worker that already holds `busy_at` connections lets `yield_s` pass before it
    accepts another, so that a less busy worker, woken by the same connection, takes it first (when none
    does, this one still takes it after the pause)."""

    busy_at = 0
    yield_s = 0.0
    accept_until = 0.0  # just after a pause: accept whatever is waiting

    def do_read(self):
        if self.yield_s and len(self.pool) >= self.busy_at and time.monotonic() > self.accept_until:
            self.stop_accepting()
            self._timer = self.loop.timer(self.yield_s)
            self._timer.start(self.after_pause)
            return None
        return super().do_read()

    def after_pause(self) -> None:
        self.accept_until = time.monotonic() + self.yield_s
        if self.started:  # not closed meanwhile (the worker stopping)
            self.start_accepting()


def start_grpc(app):
    """The worker's gRPC server on the app's loaded model; None with GRPC_PORT=0, or for an app that serves no
    model (make bench's bare reference endpoint runs on this worker too). Made here, after the fork: grpcio must
    not be set up in a process that forks afterwards (gunicorn's master), so it is imported here too."""
    if not SETTINGS.grpc_port:
        return None
    from api import MODEL_EXTENSION

    model = getattr(app, "extensions", {}).get(MODEL_EXTENSION)
    if model is None:
        return None
    from api.grpc.server import GrpcServer

    server = GrpcServer(model, SETTINGS)
    server.start()
    return server


def client_address(addr) -> str:
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) and len(addr) >= 2 else str(addr)


def raise_file_limit(needed: int, log) -> None:
    """Lift this process's soft limit on open files to `needed` (at most the hard limit): one descriptor per
    connection, and a container's default soft limit may be 1 024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        log.warning("open-file limit %d is below the %d that MAX_CONNECTIONS needs", target, needed)
