"""Small helpers that make image files in memory for the tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


def encode(image: Image.Image, image_format: str = "PNG", **save_options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **save_options)
    return buffer.getvalue()


def png_of(array: np.ndarray) -> bytes:
    return encode(Image.fromarray(np.asarray(array, dtype=np.uint8), mode="L"))


def sample_files() -> list[Path]:
    """The one-per-class 28×28 PNGs in samples/, named by class (e.g. ankle-boot.png)."""
    return sorted(p for p in SAMPLES_DIR.glob("*.png") if "-photo" not in p.stem)


def photo_sample_files() -> list[Path]:
    """The photo samples (e.g. sneaker-photo.jpg, dress-photo.png, bag-photo-rotated.jpg)."""
    return sorted(p for p in SAMPLES_DIR.iterdir() if "-photo" in p.stem)


def none_sample_files() -> list[Path]:
    """samples/none-of-the-ten/: real photos of a hat, shorts and a skirt, none of the ten classes."""
    return sorted((SAMPLES_DIR / "none-of-the-ten").glob("*.jpg"))


def class_name_of(sample: Path) -> str:
    """samples/t-shirt-top.png, samples/bag-photo-rotated.jpg → 't-shirt-top', 'bag': comparable with slug(label)."""
    return sample.stem.split("-photo")[0]


def slug(label: str) -> str:
    """'T-shirt/top' → 't-shirt-top', the samples' naming."""
    return "".join(c if c.isalnum() else "-" for c in label.lower())


def official_test_images(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` official test images and labels; the test is skipped, with its reason, without them."""
    import pytest

    from training.dataset import DatasetNotFoundError, load_split

    try:
        images, labels = load_split("test")
    except DatasetNotFoundError as error:
        pytest.skip(f"Fashion-MNIST test files not available: {error}")
    return images[:count], labels[:count]


def garment_photo(seed: int, colour: tuple[int, int, int], floor: tuple[int, int, int]) -> bytes:
    """A coloured T-shaped garment on a noisy floor, as a phone JPEG of 640×480 would show it."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(floor) + rng.normal(0, 6, (480, 640, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
    draw = ImageDraw.Draw(image)
    left = 200 + 10 * seed
    draw.rectangle((left, 120, left + 220, 400), fill=colour)
    draw.rectangle((left - 80, 120, left + 300, 200), fill=colour)  # sleeves
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def extent(image: np.ndarray) -> tuple[int, int, int, int]:
    """First and last row and column with any garment pixel."""
    rows, cols = np.flatnonzero(image.max(axis=1) > 0), np.flatnonzero(image.max(axis=0) > 0)
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
