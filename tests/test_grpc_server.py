"""Integration: Triton's gRPC client, unmodified, against the real server process (`make run`'s gunicorn, its gRPC
side on GRPC_PORT): the same answers as HTTP V2, health, reflection and metrics over the network; and, on servers
of their own, a log line per call, idle and slow connections that hold up no one, SIGTERM with a call in flight,
a killed worker's gRPC side coming back with its replacement, and GRPC_PORT=0."""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import numpy as np
import psutil
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

import config
from benchmarks.abuse import Abuse, AbusiveClients
from tests.imaging import photo_sample_files, sample_files
from tooling.live_server import free_port, serving, start_server, stop_server, wait_for_workers, wait_until_serving
from tooling.processes import descendant_pids

pytestmark = pytest.mark.integration
MODEL = config.SETTINGS.v2_model_name
SERVICE = "inference.GRPCInferenceService"
ANSWER_WITHIN_S = 2.0  # as tests/test_connections.py: generous for a loaded 2-core machine
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.fixture(scope="module")
def grpc_client(live_grpc):
    return triton_grpc.InferenceServerClient(live_grpc)


@pytest.fixture(scope="module")
def http_client(live_server):
    return triton_http.InferenceServerClient(live_server.removeprefix("http://"))


def class_samples() -> np.ndarray:
    return np.stack([np.asarray(Image.open(path), dtype=np.uint8) for path in sorted(sample_files())])


def grpc_infer(client, name: str, data: np.ndarray, datatype: str, **options):
    tensor = triton_grpc.InferInput(name, list(data.shape), datatype)
    tensor.set_data_from_numpy(data)
    return client.infer(MODEL, [tensor], **options)


def test_health_and_metadata_through_triton_grpc(grpc_client):
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    assert grpc_client.is_model_ready(MODEL) and grpc_client.is_model_ready(MODEL, model_version="1")
    metadata = grpc_client.get_model_metadata(MODEL, as_json=True)
    assert metadata["name"] == MODEL and metadata["versions"] == ["1"]
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {"image": "FP32", "image_bytes": "BYTES"}
    assert [o["name"] for o in metadata["outputs"]] == ["probabilities", "label_id", "label", "none_of_the_ten"]
    assert "classification" in grpc_client.get_server_metadata(as_json=True)["extensions"]


@pytest.mark.parametrize("datatype", ["UINT8", "FP32"])
def test_arrays_get_the_answers_http_v2_gives(grpc_client, http_client, datatype):
    images = class_samples()
    data = images if datatype == "UINT8" else (images / 255.0).astype(np.float32)[..., None]
    answer = grpc_infer(grpc_client, "image", data, datatype, request_id="ten")
    tensor = triton_http.InferInput("image", list(data.shape), datatype)
    tensor.set_data_from_numpy(data, binary_data=True)
    expected = http_client.infer(MODEL, [tensor])
    assert answer.get_response().id == "ten"
    np.testing.assert_array_equal(answer.as_numpy("probabilities"), expected.as_numpy("probabilities"))
    np.testing.assert_array_equal(answer.as_numpy("label_id"), expected.as_numpy("label_id"))


def test_photo_files_get_the_answers_model_predict_gives(grpc_client, live_server):
    files = photo_sample_files()
    answer = grpc_infer(grpc_client, "image_bytes", np.array([p.read_bytes() for p in files], dtype=object), "BYTES")
    for row, path in enumerate(files):
        with path.open("rb") as upload:
            predicted = requests.post(f"{live_server}/model/predict", files={"image": upload}, timeout=30).json()
        assert answer.as_numpy("label")[row].decode() == predicted["predictions"][0]["label"]
        assert float(answer.as_numpy("none_of_the_ten")[row]) == pytest.approx(
            predicted["none_of_the_ten"]["score"], abs=1e-6
        )


def test_a_refusal_reaches_triton_grpc_as_invalid_argument(grpc_client):
    with pytest.raises(triton_grpc.InferenceServerException) as refused:
        grpc_infer(grpc_client, "image", np.zeros((1, 28, 27), np.uint8), "UINT8")
    assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "must have shape [N, 28, 28] or [N, 28, 28, 1]" in refused.value.message()
    assert grpc_client.is_server_ready()


def test_the_standard_health_service_says_serving(live_grpc):
    with grpc.insecure_channel(live_grpc) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_metrics_count_grpc_calls_by_method_and_code(grpc_client, live_server):
    assert grpc_client.is_server_live()
    metrics = requests.get(f"{live_server}/metrics", timeout=10).text
    assert f'fashion_mnist_grpc_requests_total{{code="OK",method="{SERVICE}/ServerLive"}}' in metrics
    assert (
        f'fashion_mnist_grpc_request_duration_seconds_bucket{{code="OK",le="0.001",method="{SERVICE}/ServerLive"}}'
        in (metrics)
    )


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """Two workers, as `make run`, with logs this test can read."""
    log_path = tmp_path_factory.mktemp("grpc") / "gunicorn.log"
    with serving(log_path, {"WORKERS": "2"}) as server:
        wait_for_workers(log_path, 2)
        yield server


