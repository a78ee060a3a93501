"""The service without TensorFlow: requirements.txt (the Docker image's default build) has no TensorFlow, Keras or
h5py. ONNX Runtime serves, the Keras file's checksum and the export's provenance are checked without them, and a
configuration that needs TensorFlow stops the server with one clear line instead of a traceback.

Absence is simulated: None in sys.modules makes `import tensorflow` fail and importlib.util.find_spec return None,
in this process (monkeypatch) or in a server's processes (a sitecustomize.py on PYTHONPATH).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

import config
from core.checksum import write_checksum
from core.runtimes import (
    TENSORFLOW_MODULES,
    RuntimeUnavailableError,
    choose_runtime,
    import_tensorflow,
    missing_tensorflow_modules,
)
from tooling.live_server import REPO_ROOT, free_port, start_server, stop_server, wait_until_serving

OTHER_SHA256 = "0" * 64
BLOCK_TENSORFLOW = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in TENSORFLOW_MODULES)
BOOT_TIMEOUT_S = 120


@pytest.fixture()
def no_tensorflow(monkeypatch):
    for name in TENSORFLOW_MODULES:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture()
def blocked_env(tmp_path) -> dict[str, str]:
    """The environment of a process in which TensorFlow, Keras and h5py cannot be imported."""
    blocker = tmp_path / "no-tensorflow"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_TENSORFLOW)
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")]))}


@pytest.fixture()
def stale_checksum(tmp_path):
    """An ONNX checksum file that the shipped export does not match: `auto` would fall back to TensorFlow."""
    path = tmp_path / "stale.onnx.sha256"
    path.write_text(f"{OTHER_SHA256}  fashion_mnist.onnx\n")
    return path


def test_missing_tensorflow_is_found_without_importing_it(no_tensorflow):
    assert missing_tensorflow_modules() == list(TENSORFLOW_MODULES)
    with pytest.raises(RuntimeUnavailableError, match="make install-tensorflow"):
        import_tensorflow()


def test_asking_for_tensorflow_without_it_says_what_to_install(no_tensorflow):
    settings = config.SETTINGS
    with pytest.raises(RuntimeUnavailableError) as raised:
        choose_runtime("tensorflow", settings.onnx_model_path, settings.onnx_model_sha256_path, OTHER_SHA256)
    message = str(raised.value)
    assert message.startswith("INFERENCE_RUNTIME=tensorflow, but TensorFlow is not installed here")
    assert "requirements-tensorflow.txt" in message and "--build-arg RUNTIME=tensorflow" in message


def test_auto_with_a_stale_export_and_no_tensorflow_says_both(no_tensorflow, tmp_path, stale_checksum):
    settings = config.SETTINGS
    with pytest.raises(RuntimeUnavailableError) as raised:
        choose_runtime("auto", settings.onnx_model_path, stale_checksum, OTHER_SHA256)
    message = str(raised.value)
    assert "cannot serve the ONNX export" in message and OTHER_SHA256 in message
    assert "TensorFlow is not installed here" in message


def test_the_export_is_verified_and_served_without_tensorflow(no_tensorflow, tmp_path):
    """Checksum and provenance of the export need only hashlib and ONNX Runtime's metadata."""
    settings = config.SETTINGS
    keras_sha256 = settings.model_sha256_path.read_text().split()[0]
    onnx_checksum = tmp_path / "fashion_mnist.onnx.sha256"
    write_checksum(settings.onnx_model_path, onnx_checksum)
    runtime, export = choose_runtime("auto", settings.onnx_model_path, onnx_checksum, keras_sha256)
    assert runtime == "onnxruntime" and export is not None


def test_serving_with_onnxruntime_never_imports_tensorflow():
    """Even where TensorFlow is installed (this venv), the default app loads, verifies and predicts without
    importing TensorFlow, Keras or h5py: in a fresh interpreter, sys.modules is checked afterwards."""
    script = (
        "import sys\n"
        "import app\n"
        "flask_app = app.create_app()\n"
        "response = flask_app.test_client().post('/model/predict', data={'image': "
        "(open('samples/ankle-boot.png', 'rb'), 'boot.png')})\n"
        "assert response.status_code == 200, response.get_data(as_text=True)\n"
        "assert response.get_json()['predictions'][0]['label'] == 'Ankle boot'\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {TENSORFLOW_MODULES!r})\n"
        "print('LOADED', loaded)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=BOOT_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOADED []" in result.stdout


def boot_and_fail(tmp_path, env: dict[str, str]) -> tuple[int, str]:
    """A gunicorn server that must refuse to start: its exit code and log."""
    log_path = tmp_path / "gunicorn.log"
    process = start_server(free_port(), log_path, env)
    try:
        returncode = process.wait(timeout=BOOT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stop_server(process)
        pytest.fail(f"the server kept running without TensorFlow:\n{log_path.read_text()}")
    return returncode, log_path.read_text()


def assert_one_clear_line(log: str, *phrases: str) -> None:
    (line,) = [line for line in log.splitlines() if "cannot start:" in line]
    assert "CRITICAL" in line
    for phrase in phrases:
        assert phrase in line, phrase
    assert "Traceback" not in log, "one clear line, not a stack trace"


@pytest.mark.integration
def test_server_asked_for_tensorflow_without_it_exits_with_one_line(tmp_path, blocked_env):
    """Two workers, as the image runs: the master refuses before forking them (two workers failing at once could
    make gunicorn's master halt with a traceback and exit code 1)."""
    returncode, log = boot_and_fail(tmp_path, {**blocked_env, "INFERENCE_RUNTIME": "tensorflow", "WORKERS": "2"})
    assert returncode == 3, f"gunicorn's 'worker failed to boot' exit code:\n{log}"
    assert_one_clear_line(
        log, "INFERENCE_RUNTIME=tensorflow, but TensorFlow is not installed here", "make install-tensorflow"
    )


@pytest.mark.integration
def test_server_falling_back_to_tensorflow_without_it_exits_with_one_line(tmp_path, blocked_env, stale_checksum):
    returncode, log = boot_and_fail(tmp_path, {**blocked_env, "ONNX_MODEL_SHA256_PATH": str(stale_checksum)})
    assert returncode == 3, f"gunicorn's 'worker failed to boot' exit code:\n{log}"
    assert_one_clear_line(
        log, "INFERENCE_RUNTIME=auto cannot serve the ONNX export", OTHER_SHA256, "TensorFlow is not installed here"
    )


@pytest.mark.integration
def test_server_without_tensorflow_serves_with_onnxruntime(tmp_path, blocked_env):
    log_path = tmp_path / "gunicorn.log"
    port = free_port()
    process = start_server(port, log_path, blocked_env)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(process, base_url, log_path)
        assert requests.get(f"{base_url}/model/metadata", timeout=30).json()["runtime"] == "onnxruntime"
        with open(REPO_ROOT / "samples" / "trouser.png", "rb") as image:
            response = requests.post(f"{base_url}/model/predict", files={"image": ("trouser.png", image)}, timeout=30)
        assert response.status_code == 200 and response.json()["predictions"][0]["label"] == "Trouser"
    finally:
        stop_server(process)
