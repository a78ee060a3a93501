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
from core.metrics import served_figures
from training.evaluate import (
    Measurement,
    accuracy,
    agreement_lines,
    architecture_summary,
    build_metrics,
    compute_targets,
    confusion_matrix,
    confusion_title,
    expected_calibration_error,
    largest_confusions,
    macro_f1,
    measurement,
    metrics_to_json,
    ordered_runtimes,
    parse_args,
    per_class_scores,
    plot_confusion_matrix,
    read_photo_like_metrics,
    render_model_card,
    runtime_accuracy_lines,
    runtime_agreement,
    runtime_section,
    runtime_sections,
    speed_rows,
    summary_lines,
    top1_agreement,
    with_runtimes,
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


def _test_cm(shirts_as_tshirts: int = 10, coats_as_pullovers: int = 4) -> np.ndarray:
    """1 000 images, 100 per class, all right except the two confusions asked for."""
    cm = np.eye(10, dtype=int) * 100
    cm[6, 0], cm[6, 6] = shirts_as_tshirts, 100 - shirts_as_tshirts
    cm[4, 2], cm[4, 4] = coats_as_pullovers, 100 - coats_as_pullovers
    return cm


def _fake_metrics() -> dict:
    return build_metrics(_test_cm(), "ab" * 32, Path("assets/fashion_mnist.h5"), 871_978,
                         "python training/evaluate.py")


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


# ----------------------------------------------------------------------------- runtimes

ONNX_SHA = "cd" * 32
NO_PROBABILITIES = np.zeros((0, 10))


def _measured(cm: np.ndarray, ece: float, latency: dict | None) -> Measurement:
    return Measurement(NO_PROBABILITIES, cm, ece, latency)


def _sections() -> dict[str, dict]:
    """ONNX Runtime: 98.60 % (98.80 % flip-averaged); TensorFlow: 98.50 % (98.70 %), about 4x slower."""
    tf_latency = {**LATENCY, "batch_1": 4.936, "batch_1_p90": 5.5, "batch_64_per_image": 0.3702,
                  "batch_64_per_image_p90": 0.4}
    tf_tta = {**tf_latency, "batch_1": 8.1, "batch_1_p90": 9.0, "batch_64_per_image": 0.74,
              "batch_64_per_image_p90": 0.8}
    return {
        "onnxruntime": runtime_section("onnxruntime", "fashion_mnist.onnx", ONNX_SHA,
                                       _measured(_test_cm(), 0.0123, LATENCY),
                                       _measured(_test_cm(8, 4), 0.0101, TTA_LATENCY), "1.32.0"),
        "tensorflow": runtime_section("tensorflow", "fashion_mnist.h5", "ab" * 32,
                                      _measured(_test_cm(11, 4), 0.0130, tf_latency),
                                      _measured(_test_cm(9, 4), 0.0110, tf_tta), "2.21.0"),
    }


AGREEMENT = {"between": ["onnxruntime", "tensorflow"], "images": 1000, "top1": 0.997, "disagreements": 3,
             "max_probability_difference": 0.0412,
             "flip_averaging": {"images": 1000, "top1": 0.998, "disagreements": 2, "max_probability_difference": 0.03}}


def _measured_metrics() -> dict:
    return with_runtimes(_fake_metrics(), _sections(), AGREEMENT)


def test_measurement_derives_the_confusion_matrix_and_ece_from_the_probabilities() -> None:
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    measured = measurement(probabilities, [0, 1, 2, 2], {"batch_1": 1.0})
    assert measured.cm.tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert measured.ece == round(expected_calibration_error(probabilities, [0, 1, 2, 2]), 4)
    assert measured.latency == {"batch_1": 1.0} and measured.probabilities is not None


def test_runtimes_are_measured_once_each_default_first() -> None:
    assert ordered_runtimes(["tensorflow", "onnxruntime", "tensorflow"]) == ["onnxruntime", "tensorflow"]
    assert ordered_runtimes(["tensorflow"]) == ["tensorflow"]
    for bad in ([], ["openvino"], ["onnxruntime", "auto"]):
        with pytest.raises(ValueError):
            ordered_runtimes(bad)


def test_evaluate_measures_both_runtimes_unless_told() -> None:
    assert parse_args([]).runtimes == ["onnxruntime", "tensorflow"]
    assert parse_args(["--runtimes", "tensorflow"]).runtimes == ["tensorflow"]
    assert parse_args([]).onnx_checksum is None
    with pytest.raises(SystemExit):
        parse_args(["--runtimes", "auto"])


def test_runtime_section_has_the_figures_the_server_reads() -> None:
    section = _sections()["onnxruntime"]
    assert set(section) == {"model_file", "sha256", "test_accuracy", "macro_f1", "expected_calibration_error",
                            "latency_ms", "test_accuracy_flip_averaging", "expected_calibration_error_flip_averaging",
                            "latency_ms_flip_averaging", "onnxruntime_version"}
    assert (section["model_file"], section["sha256"], section["onnxruntime_version"]) == (
        "fashion_mnist.onnx", ONNX_SHA, "1.32.0")
    assert section["test_accuracy"] == 0.986 and section["test_accuracy_flip_averaging"] == 0.988
    assert section["macro_f1"] == round(macro_f1(_test_cm()), 4)
    assert section["expected_calibration_error"] == 0.0123 and section["latency_ms"] == LATENCY
    assert section["latency_ms_flip_averaging"] == TTA_LATENCY
    assert _sections()["tensorflow"]["tensorflow_version"] == "2.21.0"
    with pytest.raises(ValueError):
        runtime_section("openvino", "x", "y", _measured(_test_cm(), 0.0, None), _measured(_test_cm(), 0.0, None), "1")


def test_top1_agreement_counts_the_images_whose_answer_changed() -> None:
    first = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.4, 0.35, 0.25], [0.0, 0.1, 0.9]])
    second = np.array([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.3, 0.45, 0.25], [0.0, 0.1, 0.9]])
    agreement = top1_agreement(first, second)
    # image 2 changes from class 0 to class 1; the largest probability change is 0.1
    assert agreement == {"images": 4, "top1": 0.75, "disagreements": 1, "max_probability_difference": 0.1}
    assert top1_agreement(first, first)["top1"] == 1.0 and top1_agreement(first, first)["disagreements"] == 0
    assert top1_agreement(np.zeros((0, 3)), np.zeros((0, 3))) == {
        "images": 0, "top1": 1.0, "disagreements": 0, "max_probability_difference": 0.0}
    with pytest.raises(ValueError):
        top1_agreement(first, second[:3])


