"""A digest of every answer the service gives for samples/ (MAX predict with top_k 3 and 10 and debug, V2 infer)
and for its documents (metadata, labels, V2 model metadata, swagger.json), in-process: run it in two trees to
prove a refactoring changed no answer byte for byte.

Usage: python -m tooling.answer_digests > answers.json   (then diff two runs)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
from pathlib import Path

from flask.testing import FlaskClient

SAMPLES = Path("samples")
PREDICT_QUERIES = ("", "?top_k=10", "?debug=true")
DOCUMENTS = ("/model/metadata", "/model/labels", "/v2/models/fashion-mnist", "/swagger.json")


def digest(status: int, body: bytes) -> list:
    return [status, hashlib.sha256(body).hexdigest()]


def v2_body(data: bytes) -> str:
    return json.dumps(
        {
            "inputs": [
                {"name": "image_bytes", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(data).decode()]}
            ]
        }
    )


def answer_digests(client: FlaskClient) -> dict[str, list]:
    answers = {}
    for path in sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg")):
        data = path.read_bytes()
        for query in PREDICT_QUERIES:
            response = client.post(f"/model/predict{query}", data={"image": (io.BytesIO(data), path.name)})
            answers[f"{path.name}{query}"] = digest(response.status_code, response.data)
        response = client.post("/v2/models/fashion-mnist/infer", data=v2_body(data))
        answers[f"{path.name} v2"] = digest(response.status_code, response.data)
    for document in DOCUMENTS:
        response = client.get(document)
        answers[document] = digest(response.status_code, response.data)
    return answers


def main() -> None:
    from app import create_app

    json.dump(answer_digests(create_app().test_client()), sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
