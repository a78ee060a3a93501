"""The gRPC service (api/grpc/) served in-process on a localhost port, against the same model object the HTTP test
client serves: every refusal is HTTP V2's, with its message; answers are HTTP V2's; limits, deadlines, health,
reflection and metrics hold. Triton's own client drives it where it can send the request; a raw channel with the
service's messages sends what that client refuses to build."""

from __future__ import annotations

import json
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from prometheus_client import REGISTRY
from tritonclient.utils import InferenceServerException

import config
from api.grpc.messages import SERVICE_NAME, ModelInferRequest, ModelInferResponse
from api.grpc.server import GrpcServer
from tests.imaging import SAMPLES_DIR, photo_sample_files
from tooling.live_server import free_port

MODEL = config.SETTINGS.v2_model_name
INFER = f"/{SERVICE_NAME}/ModelInfer"
PHOTO = SAMPLES_DIR / "sneaker-photo.jpg"


@pytest.fixture(scope="module")
def served(model):
    """A GrpcServer on the shared test model, started on a free localhost port; stopped after the module."""
    server = GrpcServer(model, model.settings.replace(host="127.0.0.1", grpc_port=free_port()))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def channel(served):
    with grpc.insecure_channel(served.address) as opened:
        yield opened


@pytest.fixture(scope="module")
def triton_client(served):
    return triton.InferenceServerClient(served.address)


def raw_infer(channel, request, timeout: float = 30):
    call = channel.unary_unary(
        INFER,
        request_serializer=ModelInferRequest.SerializeToString,
        response_deserializer=ModelInferResponse.FromString,
    )
    return call(request, timeout=timeout)


def bytes_elements(*elements: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(element)) + element for element in elements)


# (inputs as (name, datatype, shape, raw bytes), requested output names): requests HTTP V2 refuses.
REFUSED = {
    "two inputs": ([("image", "UINT8", [1, 28, 28], bytes(784)), ("image", "UINT8", [1, 28, 28], bytes(784))], []),
    "wrong shape": ([("image", "UINT8", [1, 28, 27], bytes(756))], []),
    "too few bytes": ([("image", "UINT8", [1, 28, 28], bytes(10))], []),
    "over 255": ([("image", "FP32", [1, 28, 28], np.full(784, 300, np.float32).tobytes())], []),
    "NaN": ([("image", "FP32", [1, 28, 28], np.full(784, np.nan, np.float32).tobytes())], []),
    "unknown input": ([("pixels", "UINT8", [1, 28, 28], bytes(784))], []),
    "unknown datatype": ([("image", "COMPLEX", [1, 28, 28], bytes(784))], []),
    "unreadable file": ([("image_bytes", "BYTES", [1], bytes_elements(b"<svg/>"))], []),
    "bytes of the wrong shape": ([("image_bytes", "BYTES", [1, 1], bytes_elements(b"x"))], []),
    "too many images": ([("image", "UINT8", [257, 28, 28], bytes(257 * 784))], []),
    "unknown output": ([("image", "UINT8", [1, 28, 28], bytes(784))], ["logits"]),
}


def grpc_request(inputs, outputs, model_name: str = MODEL):
    request = ModelInferRequest(model_name=model_name)
    for name, datatype, shape, raw in inputs:
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(raw)
    for name in outputs:
        request.outputs.add(name=name)
    return request


def http_binary_body(inputs, outputs) -> tuple[bytes, int]:
    """The same request in HTTP V2's binary tensor data extension: JSON header, then the raw bytes."""
    header = {
        "inputs": [
            {"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": len(raw)}}
            for name, datatype, shape, raw in inputs
        ]
    }
    if outputs:
        header["outputs"] = [{"name": name} for name in outputs]
    text = json.dumps(header).encode()
    return text + b"".join(raw for *_, raw in inputs), len(text)


@pytest.mark.parametrize("case", list(REFUSED))
def test_every_refusal_is_http_v2s_with_the_same_message(channel, client, case):
    inputs, outputs = REFUSED[case]
    body, header_length = http_binary_body(inputs, outputs)
    http = client.post(
        f"/v2/models/{MODEL}/infer", data=body, headers={"Inference-Header-Content-Length": str(header_length)}
    )
    assert http.status_code == 400
    with pytest.raises(grpc.RpcError) as refused:
        raw_infer(channel, grpc_request(inputs, outputs))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == http.get_json()["error"]


