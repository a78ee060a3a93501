"""The benchmark's arithmetic: hey's CSV, percentiles, error counts and the targets' verdicts; and the parts
around it that need no server: finding hey, its command line, what a server's RSS counts, the results' shape."""

import json
import os
import signal
from datetime import UTC, datetime

import numpy as np
import pytest

from benchmarks import hey
from benchmarks.bench import DEFAULT_OUTPUT, Plan, parse_concurrency
from benchmarks.figures import (
    BARE,
    OURS,
    SEED,
    BenchError,
    HeyRow,
    SoakResult,
    evaluate_targets,
    format_table,
    percentile,
    summarize,
)
from benchmarks.fleet import Server, served_settings
from benchmarks.hey import hey_command, multipart_body, parse_hey_csv
from benchmarks.report import results
from tests.processes import start_parent_with_a_child
from tooling.live_server import stop_server
from tooling.processes import descendant_pids

HEY_CSV = """response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
0.0020,0.0001,0.0000,0.0000,0.0019,0.0000,200,0.0005
0.0040,0.0000,0.0000,0.0000,0.0039,0.0000,200,0.0030
0.0100,0.0000,0.0000,0.0000,0.0099,0.0000,503,0.0060
"""


def test_hey_csv_rows_keep_latency_status_and_start():
    rows = parse_hey_csv(HEY_CSV)
    assert rows == [HeyRow(0.002, 200, 0.0005), HeyRow(0.004, 200, 0.003), HeyRow(0.01, 503, 0.006)]


def test_text_that_is_not_hey_csv_is_refused():
    with pytest.raises(ValueError, match="missing columns"):
        parse_hey_csv("a,b\n1,2\n")


def test_percentile_matches_numpy_and_is_nan_when_empty():
    values = [5.0, 1.0, 9.0, 3.0]
    assert percentile(values, 99) == pytest.approx(np.percentile(values, 99))
    assert np.isnan(percentile([], 50))


def test_errors_count_failed_answers_and_requests_that_never_came_back():
    stats = summarize(OURS, 16, parse_hey_csv(HEY_CSV), sent=5, duration_s=1.0)
    assert (stats.ok, stats.errors) == (2, 3)  # one 503, two requests missing from the CSV


def test_multipart_body_carries_the_file_under_the_field_name():
    body = multipart_body("image", "a.png", b"\x89PNG...", boundary="XYZ")
    assert body.startswith(b"--XYZ\r\n") and body.rstrip().endswith(b"--XYZ--")
    assert b'name="image"; filename="a.png"' in body and b"\x89PNG..." in body


def run(server, concurrency, rps, p50):
    stats = summarize(server, concurrency, [HeyRow(p50 / 1000, 200, 0.0)], sent=1, duration_s=1.0)
    stats.rps, stats.p50_ms = rps, p50
    return stats


def test_targets_pass_and_fail_on_the_ratios():
    runs = [
        run(OURS, 16, 2000, 10),
        run(BARE, 16, 3000, 5),
        run(SEED, 16, 25, 600),
        run(OURS, 1, 500, 2.0),
        run(BARE, 1, 1700, 0.6),
    ]
    verdicts = {target.name: target.passed for target in evaluate_targets(runs)}
    assert verdicts == {"a": True, "b": True, "c": False, "d": True}


def test_a_missing_hey_is_a_clear_error_naming_make_install_hey(monkeypatch):
    monkeypatch.setattr(hey.shutil, "which", lambda name: None)
    with pytest.raises(BenchError, match="make install-hey"):
        hey.find_hey()


def test_hey_command_rounds_the_count_to_the_concurrency_or_runs_for_a_duration(tmp_path):
    counted = hey_command("hey", "http://x/p", tmp_path / "body", 16, 100)
    assert counted[1:5] == ["-n", "96", "-c", "16"] and counted[-3:] == ["-o", "csv", "http://x/p"]
    assert hey_command("hey", "http://x/p", tmp_path / "body", 4, None, "10s")[1:3] == ["-z", "10s"]


def test_concurrency_levels_are_positive_integers():
    assert parse_concurrency("1, 16,") == [1, 16]
    with pytest.raises(ValueError, match="positive"):
        parse_concurrency("0,4")


def test_the_table_lists_servers_in_order_then_the_soak_and_each_verdict():
    runs = [run(SEED, 16, 25, 600), run(OURS, 16, 2000, 10), run(BARE, 16, 3000, 5)]
    soak = SoakResult(run(OURS, 16, 1900, 11), 180.0, [181.0, 182.5])
    lines = format_table(runs, evaluate_targets(runs, soak), soak).splitlines()
    assert [line.split()[0] for line in lines[2:6]] == [OURS, BARE, SEED, OURS]
    assert lines[5].startswith("ours soak") and lines[6] == "soak: ours worker RSS 180.0 → 181.0 → 182.5 MB"
    assert lines[-1].startswith("[PASS] (e) ours worker RSS grows ≤ 20 MB")


def test_the_results_have_the_keys_of_the_committed_results_file():
    committed = json.loads(DEFAULT_OUTPUT.read_text())
    plan = Plan([1, 16], 3000, 300, 200, 32, None, 0)
    runs = [run(OURS, 16, 2000, 10)]
    written = results(
        vars(plan), served_settings(), runs, None, evaluate_targets(runs), committed["machine"], datetime.now(UTC)
    )
    assert written.keys() == committed.keys()
    assert written["settings"].keys() == committed["settings"].keys()
    assert written["runs"][0].keys() == committed["runs"][0].keys()
    assert written["targets"][0].keys() == committed["targets"][0].keys()


@pytest.fixture()
def parent_with_a_child(tmp_path):
    """A process with one child of its own, as gunicorn's master and its worker; both ended afterwards."""
    process = start_parent_with_a_child(tmp_path / "parent.log")
    try:
        yield process, tmp_path / "parent.log"
    finally:
        for pid in descendant_pids(process.pid):
            os.kill(pid, signal.SIGKILL)
        stop_server(process)


def test_a_gunicorn_server_counts_its_workers_and_another_server_itself_too(parent_with_a_child):
    process, log_path = parent_with_a_child
    children = descendant_pids(process.pid)
    gunicorn = Server(OURS, process, "http://127.0.0.1:1", log_path, workers_only=True)
    seed = Server(SEED, process, "http://127.0.0.1:1", log_path, workers_only=False)
    assert gunicorn.measured_pids() == children and len(children) == 1
    assert seed.measured_pids() == [process.pid, *children]
    assert 0 < gunicorn.rss_mb() < seed.rss_mb()


@pytest.mark.parametrize(
    ("grpc_images_s", "grpc_p50_ms", "verdicts"),
    [(9700.0, 0.9, [True, True, True]), (5300.0, 1.3, [False, False, False])],
)
def test_the_batch_targets_judge_grpc_against_in_process_and_http(grpc_images_s, grpc_p50_ms, verdicts):
    from benchmarks.batch import BatchFigures
    from benchmarks.figures import batch_targets

    figures = BatchFigures(64, 10.0, 10_000.0, 9_000.0, grpc_images_s, 1.2, grpc_p50_ms)
    targets = batch_targets(figures)
    assert [target.name for target in targets] == ["f", "g", "h"]
    assert [target.passed for target in targets] == verdicts
