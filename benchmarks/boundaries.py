"""What a fresh multipart boundary per request costs, with python-multipart (the service) and Werkzeug's parser.

Usage: python -m benchmarks.boundaries [--requests N]

Real clients (curl, requests, browsers) send a new random boundary with every upload; `make bench`'s `hey`
repeats one body, whose boundary Python's regex cache remembers, so it cannot show this cost. Here the app
itself (model and all, in-process through Flask's test client) classifies samples/ankle-boot.png N times with
a fresh boundary each time, with each parser in turn, twice, and prints ms per request.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import time

from flask import Flask
from werkzeug.formparser import FormDataParser

import config
from api.uploads import InMemoryUploadRequest
from tooling.live_server import REPO_ROOT

logger = logging.getLogger("benchmarks.boundaries")

SAMPLE = REPO_ROOT / "samples" / "ankle-boot.png"
WARMUP_REQUESTS = 300
ROUNDS = 2


class WerkzeugParsedRequest(InMemoryUploadRequest):
    """The service's request class with Werkzeug's own form parser, for comparison."""

    form_data_parser_class = FormDataParser


def fresh_boundary() -> str:
    return "------------------------" + secrets.token_hex(8)  # curl's style


def upload_body(image: bytes, boundary: str) -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{SAMPLE.name}"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )


def ms_per_request(client, image: bytes, requests: int) -> float:
    boundaries = [fresh_boundary() for _ in range(requests)]
    started = time.perf_counter()
    for boundary in boundaries:
        response = client.post(
            "/model/predict",
            data=upload_body(image, boundary),
            content_type=f"multipart/form-data; boundary={boundary}",
        )
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.get_data(as_text=True)}")
    return (time.perf_counter() - started) / requests * 1000.0


def app_without_request_log() -> Flask:
    """The service's app, in-process, without its log line per request (not what is measured)."""
    from app import create_app

    return create_app(settings=config.SETTINGS.replace(request_log=False))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.boundaries",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=3000, help="per parser and round (default %(default)s)")
    args = parser.parse_args(argv)
    app = app_without_request_log()
    client, image = app.test_client(), SAMPLE.read_bytes()
    for round_number in range(1, ROUNDS + 1):
        figures = {}
        for name, request_class in (("python-multipart", InMemoryUploadRequest), ("Werkzeug", WerkzeugParsedRequest)):
            app.request_class = request_class
            ms_per_request(client, image, WARMUP_REQUESTS)
            figures[name] = ms_per_request(client, image, args.requests)
        logger.info(
            "round %d, fresh boundary per request, ms per request: %s",
            round_number,
            ", ".join(f"{name} {ms:.3f}" for name, ms in figures.items()),
        )


if __name__ == "__main__":
    main()
