"""Integration: clients that abuse their connections never hold up a normal prediction, and leave nothing behind.

Against a real 2-worker server (as `make run`): 1 000 idle connections, 64 clients trickling their request head,
64 trickling their body, and 128 of those that reconnect as soon as the server cuts them. During each, 20 normal
predictions (a new connection each, one every 0.2 s) must all be answered within ANSWER_WITHIN_S — a gthread
server answered none of them in 10 s (benchmarks/abuse.py prints both servers' figures). Afterwards the
workers hold as many threads and sockets as before. The abusive clients are benchmarks/abuse.py's.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from benchmarks.abuse import SCENARIOS, AbusiveClients, predict_once, timed_predictions
from tests.imaging import sample_files
from tooling.live_server import free_port, start_server, stop_server, wait_for_workers, wait_until_serving
from tooling.processes import descendant_pids

# Every test owns its server: two workers with short timeouts and their threads and sockets read from /proc; SIGTERM.
pytestmark = [pytest.mark.integration, pytest.mark.owns_server]

CUT_AFTER_S = 6  # the server's HEADER_TIMEOUT and BODY_TIMEOUT: no cut before the predictions, but for reconnect
# Generous for a loaded 2-core CI machine; measured 3-80 ms here with a training run on both cores.
ANSWER_WITHIN_S = 2.0
PREDICTIONS = 20
SETTLE_S = 1.0
RELEASE_WITHIN_S = 15.0  # after the abusers close: the workers are back to their threads and files by then


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    master_pid: int


@dataclass(frozen=True)
class Usage:
    """Per worker pid: threads, and file descriptors that are sockets (the listener and the connections; the
    metrics files a worker opens on its first request are not counted)."""

    threads: dict[int, int]
    sockets: dict[int, int]

    @property
    def total_sockets(self) -> int:
        return sum(self.sockets.values())


def open_sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except FileNotFoundError:  # closed meanwhile
            pass
    return count


def usage(master_pid: int) -> Usage:
    workers = descendant_pids(master_pid)
    return Usage(
        {pid: len(list(Path(f"/proc/{pid}/task").iterdir())) for pid in workers},
        {pid: open_sockets(pid) for pid in workers},
    )


@pytest.fixture(scope="module", autouse=True)
def enough_open_files() -> None:
    """This test process opens 1 000 sockets itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2048
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"open-file hard limit {hard} is below {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    log_path = tmp_path_factory.mktemp("connections") / "gunicorn.log"
    port = free_port()
    process = start_server(
        port,
        log_path,
        {"WORKERS": "2", "HEADER_TIMEOUT": str(CUT_AFTER_S), "BODY_TIMEOUT": str(CUT_AFTER_S), "REQUEST_LOG": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url, log_path)
        wait_for_workers(log_path, 2)
        time.sleep(1.0)  # each worker starts its request threads after loading the model
        yield Server(url, port, process.pid)
    finally:
        stop_server(process)


def settled_usage(server: Server, quiet_s: float = 0.5) -> Usage:
    """The workers' usage once it has stopped changing: the connection of a request just answered may still be open
    for a moment in its worker, and counting it would make the baseline one socket too high."""
    deadline = time.monotonic() + RELEASE_WITHIN_S
    reading, since = usage(server.master_pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = usage(server.master_pid)
        if now != reading:
            reading, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return reading


def wait_for_release(server: Server, before: Usage) -> Usage:
    deadline = time.monotonic() + RELEASE_WITHIN_S
    while True:
        now = usage(server.master_pid)
        if now == before or time.monotonic() > deadline:
            return now
        time.sleep(0.25)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_normal_predictions_are_answered_during_abuse_and_nothing_leaks(server, scenario):
    image = next(p for p in sample_files() if p.name == "ankle-boot.png").read_bytes()
    assert predict_once(server.url, image) is not None
    before = settled_usage(server)
    abuses = SCENARIOS[scenario]
    abusive = sum(abuse.count for abuse in abuses)
    reconnect = scenario == "reconnect"
    with AbusiveClients("127.0.0.1", server.port, abuses, reconnect=reconnect) as abusers:
        time.sleep(SETTLE_S)
        if reconnect:
            assert abusers.wait_for_first_cut(CUT_AFTER_S + 10), "the server never cut a slow client"
            time.sleep(SETTLE_S)  # the clients cut have reconnected
        during = usage(server.master_pid)
        latencies = timed_predictions(server.url, PREDICTIONS, timeout_s=10)
        assert abusers.failed_connects == 0
        if reconnect:
            assert abusers.cuts >= 1 and abusers.open_connections == abusive, "the abuse went on"
    # The server really held the abusive connections while it answered the others.
    assert during.total_sockets >= before.total_sockets + 0.9 * abusive, (before, during)
    slow = [
        f"{latency:.2f} s" if latency is not None else "no answer"
        for latency in latencies
        if latency is None or latency > ANSWER_WITHIN_S
    ]
    assert not slow, f"{len(slow)} of {PREDICTIONS} normal predictions slow or unanswered: {slow}"
    after = wait_for_release(server, before)
    assert after.threads == before.threads, "worker threads (or workers) changed"
    assert after.sockets == before.sockets, f"sockets per worker: before {before.sockets}, after {after.sockets}"


def test_sigterm_with_idle_connections_open_answers_the_request_in_flight_and_exits(tmp_path):
    """Idle connections do not keep a stopping server alive past HEADER_TIMEOUT (gevent's worker waits for its
    connections until GRACEFUL_TIMEOUT), and the request being received is still answered."""
    log_path = tmp_path / "gunicorn.log"
    port = free_port()
    header_timeout_s = 3
    process = start_server(port, log_path, {"HEADER_TIMEOUT": str(header_timeout_s)})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url, log_path)
        bag = next(p for p in sample_files() if p.name == "bag.png").read_bytes()
        answers = []

        def slow_upload():
            def body():
                yield b'--x\r\nContent-Disposition: form-data; name="image"; filename="bag.png"\r\n\r\n'
                time.sleep(1.0)  # the server is told to stop while it receives this
                yield bag + b"\r\n--x--\r\n"

            answers.append(
                requests.post(
                    f"{url}/model/predict",
                    data=body(),
                    timeout=30,
                    headers={"Content-Type": "multipart/form-data; boundary=x"},
                )
            )

        with AbusiveClients("127.0.0.1", port, SCENARIOS["idle"][:1]):
            client = threading.Thread(target=slow_upload)
            client.start()
            time.sleep(0.5)
            stopping = time.monotonic()
            process.send_signal(signal.SIGTERM)
            client.join(30)
            exit_code = process.wait(timeout=60)
            stopped_after = time.monotonic() - stopping
    finally:
        if process.poll() is None:
            stop_server(process)
    assert exit_code == 0
    assert answers and answers[0].status_code == 200 and answers[0].json()["predictions"][0]["label"] == "Bag"
    assert stopped_after < header_timeout_s + 5, f"stopped after {stopped_after:.1f} s"
