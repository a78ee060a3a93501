"""The service's gunicorn worker: gthread, with a deadline on each request and connections shared out fairly.

A module of its own so that benchmarks/bench.py can run its bare reference endpoint on the same worker
(gunicorn.conf.py, the service's settings, is not importable by that name).
"""
from __future__ import annotations

import socket
import threading
import time

from gunicorn.workers.gthread import ThreadWorker

import config as service


class DeadlineThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, with a deadline on each request (config.REQUEST_TIMEOUT); accept() shares
    bursts of connections between the workers.

    gthread reads a request's headers and body in a pool thread with blocking reads and no time limit, so a
    client sending a byte every half second holds that thread indefinitely, and THREADS such clients stop the
    worker answering anyone (gunicorn's `timeout` only watches the worker's main loop, which stays alive).
    Here a request gets a deadline when a thread takes it up; the main loop, which wakes at least once a
    second, then stops the reading side of its connection: a blocked read returns at once and the thread is
    free, while a request already read and being answered is not disturbed. A client that still has not
    taken its answer one more REQUEST_TIMEOUT later (one that does not read it) has its connection closed.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = {}  # connection -> [time.monotonic() deadline, reading stopped], requests being handled
        self.deadlines_lock = threading.Lock()

    def handle(self, conn):
        with self.deadlines_lock:
            self.deadlines[conn] = [time.monotonic() + service.REQUEST_TIMEOUT, False]
        try:
            return super().handle(conn)
        finally:
            with self.deadlines_lock:
                self.deadlines.pop(conn, None)

    def accept(self, listener) -> None:
        """Leave a new connection to a less busy worker while this one already holds its share.

        Every worker waits on the one listening socket, and the first to wake takes a whole burst: 16
        keep-alive connections opened together often all land in one worker (measured: all 16, or 15 of 16,
        in 4 of 8 runs), which then serves them on one core while the other worker idles (605 against ~1 500
        req/s). A worker that already holds THREADS connections waits ACCEPT_YIELD_MS before it takes another,
        so that an idle worker, woken by the same connection, takes it first; when none does, this one still
        takes it after the pause. Measured: 16 connections split 8/8 in 8 of 8 runs, ~1 650 req/s. The pause
        blocks only this worker's main loop, and only while it is that busy: clients without keep-alive at c=16
        lost nothing (1 211 against 1 190 req/s). (gunicorn's reuse_port spreads connections too, but a
        restarting worker then refuses or resets the connections meant for it: 1 074 of 12 000 requests failed.)
        """
        if self.nr_conns >= self.cfg.threads:
            time.sleep(service.ACCEPT_YIELD_MS / 1000.0)
        super().accept(listener)

    def murder_pending(self) -> None:
        """Called by the main loop every time it wakes: also enforce the requests' deadlines."""
        super().murder_pending()
        now = time.monotonic()
        with self.deadlines_lock:
            for conn, entry in list(self.deadlines.items()):
                deadline, reading_stopped = entry
                if now < deadline:
                    continue
                if reading_stopped:
                    del self.deadlines[conn]
                    shutdown(conn.sock, socket.SHUT_RDWR)
                    continue
                self.log.warning("%s: request not done within %.0f s, no longer reading from it",
                                 conn.client, service.REQUEST_TIMEOUT)
                entry[:] = [deadline + service.REQUEST_TIMEOUT, True]
                shutdown(conn.sock, socket.SHUT_RD)


def shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass  # already closed by its thread
