"""The micro-batcher: right rows to the right callers, bounded waits, isolated failures, clean shutdown."""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import config
from core.batching import BatcherClosedError, MicroBatcher

ROW_SHAPE = (2,)


class RecordingModel:
    """Doubles each row; records the size of every batch it is given; optionally slow."""

    def __init__(self, seconds_per_batch: float = 0.0) -> None:
        self.batch_sizes: list[int] = []
        self.seconds_per_batch = seconds_per_batch

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.batch_sizes.append(len(rows))
        time.sleep(self.seconds_per_batch)
        if (rows < 0).any():
            raise ValueError("negative input")
        return rows * 2


def row(value: float, count: int = 1) -> np.ndarray:
    return np.full((count, *ROW_SHAPE), value, dtype=np.float32)


@pytest.fixture()
def make_batcher():
    batchers = []

    def make(model, max_batch_size=8, max_delay_ms=50.0):
        batcher = MicroBatcher(model, max_batch_size, max_delay_ms, ROW_SHAPE)
        batchers.append(batcher)
        return batcher

    yield make
    for batcher in batchers:
        batcher.close(timeout=5)


def test_concurrent_callers_each_get_their_own_rows_in_shared_batches(make_batcher):
    model = RecordingModel(seconds_per_batch=0.005)
    batcher = make_batcher(model, max_batch_size=8)
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda i: batcher.run(row(i), timeout=10), range(200)))
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, row(2 * i))
    assert sum(model.batch_sizes) == 200
    assert max(model.batch_sizes) <= 8
    assert len(model.batch_sizes) < 100, "concurrent requests should have shared forward passes"


def test_multi_row_submissions_come_back_whole_and_in_order(make_batcher):
    batcher = make_batcher(RecordingModel(), max_batch_size=4)
    rows = np.arange(6 * 2, dtype=np.float32).reshape(6, 2)
    np.testing.assert_array_equal(batcher.run(rows, timeout=5), rows * 2)


def test_a_lone_request_runs_at_once_and_alone(make_batcher):
    model = RecordingModel()
    batcher = make_batcher(model, max_delay_ms=5_000)
    started = time.monotonic()
    batcher.run(row(1), timeout=10)
    assert time.monotonic() - started < 1.0, "a lone request must not wait for the batch delay"
    assert model.batch_sizes == [1]


def test_a_lone_request_runs_in_its_callers_thread(make_batcher):
    """No hand-off to the batching thread and back when nothing could share the pass."""
    threads = []
    batcher = make_batcher(lambda rows: threads.append(threading.current_thread()) or rows * 2)
    np.testing.assert_array_equal(batcher.run(row(3), timeout=5), row(6))
    assert threads == [threading.current_thread()]


