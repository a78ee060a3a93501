"""The evaluation's arithmetic and model card, on small hand-made arrays: no TensorFlow, no model file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.labels import CLASS_NAMES
from training.evaluate import (
    accuracy,
    architecture_summary,
    build_metrics,
    compute_targets,
    confusion_matrix,
    expected_calibration_error,
    largest_confusions,
    macro_f1,
    metrics_to_json,
    per_class_scores,
    plot_confusion_matrix,
    read_photo_like_metrics,
    render_model_card,
    summary_lines,
)
from training.export_samples import export_samples, first_index_per_class, slug

REPO_ROOT = Path(__file__).resolve().parent.parent

# Three classes, 7 images. Rows = true, columns = predicted:
#   true 0: 3 right, 1 taken for class 1
#   true 1: 1 taken for class 0, 1 right
#   true 2: 1 taken for class 0 (class 2 is never predicted)
Y_TRUE = [0, 0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 0, 1, 0, 1, 0]
EXPECTED_CM = [[3, 1, 0], [1, 1, 0], [1, 0, 0]]


def test_confusion_matrix_rows_are_true_classes_columns_predicted() -> None:
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == EXPECTED_CM
    assert cm.dtype.kind == "i"
    assert cm.sum() == len(Y_TRUE)


def test_confusion_matrix_of_perfect_predictions_is_diagonal() -> None:
    labels = np.array([2, 0, 1, 1, 2, 2])
    assert confusion_matrix(labels, labels, 3).tolist() == [[1, 0, 0], [0, 2, 0], [0, 0, 3]]


def test_confusion_matrix_keeps_absent_classes_as_zero_rows() -> None:
    cm = confusion_matrix([0, 0], [0, 0], 4)
    assert cm.shape == (4, 4)
    assert cm[0, 0] == 2 and cm.sum() == 2


def test_confusion_matrix_of_nothing_is_all_zeros() -> None:
    assert confusion_matrix([], [], 2).tolist() == [[0, 0], [0, 0]]


@pytest.mark.parametrize(("y_true", "y_pred"), [([0, 1], [0]), ([0, 3], [0, 1]), ([0, 1], [-1, 1])])
def test_confusion_matrix_rejects_bad_input(y_true: list[int], y_pred: list[int]) -> None:
    with pytest.raises(ValueError):
        confusion_matrix(y_true, y_pred, 3)


def test_per_class_scores_of_the_known_example() -> None:
    scores = per_class_scores(np.array(EXPECTED_CM))
    assert [s["id"] for s in scores] == [0, 1, 2]
    assert [s["label"] for s in scores] == ["class 0", "class 1", "class 2"]
    # class 0: predicted 5 times, 3 right; 4 true images
    assert scores[0]["precision"] == pytest.approx(0.6)
    assert scores[0]["recall"] == pytest.approx(0.75)
    assert scores[0]["f1"] == pytest.approx(round(2 * 0.6 * 0.75 / 1.35, 4))
    # class 1: predicted twice, once right; 2 true images
    assert (scores[1]["precision"], scores[1]["recall"], scores[1]["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    # class 2: never predicted, never right: zeros rather than NaN
    assert (scores[2]["precision"], scores[2]["recall"], scores[2]["f1"]) == (0.0, 0.0, 0.0)
    assert [s["support"] for s in scores] == [4, 2, 1]


def test_per_class_scores_rounds_to_four_decimals() -> None:
    scores = per_class_scores(np.array([[2, 1], [0, 0]]))
    assert scores[0]["recall"] == 0.6667
    assert scores[0]["precision"] == 1.0
    assert scores[1]["support"] == 0 and scores[1]["recall"] == 0.0


def test_per_class_scores_names_ten_classes_after_fashion_mnist() -> None:
    scores = per_class_scores(np.eye(10, dtype=int) * 7)
    assert [s["label"] for s in scores] == list(CLASS_NAMES)
    assert all(s["precision"] == s["recall"] == s["f1"] == 1.0 and s["support"] == 7 for s in scores)


def test_per_class_scores_rejects_a_non_square_matrix() -> None:
    with pytest.raises(ValueError):
        per_class_scores(np.zeros((2, 3)))


def test_accuracy_and_macro_f1_of_the_known_example() -> None:
    cm = np.array(EXPECTED_CM)
    assert accuracy(cm) == pytest.approx(4 / 7)
    assert macro_f1(cm) == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)
    assert accuracy(np.zeros((3, 3))) == 0.0


def test_largest_confusions_skip_the_diagonal_and_empty_cells() -> None:
    cm = np.array([[50, 7, 0], [2, 40, 9], [0, 0, 60]])
    cells = largest_confusions(cm, ["a", "b", "c"], k=5)
    assert [(c["true"], c["predicted"], c["count"]) for c in cells] == [("b", "c", 9), ("a", "b", 7), ("b", "a", 2)]
    assert cells[0]["share_of_true"] == pytest.approx(round(9 / 51, 4))


def _fake_metrics() -> dict:
    cm = np.eye(10, dtype=int) * 90
    cm[6, 0] = 10  # ten shirts taken for T-shirts
    cm[4, 2] = 4
    np.fill_diagonal(cm, 100 - cm.sum(axis=1) + np.diag(cm))
    return build_metrics(cm, "ab" * 32, Path("assets/fashion_mnist.h5"), 871_978, "python training/evaluate.py")


def test_build_metrics_has_the_documented_keys_and_figures() -> None:
    metrics = _fake_metrics()
    assert set(metrics) == {"sha256", "model_file", "test_accuracy", "test_images", "macro_f1", "per_class",
                            "confusion_matrix", "parameters", "evaluated_at", "command"}
    assert metrics["model_file"] == "fashion_mnist.h5"
    assert metrics["test_images"] == 1000
    assert metrics["test_accuracy"] == pytest.approx(0.986)
    assert metrics["parameters"] == 871_978
    assert metrics["evaluated_at"].endswith("Z")
    assert len(metrics["per_class"]) == 10 and metrics["per_class"][6]["recall"] == 0.9


def test_metrics_json_round_trips_with_one_line_per_matrix_row() -> None:
    metrics = _fake_metrics()
    text = metrics_to_json(metrics)
    assert json.loads(text) == metrics
    assert "[100, 0, 0, 0, 0, 0, 0, 0, 0, 0]" in text and "[10, 0, 0, 0, 0, 0, 90, 0, 0, 0]" in text


def test_model_card_reports_the_figures() -> None:
    metrics = _fake_metrics()
    card = render_model_card(metrics)
    assert "0.9860" in card and "98.60 %" in card
    assert f"{metrics['macro_f1']:.4f}" in card
    for score in metrics["per_class"]:
        row = (f"| {score['id']} | {score['label']} | {score['precision']:.4f} | {score['recall']:.4f} | "
               f"{score['f1']:.4f} | {score['support']} |")
        assert row in card
    assert "![confusion matrix](confusion_matrix.png)" in card
    assert metrics["sha256"] in card and "871 978" in card and "fashion_mnist.h5" in card
    assert "true **Shirt** predicted as **T-shirt/top**: 10 images" in card
    assert "python training/train.py" in card and "python training/evaluate.py" in card
    assert "Xiao" in card and "MIT" in card


# train.py's flag defaults as vars(parse_args([])) gives them (minus paths): widths is a tuple, flip a bool.
TRAINING = {"arch": "vgg", "widths": (32, 64), "blocks_per_stage": 1, "dense_units": 256, "dropout": 0.25,
            "epochs": 15, "batch_size": 128, "learning_rate": 0.002, "warmup_epochs": 0.0, "weight_decay": 0.0001,
            "label_smoothing": 0.05, "max_shift": 2, "flip": True, "max_rotation": 0.0, "max_zoom": 0.0,
            "contrast": 0.0, "brightness": 0.0, "erasing": 0.0, "val_size": 5000, "seed": 42}


def test_model_card_describes_the_training_settings_it_is_given() -> None:
    card = render_model_card(_fake_metrics(), TRAINING)
    assert "AdamW" in card and "label smoothing 0.05" in card and "5 000 images" in card and "Seed: 42" in card
    assert "32 filters" in card and "64 filters" in card and "Dense 256" in card and "Dropout 0.5" in card
    assert "Flatten (3136)" in card  # 7 × 7 × 64 after two max-pools
    assert "cosine decay to 0 over 15 epochs" in card and "warm-up" not in card
    assert "±2 px" in card and "left-right flip (never up-down)" in card
    for absent in ("rotation", "zoom", "contrast", "brightness", "erasing"):
        assert absent not in card


def test_model_card_lists_only_the_augmentations_that_are_on() -> None:
    training = {**TRAINING, "flip": False, "max_rotation": 10.0, "max_zoom": 0.1, "contrast": 0.2,
                "brightness": 0.1, "erasing": 0.5, "warmup_epochs": 1.0, "epochs": 60}
    card = render_model_card(_fake_metrics(), training)
    assert "left-right flip" not in card
    assert "rotation of up to ±10°" in card and "zoom of up to ±10 %" in card
    assert "random contrast (factor 0.2)" in card and "random brightness (up to ±0.1" in card
    assert "random erasing with probability 0.5" in card
    assert "linear warm-up from 0.0002 over 1 epochs, then cosine decay to 0, 60 epochs in all" in card


def test_architecture_summary_follows_the_vgg_flags() -> None:
    summary = architecture_summary({**TRAINING, "widths": (32, 64, 128), "dense_units": 128})
    assert summary.startswith("VGG-style: 3 double-conv blocks of widths 32, 64, 128 with batch norm and "
                              "max-pooling, dense head of 128 units")
    card = render_model_card(_fake_metrics(), {**TRAINING, "widths": (32, 64, 128), "dense_units": 128})
    assert "Block 3: 2 × [Conv 3×3, 128 filters" in card and "Flatten (1152)" in card  # 3 × 3 × 128


def test_architecture_summary_follows_the_resnet_flags() -> None:
    training = {**TRAINING, "arch": "resnet", "widths": (32, 64, 128), "blocks_per_stage": 2, "dense_units": 0,
                "dropout": 0.2}
    summary = architecture_summary(training)
    assert summary.startswith("small ResNet: stages of widths 32, 64, 128, 2 residual blocks each, "
                              "global average pooling, no hidden dense layer")
    card = render_model_card(_fake_metrics(), training)
    assert "VGG" not in card and "Stem: Conv 3×3, 32 filters" in card
    assert "Stage 3 (7×7): 2 × residual block [Conv 3×3, 128 filters" in card
    assert "global average pooling (128) → Dropout 0.2 → Dense 10 softmax" in card
    assert "1 residual block each" in architecture_summary({**training, "blocks_per_stage": 1})


def test_architecture_summary_without_training_settings_points_at_the_code() -> None:
    assert "training/architecture.py" in architecture_summary(None)


# ----------------------------------------------------------------------------- calibration

def test_ece_of_perfectly_calibrated_predictions_is_zero() -> None:
    # ten answers at 80 % confidence, eight of them right
    probabilities = np.tile([0.8, 0.2], (10, 1))
    labels = [0] * 8 + [1] * 2
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)


def test_ece_of_certain_predictions_right_half_the_time_is_one_half() -> None:
    probabilities = np.tile([1.0, 0.0, 0.0], (4, 1))
    assert expected_calibration_error(probabilities, [0, 0, 1, 2]) == pytest.approx(0.5)


def test_ece_weights_each_bin_by_its_share_of_the_images() -> None:
    # bin (0.6, 0.8]: 2 answers at 0.7, both right -> gap 0.3; bin (0.8, 1.0]: 2 answers at 0.9, one right -> 0.4
    probabilities = np.array([[0.7, 0.3], [0.7, 0.3], [0.1, 0.9], [0.1, 0.9]])
    labels = [0, 0, 1, 0]
    assert expected_calibration_error(probabilities, labels, bins=5) == pytest.approx(0.5 * 0.3 + 0.5 * 0.4)
    # a single bin pools everything: mean confidence 0.8, accuracy 0.75
    assert expected_calibration_error(probabilities, labels, bins=1) == pytest.approx(0.05)


def test_ece_puts_a_confidence_on_a_bin_edge_into_the_lower_bin() -> None:
    # bins=2: 0.5 (right) falls in (0, 0.5] -> gap 0.5; 0.6 (wrong) in (0.5, 1] -> gap 0.6; half the images each
    probabilities = np.array([[0.5, 0.5], [0.6, 0.4]])
    assert expected_calibration_error(probabilities, [0, 1], bins=2) == pytest.approx(0.5 * 0.5 + 0.5 * 0.6)


def test_ece_of_nothing_is_zero_and_bad_shapes_are_rejected() -> None:
    assert expected_calibration_error(np.zeros((0, 3)), []) == 0.0
    with pytest.raises(ValueError):
        expected_calibration_error(np.full((3, 2), 0.5), [0, 1])
    with pytest.raises(ValueError):
        expected_calibration_error(np.full((2, 2), 0.5), [0, 1], bins=0)


# ----------------------------------------------------------------------------- targets

LATENCY = {"batch_1": 1.234, "batch_1_p90": 1.5, "batch_64_per_image": 0.1234, "batch_64_per_image_p90": 0.14,
           "intra_op_threads": 0, "inter_op_threads": 0, "cpu_count": 2}
TTA_LATENCY = {**LATENCY, "batch_1": 2.468, "batch_1_p90": 2.9, "batch_64_per_image": 0.2468,
               "batch_64_per_image_p90": 0.28}


def test_targets_all_pass() -> None:
    targets = compute_targets(0.9612, 1_200_000, LATENCY)
    assert set(targets) == {"test_accuracy", "parameters", "latency_batch_1_ms", "latency_batch_64_ms_per_image"}
    assert all(t["pass"] for t in targets.values())
    assert targets["test_accuracy"] == {"limit": 0.955, "comparison": ">=", "measured": 0.9612, "pass": True}
    assert targets["latency_batch_64_ms_per_image"]["measured"] == 0.1234


def test_targets_fail_on_the_wrong_side_and_pass_on_the_limit() -> None:
    slow = {**LATENCY, "batch_1": 2.5, "batch_64_per_image": 0.31}
    targets = compute_targets(0.9393, 2_000_001, slow)
    assert not any(t["pass"] for t in targets.values())
    exact = compute_targets(0.955, 2_000_000, {**LATENCY, "batch_1": 2.0, "batch_64_per_image": 0.3})
    assert all(t["pass"] for t in exact.values())


def test_targets_not_measured_fail() -> None:
    targets = compute_targets(0.96, 1_000_000, None)
    assert targets["latency_batch_1_ms"] == {"limit": 2.0, "comparison": "<=", "measured": None, "pass": False}
    assert targets["test_accuracy"]["pass"] and targets["parameters"]["pass"]


# ----------------------------------------------------------------------------- card with measurements

def _measured_metrics() -> dict:
    metrics = _fake_metrics()
    metrics.update({"expected_calibration_error": 0.0123, "latency_ms": LATENCY,
                    "test_accuracy_flip_averaging": 0.9881, "expected_calibration_error_flip_averaging": 0.0101,
                    "latency_ms_flip_averaging": TTA_LATENCY, "tensorflow_version": "2.21.0"})
    metrics["targets"] = compute_targets(metrics["test_accuracy"], metrics["parameters"], LATENCY)
    return metrics


def test_measured_metrics_round_trip_through_json() -> None:
    metrics = _measured_metrics()
    assert json.loads(metrics_to_json(metrics)) == metrics


def test_model_card_has_the_calibration_speed_tta_and_target_sections() -> None:
    card = render_model_card(_measured_metrics(), TRAINING)
    for section in ("## Photo-like images", "## Calibration", "## Speed on the CPU", "## Test-time augmentation",
                    "## Targets"):
        assert section in card
    assert "0.0123" in card and "0.0101" in card and "15 equal-width bins" in card
    assert "| default | 1.234 (p90 1.500) | 0.123 (p90 0.140) |" in card
    assert "| flip averaging (`TTA_FLIP=true`) | 2.468 (p90 2.900) | 0.247 (p90 0.280) |" in card
    assert "2 CPUs" in card and "TensorFlow 2.21.0" in card and "TensorFlow's choice (0)" in card
    assert "`python training/evaluate.py`" in card
    assert "Off by default" in card
    assert "| Top-1 test accuracy | 98.60 % | 98.81 % | +0.21 points |" in card
    assert "| Batch 1, ms per call | 1.234 | 2.468 | ×2.00 |" in card
    assert "| Top-1 test accuracy | ≥ 95.50 % | 98.60 % | PASS |" in card
    assert "| Parameters | ≤ 2 000 000 | 871 978 | PASS |" in card
    assert "| Latency at batch 1, ms per call | ≤ 2.000 ms | 1.234 ms | PASS |" in card
    assert "| Latency at batch 64, ms per image | ≤ 0.300 ms | 0.123 ms | PASS |" in card


def test_model_card_reports_a_failed_target() -> None:
    metrics = _measured_metrics()
    metrics["targets"] = compute_targets(0.9393, metrics["parameters"], {**LATENCY, "batch_1": 3.1})
    card = render_model_card(metrics, TRAINING)
    assert "| Top-1 test accuracy | ≥ 95.50 % | 93.93 % | FAIL |" in card
    assert "| Latency at batch 1, ms per call | ≤ 2.000 ms | 3.100 ms | FAIL |" in card


def test_model_card_without_measurements_invents_no_figures() -> None:
    card = render_model_card(_fake_metrics(), TRAINING)
    for section in ("## Photo-like images", "## Calibration", "## Speed on the CPU", "## Test-time augmentation",
                    "## Targets"):
        assert section in card
    assert card.count("Not measured") == 5 and " ms" not in card and "PASS" not in card


def test_summary_lists_the_figures_and_a_verdict_per_target() -> None:
    metrics = _measured_metrics()
    metrics["targets"] = compute_targets(0.9393, metrics["parameters"], LATENCY)
    text = "\n".join(summary_lines(metrics))
    assert "test accuracy 0.9860" in text and "ECE 0.0123" in text and "871 978 parameters" in text
    assert "batch 1 1.234 ms/call" in text and "batch 64 0.123 ms/image" in text
    assert "flip averaging (TTA_FLIP=true): accuracy 0.9881" in text and "(×2.00)" in text
    assert "target Top-1 test accuracy >= 95.50 %: measured 93.93 % -> FAIL" in text
    assert text.count("-> PASS") == 3


def test_confusion_png_is_written(tmp_path: Path) -> None:
    path = tmp_path / "cm.png"
    plot_confusion_matrix(np.array(EXPECTED_CM), ["a", "b", "c"], path, title="test")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 300


def test_evaluate_module_does_not_import_tensorflow() -> None:
    code = "import sys, training.evaluate; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=False).returncode == 0


def test_sample_names_and_first_indices() -> None:
    assert [slug(name) for name in CLASS_NAMES] == [
        "t-shirt-top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
    labels = np.array([9, 2, 1, 1, 6, 0, 4, 6, 5, 7, 3, 8, 0])
    assert first_index_per_class(labels) == [5, 2, 1, 10, 6, 8, 4, 9, 11, 0]
    with pytest.raises(ValueError):
        first_index_per_class(np.array([0, 1]))


def test_export_samples_keeps_exact_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = np.array([3, 9, 1, 0, 2, 4, 5, 6, 7, 8, 9, 1])
    export_samples(images, labels, tmp_path)
    with Image.open(tmp_path / "ankle-boot.png") as image:
        assert image.mode == "L" and np.array_equal(np.asarray(image), images[1])
    with Image.open(tmp_path / "trouser-photo.jpg") as photo:
        assert photo.format == "JPEG" and photo.mode == "RGB" and photo.size == (280, 280)
    assert "| `dress.png` | 0 | Dress (3) |" in (tmp_path / "README.md").read_text()


def _photo_like_report(sha256: str) -> dict:
    per_class = {name: 0.9 for name in CLASS_NAMES}
    return {"accuracy": 0.9412, "count": 2000, "correct": 1882, "per_class_accuracy": per_class,
            "photo_set": {"command": "python training/make_photo_like.py --count 2000 --seed 0"},
            "model_sha256": sha256}


def test_photo_like_figures_are_read_only_for_the_same_model_file(tmp_path) -> None:
    report = tmp_path / "photo_like_metrics.json"
    report.write_text(json.dumps(_photo_like_report("ab" * 32)))
    assert read_photo_like_metrics(report, "ab" * 32)["accuracy"] == 0.9412
    assert read_photo_like_metrics(report, "cd" * 32) is None
    assert read_photo_like_metrics(tmp_path / "absent.json", "ab" * 32) is None


def test_model_card_reports_photo_like_accuracy_when_measured() -> None:
    metrics = _fake_metrics()
    assert "Not measured for this model file" in render_model_card(metrics)
    metrics["photo_like"] = _photo_like_report(metrics["sha256"])
    card = render_model_card(metrics)
    assert "## Photo-like images" in card
    assert "94.12 % (1882 of 2 000 images)" in card
    assert "make_photo_like.py --count 2000 --seed 0" in card