def timed_infers(address: str, count: int) -> list[float | None]:
    """Seconds each of `count` gRPC calls on a new channel took, None for one not answered in time."""
    image = class_samples()[:1]
    times: list[float | None] = []
    for _ in range(count):
        started = time.perf_counter()
        try:
            grpc_infer(
                triton_grpc.InferenceServerClient(address), "image", image, "UINT8", client_timeout=ANSWER_WITHIN_S
            )
            times.append(time.perf_counter() - started)
        except triton_grpc.InferenceServerException:
            times.append(None)
        time.sleep(0.1)
    return times


@pytest.mark.owns_server
def test_each_call_gets_a_log_line(own_server):
    client = triton_grpc.InferenceServerClient(own_server.grpc_address)
    assert client.is_server_live()
    deadline = time.monotonic() + 10
    while f"gRPC {SERVICE}/ServerLive OK" not in own_server.log_path.read_text():
        assert time.monotonic() < deadline, "no log line for the call"
        time.sleep(0.1)


@pytest.mark.owns_server
@pytest.mark.parametrize(
    "abuse",
    [Abuse(1000), Abuse(64, HTTP2_PREFACE, trickle=True)],
    ids=["1000 idle connections", "64 clients trickling an HTTP/2 frame"],
)
def test_idle_and_slow_grpc_connections_hold_up_no_call(own_server, abuse):
    host, port = own_server.grpc_address.rsplit(":", 1)
    with AbusiveClients(host, int(port), [abuse]):
        time.sleep(1.0)
        times = timed_infers(own_server.grpc_address, 10)
        answered = requests.get(f"{own_server.url}/model/metadata", timeout=ANSWER_WITHIN_S).status_code
    assert None not in times and max(times) < ANSWER_WITHIN_S, times  # type: ignore[type-var]
    assert answered == 200  # HTTP is not held up either


@pytest.mark.owns_server
def test_a_killed_workers_grpc_side_comes_back_with_its_replacement(tmp_path):
    log_path = tmp_path / "gunicorn.log"
    with serving(log_path) as server:
        wait_for_workers(log_path, 1)
        (worker,) = descendant_pids(server.process.pid)
        os.kill(worker, signal.SIGKILL)
        wait_for_workers(log_path, 2)  # the replacement has loaded the model too
        deadline = time.monotonic() + 30
        while True:
            try:
                assert triton_grpc.InferenceServerClient(server.grpc_address).is_server_ready()
                break
            except triton_grpc.InferenceServerException:
                assert time.monotonic() < deadline, "the replacement worker serves no gRPC"
                time.sleep(0.2)


@pytest.mark.owns_server
def test_sigterm_answers_the_call_in_flight(tmp_path):
    log_path = tmp_path / "gunicorn.log"
    port, grpc_port = free_port(), free_port()
    process = start_server(port, log_path, grpc_port=grpc_port)
    address = f"127.0.0.1:{grpc_port}"
    photos = np.array([photo_sample_files()[0].read_bytes()] * 256, dtype=object)
    outcome: list = []

    def long_call() -> None:
        try:
            outcome.append(grpc_infer(triton_grpc.InferenceServerClient(address), "image_bytes", photos, "BYTES"))
        except triton_grpc.InferenceServerException as error:
            outcome.append(error)

    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}", log_path)
        caller = threading.Thread(target=long_call)
        caller.start()
        time.sleep(0.3)  # the 256 photos take seconds to pre-process
        process.send_signal(signal.SIGTERM)
        caller.join(60)
        assert process.wait(timeout=60) == 0
    finally:
        stop_server(process)
    assert len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    assert outcome[0].as_numpy("label").shape == (256,)
    assert "Handling signal: term" in log_path.read_text()


@pytest.mark.owns_server
def test_grpc_port_zero_turns_grpc_off(tmp_path):
    log_path = tmp_path / "gunicorn.log"
    port = free_port()
    process = start_server(port, log_path, grpc_port=0)
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}", log_path)
        workers = descendant_pids(process.pid)
        listening = {
            connection.laddr.port
            for pid in workers
            for connection in psutil.Process(pid).net_connections("tcp")
            if connection.status == "LISTEN"
        }
    finally:
        stop_server(process)
    assert listening == {port}
    assert "gRPC" not in log_path.read_text()
