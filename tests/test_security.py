"""Security properties of the service: no debug output or stack traces in answers, body size limits, the
headers that protect browsers, uploads that never touch the disk, the server's connection limits, and
Swagger UI working under its Content-Security-Policy (in a real Chromium, when there is one).

The hostile-input tests that need a running server are in test_hostile.py.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import config
from api import served_model
from tests.imaging import encode
from tooling.live_server import REPO_ROOT

INTERNAL_DETAIL = "secret-detail-/work/main/core/model.py line 42"
TWO_MB_NOISE_PNG = encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (1200, 1200), dtype=np.uint8)))


def csp(headers) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))


# --- No debug mode, no stack traces ---------------------------------------------------------------------


def test_debug_mode_is_off(app):
    assert app.debug is False
    assert not app.config.get("DEBUG")


def boom(*args, **kwargs):
    raise RuntimeError(INTERNAL_DETAIL)


@pytest.mark.parametrize(
    "path, send",
    [
        (
            "/model/predict",
            lambda client: client.post("/model/predict", data={"image": (io.BytesIO(TWO_MB_NOISE_PNG), "a.png")}),
        ),
        (
            "/v2/models/fashion-mnist/infer",
            lambda client: client.post(
                f"/v2/models/{config.SETTINGS.v2_model_name}/infer",
                json={"inputs": [{"name": "image", "shape": [1, 28, 28], "datatype": "UINT8", "data": [0] * 784}]},
            ),
        ),
    ],
)
def test_an_internal_error_answers_500_without_details(app, client, monkeypatch, path, send):
    """A bug deep in the model must not leak its message, a file path or a traceback to the client."""
    with app.app_context():
        model = served_model()
    monkeypatch.setattr(model, "predict", boom)
    monkeypatch.setattr(model, "infer", boom)
    response = send(client)
    assert response.status_code == 500
    assert response.get_json() == error_body(path, "Internal server error.")
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret-detail" not in text and ".py" not in text


# --- Size limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/model/predict", f"/v2/models/{config.SETTINGS.v2_model_name}/infer"])
def test_body_over_max_content_length_is_413_json(client, path):
    response = client.post(
        path, data=b"\0" * (config.SETTINGS.max_content_length + 1), content_type="multipart/form-data; boundary=x"
    )
    assert response.status_code == 413
    assert response.get_json() == error_body(path, "The data value transmitted exceeds the capacity limit.")


def error_body(path: str, message: str) -> dict:
    """MAX's error shape; the Open Inference Protocol's own on its routes."""
    return {"error": message} if path.startswith("/v2/") else {"status": "error", "message": message}


# --- Headers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/swagger.json",
        "/model/labels",
        "/swaggerui/swagger-ui-bundle.js",
        "/v2/health/ready",
        "/metrics",
        "/app/",
        "/no/such/route",
    ],
)
def test_every_response_forbids_mime_sniffing(client, path):
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


def test_swagger_ui_loads_only_local_files(client):
    page = client.get("/").get_data(as_text=True)
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page)
    assert urls, "the page loads its scripts and styles"
    assert all(url.startswith("/swaggerui/") for url in urls), urls


def test_swagger_ui_has_a_csp_that_allows_only_its_own_inline_script(client):
    response = client.get("/")
    policy = csp(response.headers)
    inline = re.findall(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", response.get_data(), re.DOTALL)
    assert len(inline) == 1, "flask-restx's template starts Swagger UI with one inline script"
    digest = base64.b64encode(hashlib.sha256(inline[0]).digest()).decode()
    assert policy["script-src"] == f"'self' 'sha256-{digest}'", "that script by its hash, no 'unsafe-inline'"
    assert policy["default-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "Content-Security-Policy" not in client.get("/model/labels").headers, "JSON needs none"


def test_the_demo_page_keeps_its_stricter_policy(client):
    assert csp(client.get("/app/").headers)["script-src"] == "'self'"


# --- Uploads stay in memory -----------------------------------------------------------------------------


def test_a_2_mb_upload_is_held_in_memory(app):
    """Werkzeug's default would spool this file part to a temporary file on disk."""
    assert len(TWO_MB_NOISE_PNG) > 1_000_000
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(
        method="POST", path="/model/predict", data={"image": (io.BytesIO(TWO_MB_NOISE_PNG), "a.png")}
    ).get_environ()
    with app.request_context(environ):
        from flask import request

        stream = request.files["image"].stream
        assert isinstance(stream, io.BytesIO)
        assert stream.getvalue() == TWO_MB_NOISE_PNG


