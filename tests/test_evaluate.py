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
    build_metrics,
    confusion_matrix,
    largest_confusions,
    macro_f1,
    metrics_to_json,
    per_class_scores,
    plot_confusion_matrix,
    render_model_card,
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


def test_model_card_describes_the_training_settings_it_is_given() -> None:
    training = {"epochs": 15, "batch_size": 128, "learning_rate": 0.002, "weight_decay": 0.0001,
                "label_smoothing": 0.05, "width": 32, "dense_units": 256, "dropout": 0.25, "max_shift": 2,
                "val_size": 5000, "seed": 42}
    card = render_model_card(_fake_metrics(), training)
    assert "AdamW" in card and "label smoothing 0.05" in card and "5 000 images" in card and "Seed: 42" in card
    assert "64 filters" in card and "Dense 256" in card and "Dropout 0.5" in card


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