def test_requests_arriving_while_the_model_is_busy_share_the_next_pass(make_batcher):
    model = GatedModel()
    threads = []
    batcher = make_batcher(
        lambda rows: threads.append(threading.current_thread().name) or model(rows), max_batch_size=8, max_delay_ms=200
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(batcher.run, row(1), 5)
        assert model.first_batch_started.wait(5)  # the first request holds the model in its own thread
        waiting = [pool.submit(batcher.run, row(i), 5) for i in (2, 3, 4)]
        time.sleep(0.1)
        model.release.set()
        np.testing.assert_array_equal(first.result(5), row(2))
        for i, future in zip((2, 3, 4), waiting, strict=True):
            np.testing.assert_array_equal(future.result(5), row(2 * i))
    assert model.batch_sizes == [1, 3]
    assert threads[0] != "micro-batcher" and threads[1] == "micro-batcher"


def test_run_after_close_is_refused():
    batcher = MicroBatcher(RecordingModel(), 4, 0.0, ROW_SHAPE)
    batcher.close(timeout=5)
    with pytest.raises(BatcherClosedError, match=r"^the model is shutting down$"):
        batcher.run(row(1), timeout=5)


def test_after_a_busy_spell_the_wait_for_company_is_bounded_by_the_delay(make_batcher):
    model = RecordingModel()
    batcher = make_batcher(model, max_batch_size=8, max_delay_ms=300)
    batcher.run(row(1, count=3), timeout=5)  # the last batch had several rows: concurrency is expected
    started = time.monotonic()
    batcher.run(row(1), timeout=5)
    waited = time.monotonic() - started
    assert 0.2 < waited < 2.0
    assert model.batch_sizes == [3, 1]


def test_requests_arriving_within_the_delay_join_the_batch(make_batcher):
    model = RecordingModel()
    batcher = make_batcher(model, max_batch_size=8, max_delay_ms=1_000)
    batcher.run(row(1, count=2), timeout=5)
    first = batcher.submit(row(3))
    time.sleep(0.05)
    second = batcher.submit(row(4))
    np.testing.assert_array_equal(first.result(5), row(6))
    np.testing.assert_array_equal(second.result(5), row(8))
    assert model.batch_sizes == [2, 2]


def test_a_full_batch_runs_without_waiting_for_the_delay(make_batcher):
    model = RecordingModel()
    batcher = make_batcher(model, max_batch_size=4, max_delay_ms=10_000)
    batcher.run(row(1, count=2), timeout=5)
    started = time.monotonic()
    futures = [batcher.submit(row(i)) for i in range(4)]
    for future in futures:
        future.result(5)
    assert time.monotonic() - started < 5.0
    assert model.batch_sizes[1:] == [4]


class GatedModel(RecordingModel):
    """Holds its first batch until released, so that the test can queue the next ones behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.first_batch_started, self.release = threading.Event(), threading.Event()

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        if not self.first_batch_started.is_set():
            self.first_batch_started.set()
            self.release.wait(5)
        return super().__call__(rows)


def test_a_failing_batch_fails_only_its_own_callers(make_batcher):
    model = GatedModel()
    batcher = make_batcher(model, max_batch_size=2, max_delay_ms=0)
    blocker = batcher.submit(row(1))
    assert model.first_batch_started.wait(5)
    bad, good_in_same_batch = batcher.submit(row(-1)), batcher.submit(row(2))
    later = batcher.submit(row(5))
    model.release.set()
    np.testing.assert_array_equal(blocker.result(5), row(2))
    with pytest.raises(ValueError, match="negative input"):
        bad.result(5)
    with pytest.raises(ValueError, match="negative input"):
        good_in_same_batch.result(5)
    np.testing.assert_array_equal(later.result(5), row(10))
    np.testing.assert_array_equal(batcher.run(row(7), timeout=5), row(14))
    assert model.batch_sizes == [1, 2, 1, 1]


def test_a_model_returning_the_wrong_row_count_is_an_error_not_a_mix_up(make_batcher):
    batcher = make_batcher(lambda rows: rows[:-1])
    with pytest.raises(RuntimeError, match="returned 1 rows for a batch of 2"):
        batcher.run(row(1, count=2), timeout=5)


@pytest.mark.parametrize("bad", [np.zeros((1, 3)), np.zeros(2), np.zeros((0, 2))])
def test_rows_of_the_wrong_shape_are_refused_at_submission(make_batcher, bad):
    model = RecordingModel()
    batcher = make_batcher(model)
    with pytest.raises(ValueError, match="expected rows of shape"):
        batcher.submit(bad)
    batcher.run(row(1), timeout=5)
    assert model.batch_sizes == [1]


def test_close_serves_what_is_queued_then_refuses_and_stops():
    model = RecordingModel(seconds_per_batch=0.05)
    batcher = MicroBatcher(model, 1, 0.0, ROW_SHAPE)
    futures = [batcher.submit(row(i)) for i in range(5)]
    batcher.close(timeout=5)
    assert [float(f.result(0)[0, 0]) for f in futures] == [0.0, 2.0, 4.0, 6.0, 8.0]
    with pytest.raises(BatcherClosedError, match=r"^the model is shutting down$"):
        batcher.submit(row(1))
    assert batcher.closed and not batcher.running


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match=r"^max_batch_size must be at least 1$"):
        MicroBatcher(RecordingModel(), 0, 1.0, ROW_SHAPE)


def test_the_served_model_answers_the_same_with_and_without_batching(model):
    from core.model import ModelWrapper, to_model_batch

    unbatched = ModelWrapper(config.SETTINGS.replace(max_batch_size=1))
    images = np.random.default_rng(0).integers(0, 256, size=(24, 28, 28), dtype=np.uint8)
    assert model.batcher is not None and unbatched.batcher is None
    with ThreadPoolExecutor(max_workers=8) as pool:
        batched = list(pool.map(lambda image: model.infer(to_model_batch(image)), images))
    for image, answers in zip(images, batched, strict=True):
        alone = unbatched.infer(to_model_batch(image))
        np.testing.assert_allclose(answers.probabilities, alone.probabilities, atol=1e-5)
        np.testing.assert_allclose(answers.none_scores, alone.none_scores, atol=1e-5)


def hold_the_model_inline(batcher: MicroBatcher, model: GatedModel, pool: ThreadPoolExecutor):
    """A first request that runs in its caller's thread and holds the model until model.release is set."""
    first = pool.submit(batcher.run, row(1), 5)
    assert model.first_batch_started.wait(5)
    return first


def test_a_lone_request_queued_behind_a_busy_model_does_not_wait_for_company(make_batcher):
    """Nothing suggests concurrency (one request queued, the last pass had one row): it runs as soon as the model is
    free, not after the (here very long) batch delay."""
    model = GatedModel()
    batcher = make_batcher(model, max_batch_size=8, max_delay_ms=60_000)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = hold_the_model_inline(batcher, model, pool)
        queued = batcher.submit(row(2))
        model.release.set()
        np.testing.assert_array_equal(first.result(5), row(2))
        np.testing.assert_array_equal(queued.result(5), row(4))
    assert model.batch_sizes == [1, 1]


def test_two_requests_queued_together_wait_within_the_delay_for_a_third(make_batcher):
    """Two requests waiting at once are evidence of concurrency: their batch waits (up to the delay) for more, and
    runs as soon as it is full."""
    model = GatedModel()
    batcher = make_batcher(model, max_batch_size=3, max_delay_ms=60_000)
    with ThreadPoolExecutor(max_workers=2) as pool:
        hold_the_model_inline(batcher, model, pool)
        pair = [batcher.submit(row(2)), batcher.submit(row(3))]
        model.release.set()
        time.sleep(0.2)  # orders the third after the pair was collected; the assertions hold either way
        third = batcher.submit(row(4))
        for value, future in zip((2, 3, 4), (*pair, third), strict=True):
            np.testing.assert_array_equal(future.result(5), row(2 * value))
    assert model.batch_sizes == [1, 3]


def test_close_serves_a_batch_that_is_waiting_for_company(make_batcher):
    model = RecordingModel()
    batcher = make_batcher(model, max_batch_size=8, max_delay_ms=60_000)
    batcher.run(row(1, count=2), timeout=5)  # a multi-row pass: the next batch will wait for company
    waiting = batcher.submit(row(3))
    batcher.close(timeout=5)
    np.testing.assert_array_equal(waiting.result(0), row(6))
    assert not batcher.running and model.batch_sizes == [2, 1]


def test_close_gives_up_waiting_for_a_stuck_batch_after_its_timeout(make_batcher):
    model = GatedModel()
    batcher = make_batcher(model, max_batch_size=8, max_delay_ms=0)
    stuck = batcher.submit(row(1))
    assert model.first_batch_started.wait(5)
    closer = threading.Thread(target=batcher.close, args=(0.1,))
    closer.start()
    closer.join(5)
    assert not closer.is_alive(), "close(timeout) must return once the timeout is over"
    assert batcher.closed and batcher.running
    model.release.set()
    np.testing.assert_array_equal(stuck.result(5), row(2))


def test_a_quiet_batcher_keeps_answering_in_its_callers_thread(make_batcher):
    threads = []
    batcher = make_batcher(lambda rows: threads.append(threading.current_thread()) or rows * 2)
    for value in range(3):
        np.testing.assert_array_equal(batcher.run(row(value), timeout=5), row(2 * value))
    assert threads == [threading.current_thread()] * 3


def test_after_a_pass_of_two_rows_the_next_request_is_batched(make_batcher):
    """Two rows in the last pass are a sign of concurrency: the next request goes through the batching thread."""
    threads = []
    batcher = make_batcher(lambda rows: threads.append(threading.current_thread().name) or rows * 2, max_delay_ms=1)
    batcher.run(row(1, count=2), timeout=5)
    np.testing.assert_array_equal(batcher.run(row(3), timeout=5), row(6))
    assert threads == [threading.current_thread().name, "micro-batcher"]


def test_run_gives_up_after_its_timeout_when_the_model_stays_busy(make_batcher):
    model = GatedModel()
    batcher = make_batcher(model, max_delay_ms=0)
    stuck = batcher.submit(row(1))
    assert model.first_batch_started.wait(5)
    with pytest.raises(TimeoutError):
        batcher.run(row(2), timeout=0.1)
    model.release.set()
    np.testing.assert_array_equal(stuck.result(5), row(2))


def test_a_failing_batch_is_logged_with_its_size_and_traceback(make_batcher, caplog):
    model = GatedModel()
    batcher = make_batcher(model, max_batch_size=2, max_delay_ms=0)
    blocker = batcher.submit(row(1))
    assert model.first_batch_started.wait(5)
    failing = [batcher.submit(row(-1)), batcher.submit(row(-2))]
    with caplog.at_level(logging.ERROR, logger="core.batching"):
        model.release.set()
        blocker.result(5)
        for future in failing:
            with pytest.raises(ValueError):
                future.result(5)
    (record,) = [r for r in caplog.records if r.name == "core.batching"]
    assert record.getMessage() == "a batch of 2 requests failed"
    assert record.exc_info and isinstance(record.exc_info[1], ValueError)


def test_the_counters_report_every_pass_and_row(make_batcher):
    model = GatedModel()
    batcher = make_batcher(model, max_batch_size=8, max_delay_ms=0)
    assert (batcher.batches_run, batcher.rows_run) == (0, 0)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = hold_the_model_inline(batcher, model, pool)
        queued = [batcher.submit(row(2, count=2)), batcher.submit(row(3))]
        model.release.set()
        first.result(5)
        for future in queued:
            future.result(5)
    batcher.run(row(4), timeout=5)
    assert model.batch_sizes == [1, 3, 1]
    assert (batcher.batches_run, batcher.rows_run) == (3, 5)


def test_the_batching_thread_never_keeps_the_process_alive():
    """A daemon thread: a worker or CLI that exits without close() is not held up by it."""
    batcher = MicroBatcher(RecordingModel(), 1, 0.0, ROW_SHAPE, name="batcher-left-open")
    try:
        (thread,) = [t for t in threading.enumerate() if t.name == "batcher-left-open"]
        assert thread.daemon
    finally:
        batcher.close(timeout=5)


def test_a_refusal_spells_out_the_row_shape_it_expects():
    batcher = MicroBatcher(RecordingModel(), 1, 0.0, (28, 28, 1))
    try:
        with pytest.raises(ValueError, match=re.escape("expected rows of shape (N>0, 28, 28, 1), got (1, 28, 28)")):
            batcher.run(np.zeros((1, 28, 28)), timeout=5)
    finally:
        batcher.close(timeout=5)
