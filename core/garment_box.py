"""The garment's box: the bounding box of the largest connected part of the pixels that stand out in the
contrast map (core/background.py), with the parts nearly as large, tightened to the garment's own edge.

The pixels that stand out by level or by edge above the border's own texture form the foreground mask; a person
wearing the garment is set aside from it (core/skin.py), and its connected parts are found on a coarse grid
(core/components.py). Box is the rectangle every later stage crops with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from core.background import quiet_border, robust_sigma
from core.components import coarse_grid, label_components
from core.skin import set_aside_worn_skin

# --- Tuned on the photo validation split (python -m training.compare_preprocessing; training/README.md) ---
# The foreground mask is grouped into connected parts on a grid of at most this many cells a side.
MASK_GRID = 64
# Blur radius (pixels at the working size) that hides fine background texture and noise before thresholding.
BLUR_RADIUS = 2.0
# A pixel is garment when it differs from the fitted background by more than this fraction of full scale...
MIN_CONTRAST = 0.08
# On a studio shot (a clean white background, core.background.studio_background) the background has no texture
# to hide, and a white, cream or pale yellow garment on it differs by only a few levels (contrast 0.04–0.06): it
# counts from this contrast there, so it is boxed whole, not as its darkest folds (catalogue stand-ins,
# docs/preprocessing.md).
STUDIO_MIN_CONTRAST = 0.03
# ...and by more than this many robust standard deviations of the border (the background's own texture).
NOISE_SIGMAS = 4.0
# Parts of the mask at least this fraction of the largest one's size count as garment too (sandal straps).
MIN_PART_FRACTION = 0.25
# Margin around the garment's bounding box, as a fraction of its longer side. Fashion-MNIST's own objects
# touch the 28-pixel frame on their long side (98 % of test images), hence 0.
CROP_MARGIN = 0.0
# A garment laid out and photographed covers the middle of the frame. Where it also covers the border, the
# background model learns the garment, and what "stands out" is a sliver of floor at an edge, a print or a hem: a
# box that misses the frame's centre is such a fragment (all 51 of the 2 693 training and validation photos' boxes
# that miss it are). True: the whole frame is the garment's box instead. Tried on 2026-12-07 and left off: both
# networks retrained on it scored lower on the final check (docs/preprocessing.md), so the shipped networks' inputs
# stay those they were trained on.
WHOLE_FRAME_FOR_FRAGMENTS = False


@dataclass(frozen=True)
class Box:
    """Half-open pixel rectangle [top, bottom) × [left, right)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


def find_garment(
    contrast: np.ndarray,
    skin: np.ndarray | None = None,
    min_contrast: float | None = None,
    left_out: np.ndarray | None = None,
    foreground: np.ndarray | None = None,
) -> Box:
    """The garment's tight box (plus the configured margin); the whole image when nothing stands out.
    `skin` marks skin-coloured pixels: a person wearing the garment is left out of the box. `min_contrast` is
    the least contrast that counts as garment (MIN_CONTRAST unless given: STUDIO_MIN_CONTRAST on a studio shot).
    `left_out` marks pixels that are no part of it (the trousers below a worn top, core/worn_top.py).
    `foreground`: foreground_mask(contrast, min_contrast), when the caller has already made it."""
    min_contrast = MIN_CONTRAST if min_contrast is None else min_contrast
    if foreground is None:
        foreground = foreground_mask(contrast, min_contrast)
    mask = set_aside_worn_skin(foreground, skin, BLUR_RADIUS)
    found = garment_box(mask if left_out is None else mask & ~left_out)
    if found is None:
        return whole_frame(contrast.shape)
    return with_margin(tighten(found, contrast, min_contrast), contrast.shape, CROP_MARGIN)


def is_fragment(box: Box, shape: tuple[int, int]) -> bool:
    """The box misses the frame's centre: a fragment, not the garment of a photo of one (never, while
    WHOLE_FRAME_FOR_FRAGMENTS is False)."""
    height, width = shape
    return WHOLE_FRAME_FOR_FRAGMENTS and not (
        box.top <= height // 2 < box.bottom and box.left <= width // 2 < box.right
    )


def whole_frame(shape: tuple[int, int]) -> Box:
    return Box(0, 0, *shape)


def foreground_mask(contrast: np.ndarray, min_contrast: float) -> np.ndarray:
    """Pixels that stand out from the background by their level or by an edge, after blurring the texture."""
    blurred = (
        np.asarray(
            Image.fromarray(np.round(contrast * 255).astype(np.uint8), mode="L").filter(
                ImageFilter.GaussianBlur(BLUR_RADIUS)
            ),
            dtype=np.float32,
        )
        / 255
    )
    edges = edge_strength(blurred)
    border = quiet_border(contrast, min_contrast)
    return (blurred > _threshold(blurred[border], min_contrast)) | (edges > _threshold(edges[border], min_contrast / 4))


def edge_strength(values: np.ndarray) -> np.ndarray:
    """Size of the step to the next pixel down and right; defined for any shape, even one pixel wide."""
    down = np.abs(np.diff(values, axis=0, append=values[-1:]))
    right = np.abs(np.diff(values, axis=1, append=values[:, -1:]))
    return np.hypot(down, right)


def _threshold(border_values: np.ndarray, minimum: float) -> float:
    """Clearly above the border's own level and spread, and never below a minimum contrast."""
    level = float(np.median(border_values)) + NOISE_SIGMAS * robust_sigma(border_values)
    return max(minimum, level)


def garment_box(mask: np.ndarray) -> Box | None:
    """Bounding box of the largest part of the mask and of the parts nearly as large; None if empty.

    Stray specks of a textured background form small parts and are left out; a sandal's separate straps
    are kept by the size fraction.
    """
    grid, block = coarse_grid(mask, MASK_GRID)
    labels, sizes = label_components(grid)
    if len(sizes) <= 1:
        return None
    kept = np.flatnonzero(sizes >= MIN_PART_FRACTION * sizes[1:].max())
    kept = kept[kept > 0]
    cells = np.isin(labels, kept)
    fine = mask & np.repeat(np.repeat(cells, block, axis=0), block, axis=1)[: mask.shape[0], : mask.shape[1]]
    rows, cols = np.flatnonzero(fine.any(axis=1)), np.flatnonzero(fine.any(axis=0))
    return Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def tighten(box: Box, contrast: np.ndarray, min_contrast: float) -> Box:
    """The box shrunk to the rows and columns where the unblurred garment itself shows.

    The blur that makes the mask robust also spreads it by about twice its radius on every side; the
    garment's own edge is where enough pixels of a row or column clear the minimum contrast.
    """
    inside = contrast[box.top : box.bottom, box.left : box.right] > min_contrast / 2
    rows = np.flatnonzero(inside.sum(axis=1) >= _min_count(box.width))
    cols = np.flatnonzero(inside.sum(axis=0) >= _min_count(box.height))
    if not len(rows) or not len(cols):
        return box
    return Box(
        box.top + int(rows[0]), box.left + int(cols[0]), box.top + int(rows[-1]) + 1, box.left + int(cols[-1]) + 1
    )


def _min_count(length: int) -> int:
    """Two pixels, or 1 % of the line: a lone noisy pixel does not count as garment."""
    return max(2, length // 100)


def with_margin(box: Box, shape: tuple[int, int], fraction: float) -> Box:
    """The box grown by a fraction of its longer side on every side, kept inside the image."""
    pad = round(max(box.height, box.width) * fraction)
    return Box(
        max(0, box.top - pad), max(0, box.left - pad), min(shape[0], box.bottom + pad), min(shape[1], box.right + pad)
    )