def test_no_upload_touches_the_disk(client, monkeypatch):
    """Every way the tempfile module creates a file fails here, and a 2 MB upload is still classified."""

    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was about to be written to disk")

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp", "_mkstemp_inner"):
        monkeypatch.setattr(tempfile, name, no_disk)
    monkeypatch.setattr("werkzeug.formparser.SpooledTemporaryFile", no_disk)
    response = client.post("/model/predict", data={"image": (io.BytesIO(TWO_MB_NOISE_PNG), "../../etc/a.png")})
    assert response.status_code == 200, response.get_data(as_text=True)


# --- gunicorn ------------------------------------------------------------------------------------------


def gunicorn_settings() -> dict:
    """gunicorn.conf.py's settings, read as gunicorn reads them.

    Reading them sets PROMETHEUS_MULTIPROC_DIR, as it must in gunicorn's master; it is put back afterwards, or
    every later test's /metrics would read that (empty) directory instead of this process's metrics.
    """
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", REPO_ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    saved = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved
    return vars(module)


def test_gunicorn_reads_connections_in_an_event_loop_and_cuts_off_slow_clients_by_default():
    """The worker and limits that keep idle and slow clients from holding anything up (tested against real
    servers in test_worker.py, test_connections.py and test_hostile.py)."""
    from gunicorn.workers.ggevent import GeventWorker

    settings = gunicorn_settings()
    assert issubclass(settings["worker_class"], GeventWorker)
    assert settings["worker_connections"] == config.SETTINGS.max_connections >= 1000
    assert settings["backlog"] == config.SETTINGS.backlog and settings["keepalive"] >= 1
    assert 1 <= config.SETTINGS.header_timeout <= 60 and 1 <= config.SETTINGS.keepalive_timeout <= 75
    assert 5 <= config.SETTINGS.body_timeout <= 120 and 5 <= config.SETTINGS.send_timeout <= 120
    assert config.SETTINGS.max_content_length <= config.SETTINGS.body_buffer_bytes
    assert settings["preload_app"] is False


# --- Swagger UI in a real browser, under its policy -----------------------------------------------------


def try_out_labels_in_swagger_ui(sync_api, executable: str, base_url: str) -> tuple[list[str], list[str]]:
    """Swagger UI's "Try it out" on /model/labels; every console message and every URL the page requested."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = browser.new_page()
            console, requested = [], []
            page.on("console", lambda message: console.append(message.text))
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{base_url}/")
            page.wait_for_selector(".opblock", timeout=30_000)
            labels = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/model/labels"))
            labels.locator(".opblock-summary").first.click()
            labels.get_by_role("button", name="Try it out").click()
            labels.get_by_role("button", name="Execute").click()
            labels.locator(".live-responses-table .response-col_description pre").first.wait_for()
        finally:
            browser.close()
    return console, requested


@pytest.mark.integration
@pytest.mark.browser
def test_swagger_ui_works_under_its_csp_and_fetches_nothing_remote(live_server):
    """In a thread of its own: test_browser.py's Playwright may be running in this one, and a second sync
    Playwright refuses to start beside it."""
    from tests.test_browser import chromium_executable

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    executable = chromium_executable()
    with ThreadPoolExecutor(1) as pool:
        console, requested = pool.submit(try_out_labels_in_swagger_ui, sync_api, executable, live_server).result()
    assert not [text for text in console if "Content Security Policy" in text], console
    remote = [url for url in requested if not url.startswith((live_server, "data:"))]
    assert not remote, f"Swagger UI fetched from elsewhere: {remote}"