def test_runtime_agreement_compares_the_first_two_runtimes_in_both_flip_settings() -> None:
    right = np.array([[0.9, 0.1], [0.2, 0.8]])
    swapped = right[:, ::-1]
    labels = [0, 1]
    measured = {"onnxruntime": (measurement(right, labels), measurement(right, labels)),
                "tensorflow": (measurement(swapped, labels), measurement(right, labels))}
    agreement = runtime_agreement(measured)
    assert agreement["between"] == ["onnxruntime", "tensorflow"]
    assert (agreement["top1"], agreement["disagreements"], agreement["max_probability_difference"]) == (0.0, 2, 0.8)
    assert agreement["flip_averaging"]["top1"] == 1.0
    assert runtime_agreement({"tensorflow": measured["tensorflow"]}) is None


def test_top_level_figures_are_the_default_runtimes() -> None:
    sections = _sections()
    metrics = with_runtimes(_fake_metrics(), {"tensorflow": sections["tensorflow"],
                                              "onnxruntime": sections["onnxruntime"]}, AGREEMENT)
    assert metrics["runtime"] == "onnxruntime" and list(metrics["runtimes"]) == ["onnxruntime", "tensorflow"]
    assert (metrics["sha256"], metrics["model_file"]) == ("ab" * 32, "fashion_mnist.h5")  # the Keras file's
    assert metrics["test_accuracy"] == 0.986 and metrics["test_accuracy_flip_averaging"] == 0.988
    assert metrics["expected_calibration_error"] == 0.0123 and metrics["latency_ms"] == LATENCY
    assert (metrics["onnxruntime_version"], metrics["tensorflow_version"]) == ("1.32.0", "2.21.0")
    assert metrics["targets"]["latency_batch_1_ms"]["measured"] == LATENCY["batch_1"]
    assert metrics["runtime_agreement"] == AGREEMENT
    assert json.loads(metrics_to_json(metrics)) == metrics


