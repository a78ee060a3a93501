"""The none-of-the-ten score: in every /model/predict answer, flagged at NONE_OF_THE_TEN_THRESHOLD, in the metadata
and Swagger, counted for Prometheus; how training gives a network its eleventh output; how it is measured."""

from __future__ import annotations

import io

import numpy as np
import pytest

import config
from core.images import image_to_model_inputs
from tests.imaging import SAMPLES_DIR, none_sample_files, photo_sample_files, sample_files


def post(client, path):
    return client.post(
        "/model/predict", data={"image": (io.BytesIO(path.read_bytes()), path.name)}, content_type="multipart/form-data"
    )


@pytest.mark.parametrize(
    "path",
    sample_files() + photo_sample_files() + none_sample_files(),
    ids=lambda path: str(path.relative_to(SAMPLES_DIR)),
)
def test_every_answer_carries_the_models_score_and_its_flag(client, model, path):
    response = post(client, path)
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["status", "predictions", "none_of_the_ten"]
    none_of_the_ten = body["none_of_the_ten"]
    assert set(none_of_the_ten) == {"score", "flagged"} and 0.0 <= none_of_the_ten["score"] <= 1.0
    answers = model.infer_inputs([image_to_model_inputs(path.read_bytes())])
    assert none_of_the_ten["score"] == pytest.approx(float(answers.none_scores[0]), abs=1e-6)
    assert none_of_the_ten["flagged"] is (none_of_the_ten["score"] >= config.SETTINGS.none_of_the_ten_threshold)


FLAGGED_SAMPLES = ("hat", "shorts")  # the skirt, long and laid flat like a dress, gets through (docs/api.md)


def test_the_hat_and_the_shorts_are_flagged_and_still_get_their_closest_classes(client):
    """samples/none-of-the-ten/ (a hat, shorts, a skirt; photos of senders the model never trained on)."""
    assert [path.stem for path in none_sample_files()] == ["hat", "shorts", "skirt"]
    for path in none_sample_files():
        if path.stem in FLAGGED_SAMPLES:
            body = post(client, path).get_json()
            assert body["none_of_the_ten"]["flagged"] is True, path.name
            assert len(body["predictions"]) == config.SETTINGS.default_top_k


def test_every_none_of_the_ten_sample_scores_above_every_garment_sample(client):
    def score(path) -> float:
        return post(client, path).get_json()["none_of_the_ten"]["score"]

    garments = {path.name: score(path) for path in sample_files() + photo_sample_files()}
    others = {path.name: score(path) for path in none_sample_files()}
    assert [name for name, value in garments.items() if value >= config.SETTINGS.none_of_the_ten_threshold] == []
    assert min(others.values()) > max(garments.values()), (others, garments)


@pytest.mark.parametrize(("threshold", "flagged"), [(0.0, True), (1.0, False)])
def test_the_threshold_setting_decides_the_flag(threshold, flagged):
    from core.model import ModelWrapper

    wrapper = ModelWrapper(config.SETTINGS.replace(none_of_the_ten_threshold=threshold, max_batch_size=1))
    answer = wrapper.predict(none_sample_files()[0].read_bytes())
    assert answer["none_of_the_ten"]["flagged"] is flagged
    assert wrapper.metadata["none_of_the_ten_threshold"] == threshold


def test_swagger_documents_the_score(client):
    definitions = client.get("/swagger.json").get_json()["definitions"]
    field = definitions["PredictResponse"]["properties"]["none_of_the_ten"]
    assert field["allOf"] == [{"$ref": "#/definitions/NoneOfTheTen"}]
    assert "none_of_the_ten" in definitions["PredictResponse"]["required"]
    none_of_the_ten = definitions["NoneOfTheTen"]
    assert none_of_the_ten["properties"]["score"]["type"] == "number"
    assert none_of_the_ten["properties"]["flagged"]["type"] == "boolean"
    assert set(none_of_the_ten["required"]) == {"score", "flagged"}
    assert "none_of_the_ten_threshold" in definitions["FashionMNISTModelMetadata"]["properties"]


def test_flagged_answers_are_counted():
    from prometheus_client import REGISTRY

    from core.telemetry import record_predictions

    def flagged_total() -> float:
        return REGISTRY.get_sample_value("fashion_mnist_none_of_the_ten_total") or 0.0

    before = flagged_total()
    record_predictions(np.eye(10, dtype=np.float32)[:3], np.array([True, False, True]))
    assert flagged_total() == before + 2
    record_predictions(np.eye(10, dtype=np.float32)[:1], np.array([False]))
    assert flagged_total() == before + 2


# --- How the score is measured (training/none_of_the_ten.py) ---


def test_auroc_and_the_threshold_for_a_flagged_rate():
    from training.none_of_the_ten import auroc, threshold_for_rate

    garments, others = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.35, 0.5, 0.9])
    assert auroc(garments, others) == pytest.approx((4 + 4 + 3) / 12)
    assert auroc(others, garments) == pytest.approx(1 - (4 + 4 + 3) / 12)
    scores = np.linspace(0.0, 1.0, 101)
    threshold = threshold_for_rate(scores, 0.10)
    assert np.mean(scores >= threshold) == pytest.approx(0.10, abs=0.011)
    assert auroc(np.array([]), others) is None


def test_the_baseline_is_one_minus_the_top_probability():
    from core.model import Answers
    from training.none_of_the_ten import baseline_scores

    answers = Answers(np.array([[0.7, 0.3] + [0.0] * 8, [0.1] * 10], np.float32), np.zeros(2, np.float32))
    np.testing.assert_allclose(baseline_scores(answers), [0.3, 0.9], atol=1e-6)


# --- How a network gets its eleventh output (training/train_none.py) ---


def test_an_outlier_allows_only_none_and_a_garment_never_does():
    from training.train_none import eleven_wide

    masks = np.zeros((3, 10), bool)
    masks[0, 3] = True
    masks[1, [5, 7, 9]] = True
    wide = eleven_wide(masks)
    assert wide.shape == (3, 11)
    assert wide[0].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert wide[1, 10] == 0 and wide[1, [5, 7, 9]].tolist() == [1, 1, 1]
    assert wide[2].tolist() == [0] * 10 + [1]


def test_the_eleventh_output_leaves_the_ten_classes_as_they_were():
    keras = pytest.importorskip("keras")
    from training.photo_network import build_photo_network
    from training.train_none import with_none_output

    network = build_photo_network((4, 4, 8, 8))
    extended = with_none_output(network, none_bias=-4.0)
    batch = np.random.default_rng(0).random((3, 64, 64, 3)).astype(np.float32)
    before, after = network.predict(batch, verbose=0), extended.predict(batch, verbose=0)
    assert after.shape == (3, 11) and isinstance(extended, keras.Model)
    np.testing.assert_allclose(after[:, :10] / after[:, :10].sum(axis=1, keepdims=True), before, atol=1e-5)
    assert np.all(after[:, 10] < 0.05)  # it starts rare: exp(-4) against the ten
