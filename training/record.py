"""The training record: how a model file was made, written next to it by training/train.py.

`<model stem>.training.json` beside the .h5 holds the exact command, every argument, the data and split used,
the epoch chosen and the history. The model card quotes it, so it must describe this very file: it names the
model's sha256, and a record whose sha256 is another file's is ignored (a model retrained without rewriting
its record, or copied without it, must never be described with another model's arguments).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

RECORD_SUFFIX = ".training.json"


def training_record_path(model_path: Path) -> Path:
    """assets/fashion_mnist.h5 → assets/fashion_mnist.training.json: the record travels with its model."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + RECORD_SUFFIX)


def write_training_record(model_path: Path, record: dict) -> Path:
    """Write the record beside the model; it must name the model's sha256 so it can be checked later."""
    if not record.get("model_sha256"):
        raise ValueError("a training record must hold the model's sha256 (model_sha256)")
    path = training_record_path(model_path)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def finish_training(output: Path, state: dict, digest: str, record: dict) -> dict:
    """The end of every training run: the record written beside the model, and the chosen epoch logged."""
    logger.info(
        "best epoch %d %s; wrote %s (sha256 %s) and %s",
        state["best"]["best_epoch"],
        state["best"],
        output,
        digest,
        write_training_record(output, record),
    )
    return record


def read_training_record(model_path: Path, sha256: str) -> dict | None:
    """The record of this very model file, or None when it is absent, unreadable or another file's."""
    path = training_record_path(model_path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        logger.warning("no training record at %s: the model card will say the training was not recorded", path)
        return None
    except (OSError, ValueError) as error:
        logger.warning("unreadable training record %s (%s): ignored", path, error)
        return None
    if not isinstance(record, dict) or record.get("model_sha256") != sha256:
        logger.warning(
            "training record %s describes another model file (sha256 %s, not %s): ignored",
            path,
            record.get("model_sha256") if isinstance(record, dict) else None,
            sha256,
        )
        return None
    return record
