"""Accuracy on the photo-like set through the real HTTP API, as a user's client would measure it.

Usage: python training/evaluate_photos.py [--photos-dir artifacts/photo-like] [--output assets/photo_like_metrics.json]
                                          [--url http://host:port] [--workers 2]

Without --url it starts the same gunicorn server as `make run` (and the integration tests) on a free
local port, posts every image of the set (made by training/make_photo_like.py) with requests, and stops
it. The report holds the accuracy, the count, the per-class accuracy, how the set was made (seed,
command), the served model's sha256 (from /model/metadata) and the date.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np
import requests

import config
from core.labels import CLASS_NAMES
from training.make_photo_like import DEFAULT_OUTPUT_DIR, GENERATION_FILE, LABELS_FILE

logger = logging.getLogger("training.evaluate_photos")

DEFAULT_REPORT = config.REPO_ROOT / "assets" / "photo_like_metrics.json"
REQUEST_TIMEOUT_S = 60


@contextmanager
def served(url: str | None) -> Iterator[str]:
    """The given server, or a fresh gunicorn process (the tests' own start-up code) for the duration."""
    if url:
        yield url.rstrip("/")
        return
    from tests.live_server import running_server

    with tempfile.TemporaryDirectory() as scratch, running_server(Path(scratch) / "gunicorn.log") as base_url:
        yield base_url


def read_labels(photos_dir: Path) -> list[dict]:
    with (photos_dir / LABELS_FILE).open(newline="") as stream:
        return [{"file": row["file"], "label": int(row["label"]), "index": int(row["index"])}
                for row in csv.DictReader(stream)]


def predict_label(session: requests.Session, base_url: str, path: Path) -> int:
    """The API's top class for one file; any non-200 answer stops the evaluation loudly."""
    with path.open("rb") as image:
        response = session.post(f"{base_url}/model/predict", files={"image": (path.name, image)},
                                params={"top_k": 1}, timeout=REQUEST_TIMEOUT_S)
    response.raise_for_status()
    return int(response.json()["predictions"][0]["label_id"])


def predict_all(base_url: str, photos_dir: Path, rows: list[dict], workers: int) -> np.ndarray:
    session = requests.Session()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.asarray(list(pool.map(lambda row: predict_label(session, base_url, photos_dir / row["file"]),
                                        rows)))


def report(rows: list[dict], predicted: np.ndarray, generation: dict, metadata: dict) -> dict:
    """Accuracy overall and per class, with what is needed to reproduce and trust the figure."""
    truth = np.asarray([row["label"] for row in rows])
    correct = predicted == truth
    per_class = {CLASS_NAMES[c]: round(float(correct[truth == c].mean()), 4)
                 for c in range(len(CLASS_NAMES)) if (truth == c).any()}
    return {
        "accuracy": round(float(correct.mean()), 4),
        "count": len(rows),
        "correct": int(correct.sum()),
        "per_class_accuracy": per_class,
        "photo_set": generation,
        "command": " ".join(["python training/evaluate_photos.py", *sys.argv[1:]]),
        "model_sha256": metadata.get("sha256"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--output", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--url", default=None, help="a running server to evaluate instead of starting one")
    parser.add_argument("--workers", type=int, default=2, help="requests in flight at once (default 2)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    rows = read_labels(args.photos_dir)
    generation_path = args.photos_dir / GENERATION_FILE
    generation = json.loads(generation_path.read_text()) if generation_path.is_file() else {}
    with served(args.url) as base_url:
        metadata = requests.get(f"{base_url}/model/metadata", timeout=REQUEST_TIMEOUT_S).json()
        predicted = predict_all(base_url, args.photos_dir, rows, args.workers)
    result = report(rows, predicted, generation, metadata)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    logger.info("photo-like accuracy %.4f on %d images through %s; wrote %s",
                result["accuracy"], result["count"], base_url, args.output)
    return result


if __name__ == "__main__":
    main()
