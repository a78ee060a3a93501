"""api/errors.py on a Flask app and flask-restx Api of the test's own (the service's app is built once per process):
every error answers JSON, MAX's {"status", "message"} or, under /v2/, the protocol's {"error"}, with the right status
and, for a 405, the Allow header."""

import logging

import pytest
from flask import Flask
from flask_restx import Api, Resource
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from api.errors import http_error_message, register_error_handlers
from api.v2.codec import ProtocolError
from core.batching import BatcherClosedError
from core.images import InvalidImageError

RAISED = {
    "protocol": ProtocolError("Unknown model 'x'.", 404),
    "closed": BatcherClosedError("the model is shutting down"),
    "invalid": InvalidImageError("The uploaded file is not a readable image."),
    "bad": BadRequest("Send exactly one file."),
    "bug": RuntimeError("a bug's details, not for clients"),
}


@pytest.fixture()
def client():
    app = Flask(__name__)
    app.config.update(ERROR_INCLUDE_MESSAGE=False, RESTX_ERROR_404_HELP=False)  # as config.py sets them for the service
    api = Api(app, doc=False)

    @api.route("/restx/<string:what>", "/v2/restx/<string:what>")
    class Raises(Resource):
        def post(self, what):
            raise RAISED[what]

    @app.route("/flask/<what>", methods=["POST"])
    @app.route("/v2/flask/<what>", methods=["POST"])
    def flask_raises(what):
        raise RAISED[what]

    register_error_handlers(app, api)
    return app.test_client()


@pytest.mark.parametrize("kind", ["restx", "flask"])
@pytest.mark.parametrize(
    ("what", "status", "message"),
    [
        ("closed", 503, "The server is shutting down."),
        ("invalid", 400, "The uploaded file is not a readable image."),
        ("bad", 400, "Send exactly one file."),
        ("bug", 500, "Internal server error."),
    ],
)
def test_errors_answer_max_json_with_their_status(client, kind, what, status, message):
    response = client.post(f"/{kind}/{what}")
    assert response.status_code == status and response.is_json
    assert response.get_json() == {"status": "error", "message": message}


@pytest.mark.parametrize("kind", ["restx", "flask"])
@pytest.mark.parametrize(
    ("what", "status", "message"),
    [
        ("protocol", 404, "Unknown model 'x'."),
        ("closed", 503, "The server is shutting down."),
        ("bad", 400, "Send exactly one file."),
        ("bug", 500, "Internal server error."),
    ],
)
def test_errors_under_v2_answer_the_protocols_error_object(client, kind, what, status, message):
    response = client.post(f"/v2/{kind}/{what}")
    assert response.status_code == status and response.get_json() == {"error": message}


def test_an_unexpected_error_is_logged_with_its_traceback_and_not_shown(client, caplog):
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        response = client.post("/restx/bug")
    assert "a bug's details" not in response.get_data(as_text=True)
    (record,) = [r for r in caplog.records if r.name == "api.errors"]
    assert record.getMessage() == "unexpected error while serving a request"
    assert "a bug's details" in str(record.exc_info[1])


def test_unknown_paths_are_json_404s(client):
    for path in ("/nothing-here", "/v2/nothing-here"):
        response = client.get(path)
        assert response.status_code == 404 and response.is_json
    assert client.get("/nothing-here").get_json()["status"] == "error"
    assert list(client.get("/v2/nothing-here").get_json()) == ["error"]


@pytest.mark.parametrize("path", ["/restx/bad", "/flask/bad"])
def test_a_wrong_method_is_a_json_405_that_says_which_methods_there_are(client, path):
    response = client.get(path)
    assert response.status_code == 405 and response.get_json()["status"] == "error"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"OPTIONS", "POST"}


def test_errors_with_no_methods_to_list_have_no_allow_header(client):
    assert "Allow" not in client.post("/flask/bad").headers
    assert "Allow" not in client.post("/restx/bad").headers


class DetailedBadRequest(BadRequest):
    def __init__(self, errors: object) -> None:
        super().__init__()
        self.data = {"message": "Input payload validation failed", "errors": errors}


def test_a_request_parsers_per_argument_messages_are_each_named():
    error = DetailedBadRequest({"top_k": "must be 1-10", "debug": "not a boolean"})
    assert http_error_message(error) == "top_k: must be 1-10; debug: not a boolean"


@pytest.mark.parametrize("errors", [{}, None, ["top_k"]])
def test_without_per_argument_messages_the_description_is_the_message(errors):
    assert http_error_message(DetailedBadRequest(errors)) == BadRequest.description


def test_an_error_without_a_description_answers_its_status_phrase():
    error = NotFound()
    error.description = None
    assert http_error_message(error) == "Not Found"
    assert http_error_message(HTTPException.__new__(type("Teapot", (HTTPException,), {"code": 418}))) == "I'm a Teapot"
