"""The model card renders from the metrics document and the training record, shows the figures it is given, says
what was not recorded or measured, and reads nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from tests import evaluation_fixtures as fx
from training.evaluate import REFIT_NOT_JUDGED, compute_targets
from training.model_card import TEMPLATE, TEMPLATE_DIR, render_model_card

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_card_shows_the_figures_it_is_given() -> None:
    metrics = fx.metrics()
    metrics["test_accuracy"], metrics["macro_f1"] = 0.9123, 0.9087
    metrics["per_class"][6]["f1"] = 0.4321
    card = render_model_card(metrics, None)
    assert "**Top-1 accuracy**: 0.9123 (91.23 %)" in card
    assert "**Macro F1**: 0.9087" in card
    assert "| 6 | Shirt |" in card and "0.4321" in card
    assert "Lowest F1: Shirt (0.4321)" in card
    assert "evaluated 2001-02-03" in card and "`python -m training.evaluate`" in card
    assert f"`{fx.KERAS_SHA256}`" in card and f"sha256\n  `{fx.ONNX_SHA256}`" in card


def test_card_reports_none_of_the_ten_on_both_parts_and_the_test_set() -> None:
    card = render_model_card(fx.metrics(), None)
    assert "flagged when the score reaches **0.25**" in card
    assert "**Fashion-MNIST test set**: 5.00 % of 20 images flagged." in card
    assert "AUROC\n0.912 (baseline 0.700); flagged: 85.0 %\nof the none-of-the-ten photos, 5.0 % of the garment" in card
    assert "| skirt (none of the ten) | 8 | 62.5 % |" in card
    assert "| None-of-the-ten score AUROC, final check | ≥ 0.900 | 0.912 | PASS |" in card
    assert "| Fashion-MNIST test images flagged | ≤ 1.00 % | 5.00 % | FAIL |" in card
    without = render_model_card(fx.metrics(with_photos=False), None)
    assert "## None of the ten\n\nNot measured." in without


def test_card_compares_the_runtimes_and_gives_latency_and_targets() -> None:
    card = render_model_card(fx.metrics(), None)
    assert "| ONNX Runtime (int8 ONNX export), served | `fashion_mnist.onnx` | 90.00 % |" in card
    assert "| TensorFlow (float32 Keras file) | `fashion_mnist.h5` | 95.00 % |" in card
    assert "0.200 (p90 0.250)" in card and "0.050 (p90 0.060)" in card
    assert "| Fashion-MNIST top-1 test accuracy | ≥ 94.50 % (stretch 95.50 %) | 90.00 % | FAIL (stretch FAIL) |" in card
    assert "| Latency at batch 1, ms per call | ≤ 2.000 ms | 0.200 ms | PASS |" in card


def test_card_with_a_training_record_quotes_every_argument_and_the_command() -> None:
    card = render_model_card(fx.metrics(training_record="fashion_mnist.training.json"), fx.RECORD)
    assert "python -m training.train --epochs 30 --arch resnet" in card
    for name, value in fx.RECORD["arguments"].items():
        shown = value if isinstance(value, str) else json.dumps(value)
        assert f"| `{name}` | `{shown}` |" in card
    assert "epoch 27 of 2" in card and "95.10 %" in card and "87.30 %" in card
    assert "trained 2001-01-31" in card and "in 30 minutes" in card
    assert "training used\n2236 photos of 160 senders" in card and "Not recorded" not in card


def test_card_without_a_training_record_says_so_and_guesses_nothing() -> None:
    card = render_model_card(fx.metrics(), None)
    assert "Not recorded: there is no training record" in card
    assert "trained (not recorded)" in card
    assert "| Argument | Value |" not in card and "python -m training.train" not in card


def test_card_gives_both_held_out_parts_per_folder_with_errors_and_confusion() -> None:
    card = render_model_card(fx.metrics(), None)
    assert "**Top-1 accuracy, as served**: 83.33 % ± 15.21 % (5 of 6 photos)" in card
    assert "**Top-1 accuracy, as served**: 66.67 % ± 19.25 % (4 of 6 photos)" in card
    assert "| Folder | Photos | Right | Accuracy | ± | the 28×28 network alone | the photo network alone |" in card
    assert "| `t-shirt` | 2 | 1 | 50.00 % | 35.36 % | 100.00 % | 100.00 % | T-shirt/top |" in card
    assert "| `shoes` | 2 | 2 | 100.00 % | 0.00 % | 0.00 % | 50.00 % | Sandal, Sneaker, Ankle boot |" in card
    assert "| `hoodie` | 1 | 1 | 100.00 % | 0.00 % | 0.00 % | 0.00 % | Pullover, Coat |" in card
    assert "| `t-shirt` | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 1 | 0 |" in card
    assert "**Each network alone**: the 28×28 network 50.00 %; the photo network 66.67 %." in card
    assert "**Children's clothes**: 0.00 % ± 0.00 % of 1; adults' 100.00 % ± 0.00 % of 5." in card
    assert "without `extra/`): 80.00 % ± 17.89 % of 5 photos" in card
    assert "## Evaluation on real photos: final check (other held-out senders)" in card
    assert "![misclassified validation photos](photo_failures.png)" in card
    assert "![confusion matrix of the test set](confusion_matrix.png)" in card
    assert "| Photo final check top-1 accuracy (other held-out senders) | ≥ 85.00 % | 66.67 % | FAIL |" in card


def test_card_says_when_the_photo_network_was_refitted_on_the_validation_senders() -> None:
    """A refit photo network has learned from the validation photos: the card must not call them held out."""
    metrics = fx.metrics()
    assert "senders whose\nphotos played no part in training (validation:" in render_model_card(metrics, None)
    photo_network = {"model_file": "fashion_mnist_photo.h5", "sha256": "ab" * 32, "parameters": 5, "weight": 0.6}
    metrics["photo_network"] = {**photo_network, "refit": True}
    card = render_model_card(metrics, None)
    assert "trained again on the validation senders'\n  garment photos too (`--refit`" in card
    assert "photos only the photo network's refit learned from (validation: it chose the epochs and compared " in card
    assert "recipes, so it flatters;" in card
    assert "photos played no part in training (the final check" in card
    metrics["photo_network"] = {**photo_network, "refit": False}
    assert "--refit" not in render_model_card(metrics, None)


def test_card_says_when_the_28x28_network_was_refitted_too() -> None:
    """A refit 28×28 network kept its last epoch and learned from the validation photos: the card says both, and
    that the validation senders' photos trained both networks."""
    photo_network = {"model_file": "p.h5", "sha256": "ab" * 32, "parameters": 5, "weight": 0.6, "refit": True}
    metrics = fx.metrics(training_record="fashion_mnist.training.json", photo_network=photo_network)
    plain = render_model_card(metrics, fx.RECORD)
    assert "photos only the photo network's refit learned from (validation:" in plain
    assert "the last epoch's weights are kept" not in plain
    data = {**fx.RECORD["data"], "photos": {**fx.RECORD["data"]["photos"], "refit": True}}
    card = render_model_card(metrics, {**fx.RECORD, "data": data})
    assert "photos both networks' refits learned from (validation:" in card
    assert "Model selection: the last epoch's weights are kept (epoch" in card
    assert "so they could not choose. Fashion-MNIST validation accuracy" in card


