"""Photo validation accuracy of the shipped model under other pre-processing settings, to measure a choice.

Usage: python -m training.compare_preprocessing [--photos-dir P] --variant NAME MODULE.CONSTANT=VALUE ... ...
e.g.   python -m training.compare_preprocessing --variant one-shoe core.garment_box.MIN_PART_FRACTION=1.0

Each variant sets pre-processing constants (core/images.py and its stage modules: core/background.py, core/skin.py,
core/garment_box.py, core/worn_top.py, core/tilt.py), so each variant's photos are pre-processed in a fresh
interpreter with them set; the shipped values are always measured too. Only the photo validation part (whole senders
held out, training/senders.py) is used, and every variant's 28×28 arrays are classified by the served 28×28 network
(core.model.ModelWrapper.predict_batch; the photo network's crop does not depend on these constants' later steps).
Prints accuracy per folder and overall.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import config
from training.photos import (
    PhotoSet,
    all_senders,
    allowed_masks,
    find_photos_root,
    is_right,
    list_photos,
    preprocess_photos,
    read_senders,
    read_shoe_kinds,
)
from training.senders import split_by_sender

logger = logging.getLogger("training.compare_preprocessing")


def validation_files(photos_dir: Path | None) -> PhotoSet:
    """The validation part's photos (training/senders.py; arrays left empty): the split depends only on the
    listing and on who sent each photo."""
    root = find_photos_root(photos_dir)
    listed, known = list_photos(root), read_senders(root)
    placeholder = PhotoSet(
        np.zeros((len(listed), 1, 1), np.uint8),
        allowed_masks(listed, read_shoe_kinds()),
        np.array([f for f, _ in listed]),
        np.array([str(p) for _, p in listed]),
        senders=np.array([known.get(p.stem, ("", False))[0] for _, p in listed], dtype=str),
    )
    return split_by_sender(placeholder, all_senders(root))["validation"]


def arrays_with_settings(paths: list[str], settings: dict[str, str], scratch: Path) -> np.ndarray:
    """The photos pre-processed by a fresh interpreter with the variant's constants set (a fresh one, so that
    nothing cached in this process can leak between variants)."""
    listing, output, constants = scratch / "paths.json", scratch / "arrays.npy", scratch / "constants.json"
    listing.write_text(json.dumps(paths))
    constants.write_text(json.dumps(settings))
    code = (
        "import json; from pathlib import Path; import numpy as np; "
        "from training.compare_preprocessing import set_constants; "
        f"set_constants(json.load(open({str(constants)!r}))); "
        "from training.photos import preprocess_photos; "
        f"np.save({str(output)!r}, preprocess_photos([Path(p) for p in json.load(open({str(listing)!r}))]))"
    )
    # Our own interpreter running our own code; the constants' values come from the command line.
    subprocess.run([sys.executable, "-c", code], cwd=config.REPO_ROOT, check=True)
    return np.load(output)


def set_constants(assignments: dict[str, str]) -> None:
    """`core.garment_box.MIN_CONTRAST` = "0.1": each value parsed to the type of the constant it replaces."""
    for target, text in assignments.items():
        module_name, _, name = target.rpartition(".")
        module = importlib.import_module(module_name)
        current = getattr(module, name)  # an unknown constant is an error, not a silent new attribute
        value = text.strip().lower() in ("1", "true", "yes", "on") if isinstance(current, bool) else type(current)(text)
        setattr(module, name, value)


def accuracy_by_folder(probabilities: np.ndarray, photos: PhotoSet) -> dict[str, float]:
    right = is_right(probabilities, photos.allowed)
    by_folder = {folder: float(right[photos.folders == folder].mean()) for folder in sorted(set(photos.folders))}
    return {**by_folder, "all": float(right.mean())}


def parse_variants(items: list[list[str]]) -> dict[str, dict[str, str]]:
    variants = {"default": {}}
    for name, *pairs in items:
        variants[name] = dict(pair.split("=", 1) for pair in pairs)
    return variants


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos-dir", type=Path, default=None)
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar="NAME MODULE.CONSTANT=VALUE")
    args = parser.parse_args(argv)
    from core.model import ModelWrapper, split_outputs, to_model_batch

    wrapper = ModelWrapper(config.SETTINGS.replace(max_batch_size=1))
    validation = validation_files(args.photos_dir)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, settings in parse_variants(args.variant).items():
            arrays = (
                preprocess_photos([Path(p) for p in validation.files])
                if not settings
                else arrays_with_settings(list(validation.files), settings, Path(scratch))
            )
            answers = split_outputs(wrapper.predict_batch(to_model_batch(arrays)))
            results[name] = accuracy_by_folder(answers.probabilities, validation)
            logger.info("%-12s %s", name, json.dumps({k: round(v, 3) for k, v in results[name].items()}))
    return results


if __name__ == "__main__":
    main()
