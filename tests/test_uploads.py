"""api/uploads.py: multipart bodies as real clients send them, parsed by python-multipart into Werkzeug's form
and files, with Werkzeug's limits, and Werkzeug's own parser as the fallback for bodies python-multipart refuses."""

from __future__ import annotations

import io
import secrets

import pytest
from flask import Flask, request
from werkzeug.formparser import FormDataParser

from api.uploads import InMemoryUploadRequest, MultipartFormDataParser

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # binary content, CR and LF bytes included


def curl_body(parts: list[tuple[str, str | None, bytes]], boundary: str) -> bytes:
    """A multipart body laid out as curl and requests write it: CRLF before every delimiter."""
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@pytest.fixture()
def echo_client():
    app = Flask("uploads_under_test")
    app.request_class = InMemoryUploadRequest
    app.config["MAX_FORM_PARTS"] = 5
    app.config["MAX_FORM_MEMORY_SIZE"] = 1024

    @app.post("/echo")
    def echo():
        return {
            "form": list(request.form.items(multi=True)),
            "files": [[name, f.filename, f.read().hex()] for name, f in request.files.items(multi=True)],
        }

    return app.test_client()


def post(client, body: bytes, boundary: str):
    return client.post("/echo", data=body, content_type=f"multipart/form-data; boundary={boundary}")


@pytest.fixture()
def werkzeug_parser_forbidden(monkeypatch):
    """Fails the test if a body falls back to Werkzeug's parser."""

    def refuse(*args, **kwargs):
        raise AssertionError("fell back to Werkzeug's multipart parser")

    monkeypatch.setattr(FormDataParser, "_parse_multipart", refuse)


def test_a_real_clients_body_is_parsed_by_python_multipart(echo_client, werkzeug_parser_forbidden):
    boundary = "------------------------" + secrets.token_hex(8)  # curl's style: a new one every request
    body = curl_body([("top_k", None, b"2"), ("image", "boot.png", PNG_BYTES)], boundary)
    answer = post(echo_client, body, boundary).get_json()
    assert answer == {"form": [["top_k", "2"]], "files": [["image", "boot.png", PNG_BYTES.hex()]]}


def test_several_files_a_unicode_name_and_an_empty_file(echo_client, werkzeug_parser_forbidden):
    boundary = secrets.token_hex(16)
    body = curl_body([("image", "a.png", b"1"), ("image", "chaussure é.png", b""), ("image", "c.png", b"33")], boundary)
    files = post(echo_client, body, boundary).get_json()["files"]
    assert files == [["image", "a.png", "31"], ["image", "chaussure é.png", ""], ["image", "c.png", "3333"]]


def test_a_field_in_latin_1_is_decoded_as_its_charset_says(echo_client, werkzeug_parser_forbidden):
    boundary = secrets.token_hex(8)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n'
            f"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n"
        ).encode()
        + "café".encode("latin-1")
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert post(echo_client, body, boundary).get_json()["form"] == [["note", "café"]]


def test_werkzeugs_limits_still_apply(echo_client):
    boundary = secrets.token_hex(8)
    too_many = curl_body([("f", None, b"x")] * 6, boundary)
    assert post(echo_client, too_many, boundary).status_code == 413
    too_big = curl_body([("f", None, b"x" * 2048)], boundary)
    assert post(echo_client, too_big, boundary).status_code == 413
    big_file_is_fine = curl_body([("image", "big.png", b"x" * 4096)], boundary)
    assert post(echo_client, big_file_is_fine, boundary).status_code == 200


def test_werkzeugs_own_laxer_layout_falls_back_to_its_parser(echo_client):
    """Werkzeug's test client writes an empty file part without the CRLF before the closing delimiter."""
    answer = echo_client.post("/echo", data={"image": (io.BytesIO(b""), "empty.png")}).get_json()
    assert answer["files"] == [["image", "empty.png", ""]]


@pytest.mark.parametrize(
    "body",
    [
        b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nabc',  # cut short
        b"not multipart at all",
        b'--b\r\nContent-Disposition: form-data; name="\xff\xfe"\r\n\r\nabc\r\n--b--\r\n',  # not UTF-8
    ],
)
def test_a_malformed_body_gives_an_empty_form_as_in_werkzeug(echo_client, body):
    response = post(echo_client, body, "b")
    assert response.status_code == 200 and response.get_json() == {"form": [], "files": []}


def test_the_app_uses_this_parser():
    assert InMemoryUploadRequest.form_data_parser_class is MultipartFormDataParser
