"""Write samples/: one real Fashion-MNIST test image per class, plus photo variants.

Usage: python -m training.export_samples [--data-dir D] [--output-dir samples]

Each class's image is the FIRST test-set image with that label (lowest index), never one chosen by
looking at the model's answers, so the samples show the model as it is. The 28×28 PNGs hold the exact
dataset pixels. The two simple *-photo.jpg files are the same test images made to look like a product photo
(dark garment on white, 280×280 RGB JPEG); the real-looking ones (training/sample_photos.py's PHOTO_SAMPLES)
add a textured, unevenly lit grey background with margins, a cut-out PNG with alpha and an EXIF-rotated JPEG,
so the API's pre-processing (core/images.py) can be tried on what users upload. With the clothing photos at
hand, none-of-the-ten/ gets one real photo of each none-of-the-ten folder (hat, shorts, skirt): the first, by file
name, of the senders held out for the final check, copied byte for byte (CC0).
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import numpy as np
from PIL import Image

import config
from core.labels import CLASS_NAMES
from training.dataset import load_split
from training.photos import (
    NONE_FOLDERS,
    PhotosNotFoundError,
    add_photos_dir_argument,
    all_senders,
    find_photos_root,
    load_photos,
)
from training.sample_photos import PHOTO_SAMPLES, make_samples
from training.senders import split_by_sender

logger = logging.getLogger("training.export_samples")

DEFAULT_OUTPUT_DIR = config.REPO_ROOT / "samples"
PHOTO_CLASSES = ("Ankle boot", "Trouser")
PHOTO_SIDE = 280
JPEG_QUALITY = 90
COMMAND = "python -m training.export_samples"
NONE_DIR = "none-of-the-ten"


def slug(name: str) -> str:
    """'T-shirt/top' → 't-shirt-top', 'Ankle boot' → 'ankle-boot': safe, predictable file names."""
    return re.sub(r"[^a-z0-9]", "-", name.lower())


def first_index_per_class(labels: np.ndarray, n_classes: int = len(CLASS_NAMES)) -> list[int]:
    """Lowest test-set index of each class, in class order; raises if a class is absent."""
    labels = np.asarray(labels)
    indices = []
    for class_id in range(n_classes):
        hits = np.flatnonzero(labels == class_id)
        if hits.size == 0:
            raise ValueError(f"no image of class {class_id} ({CLASS_NAMES[class_id]}) in the split")
        indices.append(int(hits[0]))
    return indices


def product_photo(image: np.ndarray, side: int = PHOTO_SIDE) -> Image.Image:
    """Inverted (dark garment on white), LANCZOS-upscaled to side×side, RGB: what a user might upload."""
    inverted = Image.fromarray(255 - np.asarray(image, dtype=np.uint8))
    return inverted.resize((side, side), Image.Resampling.LANCZOS).convert("RGB")


def none_of_the_ten_photos(photos_dir: Path | None) -> list[Path]:
    """The first photo (by file name) of each none-of-the-ten folder among the final check's senders; none
    without the photos."""
    try:
        root = find_photos_root(photos_dir)
    except PhotosNotFoundError as error:
        logger.warning("no none-of-the-ten samples: %s", error)
        return []
    held_out = split_by_sender(load_photos(root, none_of_the_ten=True), all_senders(root))["final_check"]
    return [
        root
        / min(name for name, in_folder in zip(held_out.files, held_out.folders, strict=True) if in_folder == folder)
        for folder in NONE_FOLDERS
    ]


def none_of_the_ten_readme(none_samples: list[dict]) -> list[str]:
    if not none_samples:
        return []
    return [
        "## None of the ten",
        "",
        "Real photos (clothing-dataset, CC0; byte for byte) of things that are none of the ten classes: the first "
        "photo, by file name, of each of these folders among the senders held out for the model's final check "
        "(`training/senders.py`), so the model never trained on them. The service answers them with its closest "
        "classes and a `none_of_the_ten` score (docs/api.md).",
        "",
        "| File | Photo | Folder |",
        "|---|---|---|",
        *[f"| `{NONE_DIR}/{p['file']}` | `{p['source']}` | {p['folder']} |" for p in none_samples],
        "",
    ]


def render_readme(
    rows: list[dict], photos: list[dict], real_looking: list[dict], none_samples: list[dict] | None = None
) -> str:
    """samples/README.md: what each file is and where it came from, so nobody mistakes them for picks."""
    lines = [
        "# Sample images",
        "",
        f"Made by `{COMMAND}` from the official Fashion-MNIST **test** set (`t10k-images-idx3-ubyte.gz`; "
        "Xiao, Rasul & Vollgraf 2017, © Zalando SE, MIT license).",
        "",
        "Each class's file is the **first** test image with that label (lowest index). They were not chosen by "
        "looking at the model's predictions, so a sample may well be misclassified.",
        "",
        "## Dataset images (28×28 grayscale PNG, exact pixels)",
        "",
        "| File | Test-set index | Class (id) |",
        "|---|---:|---|",
        *[f"| `{r['file']}` | {r['index']} | {r['label']} ({r['id']}) |" for r in rows],
        "",
        "## Product-photo variants",
        "",
        f"The same test image inverted (dark garment on a white background), upscaled to {PHOTO_SIDE}×{PHOTO_SIDE} "
        f"with Lanczos resampling, converted to RGB and saved as JPEG quality {JPEG_QUALITY}. They exercise the "
        "service's pre-processing (grayscale, background inversion, resize to 28×28), as a real photo would.",
        "",
        "| File | Test-set index | Class (id) |",
        "|---|---:|---|",
        *[f"| `{p['file']}` | {p['index']} | {p['label']} ({p['id']}) |" for p in photos],
        "",
        "## Real-looking photos",
        "",
        "Made by `python -m training.export_samples` (`training/sample_photos.py`): the same first test image "
        "of the class as a dark garment on a "
        "light-grey, softly textured, unevenly lit sheet, with margins, a slight colour tint and sensor noise, "
        "600–1000 px, shot straight (no tilt). "
        "`dress-photo.png` is an RGBA cut-out (transparent background, black under the transparency); "
        "`bag-photo-rotated.jpg` is stored sideways with EXIF orientation 6, so it only looks right once the "
        "orientation is applied.",
        "",
        "| File | Test-set index | Class (id) |",
        "|---|---:|---|",
        *[f"| `{p['file']}` | {p['index']} | {p['label']} ({p['id']}) |" for p in real_looking],
        "",
        "Try one against a running service (`debug=true` also returns the 28×28 image the model saw):",
        "",
        "```sh",
        "curl -F image=@samples/ankle-boot-photo.jpg http://localhost:5000/model/predict",
        "curl -F image=@samples/bag-photo-rotated.jpg -F debug=true http://localhost:5000/model/predict",
        "```",
        "",
        *none_of_the_ten_readme(none_samples or []),
    ]
    return "\n".join(lines)


def export_samples(
    images: np.ndarray, labels: np.ndarray, output_dir: Path, none_photos: list[Path] | None = None
) -> list[Path]:
    """Write the ten PNGs, the photo JPEGs, copies of `none_photos` and README.md; returns the paths written."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rows: list[dict] = []
    for class_id, index in enumerate(first_index_per_class(labels)):
        name = CLASS_NAMES[class_id]
        path = output_dir / f"{slug(name)}.png"
        Image.fromarray(np.asarray(images[index], dtype=np.uint8)).save(path, format="PNG")
        rows.append({"file": path.name, "index": index, "label": name, "id": class_id})
        written.append(path)
    photos: list[dict] = []
    for name in PHOTO_CLASSES:
        row = next(r for r in rows if r["label"] == name)
        path = output_dir / f"{slug(name)}-photo.jpg"
        product_photo(images[row["index"]]).save(path, format="JPEG", quality=JPEG_QUALITY)
        photos.append({**row, "file": path.name})
        written.append(path)
    real_looking: list[dict] = []
    for path, (name, _style) in zip(make_samples(images, labels, output_dir), PHOTO_SAMPLES.values(), strict=True):
        row = next(r for r in rows if r["label"] == name)
        real_looking.append({**row, "file": path.name})
        written.append(path)
    none_samples: list[dict] = []
    for source in none_photos or []:
        path = output_dir / NONE_DIR / f"{source.parent.name}{source.suffix.lower()}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source.read_bytes())
        none_samples.append(
            {"file": path.name, "source": f"{source.parent.name}/{source.name}", "folder": source.parent.name}
        )
        written.append(path)
    readme = output_dir / "README.md"
    readme.write_text(render_readme(rows, photos, real_looking, none_samples))
    written.append(readme)
    return written


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory of the four IDX .gz files (default: $FASHION_MNIST_DIR, "
        "../shared/datasets/fashion-mnist, ~/.keras/datasets/fashion-mnist)",
    )
    add_photos_dir_argument(parser)
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Path]:
    """Load the test split and write the samples."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    images, labels = load_split("test", args.data_dir)
    written = export_samples(images, labels, args.output_dir, none_of_the_ten_photos(args.photos_dir))
    logger.info("wrote %d files to %s: %s", len(written), args.output_dir, ", ".join(p.name for p in written))
    return written


if __name__ == "__main__":
    main()
