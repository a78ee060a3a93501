"""Every error, from any route, answers JSON ({"status": "error", "message": ...}; V2: {"error": ...})."""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, has_request_context, jsonify, request
from flask_restx import Api, fields
from maxfw.core import MAX_API
from werkzeug.exceptions import HTTPException

import config
from api.v2.codec import ProtocolError
from core.admission import ImageMemoryBusyError, ImageTooLargeForMemoryError
from core.batching import BatcherClosedError
from core.images import InvalidImageError

logger = logging.getLogger(__name__)

error_response = MAX_API.model(
    "Error",
    {
        "status": fields.String(required=True, enum=["error"], example="error"),
        "message": fields.String(
            required=True,
            description="What was wrong with the request",
            example="The uploaded file is not a readable image.",
        ),
    },
)


# Swagger's description of a 503, on every route that decodes images (MAX's /model/predict and V2's infer).
BUSY_DESCRIPTION = (
    "Busy: other large images held the worker's IMAGE_MEMORY_BYTES for IMAGE_MEMORY_WAIT seconds "
    "(Retry-After: 1), or shutting down"
)


def http_error_message(error: HTTPException) -> str:
    """flask-restx's request parser puts per-argument messages in error.data; name each argument."""
    details = (getattr(error, "data", None) or {}).get("errors")
    if isinstance(details, dict) and details:
        return "; ".join(f"{name}: {text}" for name, text in details.items())
    return error.description or HTTPStatus(error.code or HTTPStatus.INTERNAL_SERVER_ERROR).phrase


def error_body(path: str, message: str) -> dict:
    """The one rule for an error's body, the app's and the worker's (gunicorn_worker.py): the Open Inference
    Protocol's own {"error"} on its routes, MAX's {"status": "error", "message"} everywhere else."""
    return {"error": message} if path.startswith(config.V2_PATH_PREFIX) else {"status": "error", "message": message}


def error_body_and_status(error: Exception) -> tuple[dict, int]:
    """The error's body for the route it happened on (error_body; a 413 or a 503 on a V2 route is V2's too)."""
    body, status = _max_error_body_and_status(error)
    if "message" in body and has_request_context():
        return error_body(request.path, body["message"]), status
    return body, status


def _max_error_body_and_status(error: Exception) -> tuple[dict, int]:
    if isinstance(error, ProtocolError):
        return {"error": error.message}, error.status
    if isinstance(error, BatcherClosedError):
        return {"status": "error", "message": "The server is shutting down."}, HTTPStatus.SERVICE_UNAVAILABLE
    if isinstance(error, InvalidImageError):
        return {"status": "error", "message": str(error)}, HTTPStatus.BAD_REQUEST
    if isinstance(error, ImageMemoryBusyError):
        return {"status": "error", "message": str(error)}, HTTPStatus.SERVICE_UNAVAILABLE
    if isinstance(error, ImageTooLargeForMemoryError):
        return {"status": "error", "message": str(error)}, HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    if isinstance(error, HTTPException):
        return {"status": "error", "message": http_error_message(error)}, error.code or HTTPStatus.INTERNAL_SERVER_ERROR
    logger.exception("unexpected error while serving a request")
    return {"status": "error", "message": "Internal server error."}, HTTPStatus.INTERNAL_SERVER_ERROR


def allow_header(error: Exception) -> dict[str, str]:
    """A 405 must say which methods the URL takes (RFC 9110); werkzeug knows them, our JSON body must keep them.
    A 503 for a full image-memory budget says when to try again."""
    if isinstance(error, ImageMemoryBusyError):
        return {"Retry-After": "1"}
    methods = getattr(error, "valid_methods", None)
    return {"Allow": ", ".join(sorted(methods))} if methods else {}


def _restx_error_handler(error: Exception):
    """Any error: a JSON body with "status": "error" and a "message", and the error's HTTP status, never a traceback

    flask-restx documents this handler's first line as the description of the document's "Exception" response.
    """
    body, status = error_body_and_status(error)
    # flask-restx answers with error.data when the exception has one, whatever the handler returns.
    error.data = body  # type: ignore[attr-defined]  # any exception may carry it
    return body, status, allow_header(error)


def _flask_error_handler(error: Exception):
    body, status = error_body_and_status(error)
    return jsonify(body), status, allow_header(error)


def register_error_handlers(app: Flask, api: Api) -> None:
    """Routes owned by flask-restx go through the Api's handlers; the rest (404s, static) through Flask's."""
    api.errorhandler(Exception)(_restx_error_handler)
    app.register_error_handler(HTTPException, _flask_error_handler)
    app.register_error_handler(Exception, _flask_error_handler)
