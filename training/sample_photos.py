"""The real-looking photos in samples/ (sneaker-photo.jpg, dress-photo.png, bag-photo-rotated.jpg, ...).

A Fashion-MNIST test image drawn as a phone photo of the garment would be: dark on a light-grey, softly textured,
unevenly lit sheet, with margins, a tint and sensor noise, saved as JPEG, as an RGBA PNG cut-out, or as a JPEG
stored sideways with an EXIF orientation tag, so the API's pre-processing (core/images.py) can be tried on what
users upload. training/export_samples.py writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from core.labels import CLASS_NAMES

ORIENTATION_TAG = 0x0112
# EXIF orientation → the transpose that stores the picture so that a viewer applying the tag shows it upright.
STORED_SIDEWAYS = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class PhotoStyle:
    """Everything random about one photo, so a sample can also be written with chosen values."""

    canvas_side: int  # the photo's longer side before rotation, 200–1000 px
    margins: tuple[float, float, float, float]  # top, right, bottom, left, as fractions of the garment size
    angle: float  # degrees, counter-clockwise
    background: float  # grey level of the lit sheet, 0–255
    gradient: tuple[float, float]  # brightness change across the picture, rows and columns, in grey levels
    texture: float  # amplitude of the sheet's soft texture, grey levels
    ink: float  # how dark the garment's darkest part is (1: black)
    tint: tuple[float, float, float]  # per-channel gain (R, G, B)
    contrast: float
    brightness: float
    noise: float  # sensor noise standard deviation, grey levels
    kind: str  # "jpeg", "png-alpha" or "jpeg-exif"
    quality: int  # JPEG quality
    orientation: int  # EXIF orientation tag for "jpeg-exif"


def random_style(rng: np.random.Generator) -> PhotoStyle:
    """One random draw of every photo parameter. make_photo draws one and drops it, so that the generator is in
    the state it was in when samples/ was made (texture and noise come next) and the files stay the same."""
    kind = rng.choice(["jpeg", "png-alpha", "jpeg-exif"], p=[0.7, 0.15, 0.15])
    return PhotoStyle(
        canvas_side=int(rng.integers(200, 1001)),
        margins=tuple(float(m) for m in rng.uniform(0.02, 0.35, 4)),
        angle=float(rng.uniform(-10, 10)),
        background=float(rng.uniform(175, 250)),
        gradient=tuple(float(g) for g in rng.uniform(-25, 25, 2)),
        texture=float(rng.uniform(0, 8)),
        ink=float(rng.uniform(0.7, 1.0)),
        tint=tuple(float(t) for t in rng.uniform(0.9, 1.1, 3)),
        contrast=float(rng.uniform(0.8, 1.2)),
        brightness=float(rng.uniform(-20, 20)),
        noise=float(rng.uniform(0.5, 6)),
        kind=str(kind),
        quality=int(rng.integers(60, 96)),
        orientation=int(rng.choice(list(STORED_SIDEWAYS))),
    )


def garment_darkness(image28: np.ndarray, style: PhotoStyle) -> np.ndarray:
    """The test image as darkness 0–1 (1: the garment's darkest part), upscaled, rotated and framed."""
    top, right, bottom, left = style.margins
    garment_side = max(8, round(style.canvas_side / (1 + max(top + bottom, left + right))))
    darkness = Image.fromarray(image28.astype(np.float32) / 255.0, mode="F")
    darkness = darkness.resize((garment_side, garment_side), Image.Resampling.BICUBIC)
    darkness = darkness.rotate(style.angle, Image.Resampling.BICUBIC, expand=True, fillcolor=0.0)
    pads = [round(m * garment_side) for m in style.margins]
    framed = np.pad(np.asarray(darkness, dtype=np.float32), ((pads[0], pads[2]), (pads[3], pads[1])))
    return np.clip(framed, 0.0, 1.0)


def lit_sheet(shape: tuple[int, int], style: PhotoStyle, rng: np.random.Generator) -> np.ndarray:
    """A light-grey background lit from one side, with a soft cloth/paper texture."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    sheet = style.background + style.gradient[0] * (rows / shape[0] - 0.5) + style.gradient[1] * (cols / shape[1] - 0.5)
    coarse = Image.fromarray(rng.normal(0, 1, (12, 12)).astype(np.float32), mode="F")
    soft = np.asarray(coarse.resize((shape[1], shape[0]), Image.Resampling.BICUBIC), dtype=np.float32)
    grain = rng.normal(0, 0.5, shape)
    return sheet + style.texture * (soft + grain)


def render(image28: np.ndarray, style: PhotoStyle, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 photo and the garment's alpha (where it covers the sheet), before encoding."""
    darkness = garment_darkness(image28, style) * style.ink
    gray = lit_sheet(darkness.shape, style, rng) * (1.0 - darkness)
    gray = (gray - 128.0) * style.contrast + 128.0 + style.brightness
    rgb = gray[..., None] * np.asarray(style.tint)[None, None, :] + rng.normal(0, style.noise, (*gray.shape, 3))
    alpha = np.clip(darkness * 8.0, 0.0, 1.0)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8), np.round(alpha * 255).astype(np.uint8)


