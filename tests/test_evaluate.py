"""training.evaluate's metrics document, the photo validation steps, latency timing and the training record:
behaviour on small hand-made cases, no model file and no TensorFlow."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.model_figures import served_figures
from tests import evaluation_fixtures as fx
from training import photos as photo_module
from training.contact_sheet import CAPTION_HEIGHT, GAP
from training.evaluate import any_footwear_report, metrics_to_json, write_outputs, write_photo_failures
from training.latency import measure_latency
from training.model_card import render_model_card
from training.photo_validation import TILE_SIDE, failure_order, load_held_out_photos, save_photo_failures
from training.photos import PhotoSet, is_right
from training.plots import plot_confusion_matrix
from training.record import read_training_record, training_record_path, write_training_record

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_top_level_figures_are_the_served_runtimes() -> None:
    metrics = fx.metrics()
    assert metrics["runtime"] == "onnxruntime"
    assert metrics["test_accuracy"] == metrics["runtimes"]["onnxruntime"]["test_accuracy"] == 0.9  # 18 of 20
    assert metrics["runtimes"]["tensorflow"]["test_accuracy"] == 0.95
    assert metrics["test_accuracy_flip_averaging"] == 0.85
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["test_images"] == 20
    assert (metrics["onnxruntime_version"], metrics["tensorflow_version"]) == ("1.32.0", "2.21.0")


def test_the_server_finds_its_figures_in_the_document() -> None:
    """core.model_figures.served_figures: each runtime's section, ONNX Runtime's only for the export measured."""
    metrics = json.loads(metrics_to_json(fx.metrics()))
    assert metrics["sha256"] == fx.KERAS_SHA256
    served = served_figures(metrics, "onnxruntime", fx.ONNX_SHA256)
    assert (served["test_accuracy"], served["test_accuracy_flip_averaging"]) == (0.9, 0.85)
    assert served_figures(metrics, "tensorflow", None)["test_accuracy"] == 0.95
    assert served_figures(metrics, "onnxruntime", "ef" * 32) == {}


def test_runtime_agreement_counts_images_answered_differently() -> None:
    agreement = fx.metrics()["runtime_agreement"]
    assert agreement["between"] == ["onnxruntime", "tensorflow"]
    assert (agreement["disagreements"], agreement["flip_averaging"]["disagreements"]) == (1, 3)


def test_photo_sections_are_the_served_runtimes_on_each_held_out_part() -> None:
    photo, final = fx.metrics()["photo_validation"], fx.metrics()["photo_final_check"]
    assert (photo["photos"], photo["correct"], photo["accuracy"]) == (6, 5, 0.8333)
    assert (final["photos"], final["correct"], final["accuracy"]) == (6, 4, 0.6667)
    assert photo["runtime"] == "onnxruntime" and photo["split"] == "by sender" and photo["part"] == "validation"
    assert photo["directory"] == "clothing-photos/train" and photo["failures_image"] == "photo_failures.png"
    assert "failures_image" not in final
    assert [row["folder"] for row in photo["folders"]] == ["t-shirt", "pants", "shoes", "hoodie"]
    assert fx.metrics()["runtimes"]["tensorflow"]["photo_validation_accuracy"] == 0.8333
    assert fx.metrics()["runtimes"]["tensorflow"]["photo_final_check_accuracy"] == 0.6667
    assert photo["networks"] == {"fashion_mnist": 0.5, "photo": 0.6667}
    assert final["networks"] == {"fashion_mnist": 0.1667, "photo": 0.5}
    shoes = next(row for row in photo["folders"] if row["folder"] == "shoes")
    assert shoes["networks"] == {"fashion_mnist": 0.0, "photo": 0.5}  # the Bag answers are wrong, Sneaker right


def test_photo_sections_give_standard_errors_kids_and_the_small_datasets_folders() -> None:
    photo = fx.metrics()["photo_validation"]
    assert photo["standard_error"] == pytest.approx(np.sqrt(5 / 6 * 1 / 6 / 6), abs=1e-4)
    t_shirt = photo["folders"][0]
    assert (t_shirt["accuracy"], t_shirt["standard_error"]) == (0.5, 0.3536)
    assert photo["kids"]["kids"] == {"photos": 1, "accuracy": 0.0, "standard_error": 0.0}
    assert photo["kids"]["adults"]["photos"] == 5 and photo["kids"]["adults"]["accuracy"] == 1.0
    assert photo["clothing_dataset_small"]["photos"] == 5  # the hoodie is extra/'s
    assert photo["clothing_dataset_small"]["accuracy"] == 0.8


def test_the_any_footwear_figure_judges_shoes_by_folder_whatever_their_kind() -> None:
    folders = np.array(["shoes", "shoes", "pants"])
    kinds = np.eye(10, dtype=bool)[[5, 7, 1]]  # a sandal, a sneaker, trousers
    photos = PhotoSet(np.zeros((3, 28, 28), np.uint8), kinds, folders, np.array(["a", "b", "c"]))
    answers = np.eye(10)[[7, 7, 3]]  # Sneaker, Sneaker, Dress
    assert is_right(answers, kinds).tolist() == [False, True, False]
    report = any_footwear_report(answers, photos)
    assert (report["photos"], report["accuracy"]) == (3, pytest.approx(2 / 3))


def test_without_photos_there_are_no_photo_sections() -> None:
    metrics = fx.metrics(with_photos=False)
    assert "photo_validation" not in metrics and "photo_final_check" not in metrics


def test_targets_are_judged_and_a_figure_not_measured_is_neither_pass_nor_fail() -> None:
    targets = fx.metrics()["targets"]
    assert targets["test_accuracy"]["limit"] == 0.945 and targets["test_accuracy"]["pass"] is False  # 0.90
    assert targets["photo_validation_accuracy"]["pass"] is False  # 0.8333 < 0.85
    assert targets["photo_final_check_accuracy"]["pass"] is False  # 0.6667 < 0.85
    assert targets["latency_batch_1_ms"]["pass"] is True and targets["latency_batch_64_ms_per_image"]["pass"] is True
    assert targets["latency_photo_ms"]["pass"] is None  # the fixtures time no photo
    assert fx.metrics(with_photos=False)["targets"]["photo_validation_accuracy"]["pass"] is None


def test_metrics_json_round_trips_with_matrix_rows_on_one_line() -> None:
    metrics = fx.metrics()
    text = metrics_to_json(metrics)
    assert json.loads(text) == metrics
    assert "[2, 0, 0, 0, 0, 0, 0, 0, 0, 0]" in text


def test_outputs_are_written_from_the_metrics(tmp_path) -> None:
    metrics = fx.metrics()
    write_outputs(metrics, None, tmp_path)
    assert json.loads((tmp_path / "model_metrics.json").read_text()) == metrics
    assert "**Top-1 accuracy**: 0.9000 (90.00 %)" in (tmp_path / "MODEL_CARD.md").read_text()
    with Image.open(tmp_path / "confusion_matrix.png") as image:
        assert image.format == "PNG"


def test_after_a_refit_the_failures_sheet_shows_the_final_check(tmp_path) -> None:
    """A refitted photo network learned from the validation photos, so their failures say little: the sheet
    shows the final check's (two of six wrong there, one in validation)."""
    from training.evaluate import failures_part

    assert (failures_part(False), failures_part(True)) == ("validation", "final_check")
    measured = write_photo_failures(fx.measured(failures_part="final_check")._replace(failures_shown=0), tmp_path)
    assert measured.failures_shown == 2 and (tmp_path / "photo_failures.png").is_file()
    metrics = fx.metrics(failures_part="final_check")
    assert metrics["photo_final_check"]["failures_image"] == "photo_failures.png"
    assert "failures_image" not in metrics["photo_validation"]
    card = render_model_card(metrics, None)
    final_section = card[card.index("## Evaluation on real photos: final check") :]
    assert "![misclassified final-check photos](photo_failures.png)" in final_section
    assert "misclassified validation photos" not in card


