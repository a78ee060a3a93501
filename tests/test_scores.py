"""training/scores.py against figures worked out by hand, and against scikit-learn on a larger random case."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import classification_report

from core.labels import CLASS_NAMES
from training import scores
from training.photos import allowed_mask

# Three classes, 7 images. Rows = true, columns = predicted:
#   true 0: 3 right, 1 taken for class 1;  true 1: 1 taken for class 0, 1 right;  true 2: taken for class 0
Y_TRUE = [0, 0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 0, 1, 0, 1, 0]
NAMES = ["a", "b", "c"]


def one_hot_probabilities(predicted: list[int], classes: int, confidence: float = 0.9) -> np.ndarray:
    rest = (1 - confidence) / (classes - 1)
    probabilities = np.full((len(predicted), classes), rest)
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


def test_confusion_rows_are_true_classes_and_every_class_has_a_column() -> None:
    assert scores.confusion(Y_TRUE, Y_PRED, 3).tolist() == [[3, 1, 0], [1, 1, 0], [1, 0, 0]]
    assert scores.confusion([0, 1], [1, 1], 4).shape == (4, 4)


def test_per_class_scores_by_hand() -> None:
    rows = scores.per_class_scores(Y_TRUE, Y_PRED, NAMES)
    # a: precision 3/5, recall 3/4, F1 2·0.6·0.75/1.35;  b: 1/2, 1/2, 1/2;  c: never predicted → 0, not NaN
    assert [(r["label"], r["precision"], r["recall"], r["f1"], r["support"]) for r in rows] == [
        ("a", 0.6, 0.75, 0.6667, 4),
        ("b", 0.5, 0.5, 0.5, 2),
        ("c", 0.0, 0.0, 0.0, 1),
    ]


def test_accuracy_and_macro_f1_by_hand() -> None:
    assert scores.accuracy(Y_TRUE, Y_PRED) == 0.5714  # 4 of 7
    assert scores.macro_f1(Y_TRUE, Y_PRED, 3) == pytest.approx((2 / 3 + 0.5 + 0) / 3, abs=1e-4)


def test_per_class_scores_agree_with_sklearns_report_on_ten_classes() -> None:
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 10, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 10, 500))
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    for row in scores.per_class_scores(y_true, y_pred, CLASS_NAMES):
        expected = report[str(row["id"])]
        assert row["precision"] == pytest.approx(expected["precision"], abs=5e-5)
        assert row["recall"] == pytest.approx(expected["recall"], abs=5e-5)
        assert row["support"] == expected["support"]
    assert scores.macro_f1(y_true, y_pred, 10) == pytest.approx(report["macro avg"]["f1-score"], abs=5e-5)
    assert scores.confusion(y_true, y_pred, 10).trace() == (y_true == y_pred).sum()


def test_expected_calibration_error_by_hand() -> None:
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = [0, 1, 1, 0]  # right (0.9), wrong (0.8), right (0.7), right (0.6)
    # 5 bins: (0.8, 1] holds 0.9: |1 - 0.9|·1/4;  (0.6, 0.8] holds 0.8 and 0.7: |0.5 - 0.75|·2/4;
    # (0.4, 0.6] holds 0.6: |1 - 0.6|·1/4  →  0.025 + 0.125 + 0.1
    assert scores.expected_calibration_error(probabilities, labels, bins=5) == pytest.approx(0.25)
    assert scores.expected_calibration_error(probabilities, labels, bins=1) == pytest.approx(0.0)  # 0.75 vs 0.75


def test_expected_calibration_error_of_sure_right_answers_is_zero_and_bad_input_is_refused() -> None:
    assert scores.expected_calibration_error(np.eye(3), [0, 1, 2]) == 0.0
    assert scores.expected_calibration_error(np.eye(3), [1, 2, 0]) == 1.0
    with pytest.raises(ValueError):
        scores.expected_calibration_error(np.eye(3), [0, 1])


def test_largest_confusions_are_off_diagonal_largest_first() -> None:
    cm = np.array([[50, 2, 7], [0, 40, 1], [9, 0, 30]])
    found = scores.largest_confusions(cm, NAMES, k=3)
    assert [(c["true"], c["predicted"], c["count"]) for c in found] == [("c", "a", 9), ("a", "c", 7), ("a", "b", 2)]
    assert found[0]["share_of_true"] == round(9 / 39, 4)
    assert scores.largest_confusions(np.diag([5, 5]), NAMES[:2]) == []


def test_top1_agreement_counts_changed_answers() -> None:
    first = one_hot_probabilities([0, 1, 2, 2], 3)
    second = one_hot_probabilities([0, 1, 2, 0], 3, confidence=0.8)
    agreement = scores.top1_agreement(first, second)
    assert (agreement["images"], agreement["disagreements"], agreement["top1"]) == (4, 1, 0.75)
    assert agreement["max_probability_difference"] == pytest.approx(0.9 - 0.1)  # class 2 of the last image
    with pytest.raises(ValueError):
        scores.top1_agreement(first, second[:2])


def test_fashion_mnist_report_uses_the_top1_class() -> None:
    report = scores.fashion_mnist_report(one_hot_probabilities(Y_PRED, 3), np.array(Y_TRUE), NAMES)
    assert report["confusion_matrix"] == [[3, 1, 0], [1, 1, 0], [1, 0, 0]]
    assert (report["test_accuracy"], report["test_images"]) == (0.5714, 7)
    assert report["largest_confusions"][0]["count"] == 1


PHOTO_FOLDERS = np.array(["shoes", "shoes", "shoes", "pants", "pants", "longsleeve"])
PHOTO_ANSWERS = [5, 7, 8, 1, 8, 6]  # Sandal, Sneaker, Bag | Trouser, Bag | Shirt


def photo_case() -> tuple[np.ndarray, np.ndarray]:
    allowed = np.stack([allowed_mask(folder) for folder in PHOTO_FOLDERS])
    return one_hot_probabilities(PHOTO_ANSWERS, 10), allowed


def test_photo_report_counts_any_footwear_right_for_shoes() -> None:
    probabilities, allowed = photo_case()
    report = scores.photo_report(probabilities, allowed, PHOTO_FOLDERS, CLASS_NAMES)
    by_folder = {row["folder"]: row for row in report["folders"]}
    shoes = by_folder["shoes"]
    assert (shoes["correct"], shoes["photos"], shoes["accuracy"]) == (2, 3, 0.6667)
    assert shoes["allowed"] == ["Sandal", "Sneaker", "Ankle boot"]
    assert (by_folder["pants"]["accuracy"], by_folder["longsleeve"]["accuracy"]) == (0.5, 1.0)
    assert (report["photos"], report["correct"], report["accuracy"]) == (6, 4, 0.6667)


def test_photo_confusion_rows_follow_the_folder_order_and_count_answers() -> None:
    probabilities, allowed = photo_case()
    confusion = scores.photo_report(probabilities, allowed, PHOTO_FOLDERS, CLASS_NAMES)["confusion"]
    assert confusion["classes"] == list(CLASS_NAMES)
    assert [row["folder"] for row in confusion["rows"]] == ["pants", "longsleeve", "shoes"]
    shoes = confusion["rows"][2]["counts"]
    assert shoes == [0, 0, 0, 0, 0, 1, 0, 1, 1, 0]
    assert scores.photo_accuracy(probabilities[:0], allowed[:0]) is None


def test_a_folder_whose_photos_are_judged_by_kind_lists_every_kind_and_says_so() -> None:
    """Shoes labelled by kind: the first photo a sandal, the second a sneaker; the folder's row names both kinds
    (not the first photo's alone) and marks the rule as per photo."""
    probabilities, allowed = photo_case()
    allowed[0], allowed[1] = np.eye(10, dtype=bool)[5], np.eye(10, dtype=bool)[7]
    rows = {
        row["folder"]: row for row in scores.photo_report(probabilities, allowed, PHOTO_FOLDERS, CLASS_NAMES)["folders"]
    }
    assert rows["shoes"]["allowed"] == ["Sandal", "Sneaker", "Ankle boot"]
    assert rows["shoes"]["per_photo"] is True and rows["pants"]["per_photo"] is False