def save_photo(rgb: np.ndarray, alpha: np.ndarray, style: PhotoStyle, stem: Path) -> Path:
    """Encode as the style says: JPEG, RGBA PNG cut-out (transparent pixels black, as editors leave
    them) or a sideways-stored JPEG whose EXIF orientation puts it upright."""
    image = Image.fromarray(rgb, mode="RGB")
    if style.kind == "png-alpha":
        rgba = np.dstack([np.where(alpha[..., None] > 0, rgb, 0), alpha]).astype(np.uint8)
        path = stem.with_suffix(".png")
        Image.fromarray(rgba, mode="RGBA").save(path, format="PNG")
        return path
    path = stem.with_suffix(".jpg")
    if style.kind == "jpeg-exif":
        stored = image.transpose(STORED_SIDEWAYS[style.orientation])
        exif = stored.getexif()
        exif[ORIENTATION_TAG] = style.orientation
        stored.save(path, format="JPEG", quality=style.quality, exif=exif.tobytes())
        return path
    image.save(path, format="JPEG", quality=style.quality)
    return path


def make_photo(image28: np.ndarray, seed: int, index: int, stem: Path, style: PhotoStyle) -> Path:
    """One photo of test image `index` in `style`, its texture and noise reproducible from (seed, index)."""
    rng = np.random.default_rng([seed, index])
    random_style(rng)  # drawn and dropped: see random_style
    return save_photo(*render(image28, style, rng), style, stem)


# The real-looking photos in samples/: the first test image of the class on a fixed light-grey textured,
# unevenly lit sheet, shot straight (angle 0: the shipped model is sensitive to tilts; at 3–4° the sneaker
# and dress samples flip to Ankle boot and Coat).
SAMPLE_SHEET = PhotoStyle(
    canvas_side=800,
    margins=(0.15, 0.2, 0.25, 0.18),
    angle=0.0,
    background=205.0,
    gradient=(-18.0, 12.0),
    texture=6.0,
    ink=0.92,
    tint=(1.03, 1.0, 0.95),
    contrast=1.0,
    brightness=0.0,
    noise=3.0,
    kind="jpeg",
    quality=85,
    orientation=6,
)
PHOTO_SAMPLES = {
    "sneaker-photo": ("Sneaker", SAMPLE_SHEET),
    "dress-photo": ("Dress", replace(SAMPLE_SHEET, kind="png-alpha", canvas_side=600)),
    "bag-photo-rotated": ("Bag", replace(SAMPLE_SHEET, kind="jpeg-exif", canvas_side=1000)),
    "pullover-photo": ("Pullover", replace(SAMPLE_SHEET, background=185.0, gradient=(25.0, -10.0))),
}


def make_samples(images: np.ndarray, labels: np.ndarray, output_dir: Path, seed: int = 0) -> list[Path]:
    """The named real-looking photos, one per entry of PHOTO_SAMPLES (first test image of its class)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, (class_name, style) in PHOTO_SAMPLES.items():
        index = int(np.flatnonzero(labels == CLASS_NAMES.index(class_name))[0])
        written.append(make_photo(images[index], seed, index, output_dir / stem, style))
    return written
