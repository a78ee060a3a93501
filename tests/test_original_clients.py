"""Clients that exist and that nobody here wrote work unchanged, over HTTP against a real server: IBM's MAX
skeleton and the original MAX-Fashion-MNIST tutorial app upload the image as `file`, and code generators read
/swagger.json, which must be a valid Swagger 2.0 document."""

from __future__ import annotations

import pytest
import requests
from openapi_spec_validator import OpenAPIV2SpecValidator

from tests.imaging import SAMPLES_DIR

pytestmark = pytest.mark.integration

TIMEOUT_S = 30
JPEG = SAMPLES_DIR / "sneaker-photo.jpg"
SNEAKER = 7


def test_the_max_skeletons_file_upload_of_a_jpeg_is_classified(live_server):
    """What the skeleton's tests/test.py sends: files={'file': (file_path, file, 'image/jpeg')}."""
    with open(JPEG, "rb") as file:
        response = requests.post(
            f"{live_server}/model/predict", files={"file": (str(JPEG), file, "image/jpeg")}, timeout=TIMEOUT_S
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["predictions"][0]["prediction"] == SNEAKER
    assert 0.0 < body["predictions"][0]["probability"] <= 1.0


def test_the_tutorial_apps_file_and_stray_content_type_parts_are_classified(live_server):
    """What the tutorial web app sends: files={'file': <jpeg bytes>, 'Content-Type': 'multipart/form-data'},
    which requests turns into a `file` part and a second part named Content-Type holding that text."""
    files = {"file": JPEG.read_bytes(), "Content-Type": "multipart/form-data"}
    prepared = requests.Request("POST", f"{live_server}/model/predict", files=files).prepare()
    assert prepared.body.count(b"Content-Disposition: form-data;") == 2  # the stray part is really sent
    response = requests.post(f"{live_server}/model/predict", files=files, timeout=TIMEOUT_S)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["prediction"] == SNEAKER


def test_image_and_file_together_are_ambiguous(live_server):
    files = [("image", ("a.jpg", JPEG.read_bytes())), ("file", ("b.jpg", JPEG.read_bytes()))]
    response = requests.post(f"{live_server}/model/predict", files=files, timeout=TIMEOUT_S)
    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": "Send exactly one image, in the 'image' field (or 'file'); this request has 2: 'image', 'file'.",
    }


def test_no_image_part_names_the_parts_received_and_the_one_expected(live_server):
    files = {"picture": ("a.jpg", JPEG.read_bytes()), "Content-Type": "multipart/form-data"}
    response = requests.post(f"{live_server}/model/predict", files=files, timeout=TIMEOUT_S)
    assert response.status_code == 400
    message = response.json()["message"]
    assert "'image'" in message and "'picture'" in message and "'Content-Type'" in message
    after = requests.post(f"{live_server}/model/predict", files={"image": JPEG.read_bytes()}, timeout=TIMEOUT_S)
    assert after.status_code == 200  # the next request is served normally


def test_the_live_swagger_document_is_valid_swagger_2(live_server):
    spec = requests.get(f"{live_server}/swagger.json", timeout=TIMEOUT_S).json()
    errors = [str(error).splitlines()[0] for error in OpenAPIV2SpecValidator(spec).iter_errors()]
    assert errors == []
    operation_ids = [
        operation["operationId"]
        for path in spec["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(operation_ids) == len(set(operation_ids)) > 10


def test_swagger_documents_image_and_says_file_is_accepted(live_server):
    spec = requests.get(f"{live_server}/swagger.json", timeout=TIMEOUT_S).json()
    parameters = spec["paths"]["/model/predict"]["post"]["parameters"]
    assert parameters[0]["name"] == "image" and parameters[0]["in"] == "formData"
    assert "'file'" in parameters[0]["description"]
