"""The HTTP contract, through Flask's test client: shapes, Swagger, and every error answer."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

import config
from core.images import image_to_model_array, image_to_model_inputs
from core.labels import CLASS_NAMES
from core.model import to_model_batch
from tests.imaging import SAMPLES_DIR, encode, photo_sample_files, png_of

ANKLE_BOOT = SAMPLES_DIR / "ankle-boot.png"


def post_image(client, data: bytes, filename: str = "upload.png", field: str = "image", **form):
    body = {field: (io.BytesIO(data), filename), **form}
    return client.post("/model/predict", data=body, content_type="multipart/form-data")


def assert_error(response, status: int, message_part: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "error"
    assert message_part.lower() in body["message"].lower()


def test_metadata_describes_the_model(client, model):
    body = client.get("/model/metadata").get_json()
    assert set(body) == {
        "id",
        "name",
        "description",
        "type",
        "source",
        "license",
        "test_accuracy",
        "sha256",
        "runtime",
        "photo_network_sha256",
        "none_of_the_ten_threshold",
    }
    assert body["none_of_the_ten_threshold"] == config.SETTINGS.none_of_the_ten_threshold
    assert body["photo_network_sha256"] == model.photo_sha256 and len(body["photo_network_sha256"]) == 64
    assert body["runtime"] == model.runtime == "onnxruntime"
    assert body["id"] == "max-fashion-mnist"
    assert body["license"] == "Apache-2.0"
    assert body["sha256"] == model.sha256 and len(body["sha256"]) == 64
    assert 0.92 <= body["test_accuracy"] <= 1.0


def test_labels_are_the_ten_classes_in_dataset_order(client):
    body = client.get("/model/labels").get_json()
    assert body == {"count": 10, "labels": [{"id": i, "name": name} for i, name in enumerate(CLASS_NAMES)]}
    assert body["labels"][0]["name"] == "T-shirt/top" and body["labels"][9]["name"] == "Ankle boot"


def test_predict_returns_top_three_sorted_with_argmax_first(client, model):
    response = post_image(client, ANKLE_BOOT.read_bytes(), "ankle-boot.png")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    predictions = body["predictions"]
    assert len(predictions) == config.SETTINGS.default_top_k
    # The model's own probabilities for the upload: the answer is their three largest, largest first.
    answers = model.infer(to_model_batch(image_to_model_array(ANKLE_BOOT.read_bytes())[None]))
    probabilities_of_model = answers.probabilities[0]
    # most likely first; equal probabilities (int8 makes a few) in class order
    top_three = np.argsort(-probabilities_of_model, kind="stable")[: config.SETTINGS.default_top_k]
    assert [p["label_id"] for p in predictions] == top_three.tolist() and top_three[0] == 9
    assert [p["probability"] for p in predictions] == pytest.approx(
        probabilities_of_model[top_three].tolist(), abs=1e-6
    )
    assert predictions[0]["label"] == "Ankle boot"
    probabilities = [p["probability"] for p in predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(p["prediction"] == p["label_id"] and p["label"] == CLASS_NAMES[p["label_id"]] for p in predictions)


@pytest.mark.parametrize("top_k", [1, 10])
def test_top_k_from_form_or_query(client, top_k):
    from_form = post_image(client, ANKLE_BOOT.read_bytes(), top_k=str(top_k)).get_json()["predictions"]
    upload = {"image": (io.BytesIO(ANKLE_BOOT.read_bytes()), "a.png")}
    response = client.post(f"/model/predict?top_k={top_k}", data=upload, content_type="multipart/form-data")
    from_query = response.get_json()["predictions"]
    assert len(from_form) == len(from_query) == top_k
    if top_k == 10:
        assert sorted(p["label_id"] for p in from_form) == list(range(10))
        assert sum(p["probability"] for p in from_form) == pytest.approx(1.0, abs=1e-4)


def test_jpeg_product_photo_upload_is_classified(client):
    boot = np.asarray(Image.open(ANKLE_BOOT))
    photo = Image.fromarray(255 - boot).resize((280, 280), Image.Resampling.LANCZOS).convert("RGB")
    body = post_image(client, encode(photo, "JPEG", quality=90), "boot.jpg").get_json()
    assert body["predictions"][0]["label"] == "Ankle boot"


def decode_model_input(data_url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix) :], validate=True)))
    assert image.format == "PNG" and image.mode == "L"
    return np.asarray(image)


@pytest.mark.parametrize("sample", [*photo_sample_files()[:2], ANKLE_BOOT], ids=lambda p: p.name)
@pytest.mark.parametrize("where", ["form", "query"])
def test_debug_returns_the_image_the_model_saw(client, sample, where):
    data = sample.read_bytes()
    if where == "form":
        response = post_image(client, data, sample.name, debug="true")
    else:
        upload = {"image": (io.BytesIO(data), sample.name)}
        response = client.post("/model/predict?debug=true", data=upload, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    shown = decode_model_input(body["model_input"])
    assert shown.shape == (28, 28)
    assert np.array_equal(shown, image_to_model_array(data))
    expected_crop = image_to_model_inputs(data).photo
    if expected_crop is None:  # a Fashion-MNIST-sized image: the photo network never sees it
        assert "photo_input" not in body
    else:
        crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["photo_input"].split(",", 1)[1]))))
        assert crop.shape == (64, 64, 3) and np.array_equal(crop, expected_crop)
    without_debug = post_image(client, data, sample.name).get_json()
    assert without_debug["predictions"] == body["predictions"], "debug changes nothing else"


@pytest.mark.parametrize("debug", [None, "false", "0"])
def test_no_model_input_without_debug(client, debug):
    form = {} if debug is None else {"debug": debug}
    body = post_image(client, ANKLE_BOOT.read_bytes(), **form).get_json()
    assert body["status"] == "ok" and "model_input" not in body and "photo_input" not in body


def test_debug_that_is_not_a_boolean_is_400(client):
    assert_error(post_image(client, ANKLE_BOOT.read_bytes(), debug="maybe"), 400, "debug")


@pytest.mark.parametrize("top_k", ["0", "11", "-1", "three", "2.5"])
def test_top_k_out_of_range_is_400(client, top_k):
    assert_error(post_image(client, ANKLE_BOOT.read_bytes(), top_k=top_k), 400, "top_k")


def test_missing_image_field_is_400(client):
    assert_error(client.post("/model/predict", data={}, content_type="multipart/form-data"), 400, "image")


def test_wrong_field_name_is_400_naming_what_came_and_what_is_expected(client):
    assert_error(post_image(client, ANKLE_BOOT.read_bytes(), field="picture"), 400, "'image'")
    assert_error(post_image(client, ANKLE_BOOT.read_bytes(), field="picture"), 400, "'picture'")


def test_the_original_models_file_field_is_accepted(client):
    """IBM's MAX skeleton and the original MAX-Fashion-MNIST send the image as `file`."""
    by_file = post_image(client, ANKLE_BOOT.read_bytes(), field="file")
    assert by_file.status_code == 200
    assert by_file.get_json() == post_image(client, ANKLE_BOOT.read_bytes()).get_json()