def test_card_names_the_photo_networks_joined_into_the_served_one() -> None:
    metrics = fx.metrics()
    photo_network = {"model_file": "fashion_mnist_photo.h5", "sha256": "ab" * 32, "parameters": 5, "weight": 0.6}
    members = [{"model_file": f"m{seed}.h5", "sha256": "cd" * 32, "seed": seed} for seed in (42, 7)]
    metrics["photo_network"] = {**photo_network, "members": members}
    card = render_model_card(metrics, None)
    assert "It is 2 photo networks trained alike from different seeds (42, 7)" in card
    assert "`training/photo_ensemble.py`: its output is the mean of theirs." in card
    metrics["photo_network"] = {**photo_network, "members": []}
    assert "photo_ensemble" not in render_model_card(metrics, None)


def test_a_refit_photo_network_is_not_judged_on_the_validation_photos_it_learned_from() -> None:
    photo_network = {"model_file": "p.h5", "sha256": "ab" * 32, "parameters": 5, "weight": 0.6, "refit": True}
    metrics = fx.metrics(photo_network=photo_network)  # built as training.evaluate builds them
    assert metrics["targets"] == compute_targets(metrics)
    target = metrics["targets"]["photo_validation_accuracy"]
    assert (target["measured"], target["pass"], target["note"]) == (0.8333, None, REFIT_NOT_JUDGED)
    assert metrics["targets"]["photo_final_check_accuracy"]["pass"] is False
    card = render_model_card(metrics, None)
    assert f"| ≥ 85.00 % | 83.33 % | {REFIT_NOT_JUDGED} |" in card