def test_served_figures_picks_each_runtimes_section_from_the_document() -> None:
    metrics = json.loads(metrics_to_json(_measured_metrics()))
    assert served_figures(metrics, "onnxruntime", ONNX_SHA)["test_accuracy"] == 0.986
    assert served_figures(metrics, "tensorflow", None)["test_accuracy"] == 0.985
    assert served_figures(metrics, "tensorflow", None)["test_accuracy_flip_averaging"] == 0.987
    assert served_figures(metrics, "onnxruntime", "ef" * 32) == {}  # another export: not its figures


def test_a_tensorflow_only_run_puts_tensorflow_at_the_top_level() -> None:
    metrics = with_runtimes(build_metrics(_test_cm(11, 4), "ab" * 32, Path("fashion_mnist.h5"), 871_978, "c"),
                            {"tensorflow": _sections()["tensorflow"]})
    assert metrics["runtime"] == "tensorflow" and list(metrics["runtimes"]) == ["tensorflow"]
    assert metrics["test_accuracy"] == 0.985 and "runtime_agreement" not in metrics
    assert "onnxruntime_version" not in metrics and metrics["latency_ms"]["batch_1"] == 4.936
    card = render_model_card(metrics)
    assert "Served by**: TensorFlow" in card and "the runtime the server uses by default" not in card
    assert "Top-1 agreement" not in card and "runs ×" not in card


def test_top_level_must_be_built_from_the_default_runtimes_matrix() -> None:
    with pytest.raises(ValueError):
        with_runtimes(build_metrics(_test_cm(11, 4), "ab" * 32, Path("fashion_mnist.h5"), 1, "c"), _sections())
    with pytest.raises(ValueError):
        with_runtimes(_fake_metrics(), {})


def test_a_metrics_file_from_before_the_onnx_export_reads_as_tensorflow() -> None:
    old = {**_fake_metrics(), "expected_calibration_error": 0.0123, "latency_ms": LATENCY}
    assert list(runtime_sections(old)) == ["tensorflow"]
    assert runtime_sections(_fake_metrics()) == {}
    assert list(runtime_sections(_measured_metrics())) == ["onnxruntime", "tensorflow"]
    assert speed_rows(old) == ["| TensorFlow (float32 Keras file) | off (default) | 1.234 (p90 1.500) | "
                               "0.123 (p90 0.140) |"]


# ----------------------------------------------------------------------------- card with measurements

def test_measured_metrics_round_trip_through_json() -> None:
    metrics = _measured_metrics()
    assert json.loads(metrics_to_json(metrics)) == metrics


def test_speed_table_has_a_row_per_runtime_and_flip_setting() -> None:
    assert speed_rows(_measured_metrics()) == [
        "| ONNX Runtime (int8 ONNX export), the default | off (default) | 1.234 (p90 1.500) | 0.123 (p90 0.140) |",
        "| ONNX Runtime (int8 ONNX export) | `TTA_FLIP=true` | 2.468 (p90 2.900) | 0.247 (p90 0.280) |",
        "| TensorFlow (float32 Keras file) | off (default) | 4.936 (p90 5.500) | 0.370 (p90 0.400) |",
        "| TensorFlow (float32 Keras file) | `TTA_FLIP=true` | 8.100 (p90 9.000) | 0.740 (p90 0.800) |",
    ]


def test_runtime_accuracy_table_and_agreement_line() -> None:
    metrics = _measured_metrics()
    assert runtime_accuracy_lines(metrics)[2:] == [
        "| ONNX Runtime (int8 ONNX export), the default | `fashion_mnist.onnx` | 98.60 % | "
        f"{metrics['macro_f1']:.4f} | 0.0123 | 98.80 % |",
        "| TensorFlow (float32 Keras file) | `fashion_mnist.h5` | 98.50 % | "
        f"{metrics['runtimes']['tensorflow']['macro_f1']:.4f} | 0.0130 | 98.70 % |",
    ]
    assert runtime_accuracy_lines(_fake_metrics()) == [] and agreement_lines(_fake_metrics()) == []
    (line,) = agreement_lines(metrics)
    assert ("between ONNX Runtime (int8 ONNX export) and TensorFlow (float32 Keras file): the same class for 997 "
            "of the 1 000 test images (99.70 %); with flip averaging 998 (99.80 %)") in line
    assert line.endswith("0.0412.")


