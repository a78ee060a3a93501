"""Shared fixtures: one model and one app per test session (maxfw's routes are process-global)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tooling.live_server import running_server


@pytest.fixture(scope="session")
def model():
    from core.model import ModelWrapper

    return ModelWrapper()


@pytest.fixture(scope="session")
def sample_answers(model) -> dict[str, str]:
    """Each sample's class as the shipped model names it in-process (slugged, by file name): what every served
    path (HTTP, V2, the CLI, the demo page) must answer too. The samples are the first test image of each class,
    not picked by the model, so one may be misnamed; test_model.py bounds how many."""
    from core.images import image_to_model_array
    from tests.imaging import photo_sample_files, sample_files, slug

    return {sample.name: slug(model.classify(image_to_model_array(sample.read_bytes()), top_k=1)[0]["label"])
            for sample in sample_files() + photo_sample_files()}


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
def live_server(tmp_path_factory) -> Iterator[str]:
    """A real gunicorn server process on localhost; yields its base URL."""
    with running_server(tmp_path_factory.mktemp("server") / "gunicorn.log") as base_url:
        yield base_url