def test_failures_sheet_is_written_with_photos_and_an_old_one_removed_without(tmp_path) -> None:
    measured = write_photo_failures(fx.measured()._replace(failures_shown=0), tmp_path)
    assert measured.failures_shown == 1 and (tmp_path / "photo_failures.png").is_file()  # the t-shirt as Bag
    write_photo_failures(fx.measured(with_photos=False), tmp_path)
    assert not (tmp_path / "photo_failures.png").exists()


def test_evaluate_module_imports_without_tensorflow() -> None:
    code = "import sys, training.evaluate; sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=False).returncode == 0


def test_no_photo_folder_skips_the_photos_with_a_warning(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.delenv("CLOTHING_PHOTOS_DIR", raising=False)
    monkeypatch.setattr(photo_module, "DEFAULT_PHOTOS_DIR", tmp_path / "absent")
    with caplog.at_level(logging.WARNING):
        assert load_held_out_photos(tmp_path) is None
    assert "photo validation skipped" in caplog.text


def test_failures_are_shared_out_between_folders_most_confident_first() -> None:
    photos = fx.validation_photos().photos.subset(np.array([0, 1, 0, 1, 0, 3]))  # t-shirt ×5, shoes ×1
    answers = np.array([8, 8, 8, 8, 8, 8])  # all wrong, Bag
    probabilities = fx.probabilities(answers)
    probabilities[4, 8] = 0.99  # the most confident mistake
    order = failure_order(probabilities, photos, limit=4)
    assert [len(group) for group in order] == [3, 1]
    assert order[0][0] == 4


def sheet_height(path: Path) -> int:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size[1]


def test_photo_failures_sheet_starts_each_folder_on_a_new_row(tmp_path) -> None:
    photos, names, path = fx.validation_photos().photos, [str(i) for i in range(10)], tmp_path / "failures.png"
    all_bag = fx.probabilities(np.full(len(photos), 8))
    row = TILE_SIDE + CAPTION_HEIGHT + GAP
    assert save_photo_failures(all_bag, photos, names, path) == 6
    assert sheet_height(path) == 4 * row + GAP  # t-shirt ×2, pants, shoes ×2, hoodie: four folders, four rows
    assert save_photo_failures(all_bag[:2], photos.subset(np.array([0, 1])), names, path) == 2
    assert sheet_height(path) == row + GAP


def test_confusion_matrix_png_is_written(tmp_path) -> None:
    path = plot_confusion_matrix(np.array([[3, 1], [0, 2]]), ["a", "b"], tmp_path / "cm.png", title="t")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 300


class CountingWrapper:
    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(len(batch))
        return np.zeros((len(batch), 11), np.float32)


def test_latency_times_every_call_after_the_warm_up() -> None:
    wrapper = CountingWrapper()
    timing = measure_latency(wrapper, np.zeros((100, 28, 28), np.uint8), batch_size=64, repeats=5, warmup=2)
    assert wrapper.batches == [64] * 7
    assert timing["median_ms_per_image"] == pytest.approx(timing["median_ms_per_call"] / 64, abs=1e-4)
    with pytest.raises(ValueError):
        measure_latency(wrapper, np.zeros((10, 28, 28), np.uint8), batch_size=64, repeats=1)


def test_training_record_lives_beside_its_model(tmp_path) -> None:
    assert training_record_path(tmp_path / "fashion_mnist.h5") == tmp_path / "fashion_mnist.training.json"
    written = write_training_record(tmp_path / "fashion_mnist.h5", fx.RECORD)
    assert written == tmp_path / "fashion_mnist.training.json"
    assert read_training_record(tmp_path / "fashion_mnist.h5", fx.KERAS_SHA256) == fx.RECORD


def test_another_models_record_is_ignored(tmp_path, caplog) -> None:
    write_training_record(tmp_path / "model.h5", fx.RECORD)
    with caplog.at_level(logging.WARNING):
        assert read_training_record(tmp_path / "model.h5", "ef" * 32) is None
    assert "another model file" in caplog.text


def test_missing_or_broken_record_reads_as_none_and_a_record_needs_the_sha(tmp_path) -> None:
    assert read_training_record(tmp_path / "model.h5", fx.KERAS_SHA256) is None
    training_record_path(tmp_path / "model.h5").write_text("{not json")
    assert read_training_record(tmp_path / "model.h5", fx.KERAS_SHA256) is None
    with pytest.raises(ValueError):
        write_training_record(tmp_path / "model.h5", {"command": "python -m training.train"})


def schema_keys(typed_dict) -> set[str]:
    return set(typed_dict.__annotations__)


def test_the_metrics_document_has_only_the_keys_its_schema_declares():
    """core.model_figures.ModelMetrics is the one definition of model_metrics.json: what evaluate writes and
    what is shipped in assets/ hold no key it lacks, and each runtime section none RuntimeFigures lacks."""
    import json

    import config
    from core.model_figures import Latency, ModelMetrics, RuntimeFigures

    shipped = json.loads(config.SETTINGS.model_metrics_path.read_text())
    for document in (fx.metrics(), shipped):
        assert set(document) <= schema_keys(ModelMetrics), set(document) - schema_keys(ModelMetrics)
        for section in document["runtimes"].values():
            assert set(section) <= schema_keys(RuntimeFigures), set(section) - schema_keys(RuntimeFigures)
            assert set(section["latency_ms"]) <= schema_keys(Latency)
            assert Latency.__required_keys__ <= set(section["latency_ms"])
    assert {"sha256", "runtime", "runtimes", "test_accuracy", "targets"} <= set(shipped)