def test_card_without_photos_says_they_were_not_measured() -> None:
    card = render_model_card(fx.metrics(with_photos=False), None)
    assert "Not measured: no clothing photo folder was found" in card
    assert "photo_failures.png" not in card
    assert "| Photo validation top-1 accuracy (held-out senders) | ≥ 85.00 % | not measured | not measured |" in card


def test_card_names_both_datasets_and_the_folder_mapping() -> None:
    card = render_model_card(fx.metrics(), None)
    assert "Zalando" in card and "MIT licence" in card and "Alexey Grigorev, CC0 1.0" in card
    assert "| `shoes` | Sandal (5), Sneaker (7), Ankle boot (9) |" in card
    assert "| `longsleeve` | T-shirt/top (0), Pullover (2), Shirt (6) |" in card
    assert "| `blazer` | Coat (4) |" in card and "`extra/`" in card
    assert "`shorts`, `skirt` and `hat`" in card


def test_a_missing_figure_is_an_error_not_an_empty_cell() -> None:
    metrics = fx.metrics()
    del metrics["macro_f1"]
    with pytest.raises(UndefinedError):
        render_model_card(metrics, None)


def test_card_reads_no_file_but_its_template() -> None:
    """Rendering twice in a fresh interpreter, files opened during the second render are recorded."""
    code = (
        "import json, sys\n"
        "from training.model_card import render_model_card\n"
        "metrics = json.load(sys.stdin)\n"
        "render_model_card(metrics, None)\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == 'open' else None)\n"
        "render_model_card(metrics, None)\n"
        "print(json.dumps(opened))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(fx.metrics()),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    assert [Path(p).resolve() for p in json.loads(done.stdout)] == [TEMPLATE_DIR / TEMPLATE]


def test_same_inputs_give_the_same_card() -> None:
    assert render_model_card(fx.metrics(), fx.RECORD) == render_model_card(fx.metrics(), fx.RECORD)


def test_card_says_how_the_none_stage_was_trained_and_names_drawn_backpacks_only_when_used() -> None:
    stage = {
        "command": "python -m training.train_none --network fashion_mnist",
        "data": {"none_of_the_ten_photos": {"train_photos": 283}, "drawn_backpacks": 0},
        "selection": {"best_epoch": 7, "photo_validation_accuracy": 0.75, "none_validation_auroc": 0.96},
        "history": [{"epoch": e} for e in range(1, 11)],
        "duration_s": 360.0,
    }
    record = {**fx.RECORD, "base": {"model_file": "fashion_mnist.h5", "sha256": "ab" * 32}, "none_of_the_ten": stage}
    metrics = fx.metrics(training_record="fashion_mnist.training.json")
    card = render_model_card(metrics, record)
    assert "with the hat, shorts and skirt photos of the training senders\n(283 photos), in 6 minutes" in card
    assert "Epoch 7 of 10 is kept" in card and "python -m training.train_none --network fashion_mnist" in card
    assert "backpacks drawn" not in card
    stage["data"]["drawn_backpacks"] = 240
    card = render_model_card(metrics, record)
    assert "(283 photos) and 240 backpacks drawn face-on, each a Bag" in card
    assert "`training/drawn_backpacks.py`" in card
    assert "catalogue photos and, like the 28×28 network,\n  from backpacks drawn face-on" in card  # Limitations
