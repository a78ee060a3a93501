"""Check the command-line classifier end to end on the 10 000 official test images, as files on disk.

Usage: python -m training.evaluate_cli [--data-dir D] [--work-dir DIR] [-- extra cli arguments]

Writes each test image as a PNG into a folder named after its class (e.g. 9-ankle-boot/00000.png), runs
`python -m cli classify` on that folder in a child process (the progress bar shows), then scores its
CSV against the folder names and compares the accuracy with the model card's (assets/model_metrics.json).
Exits 1 if they differ: every 28×28 test image reaches the model pixel for pixel, so they must be equal.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import config
from core.labels import CLASS_NAMES
from training.dataset import add_data_dir_argument, load_split
from training.export_samples import slug

logger = logging.getLogger("training.evaluate_cli")


def class_folder(label_id: int) -> str:
    """9 → '9-ankle-boot': the true class, readable, and recoverable from the path alone."""
    return f"{label_id}-{slug(CLASS_NAMES[label_id])}"


def export_pngs(images: np.ndarray, labels: np.ndarray, output_dir: Path) -> int:
    """One PNG per image, exact pixels, in its class's folder; returns how many were written."""
    for label_id in range(len(CLASS_NAMES)):
        (output_dir / class_folder(label_id)).mkdir(parents=True, exist_ok=True)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        path = output_dir / class_folder(int(label)) / f"{index:05d}.png"
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
    return len(images)


def score_csv(csv_path: Path) -> tuple[int, int]:
    """(correct, total): label_id_1 of each row against the class folder the file sits in."""
    correct = total = 0
    with csv_path.open(newline="") as stream:
        for row in csv.DictReader(stream):
            true_id = int(Path(row["path"]).parent.name.split("-", 1)[0])
            correct += int(row["label_id_1"]) == true_id
            total += 1
    return correct, total


def run_cli(image_dir: Path, csv_path: Path, extra: list[str]) -> float:
    """The CLI as a user runs it; returns its wall-clock seconds, model loading included."""
    command = [sys.executable, "-m", "cli", "classify", str(image_dir), "--output", str(csv_path), *extra]
    logger.info("running: %s", shlex.join(command))
    started = time.perf_counter()
    subprocess.run(command, cwd=config.REPO_ROOT, check=True)  # noqa: S603 - our own interpreter and module
    return time.perf_counter() - started


def model_card_accuracy() -> float:
    return float(json.loads(config.SETTINGS.model_metrics_path.read_text())["test_accuracy"])


def evaluate(work_dir: Path, data_dir: str | None, extra: list[str]) -> bool:
    """Export, classify, score; True when the CLI's accuracy equals the model card's."""
    images, labels = load_split("test", data_dir)
    image_dir = work_dir / "fashion-mnist-test"
    started = time.perf_counter()
    count = export_pngs(images, labels, image_dir)
    logger.info("wrote %d PNGs to %s in %.1f s", count, image_dir, time.perf_counter() - started)
    csv_path = work_dir / "classified.csv"
    seconds = run_cli(image_dir, csv_path, extra)
    correct, total = score_csv(csv_path)
    accuracy, expected = correct / total, model_card_accuracy()
    logger.info(
        "CLI: %d images in %.1f s wall clock, model loading included (%.0f images/s)", total, seconds, total / seconds
    )
    logger.info(
        "CLI accuracy %.4f (%d/%d); model card %.4f: %s",
        accuracy,
        correct,
        total,
        expected,
        "equal" if round(accuracy, 4) == expected else "DIFFERENT",
    )
    return total == count and round(accuracy, 4) == expected


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    parser.add_argument("--work-dir", type=Path, help="where the PNGs and the CSV go (default: a temporary folder)")
    parser.add_argument("extra", nargs="*", help="more arguments for cli classify (after --)")
    args = parser.parse_args(argv)
    if args.work_dir:
        return 0 if evaluate(args.work_dir, args.data_dir, args.extra) else 1
    with tempfile.TemporaryDirectory(prefix="fmnist-cli-") as work_dir:
        return 0 if evaluate(Path(work_dir), args.data_dir, args.extra) else 1


if __name__ == "__main__":
    sys.exit(main())
