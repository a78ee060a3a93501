"""The MAX path is the request path: /model/predict hands the upload's bytes to the model wrapper, whose
pre-process, predict and post-process stages do the work (issue 27), and V2, the CLI and MAX's own
MAXModelWrapper.predict meet the same stages."""

import io

import pytest
from maxfw.model import MAXModelWrapper

from tests.imaging import SAMPLES_DIR
from tooling.request_path import RUNTIME_CALL, crossings, path_to, record_request

PHOTO = SAMPLES_DIR / "sneaker-photo.jpg"
SMALL = SAMPLES_DIR / "bag.png"


@pytest.mark.parametrize("sample", [PHOTO, SMALL], ids=["photo", "28x28"])
@pytest.mark.parametrize("query", ["", "?top_k=3&debug=true"])
def test_the_route_answers_what_the_model_wrapper_predicts(client, model, sample, query):
    data = sample.read_bytes()
    answer = client.post(f"/model/predict{query}", data={"image": (io.BytesIO(data), sample.name)}).get_json()
    top_k, debug = (3, True) if query else (None, False)
    assert answer == {"status": "ok", **model.predict(data, top_k=top_k, debug=debug)}
    assert ("photo_input" in answer) is (debug and sample == PHOTO)


def test_maxs_own_predict_runs_the_three_stages_to_the_same_answer(model):
    data = PHOTO.read_bytes()
    assert MAXModelWrapper.predict(model, data) == [model.predict(data)]
    stages = model._post_process(model._predict(model._pre_process(data)))
    assert stages == [model.predict(data)]


def test_a_request_crosses_from_api_into_core_once_and_reaches_the_runtime_through_predict(client):
    calls = [call for roots in record_request(client, PHOTO).roots.values() for call in roots]
    chain = path_to(calls, RUNTIME_CALL)
    assert chain[:3] == ["api/predict.py:post", "core/model.py:predict", "core/model.py:infer_inputs"], chain
    assert crossings(calls) == 1
    # The pre-processing is the model's first stage, not the handler's.
    assert path_to(calls, "core/images.py:image_to_model_inputs")[-2:] == [
        "core/model.py:preprocess",
        "core/images.py:image_to_model_inputs",
    ]
