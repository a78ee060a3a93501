"""The ceiling: a Flask app that parses the upload and answers without any model work.

Served by gunicorn with the service's own worker class (gunicorn_worker.py) and settings, it measures what HTTP,
multipart parsing and JSON cost on this machine, so `make bench` can say how close our service comes
to that limit. Benchmarks only.

Usage: gunicorn -c /dev/null -k gunicorn_worker.EventWorker -w WORKERS --worker-connections MAX_CONNECTIONS \
       -b 127.0.0.1:PORT --no-control-socket benchmarks.bare_server:app
"""

from __future__ import annotations

from flask import Flask, Response, request

# About the size of the service's own answer (three predictions and the none-of-the-ten record), built once.
CONSTANT_BODY = (
    '{"status": "ok", "predictions": ['
    '{"prediction": 9, "label_id": 9, "label": "Ankle boot", "probability": 0.9833836555480957}, '
    '{"prediction": 6, "label_id": 6, "label": "Shirt", "probability": 0.002932014875113964}, '
    '{"prediction": 7, "label_id": 7, "label": "Sneaker", "probability": 0.002260930370539427}], '
    '"none_of_the_ten": {"score": 0.010420948639512062, "flagged": false}}'
)

app = Flask(__name__)


@app.post("/model/predict")
def predict() -> Response:
    """Read the whole upload (as the service must), then answer a constant JSON."""
    request.files["image"].read()
    return Response(CONSTANT_BODY, mimetype="application/json")
