"""The benchmark's arithmetic: hey's CSV, percentiles, error counts and the targets' verdicts."""
import numpy as np
import pytest

from benchmarks.bench import (
    BARE,
    OURS,
    SEED,
    HeyRow,
    evaluate_targets,
    multipart_body,
    parse_hey_csv,
    percentile,
    summarize,
)

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
    runs = [run(OURS, 16, 2000, 10), run(BARE, 16, 3000, 5), run(SEED, 16, 25, 600),
            run(OURS, 1, 500, 2.0), run(BARE, 1, 1700, 0.6)]
    verdicts = {target.name: target.passed for target in evaluate_targets(runs)}
    assert verdicts == {"a": True, "b": True, "c": False, "d": True}
