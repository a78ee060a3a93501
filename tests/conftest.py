"""Shared fixtures: one model and one app per test session (maxfw's routes are process-global); the server the
integration tests talk to (one started here, or the running service SERVICE_URL names)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tooling.live_server import (
    SERVICE_URL_ENV,
    Endpoints,
    check_service,
    service_grpc_address,
    service_url,
    serving,
)

OWNS_SERVER_SKIP = f"needs a server of its own (signals/logs/settings): not run against {SERVICE_URL_ENV}"


def pytest_report_header(config) -> str | None:
    url = service_url()
    if url is None:
        return None
    return f"{SERVICE_URL_ENV}={url}: integration tests talk to it; those marked owns_server are skipped"


def pytest_collection_modifyitems(config, items) -> None:
    """With SERVICE_URL set, every test marked owns_server is skipped, with the reason in pytest's summary."""
    if service_url() is None:
        return
    skip = pytest.mark.skip(reason=OWNS_SERVER_SKIP)
    for item in items:
        if item.get_closest_marker("owns_server"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def model():
    from core.model import ModelWrapper

    return ModelWrapper()


@pytest.fixture(scope="session")
def sample_answers(model) -> dict[str, str]:
    """Each sample's class as the shipped model names it in-process (slugged, by file name): what every served
    path (HTTP, V2, the CLI, the demo page) must answer too. The samples are the first test image of each class,
    not picked by the model, so one may be misnamed; test_model.py bounds how many. The none-of-the-ten samples
    get their closest class."""
    from tests.imaging import none_sample_files, photo_sample_files, sample_files, slug

    return {
        sample.name: slug(model.predict(sample.read_bytes(), top_k=1)["predictions"][0]["label"])
        for sample in sample_files() + photo_sample_files() + none_sample_files()
    }


@pytest.fixture(scope="session")
def app(model):
    from app import create_app

    flask_app = create_app(model)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def service() -> str | None:
    """The base URL of the running service SERVICE_URL names, once it has answered that it is ready (the tests
    that ask for it fail, saying why, where it is not); None where SERVICE_URL is unset."""
    url = service_url()
    if url is None:
        return None
    try:
        return check_service(url)
    except RuntimeError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)  # outside the except: the message alone, once


@pytest.fixture(scope="session")
def live_endpoints(service, tmp_path_factory) -> Iterator[Endpoints]:
    """A real gunicorn server process on localhost, started for this session (one worker, the default settings),
    HTTP and gRPC; the service SERVICE_URL names instead, where it is set (gRPC: SERVICE_GRPC_ADDRESS, or its
    host on port 8081)."""
    if service is not None:
        yield Endpoints(service, service_grpc_address(service))
        return
    with serving(tmp_path_factory.mktemp("server") / "gunicorn.log") as server:
        yield Endpoints(server.url, server.grpc_address)


@pytest.fixture(scope="session")
def live_server(live_endpoints) -> str:
    """The base URL of the session's real server (live_endpoints)."""
    return live_endpoints.url


@pytest.fixture(scope="session")
def live_grpc(live_endpoints) -> str:
    """The gRPC address (host:port) of the session's real server (live_endpoints)."""
    return live_endpoints.grpc_address


@pytest.fixture()
def tiny_photos(tmp_path, monkeypatch) -> Path:
    """Eight drawn photos in clothing-dataset-small's layout (pants, shoes), their cache in tmp_path: for the
    training runs' tests."""
    from tests.imaging import garment_photo
    from training import photos as photo_module

    monkeypatch.setattr(photo_module, "CACHE_DIR", tmp_path / "cache")
    for folder, colour in (("pants", (30, 30, 120)), ("shoes", (200, 40, 40))):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        for seed in range(4):
            (tmp_path / "photos" / folder / f"{seed}.jpg").write_bytes(garment_photo(seed, colour, (150, 150, 150)))
    return tmp_path / "photos"