def test_an_unknown_model_or_version_is_not_found_with_http_v2s_message(channel, client, triton_client):
    with pytest.raises(grpc.RpcError) as refused:
        raw_infer(channel, grpc_request(REFUSED["unknown output"][0], [], model_name="mnist"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert refused.value.details() == client.get("/v2/models/mnist").get_json()["error"]
    with pytest.raises(InferenceServerException) as unknown_version:
        triton_client.get_model_metadata(MODEL, model_version="7")
    assert unknown_version.value.status() == "StatusCode.NOT_FOUND"
    assert unknown_version.value.message() == client.get(f"/v2/models/{MODEL}/versions/7").get_json()["error"]


def test_photos_get_http_v2s_answers_through_triton_client(triton_client, client):
    files = [path.read_bytes() for path in photo_sample_files()[:4]]
    tensor = triton.InferInput("image_bytes", [len(files)], "BYTES")
    tensor.set_data_from_numpy(np.array(files, dtype=object))
    result = triton_client.infer(MODEL, [tensor], request_id="photos-1")
    http = client.post(
        f"/v2/models/{MODEL}/infer",
        json={"inputs": [{"name": "image_bytes", "shape": [len(files)], "datatype": "BYTES", "data": encoded(files)}]},
    ).get_json()
    by_name = {output["name"]: output for output in http["outputs"]}
    assert result.get_response().id == "photos-1"
    np.testing.assert_array_equal(
        result.as_numpy("probabilities"), np.float32(by_name["probabilities"]["data"]).reshape(len(files), 10)
    )
    np.testing.assert_array_equal(result.as_numpy("none_of_the_ten"), np.float32(by_name["none_of_the_ten"]["data"]))
    assert [label.decode() for label in result.as_numpy("label")] == by_name["label"]["data"]


def encoded(files: list[bytes]) -> list[str]:
    import base64

    return [base64.b64encode(data).decode() for data in files]


def test_typed_contents_answer_as_raw_contents_do(channel):
    image = np.random.default_rng(3).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    raw = raw_infer(channel, grpc_request([("image", "UINT8", [2, 28, 28], image.tobytes())], ["probabilities"]))
    typed = ModelInferRequest(model_name=MODEL)
    tensor = typed.inputs.add(name="image", datatype="FP32", shape=[2, 28, 28, 1])
    tensor.contents.fp32_contents.extend((image / 255.0).astype(np.float32).ravel().tolist())
    typed.outputs.add(name="probabilities")
    answer = raw_infer(channel, typed)
    assert answer.outputs[0].shape == [2, 10]
    np.testing.assert_allclose(
        np.frombuffer(answer.raw_output_contents[0], np.float32),
        np.frombuffer(raw.raw_output_contents[0], np.float32),
        atol=1e-6,
    )


def test_classification_outputs_are_score_index_label_strings(triton_client):
    tensor = triton.InferInput("image_bytes", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([PHOTO.read_bytes()], dtype=object))
    outputs = [triton.InferRequestedOutput("probabilities", class_count=3)]
    top = triton_client.infer(MODEL, [tensor], outputs=outputs).as_numpy("probabilities")
    assert top.shape == (1, 3)
    scores = [float(item.decode().split(":")[0]) for item in top[0]]
    assert scores == sorted(scores, reverse=True) and top[0][0].decode().endswith(":7:Sneaker")


def test_a_message_over_max_content_length_is_refused_by_grpcs_own_limit(model):
    server = GrpcServer(model, model.settings.replace(host="127.0.0.1", grpc_port=free_port(), max_content_length=4096))
    server.start()
    try:
        with grpc.insecure_channel(server.address) as small:
            with pytest.raises(grpc.RpcError) as refused:
                raw_infer(small, grpc_request([("image", "UINT8", [8, 28, 28], bytes(8 * 784))], []))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            answer = raw_infer(small, grpc_request([("image", "UINT8", [1, 28, 28], bytes(784))], ["label"]))
            assert answer.outputs[0].name == "label"  # the next call is served normally
    finally:
        server.stop()


def test_the_clients_deadline_is_honoured(channel):
    photos = bytes_elements(*[PHOTO.read_bytes()] * 64)
    with pytest.raises(grpc.RpcError) as late:
        raw_infer(channel, grpc_request([("image_bytes", "BYTES", [64], photos)], []), timeout=0.001)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_calls_beyond_the_concurrency_limit_are_refused_and_the_rest_answered(model):
    settings = model.settings.replace(
        host="127.0.0.1", grpc_port=free_port(), grpc_threads=1, grpc_max_concurrent_rpcs=1
    )
    server = GrpcServer(model, settings)
    server.start()
    photos = grpc_request([("image_bytes", "BYTES", [32], bytes_elements(*[PHOTO.read_bytes()] * 32))], ["label"])
    try:
        with grpc.insecure_channel(server.address) as limited, ThreadPoolExecutor(6) as pool:
            outcomes = list(pool.map(lambda _: outcome(limited, photos), range(6)))
    finally:
        server.stop()
    assert "OK" in outcomes and "RESOURCE_EXHAUSTED" in outcomes, outcomes


def outcome(channel, request) -> str:
    try:
        raw_infer(channel, request)
    except grpc.RpcError as error:
        return error.code().name
    return "OK"


def test_health_says_serving_then_not_serving_once_stopping(model):
    server = GrpcServer(model, model.settings.replace(host="127.0.0.1", grpc_port=free_port()))
    server.start()
    with grpc.insecure_channel(server.address) as opened:
        health = health_pb2_grpc.HealthStub(opened)
        for service in ("", SERVICE_NAME):
            status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        stopped = server.begin_stop()
        assert server.health.Check(health_pb2.HealthCheckRequest(service=""), None).status == (
            health_pb2.HealthCheckResponse.NOT_SERVING
        )
    assert stopped.wait(10)


def test_reflection_describes_the_services(channel):
    database = ProtoReflectionDescriptorDatabase(channel)
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= set(database.get_services())
    described = database.FindFileContainingSymbol(SERVICE_NAME)
    assert [service.name for service in described.service] == ["GRPCInferenceService"]
    assert [method.name for method in described.service[0].method] == [
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
    ]


def test_calls_are_counted_by_method_and_code(channel, triton_client):
    def count(method: str, code: str) -> float:
        labels = {"method": f"{SERVICE_NAME}/{method}", "code": code}
        return REGISTRY.get_sample_value("fashion_mnist_grpc_requests_total", labels) or 0.0

    before = count("ModelInfer", "INVALID_ARGUMENT"), count("ServerLive", "OK")
    with pytest.raises(grpc.RpcError):
        raw_infer(channel, grpc_request(*REFUSED["wrong shape"]))
    assert triton_client.is_server_live()
    assert (count("ModelInfer", "INVALID_ARGUMENT"), count("ServerLive", "OK")) == (before[0] + 1, before[1] + 1)
    labels = {"method": f"{SERVICE_NAME}/ServerLive", "code": "OK"}
    assert REGISTRY.get_sample_value("fashion_mnist_grpc_request_duration_seconds_count", labels) >= 1


def test_an_internal_error_is_internal_without_details(channel, model, monkeypatch):
    """A bug deep in the model must not leak its message or a traceback to a gRPC client either."""

    def boom(*args, **kwargs):
        raise RuntimeError("secret-detail in /srv/model.py")

    monkeypatch.setattr(model, "infer", boom)
    with pytest.raises(grpc.RpcError) as failed:
        raw_infer(channel, grpc_request(*REFUSED["unknown output"][:1], []))
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    assert failed.value.details() == "Internal server error."


def test_a_long_lived_client_is_asked_to_reconnect_and_loses_no_call(model, caplog):
    """GRPC_MAX_CONNECTION_AGE: the server sends GOAWAY after that long; the client's next calls go out on a new
    connection (which the kernel may deal to another worker) and none fails."""
    settings = model.settings.replace(host="127.0.0.1", grpc_port=free_port(), grpc_max_connection_age=0.3)
    server = GrpcServer(model, settings)
    server.start()
    client = triton.InferenceServerClient(server.address)
    caplog.set_level("INFO", logger="max_fashion_mnist.requests")
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert client.is_server_live()
            time.sleep(0.05)
    finally:
        server.stop()
    peers = {record.remote_addr for record in caplog.records if getattr(record, "path", "").endswith("/ServerLive")}
    assert len(peers) >= 2, peers
