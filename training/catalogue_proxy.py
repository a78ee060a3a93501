"""Top-1 accuracy of the served model on Fashion-MNIST test images drawn as catalogue photos: a dark garment,
upright, on a plain white background, saved as JPEG (training/sample_photos.py draws them), then put through the
server's pre-processing and both networks, as /model/predict answers (and the 28×28 network alone, for
comparison). It shows what a pre-processing setting costs on product shots, which the photo validation split
(clothes on floors and beds) does not have. A stand-in only: real catalogue shots show garments worn by a model,
backpacks face-on and white garments on white, which these drawings do not; and the photo network learned
Fashion-MNIST's training images drawn in a similar way (training/photo_network.py), which flatters it here.

Usage: python -m training.catalogue_proxy [--images N] [--style catalogue|phone] [--work-side 256]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from core import images as preprocessing
from core.images import image_to_model_inputs
from core.labels import CLASS_NAMES
from core.model import ModelWrapper, split_outputs, to_model_batch
from training.dataset import add_data_dir_argument, load_split
from training.sample_photos import PhotoStyle, make_photo, random_style

logger = logging.getLogger("training.catalogue_proxy")

SEED = 7


def photo_style(index: int, style: str) -> PhotoStyle:
    """A random phone-photo style (training/sample_photos.py), made a plain, upright studio shot for catalogue."""
    drawn = random_style(np.random.default_rng([SEED, index]))
    if style == "phone":
        return drawn
    return replace(
        drawn,
        background=250.0,
        gradient=(0.0, 0.0),
        texture=0.0,
        angle=0.0,
        tint=(1.0, 1.0, 1.0),
        noise=1.0,
        kind="jpeg",
        quality=90,
    )


def proxy_accuracy(count: int, style: str, data_dir: str | None = None) -> dict[str, float]:
    """Top-1 as served and with the 28×28 network alone, and as served per class."""
    images, labels = load_split("test", data_dir)
    with tempfile.TemporaryDirectory(prefix="catalogue_proxy_") as work:
        inputs = [
            image_to_model_inputs(
                make_photo(images[i], SEED, i, Path(work) / f"photo{i}", photo_style(i, style)).read_bytes()
            )
            for i in range(count)
        ]
    wrapper = ModelWrapper()
    served = wrapper.infer_inputs(inputs).probabilities.argmax(axis=1) == labels[:count]
    alone = split_outputs(wrapper.predict_batch(to_model_batch(np.stack([item.array for item in inputs]))))
    alone = alone.probabilities.argmax(axis=1)
    figures = {"served": float(served.mean()), "28x28_network_alone": float(np.mean(alone == labels[:count]))}
    for class_id, name in enumerate(CLASS_NAMES):
        figures[name] = float(served[labels[:count] == class_id].mean())
    return figures


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    parser.add_argument("--images", type=int, default=1000, help="the first N test images (default: %(default)s)")
    parser.add_argument("--style", choices=("catalogue", "phone"), default="catalogue")
    parser.add_argument(
        "--work-side",
        type=int,
        default=preprocessing.WORK_SIDE,
        help="core.images.WORK_SIDE to measure (default: the served %(default)s)",
    )
    args = parser.parse_args(argv)
    preprocessing.WORK_SIDE = args.work_side
    figures = proxy_accuracy(args.images, args.style, args.data_dir)
    logger.info(
        "%s photos of the first %d test images, WORK_SIDE=%d: top-1 %s",
        args.style,
        args.images,
        preprocessing.WORK_SIDE,
        ", ".join(f"{name} {100 * value:.1f} %" for name, value in figures.items()),
    )


if __name__ == "__main__":
    main()
