"""The photo network's input: the garment's box of a photo, in colour, as a PHOTO_SIDE × PHOTO_SIDE square.

The 28×28 grayscale array blurs away what tells a shirt from a coat (collars, buttons, zips, the hem), so a
photo is also shown, at higher resolution and in colour, to a second network (training/photo_network.py). Its
crop is the box core.garment_box.find_garment found for the 28×28 array (before the tilt step), grown to a
square with the photo's own pixels around it, and edge-padded only where the square leaves the photo.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.garment_box import Box

PHOTO_SIDE = 64
PHOTO_CHANNELS = 3


def garment_crop(luma: np.ndarray, chroma: np.ndarray | None, box: Box, side: int = PHOTO_SIDE) -> np.ndarray:
    """(side, side, 3) uint8: the garment's box of the working image, squared, in colour (Lanczos resize)."""
    square = cut_square(to_rgb(luma, chroma), square_box(box))
    return np.asarray(
        Image.fromarray(square, mode="RGB").resize((side, side), Image.Resampling.LANCZOS), dtype=np.uint8
    )


def to_rgb(luma: np.ndarray, chroma: np.ndarray | None) -> np.ndarray:
    """(H, W, 3) uint8 from the working planes (core.images.to_planes): YCbCr back to RGB, grey repeated."""
    if chroma is None:
        return np.repeat(luma[..., np.newaxis], PHOTO_CHANNELS, axis=2)
    planes = [Image.fromarray(luma, mode="L")] + [
        Image.fromarray(np.clip(np.round(chroma[..., i]), 0, 255).astype(np.uint8), mode="L") for i in range(2)
    ]
    return np.asarray(Image.merge("YCbCr", planes).convert("RGB"), dtype=np.uint8)


def square_box(box: Box) -> Box:
    """The box grown on its short side to a square, about the same centre (it may leave the image)."""
    side = max(box.height, box.width, 1)
    top = box.top - (side - box.height) // 2
    left = box.left - (side - box.width) // 2
    return Box(top, left, top + side, left + side)


def cut_square(rgb: np.ndarray, square: Box) -> np.ndarray:
    """The square's pixels; where it leaves the image, the nearest edge pixels repeated."""
    height, width = rgb.shape[:2]
    inside = rgb[max(0, square.top) : min(height, square.bottom), max(0, square.left) : min(width, square.right)]
    pads = (
        (max(0, -square.top), max(0, square.bottom - height)),
        (max(0, -square.left), max(0, square.right - width)),
        (0, 0),
    )
    return np.pad(inside, pads, mode="edge")
