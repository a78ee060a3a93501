"""tooling/: starting and waiting for a server process, and a process tree's pids and memory (psutil)."""
import os
import signal
import sys

import pytest

import tooling.live_server as live_server
from tests.processes import start_parent_with_a_child
from tooling.live_server import spawn, start_server, stop_server, wait_until
from tooling.processes import descendant_pids, rss_mb


def test_descendants_and_their_memory(tmp_path):
    process = start_parent_with_a_child(tmp_path / "parent.log")
    try:
        (child,) = descendant_pids(process.pid)
        assert rss_mb([child]) > 1
        assert rss_mb([process.pid, child]) == pytest.approx(rss_mb([process.pid]) + rss_mb([child]), rel=0.1)
    finally:
        os.kill(child, signal.SIGKILL)
        stop_server(process)
    assert descendant_pids(process.pid) == []  # gone: no process, no descendants
    assert rss_mb([process.pid]) == 0


def test_wait_until_returns_what_the_probe_answers_and_says_why_it_stopped(tmp_path):
    log_path = tmp_path / "server.log"
    sleeper = spawn([sys.executable, "-c", "import time; time.sleep(60)"], log_path)
    try:
        answers = iter([None, {"ready": True}])
        assert wait_until(sleeper, log_path, lambda: next(answers)) == {"ready": True}
        with pytest.raises(RuntimeError, match="did not answer within 1 s"):
            wait_until(sleeper, log_path, lambda: None, timeout_s=1)
    finally:
        stop_server(sleeper)
    failing = spawn([sys.executable, "-c", "print('no model'); raise SystemExit(3)"], log_path)
    with pytest.raises(RuntimeError, match="exited with 3:\nno model"):
        wait_until(failing, log_path, lambda: None)


def test_each_started_server_gets_its_own_metrics_folder_and_the_tree_asked_for(monkeypatch, tmp_path):
    started = {}
    monkeypatch.setattr(live_server, "spawn", lambda command, log_path, env, cwd: started.update(env=env, cwd=cwd))
    monkeypatch.setenv(live_server.SHARED_METRICS_ENV, str(tmp_path))
    start_server(5999, tmp_path / "server.log", {"WORKERS": "2"}, cwd=tmp_path)
    assert live_server.SHARED_METRICS_ENV not in started["env"]
    assert (started["env"]["PORT"], started["env"]["WORKERS"], started["cwd"]) == ("5999", "2", tmp_path)
