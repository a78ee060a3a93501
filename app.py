"""Entry point: builds the MAX app and its routes around one loaded model.

Serve it with gunicorn (`make run`, or `python app.py`, which starts the same gunicorn):
TensorFlow is not fork-safe, so each gunicorn worker calls create_app() after the fork.
"""

from __future__ import annotations

import atexit
import logging
import sys

from flask import Flask
from gunicorn.arbiter import Arbiter
from maxfw.core import MAXApp

import config
from api import MODEL_EXTENSION
from api.demo import register_demo
from api.errors import register_error_handlers
from api.labels import ModelLabelsAPI
from api.metadata import ModelMetadataAPI
from api.monitoring import operations, register_monitoring
from api.predict import ModelPredictAPI
from api.security_headers import register_security_headers
from api.uploads import InMemoryUploadRequest
from api.v2.routes import v2 as v2_namespace
from config import SETTINGS, Settings
from core.checksum import ModelChecksumError
from core.logs import configure_logging
from core.model import ModelWrapper
from core.runtimes import RuntimeUnavailableError

logger = logging.getLogger(__name__)


def load_verified_model(settings: Settings) -> ModelWrapper:
    """A model that fails its checksum, or needs a runtime that is not installed (TensorFlow, in an environment
    made from requirements.txt alone), stops the server with one clear log line, not a traceback."""
    try:
        return ModelWrapper(settings)
    except (ModelChecksumError, RuntimeUnavailableError) as error:
        logger.critical("cannot start: %s", error)
        # gunicorn's exit code for a worker that cannot boot: the master stops, no respawn loop
        raise SystemExit(Arbiter.WORKER_BOOT_ERROR) from None


def drop_catch_all_static_route(app: Flask) -> None:
    """maxfw's MAXApp serves static files at `/<path:filename>`, a GET route that matches every path: a GET on a
    POST-only route then answered 404 instead of 405, and OPTIONS advertised GET everywhere. Nothing here is
    served from it (Swagger UI and the demo page have their own static routes), so it is removed."""
    rules = [_copy_rule(rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    old = app.url_map
    app.url_map = app.url_map_class(
        rules, strict_slashes=old.strict_slashes, merge_slashes=old.merge_slashes, host_matching=old.host_matching
    )
    app.url_map.converters = old.converters
    app.view_functions.pop("static", None)


def _copy_rule(rule):
    """An unbound copy, keeping Flask's flag for answering OPTIONS itself."""
    copy = rule.empty()
    copy.provide_automatic_options = getattr(rule, "provide_automatic_options", False)
    return copy


def create_app(model: ModelWrapper | None = None, settings: Settings = SETTINGS) -> Flask:
    """Load (and verify) the model first: a process that cannot serve it must not start. A model passed in
    (tests) brings its own settings."""
    if model is not None:
        settings = model.settings
    configure_logging(settings.log_level, settings.log_format)
    if model is None:
        model = load_verified_model(settings)
        atexit.register(model.close)  # a stopping worker serves the requests already queued
    max_app = MAXApp(config.API_TITLE, config.API_DESC, config.API_VERSION)
    max_app.app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    max_app.app.request_class = InMemoryUploadRequest  # uploads never touch the disk
    max_app.app.extensions[MODEL_EXTENSION] = model
    max_app.add_api(ModelMetadataAPI, "/metadata")
    max_app.add_api(ModelLabelsAPI, "/labels")
    max_app.add_api(ModelPredictAPI, "/predict")
    max_app.api.add_namespace(v2_namespace)
    max_app.api.add_namespace(operations)
    register_monitoring(max_app.app, settings.request_log)
    register_error_handlers(max_app.app, max_app.api)
    register_demo(max_app.app)
    register_security_headers(max_app.app)
    drop_catch_all_static_route(max_app.app)
    return max_app.app


def main() -> None:
    """`python app.py`: the same gunicorn server as `make run`, never Flask's development server."""
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "--config", str(config.REPO_ROOT / "gunicorn.conf.py"), "app:create_app()"]
    run()


if __name__ == "__main__":
    main()
