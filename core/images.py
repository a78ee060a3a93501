"""Turn an uploaded image file into the 28×28 grayscale array the model was trained on.

Fashion-MNIST images are a light garment on a black background. Uploads come in any format, size and
mode, so every one is decoded, oriented, flattened onto white, made grayscale, inverted when its
background is light, and fitted into 28×28 keeping its aspect ratio. An image that already looks like
Fashion-MNIST (28×28, dark background) passes through unchanged.
"""
from __future__ import annotations

import io
import logging
import warnings

import numpy as np
from PIL import Image, ImageOps

import config

logger = logging.getLogger(__name__)

# Pillow raises DecompressionBombError at twice this many pixels and only warns below that;
# refuse_oversized() refuses everything above it, so the warning adds nothing.
Image.MAX_IMAGE_PIXELS = config.MAX_IMAGE_PIXELS
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

MODEL_SIDE = 28
WHITE = 255
BORDER_PIXELS = 1  # how wide a frame of the image estimates its background


class InvalidImageError(ValueError):
    """The upload is not an image we can read: the API answers 400 with this message."""


def decode_image(data: bytes) -> Image.Image:
    """Decode every format Pillow reads (first frame of an animation), refusing decompression bombs.

    Pillow raises many unrelated exception types for malformed files (OSError, SyntaxError,
    struct.error, EOFError, ...), so any failure while decoding becomes one InvalidImageError.
    """
    if not data:
        raise InvalidImageError("The uploaded file is empty.")
    try:
        image = Image.open(io.BytesIO(data))
        refuse_oversized(image)
        image.load()
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as error:
        raise InvalidImageError(too_large_message()) from error
    except Exception as error:
        raise InvalidImageError(
            "The uploaded file is not a readable image; send a JPEG, PNG, GIF, BMP, WebP or TIFF file.") from error
    return image


def refuse_oversized(image: Image.Image) -> None:
    """Checked from the header, before any pixel is decoded, so a bomb costs nothing."""
    if image.width * image.height > config.MAX_IMAGE_PIXELS:
        raise InvalidImageError(too_large_message())


def too_large_message() -> str:
    return f"The image has too many pixels to process (limit {config.MAX_IMAGE_PIXELS})."


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Oriented by EXIF, transparency flattened onto white, as a uint8 grayscale array."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return _stretch_to_uint8(np.asarray(image, dtype=np.float64))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (WHITE, WHITE, WHITE, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _stretch_to_uint8(values: np.ndarray) -> np.ndarray:
    """16-bit and float images carry their own value range: map it linearly onto 0–255."""
    finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.zeros(finite.shape, dtype=np.uint8)
    return np.round((finite - low) * (255.0 / (high - low))).astype(np.uint8)


def has_light_background(gray: np.ndarray) -> bool:
    """Photos show a dark garment on a light background, the opposite of Fashion-MNIST."""
    frame = np.concatenate([gray[:BORDER_PIXELS].ravel(), gray[-BORDER_PIXELS:].ravel(),
                            gray[:, :BORDER_PIXELS].ravel(), gray[:, -BORDER_PIXELS:].ravel()])
    return float(np.median(frame)) > 127


def fit_to_model_side(gray: np.ndarray) -> np.ndarray:
    """Aspect-preserving resize into 28×28, centred, padded with the background level."""
    if gray.shape == (MODEL_SIDE, MODEL_SIDE):
        return gray
    image = Image.fromarray(gray, mode="L")
    background = int(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    fitted = ImageOps.pad(image, (MODEL_SIDE, MODEL_SIDE), method=Image.Resampling.LANCZOS, color=background)
    return np.asarray(fitted, dtype=np.uint8)


def image_to_model_array(data: bytes) -> np.ndarray:
    """Encoded image file → (28, 28) uint8 array, light garment on a dark background."""
    gray = to_grayscale(decode_image(data))
    if has_light_background(gray):
        gray = WHITE - gray
    return fit_to_model_side(gray)