def test_json_body_instead_of_multipart_is_400(client):
    assert_error(client.post("/model/predict", json={"image": "abc"}), 400, "image")


@pytest.mark.parametrize(
    "data, filename",
    [
        ((SAMPLES_DIR / "README.md").read_bytes() if (SAMPLES_DIR / "README.md").exists() else b"# text", "README.md"),
        (b"<html><body>not an image</body></html>", "page.png"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' width='28' height='28'/>", "shape.svg"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF", "document.pdf"),
        (b"PK\x03\x04" + b"\x00" * 100, "archive.png"),
    ],
)
def test_non_image_file_is_400(client, data, filename):
    assert_error(post_image(client, data, filename), 400, "not a readable image")


def test_empty_file_is_400(client):
    assert_error(post_image(client, b""), 400, "empty")


def test_truncated_jpeg_is_400(client):
    data = encode(Image.fromarray(np.random.default_rng(3).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    assert_error(post_image(client, data[: len(data) // 3], "cut.jpg"), 400, "not a readable image")


def test_decompression_bomb_is_400(client):
    bomb = encode(Image.new("1", (30000, 30000)))
    assert_error(post_image(client, bomb, "bomb.png"), 400, "too many pixels")


def test_upload_over_max_content_length_is_413(client):
    too_big = b"\0" * (config.SETTINGS.max_content_length + 1)
    assert_error(post_image(client, too_big, "big.png"), 413, "exceeds")


def test_server_keeps_serving_after_errors(client):
    post_image(client, b"garbage")
    post_image(client, encode(Image.new("1", (30000, 30000))))
    response = post_image(client, png_of(np.asarray(Image.open(ANKLE_BOOT))))
    assert response.status_code == 200
    assert response.get_json()["predictions"][0]["label"] == "Ankle boot"


def test_unknown_route_is_json_404(client):
    assert_error(client.get("/model/nothing-here"), 404, "not found")


def test_a_wrong_method_on_a_route_is_json_405_with_allow(client):
    """maxfw's catch-all static route (removed by app.drop_catch_all_static_route) would answer a GET on a
    POST-only route 404, and advertise GET everywhere."""
    response = client.get("/model/predict")
    assert response.status_code == 405 and response.get_json()["status"] == "error"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"OPTIONS", "POST"}
    options = client.open("/model/predict", method="OPTIONS")
    assert "GET" not in options.headers["Allow"]


def test_swagger_ui_is_served_at_root(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "swagger-ui" in page and config.API_TITLE in page


def test_openapi_document_describes_every_operation(client):
    spec = client.get("/swagger.json").get_json()
    assert spec["info"]["title"] == config.API_TITLE
    v2_model = "/v2/models/{name}"
    assert set(spec["paths"]) == {
        "/model/metadata",
        "/model/labels",
        "/model/predict",
        "/metrics",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        v2_model,
        f"{v2_model}/ready",
        f"{v2_model}/infer",
        f"{v2_model}/versions/{{version}}",
        f"{v2_model}/versions/{{version}}/ready",
        f"{v2_model}/versions/{{version}}/infer",
    }
    predict = spec["paths"]["/model/predict"]["post"]
    parameters = {p["name"]: p for p in predict["parameters"]}
    assert parameters["image"]["type"] == "file" and parameters["image"]["required"] is True
    assert (parameters["top_k"]["minimum"], parameters["top_k"]["maximum"]) == (1, 10)
    assert parameters["debug"]["type"] == "boolean" and parameters["debug"]["default"] is False
    model_input = spec["definitions"]["PredictResponse"]["properties"]["model_input"]
    assert model_input["type"] == "string" and "model_input" not in spec["definitions"]["PredictResponse"]["required"]
    assert {"200", "400", "413"} <= set(predict["responses"])
    assert {"PredictResponse", "Prediction", "Error", "LabelsResponse"} <= set(spec["definitions"])
    assert "X-Fields" not in str(spec), "the field mask header is off (RESTX_MASK_SWAGGER = False)"
