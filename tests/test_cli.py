"""The command-line classifier (cli/classify.py): arguments, which files, CSV and JSON Lines, skipped files and
exit codes, in-process with the session's model; and over HTTP with --server against the real server."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import config
from cli.classify import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_TOP_K,
    EXIT_OK,
    EXIT_SERVER,
    EXIT_SKIPPED,
    InProcessClassifier,
    build_parser,
    expand_paths,
    main,
)
from cli.results import csv_header
from core.labels import CLASS_NAMES
from tests.imaging import SAMPLES_DIR, none_sample_files, photo_sample_files, png_of, sample_files, slug
from tooling.live_server import REPO_ROOT, free_port

ALL_SAMPLES = sample_files() + photo_sample_files() + none_sample_files()


@pytest.fixture()
def run(model, capsys, caplog):
    """main() in this process with the session's model, in batches of 4 (so 16 samples take several forward
    passes); returns (exit status, stdout, stderr with the log lines)."""

    def run_main(argv: list[str]) -> tuple[int, str, str]:
        caplog.clear()
        status = main(["classify", *argv, "--batch-size", "4"], model)
        out, err = capsys.readouterr()
        return status, out, err + caplog.text

    return run_main


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


# --- Arguments ---


def test_defaults():
    args = build_parser().parse_args(["classify", "samples"])
    assert (args.paths, args.format, args.output, args.server) == (["samples"], "csv", None, None)
    assert args.top_k == DEFAULT_TOP_K == 1 and args.batch_size == DEFAULT_BATCH_SIZE
    assert not args.quiet


@pytest.mark.parametrize(
    "argv",
    [
        ["classify"],
        ["classify", "x.png", "--top-k", "11"],
        ["classify", "x.png", "--top-k", "0"],
        ["classify", "x.png", "--format", "xml"],
        ["classify", "x.png", "--batch-size", "0"],
        ["predict", "x.png"],
        [],
    ],
    ids=["no-path", "top-k-11", "top-k-0", "format", "batch-size", "unknown-command", "no-command"],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


# --- Which files ---


@pytest.fixture()
def tree(tmp_path) -> Path:
    """a.png, B.JPG, notes.txt, sub/c.webp, sub/deeper/d.png, sub/data.bin, empty/"""
    for name in ("a.png", "B.JPG", "notes.txt", "sub/c.webp", "sub/deeper/d.png", "sub/data.bin"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    return tmp_path


def names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_a_folder_gives_its_image_files_recursively_by_suffix(tree):
    files, unmatched = expand_paths([str(tree)])
    assert names(files, tree) == ["B.JPG", "a.png", "sub/c.webp", "sub/deeper/d.png"]
    assert unmatched == []


def test_a_named_file_is_tried_whatever_its_suffix(tree):
    files, _ = expand_paths([str(tree / "notes.txt")])
    assert names(files, tree) == ["notes.txt"]


def test_globs_expand_recursively_and_matched_folders_are_searched(tree):
    files, _ = expand_paths([f"{tree}/**/*.png"])
    assert names(files, tree) == ["a.png", "sub/deeper/d.png"]
    files, _ = expand_paths([f"{tree}/su?"])
    assert names(files, tree) == ["sub/c.webp", "sub/deeper/d.png"]


def test_each_file_once_in_the_order_given(tree):
    files, _ = expand_paths([str(tree / "sub" / "c.webp"), str(tree), f"{tree}/*.png"])
    assert names(files, tree) == ["sub/c.webp", "B.JPG", "a.png", "sub/deeper/d.png"]


def test_paths_that_find_nothing_are_reported(tree):
    patterns = [str(tree / "missing.png"), f"{tree}/*.gif", str(tree / "empty")]
    files, unmatched = expand_paths([*patterns, str(tree / "a.png")])
    assert names(files, tree) == ["a.png"] and unmatched == patterns


# --- In-process classification and output ---


def test_csv_to_stdout_classifies_every_sample(run, sample_answers):
    status, out, err = run([str(SAMPLES_DIR), "--top-k", "3"])
    assert status == EXIT_OK, err
    rows = read_csv(out)
    assert (
        list(rows[0])
        == csv_header(3)
        == [
            "path",
            "label_1",
            "label_id_1",
            "probability_1",
            "label_2",
            "label_id_2",
            "probability_2",
            "label_3",
            "label_id_3",
            "probability_3",
            "none_of_the_ten_score",
            "none_of_the_ten_flagged",
        ]
    )
    assert sorted(Path(row["path"]).name for row in rows) == sorted(p.name for p in ALL_SAMPLES)
    for row in rows:
        assert slug(row["label_1"]) == sample_answers[Path(row["path"]).name], row
        assert CLASS_NAMES[int(row["label_id_1"])] == row["label_1"]
        probabilities = [float(row[f"probability_{rank}"]) for rank in (1, 2, 3)]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
        score, flagged = float(row["none_of_the_ten_score"]), row["none_of_the_ten_flagged"]
        assert 0 <= score <= 1 and flagged == str(score >= config.SETTINGS.none_of_the_ten_threshold).lower()
    assert f"classified {len(ALL_SAMPLES)} of {len(ALL_SAMPLES)} files" in err


def test_jsonl_to_a_file(run, tmp_path, sample_answers):
    output = tmp_path / "out.jsonl"
    status, out, _ = run([f"{SAMPLES_DIR}/*.png", "--format", "jsonl", "--top-k", "10", "-o", str(output)])
    assert status == EXIT_OK and out == "", "results go to the file, not stdout"
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == len([p for p in ALL_SAMPLES if p.suffix == ".png"])
    for record in records:
        assert set(record) == {"path", "predictions", "none_of_the_ten"}
        assert set(record["none_of_the_ten"]) == {"score", "flagged"}
        predictions = record["predictions"]
        assert [set(p) for p in predictions] == [{"label", "label_id", "probability"}] * 10
        assert sorted(p["label_id"] for p in predictions) == list(range(10))
        assert abs(sum(p["probability"] for p in predictions) - 1.0) < 1e-3
        assert slug(predictions[0]["label"]) == sample_answers[Path(record["path"]).name]


def test_unreadable_files_are_skipped_with_a_warning_and_exit_1(run, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "boot.png").write_bytes((SAMPLES_DIR / "ankle-boot.png").read_bytes())
    status, out, err = run([str(tmp_path)])
    assert status == EXIT_SKIPPED
    assert [Path(row["path"]).name for row in read_csv(out)] == ["boot.png"], "the others are left out"
    assert f"skipped {tmp_path / 'broken.png'}: The uploaded file is not a readable image" in err
    assert f"skipped {tmp_path / 'empty.jpg'}: The uploaded file is empty" in err
    assert "classified 1 of 3 files" in err and "2 unreadable file(s) skipped" in err


def test_a_path_that_matches_nothing_means_exit_1(run, tmp_path):
    status, out, err = run([str(SAMPLES_DIR / "bag.png"), str(tmp_path / "nope.png")])
    assert status == EXIT_SKIPPED and len(read_csv(out)) == 1
    assert f"no image file at or matching {tmp_path / 'nope.png'}" in err


def test_nothing_to_classify_writes_nothing(run, tmp_path):
    status, out, err = run([str(tmp_path)])
    assert status == EXIT_SKIPPED and out == "" and "nothing to classify" in err


def test_progress_bar_on_stderr_unless_quiet(run):
    done = f"{len(ALL_SAMPLES)}/{len(ALL_SAMPLES)}"
    _, out, err = run([str(SAMPLES_DIR)])
    assert done in err and "img/s" in err and done not in out
    _, _, err = run([str(SAMPLES_DIR), "--quiet"])
    assert done not in err and "classified" not in err


def test_batches_give_the_models_own_answers(model, tmp_path):
    """Files across several batches, in-process, answer exactly what the model says for each array."""
    from core.model import to_model_batch, top_k_predictions

    arrays = np.zeros((11, 28, 28), dtype=np.uint8)  # a black frame: passed to the model unchanged
    arrays[:, 2:-2, 2:-2] = np.random.default_rng(3).integers(0, 256, (11, 24, 24), dtype=np.uint8)
    paths = []
    for i, array in enumerate(arrays):
        paths.append(tmp_path / f"{i:02d}.png")
        paths[-1].write_bytes(png_of(array))
    results = list(InProcessClassifier(model, top_k=2, batch_size=4).classify(paths))
    answers = model.infer(to_model_batch(arrays))
    expected = [top_k_predictions(p, 2) for p in answers.probabilities]
    assert [r.path for r in results] == paths
    assert [r.none_of_the_ten["score"] for r in results] == pytest.approx(answers.none_scores.tolist(), abs=1e-5)
    for result, want in zip(results, expected, strict=True):
        assert [p["label_id"] for p in result.predictions] == [p["label_id"] for p in want]
        assert np.allclose([p["probability"] for p in result.predictions], [p["probability"] for p in want], atol=1e-5)


def test_the_cli_imports_neither_flask_nor_tensorflow_until_it_needs_the_model():
    code = "import sys, cli.classify; assert 'flask' not in sys.modules and 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_training_evaluate_cli_scores_by_class_folder(tmp_path):
    from training.evaluate_cli import export_pngs, score_csv

    images = np.random.default_rng(4).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    assert export_pngs(images, np.array([9, 0, 9]), tmp_path) == 3
    assert sorted(names(list(tmp_path.rglob("*.png")), tmp_path)) == [
        "0-t-shirt-top/00001.png",
        "9-ankle-boot/00000.png",
        "9-ankle-boot/00002.png",
    ]
    report = tmp_path / "out.csv"
    report.write_text(
        "path,label_1,label_id_1,probability_1\n"
        f"{tmp_path}/9-ankle-boot/00000.png,Ankle boot,9,0.9\n"
        f"{tmp_path}/0-t-shirt-top/00001.png,Shirt,6,0.5\n"
    )
    assert score_csv(report) == (1, 2)


# --- --server ---


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", "classify", *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.integration
def test_server_mode_gives_the_same_answers_as_in_process(live_server, run, sample_answers):
    done = cli(str(SAMPLES_DIR), "--server", live_server, "--format", "jsonl", "--top-k", "3")
    assert done.returncode == EXIT_OK, done.stderr
    over_http = {r["path"]: r["predictions"] for r in map(json.loads, done.stdout.splitlines())}
    assert len(over_http) == len(ALL_SAMPLES)
    _, out, _ = run([str(SAMPLES_DIR), "--format", "jsonl", "--top-k", "3"])
    in_process = {r["path"]: r["predictions"] for r in map(json.loads, out.splitlines())}
    assert over_http.keys() == in_process.keys()
    for path, predictions in over_http.items():
        assert slug(predictions[0]["label"]) == sample_answers[Path(path).name]
        assert [p["label_id"] for p in predictions] == [p["label_id"] for p in in_process[path]]
        assert np.allclose(
            [p["probability"] for p in predictions], [p["probability"] for p in in_process[path]], atol=1e-4
        )


@pytest.mark.integration
def test_server_mode_skips_what_the_server_refuses(live_server):
    done = cli(str(SAMPLES_DIR / "bag.png"), str(REPO_ROOT / "README.md"), "--server", live_server, "--quiet")
    assert done.returncode == EXIT_SKIPPED
    assert [row["label_1"] for row in read_csv(done.stdout)] == ["Bag"]
    assert "skipped" in done.stderr and "README.md: The uploaded file is not a readable image" in done.stderr


def test_server_that_cannot_be_reached_exits_3():
    done = cli(str(SAMPLES_DIR / "bag.png"), "--server", f"http://127.0.0.1:{free_port()}", "--quiet")
    assert done.returncode == EXIT_SERVER
    assert "cannot reach" in done.stderr and "Traceback" not in done.stderr
