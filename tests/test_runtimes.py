"""What runs the network (core/runtimes.py): the int8 ONNX export by default, TensorFlow on the Keras file."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest

import config
from core.checksum import ModelChecksumError, write_checksum
from core.model import ModelWrapper, to_model_batch
from core.runtimes import (
    SOURCE_SHA256_KEY,
    StaleExportError,
    average_with_mirror,
    choose_runtime,
    onnx_source_sha256,
    open_onnx_session,
    verified_onnx_export,
)
from tests.imaging import official_test_images

AGREEMENT_IMAGES = 2000  # the first images of the official test set
MIN_TOP1_AGREEMENT = 0.99  # int8 (7-bit weights) against float32; measured 0.9965 over all 10 000, 0.9945 over these
MAX_MEAN_PROBABILITY_GAP = 0.005  # measured 0.0006
OTHER_SHA256 = "0" * 64


def random_batch(seed: int, count: int = 4) -> np.ndarray:
    return to_model_batch(np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8))


@pytest.fixture(scope="module")
def tensorflow_model() -> ModelWrapper:
    return ModelWrapper(config.SETTINGS.replace(inference_runtime="tensorflow", max_batch_size=1))


@pytest.fixture()
def export_copy(tmp_path):
    """The shipped export and its checksum, copied so that a test may spoil them."""
    onnx_path = tmp_path / "model.onnx"
    shutil.copyfile(config.SETTINGS.onnx_model_path, onnx_path)
    write_checksum(onnx_path, tmp_path / "model.onnx.sha256")
    return onnx_path, tmp_path / "model.onnx.sha256"


def test_the_shipped_export_is_served_by_default(model):
    assert model.runtime == "onnxruntime"
    assert model.onnx_sha256 == config.SETTINGS.onnx_model_sha256_path.read_text().split()[0]


def test_the_export_records_the_keras_file_it_came_from(model):
    assert onnx_source_sha256(open_onnx_session(config.SETTINGS.onnx_model_path, 1, 1)) == model.sha256


def test_runtimes_agree_on_the_official_test_images(model, tensorflow_model):
    images, labels = official_test_images(AGREEMENT_IMAGES)
    batch = to_model_batch(images)
    int8, float32 = model.predict_batch(batch), tensorflow_model.predict_batch(batch)
    agreement = float(np.mean(int8.argmax(axis=1) == float32.argmax(axis=1)))
    assert agreement >= MIN_TOP1_AGREEMENT
    assert float(np.abs(int8 - float32).mean()) <= MAX_MEAN_PROBABILITY_GAP
    int8_accuracy = np.mean(int8.argmax(axis=1) == labels)
    float32_accuracy = np.mean(float32.argmax(axis=1) == labels)
    assert int8_accuracy >= float32_accuracy - 0.005


def test_probabilities_stay_float_not_8_bit_steps(model):
    """The softmax is left out of quantization: a uint8 output could only say multiples of 1/255."""
    probabilities = model.predict_batch(random_batch(5, 8)).ravel()
    steps = probabilities * 255.0
    assert np.abs(steps - np.round(steps)).max() > 0.01


def test_stale_export_is_refused(export_copy):
    onnx_path, checksum_path = export_copy
    with pytest.raises(StaleExportError, match=r"python -m training\.export_onnx"):
        verified_onnx_export(onnx_path, checksum_path, OTHER_SHA256)


def test_auto_falls_back_to_tensorflow_for_a_stale_export(export_copy, caplog):
    onnx_path, checksum_path = export_copy
    with caplog.at_level(logging.WARNING, logger="core.runtimes"):
        assert choose_runtime("auto", onnx_path, checksum_path, OTHER_SHA256) == ("tensorflow", None)
    assert "TensorFlow" in caplog.text


def test_auto_falls_back_to_tensorflow_for_a_tampered_export(export_copy, model):
    onnx_path, checksum_path = export_copy
    with open(onnx_path, "ab") as stream:
        stream.write(b"\0")
    assert choose_runtime("auto", onnx_path, checksum_path, model.sha256) == ("tensorflow", None)
    with pytest.raises(ModelChecksumError, match="refusing"):
        verified_onnx_export(onnx_path, checksum_path, model.sha256)


def test_auto_falls_back_to_tensorflow_without_an_export(tmp_path, model):
    assert choose_runtime("auto", tmp_path / "absent.onnx", tmp_path / "absent.onnx.sha256", model.sha256) == (
        "tensorflow",
        None,
    )


def test_asking_for_onnxruntime_with_a_changed_export_file_fails_to_start(export_copy):
    onnx_path, checksum_path = export_copy
    checksum_path.write_text(f"{OTHER_SHA256}  model.onnx\n")
    with pytest.raises(ModelChecksumError):
        ModelWrapper(
            config.SETTINGS.replace(
                inference_runtime="onnxruntime",
                onnx_model_path=onnx_path,
                onnx_model_sha256_path=checksum_path,
                max_batch_size=1,
            )
        )


def test_asking_for_onnxruntime_with_a_stale_export_fails_to_start(export_copy):
    """An intact export (its checksum matches) made from another Keras file is not this model."""
    import onnx

    onnx_path, checksum_path = export_copy
    exported = onnx.load(str(onnx_path))
    for entry in exported.metadata_props:
        if entry.key == SOURCE_SHA256_KEY:
            entry.value = OTHER_SHA256
    onnx.save(exported, str(onnx_path))
    write_checksum(onnx_path, checksum_path)
    with pytest.raises(StaleExportError, match=f"exported from a Keras file with sha256 {OTHER_SHA256}"):
        ModelWrapper(
            config.SETTINGS.replace(
                inference_runtime="onnxruntime",
                onnx_model_path=onnx_path,
                onnx_model_sha256_path=checksum_path,
                max_batch_size=1,
            )
        )


def test_an_unknown_runtime_is_refused(model):
    with pytest.raises(ValueError, match="INFERENCE_RUNTIME"):
        choose_runtime("torch", config.SETTINGS.onnx_model_path, config.SETTINGS.onnx_model_sha256_path, model.sha256)


def test_tensorflow_runtime_reports_its_own_figures(tensorflow_model, model):
    assert tensorflow_model.runtime == "tensorflow" and tensorflow_model.onnx_sha256 is None
    assert tensorflow_model.metadata["runtime"] == "tensorflow"
    assert tensorflow_model.metadata["sha256"] == model.sha256


def test_average_with_mirror_runs_the_mirror_in_the_same_pass():
    calls = []

    def left_half_brightness(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return batch[:, :, :14, 0].mean(axis=(1, 2))[:, None].repeat(2, axis=1)

    batch = np.zeros((2, 28, 28, 1), dtype=np.float32)
    batch[:, :, :14] = 1.0  # bright on the left: its mirror is dark on the left
    averaged = average_with_mirror(left_half_brightness)(batch)
    assert calls == [4]
    assert np.allclose(averaged, 0.5)


def test_serving_with_onnxruntime_never_imports_tensorflow():
    """The worker's memory and start-up time: TensorFlow is only loaded for INFERENCE_RUNTIME=tensorflow."""
    script = (
        "import sys; from core.model import ModelWrapper; m = ModelWrapper(); "
        "print(m.runtime, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=config.REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split() == ["onnxruntime", "False"]


def test_export_writes_a_verified_int8_model_that_agrees_with_the_shipped_one(tmp_path, model):
    pytest.importorskip("tf2onnx")
    from training.export_onnx import export

    images, _ = official_test_images(500)  # skips without the dataset, which calibration needs too
    output = tmp_path / "exported.onnx"
    export(config.SETTINGS.model_path, output, None, calibration_images=200)
    assert verified_onnx_export(output, tmp_path / "exported.onnx.sha256", model.sha256).sha256
    exported = ModelWrapper(
        config.SETTINGS.replace(
            inference_runtime="onnxruntime",
            onnx_model_path=output,
            onnx_model_sha256_path=tmp_path / "exported.onnx.sha256",
            max_batch_size=1,
        )
    )
    batch = to_model_batch(images)
    agreement = np.mean(exported.predict_batch(batch).argmax(axis=1) == model.predict_batch(batch).argmax(axis=1))
    assert agreement >= 0.99


def test_the_photo_networks_export_agrees_with_the_shipped_one_on_photos(tmp_path, model):
    pytest.importorskip("tf2onnx")
    from core.images import image_to_model_inputs
    from core.model import to_photo_batch
    from tests.imaging import photo_sample_files
    from training.export_onnx import export

    official_test_images(1)  # skips without the dataset, which calibration needs
    output = tmp_path / "photo.onnx"
    export(
        config.SETTINGS.photo_model_path, output, None, calibration_images=100, calibration_photos=0, network="photo"
    )
    assert verified_onnx_export(output, tmp_path / "photo.onnx.sha256", model.photo_sha256).sha256
    exported = ModelWrapper(
        config.SETTINGS.replace(
            inference_runtime="onnxruntime",
            photo_onnx_model_path=output,
            photo_onnx_model_sha256_path=tmp_path / "photo.onnx.sha256",
            max_batch_size=1,
        )
    )
    crops = to_photo_batch(np.stack([image_to_model_inputs(p.read_bytes()).photo for p in photo_sample_files()]))
    np.testing.assert_array_equal(
        exported.predict_photo_batch(crops).argmax(axis=1), model.predict_photo_batch(crops).argmax(axis=1)
    )


def test_tensorflow_serves_the_photo_network_from_its_keras_file(model):
    pytest.importorskip("tensorflow")
    from core.images import image_to_model_inputs
    from core.model import to_photo_batch
    from tests.imaging import photo_sample_files

    keras_served = ModelWrapper(config.SETTINGS.replace(inference_runtime="tensorflow", max_batch_size=1))
    crops = to_photo_batch(np.stack([image_to_model_inputs(p.read_bytes()).photo for p in photo_sample_files()]))
    np.testing.assert_allclose(keras_served.predict_photo_batch(crops), model.predict_photo_batch(crops), atol=0.05)