def test_model_card_says_which_runtime_serves_and_what_the_source_of_truth_is() -> None:
    card = render_model_card(_measured_metrics(), TRAINING)
    assert "`fashion_mnist.h5` (Keras HDF5, shipped in `assets/`): the model itself" in card
    assert "source of truth" in card
    assert f"`fashion_mnist.onnx`, its int8 export (`training/export_onnx.py`, sha256 `{ONNX_SHA}`)" in card
    assert "`INFERENCE_RUNTIME=auto`" in card and "`INFERENCE_RUNTIME=tensorflow`" in card
    assert "measured with ONNX Runtime (int8 ONNX export), the runtime the server uses by default" in card
    train, export, evaluate = (card.index(f"python training/{name}.py ") for name in ("train", "export_onnx",
                                                                                        "evaluate"))
    assert train < export < evaluate


def test_model_card_has_the_calibration_speed_tta_and_target_sections() -> None:
    card = render_model_card(_measured_metrics(), TRAINING)
    for section in ("## Photo-like images", "## Calibration", "## Speed on the CPU", "## Test-time augmentation",
                    "## Targets"):
        assert section in card
    assert "0.0123" in card and "0.0101" in card and "15 equal-width bins" in card
    assert "- TensorFlow (float32 Keras file): 0.0130, with flip averaging 0.0110" in card
    assert "| Runtime | Flip averaging | Batch 1, ms per call | Batch 64, ms per image |" in card
    assert all(row in card for row in speed_rows(_measured_metrics()))
    assert ("ONNX Runtime (int8 ONNX export) runs ×4.00 as fast as TensorFlow (float32 Keras file) at batch 1 "
            "and ×3.00 as fast at batch 64") in card
    assert "2 CPUs" in card and "ONNX Runtime 1.32.0, TensorFlow 2.21.0" in card
    assert "the runtime's choice (0)" in card
    assert "`python training/evaluate.py`" in card
    assert "Off by default" in card and "in one forward pass" in card and "traced graph" not in card
    assert "| Top-1 test accuracy | 98.60 % | 98.80 % | +0.20 points |" in card
    assert "| Batch 1, ms per call | 1.234 | 2.468 | ×2.00 |" in card
    assert "Measured with ONNX Runtime (int8 ONNX export) and no test-time augmentation" in card
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
    assert "| Runtime |" not in card and "Top-1 agreement" not in card


def test_summary_lists_the_figures_and_a_verdict_per_target() -> None:
    metrics = _measured_metrics()
    metrics["targets"] = compute_targets(0.9393, metrics["parameters"], LATENCY)
    text = "\n".join(summary_lines(metrics))
    assert "test accuracy 0.9860" in text and "ECE 0.0123" in text and "871 978 parameters" in text
    assert "batch 1 1.234 ms/call" in text and "batch 64 0.123 ms/image" in text
    assert "flip averaging (TTA_FLIP=true): accuracy 0.9880" in text and "(×2.00)" in text
    assert ("tensorflow (fashion_mnist.h5): accuracy 0.9850, ECE 0.0130, batch 1 4.936 ms/call, batch 64 "
            "0.370 ms/image; flip averaging: accuracy 0.9870") in text
    assert "onnxruntime (fashion_mnist.onnx): accuracy 0.9860" in text
    assert "top-1 agreement onnxruntime vs tensorflow: 0.9970 (3 of 1000 images differ)" in text
    assert "target Top-1 test accuracy >= 95.50 %: measured 93.93 % -> FAIL" in text
    assert text.count("-> PASS") == 3


def test_confusion_title_names_the_runtime_measured() -> None:
    assert confusion_title(_measured_metrics()) == ("Fashion-MNIST test set (1 000 images), accuracy 98.60 %\n"
                                                    "ONNX Runtime (int8 ONNX export)")


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
