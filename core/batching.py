"""Adaptive micro-batching: concurrent requests in one worker share one forward pass.

A traced model call has a fixed cost (about half a millisecond here) whatever the batch size, so under
load it is much cheaper to run 8 waiting images at once than one after another, as TensorFlow Serving's
batching does. Callers submit their rows and wait on a Future; one background thread collects a batch
and runs it. The policy is adaptive: a batch is run when it holds MAX_BATCH_SIZE rows, or
MAX_BATCH_DELAY_MS after its first row was queued, and it waits at all only while there is evidence of
concurrency (more than one row waiting now, or in the last batch). A lone request on a quiet batcher is run
at once in its caller's thread, so a quiet server answers as fast as one without batching: handing it to the
batching thread and back would cost two thread switches (~0.1 ms, measured). Requests that arrive while the
model is busy queue up, and the batching thread runs them together once the model is free.

concurrent.futures' executors run one call per item and cannot merge items, so the queue and the
collecting loop are written here (on the standard library's queue.Queue and Future).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

_STOP = object()  # queued by close(): everything queued before it is still served


class BatcherClosedError(RuntimeError):
    """The batcher was closed (the worker is shutting down) before this request was queued."""


@dataclass
class _Request:
    rows: np.ndarray
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Runs `run_batch` on the rows of concurrent submissions stacked into one array.

    run_batch takes an (N, ...) array and must return N result rows; each caller gets exactly its own
    rows back. If run_batch raises, every caller of that batch (and no other) gets the exception.
    """

    def __init__(
        self,
        run_batch: Callable[[np.ndarray], np.ndarray],
        max_batch_size: int,
        max_delay_ms: float,
        row_shape: tuple[int, ...],
        name: str = "micro-batcher",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_delay_s = max(0.0, max_delay_ms) / 1000.0
        self.row_shape = tuple(row_shape)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = threading.Event()
        self._submit_lock = threading.Lock()  # no submission can slip in behind the stop marker
        self._model_lock = threading.Lock()  # one forward pass at a time, inline or batched
        self._last_batch_rows = 0
        self.batches_run = 0
        self.rows_run = 0
        self._thread = threading.Thread(target=self._serve_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, rows: np.ndarray) -> Future:
        """Queue (N, *row_shape) rows; the Future's result is their (N, ...) outputs."""
        return self._enqueue(self._checked(rows))

    def _enqueue(self, rows: np.ndarray) -> Future:
        request = _Request(rows)
        with self._submit_lock:
            if self._closed.is_set():
                raise BatcherClosedError("the model is shutting down")
            self._queue.put(request)
        return request.future

    def run(self, rows: np.ndarray, timeout: float | None = None) -> np.ndarray:
        """The outputs for these rows only: at once in this thread when the batcher is quiet, else batched."""
        rows = self._checked(rows)
        if self._closed.is_set():
            raise BatcherClosedError("the model is shutting down")
        if self._is_quiet() and self._model_lock.acquire(blocking=False):
            try:
                return self._run_rows(rows)
            finally:
                self._model_lock.release()
        return self._enqueue(rows).result(timeout)

    def _checked(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        if rows.ndim != len(self.row_shape) + 1 or tuple(rows.shape[1:]) != self.row_shape or not len(rows):
            raise ValueError(f"expected rows of shape (N>0, {', '.join(map(str, self.row_shape))}), got {rows.shape}")
        return rows

    def _is_quiet(self) -> bool:
        """Nothing waiting and no recent sign of concurrency: no other request could share this pass."""
        return self._queue.empty() and self._last_batch_rows <= 1

    def _run_rows(self, rows: np.ndarray) -> np.ndarray:
        """One forward pass (the caller holds the model lock), checked and counted."""
        outputs = np.asarray(self._run_batch(rows))
        if len(outputs) != len(rows):
            raise RuntimeError(f"the model returned {len(outputs)} rows for a batch of {len(rows)}")
        self._last_batch_rows = len(outputs)
        self.batches_run += 1
        self.rows_run += len(outputs)
        return outputs

    def close(self, timeout: float | None = None) -> None:
        """Stop taking submissions, serve the ones already queued, then stop the thread."""
        with self._submit_lock:
            if self._closed.is_set():
                return
            self._closed.set()
            self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def running(self) -> bool:
        """Whether the batching thread is alive (it stops once close() has served the queue)."""
        return self._thread.is_alive()

    def _serve_forever(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            with self._model_lock:  # requests queue up while an inline pass runs, then go together
                batch, stopping = self._collect(first)
                self._run(batch)

    def _collect(self, first: _Request) -> tuple[list[_Request], bool]:
        """The first request plus what is already queued, and, while others are evidently arriving, what
        arrives before the batch is full or the first request's delay is over. True: stop afterwards."""
        batch, rows = [first], len(first.rows)
        deadline = first.queued_at + self.max_delay_s
        while rows < self.max_batch_size:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._expect_more(len(batch)):
                    break
                try:
                    nxt = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if nxt is _STOP:
                return batch, True
            batch.append(nxt)
            rows += len(nxt.rows)
        return batch, False

    def _expect_more(self, requests_in_batch: int) -> bool:
        return requests_in_batch > 1 or self._last_batch_rows > 1

    def _run(self, batch: list[_Request]) -> None:
        try:
            outputs = self._run_rows(np.concatenate([request.rows for request in batch]))
        except Exception as error:  # handed to each waiting caller of this batch, never lost
            logger.exception("a batch of %d requests failed", len(batch))
            for request in batch:
                request.future.set_exception(error)
            return
        start = 0
        for request in batch:
            request.future.set_result(outputs[start : start + len(request.rows)])
            start += len(request.rows)
