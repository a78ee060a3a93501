"""The seed-style baseline: how the original project served the model, kept deliberately naive.

Flask's development server (one thread per request), Pillow decoding straight to 28×28 grayscale, and
Keras' `model.predict()` called once per request (it builds a data pipeline and a callback list every call,
which is what makes it slow). `make bench` measures our service against this to show what the serving
work bought. Not for production; benchmarks only.

Usage: python -m benchmarks.seed_server [PORT]   (or SEED_PORT=...; default 5001), from the repository root
"""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path

import numpy as np
from flask import Flask, jsonify, request
from PIL import Image

import config
from core.labels import CLASS_NAMES

DEFAULT_PORT = 5001
TOP_K = 3
SIDE = 28

logger = logging.getLogger("benchmarks.seed_server")


def create_seed_app(model_path: Path = config.SETTINGS.model_path) -> Flask:
    """One route, one model, no validation beyond what Pillow and Keras do themselves."""
    import keras

    model = keras.models.load_model(model_path, compile=False)
    app = Flask(__name__)

    @app.post("/model/predict")
    def predict():
        image = Image.open(io.BytesIO(request.files["image"].read())).convert("L").resize((SIDE, SIDE))
        x = (np.asarray(image, dtype=np.float32) / 255.0).reshape(1, SIDE, SIDE, 1)
        probabilities = model.predict(x, verbose=0)[0][: len(CLASS_NAMES)]  # the eleventh output is no class
        order = np.argsort(-probabilities)[:TOP_K]
        return jsonify(
            {
                "status": "ok",
                "predictions": [
                    {"label_id": int(i), "label": CLASS_NAMES[i], "probability": float(probabilities[i])} for i in order
                ],
            }
        )

    return app


def port_from(argv: list[str]) -> int:
    """The port: first argument, else $SEED_PORT, else DEFAULT_PORT."""
    return int(argv[1]) if len(argv) > 1 else int(os.environ.get("SEED_PORT", DEFAULT_PORT))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    port = port_from(sys.argv)
    app = create_seed_app()
    logger.info("seed-style server on 127.0.0.1:%d (Flask development server, model.predict per request)", port)
    app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
