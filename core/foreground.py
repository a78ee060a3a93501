"""Find the garment in a photo and measure how strongly each pixel stands out from the background.

Fashion-MNIST was made from product shots on white: the background became exactly 0 and the garment's
darkness its brightness. Real photos have grey, tinted, unevenly lit or textured backgrounds, so the
background is modelled from the image's border (a robust plane fit: it follows a light gradient), each
pixel is expressed as its contrast against that model (0 background, 1 the strongest possible), and the
garment is the largest connected part of the pixels whose contrast or edge strength rises clearly above
the border's own texture.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

import config

BORDER_FRACTION = 0.03  # how wide a frame (fraction of the shorter side, at least 1 px) shows the background
MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per median absolute deviation
LIGHT_THRESHOLD = 127.0  # a border median above this is a light background (the garment is darker)
DARKEST_BACKGROUND = 1.0  # keeps the light-background division finite


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


def border_mask(shape: tuple[int, int]) -> np.ndarray:
    """True on a frame a few percent wide: the pixels that show the background in a framed photo."""
    width = max(1, round(min(shape) * BORDER_FRACTION))
    mask = np.ones(shape, dtype=bool)
    mask[width:-width, width:-width] = False
    return mask


def robust_sigma(values: np.ndarray) -> float:
    """Spread of the background that a few garment pixels on the border cannot inflate."""
    return float(np.median(np.abs(values - np.median(values)))) * MAD_TO_SIGMA


def fit_background(gray: np.ndarray) -> np.ndarray:
    """Background level at every pixel: a plane through the border pixels, refitted without outliers.

    A plane follows the brightness gradient of a photo lit from one side. Starting from the border's
    median level and refitting on the pixels near the current plane ignores the border pixels of a
    garment touching the edge.
    """
    height, width = gray.shape
    rows, cols = np.nonzero(border_mask(gray.shape))
    values = gray[rows, cols].astype(np.float64)
    design = np.column_stack([np.ones(len(rows)), rows / max(height, 1), cols / max(width, 1)])
    coefficients = np.array([np.median(values), 0.0, 0.0])  # start from the level most of the border has
    for _ in range(3):
        residuals = values - design @ coefficients
        keep = np.abs(residuals) <= max(3.0 * robust_sigma(residuals), 2.0)
        if keep.sum() < design.shape[1]:
            break
        coefficients, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
    grid_rows, grid_cols = np.mgrid[0:height, 0:width]
    return coefficients[0] + coefficients[1] * grid_rows / max(height, 1) + coefficients[2] * grid_cols / max(width, 1)


def has_light_border(gray: np.ndarray) -> bool:
    """Photos show a dark garment on a light background, the opposite of Fashion-MNIST."""
    return float(np.median(gray[border_mask(gray.shape)])) > LIGHT_THRESHOLD


def contrast_map(gray: np.ndarray) -> np.ndarray:
    """Each pixel's contrast against the fitted background, 0 (background) to 1 (black on white).

    On a light background the contrast is relative to the background's own level (flat-field correction):
    a black shirt on a grey, dimly lit sheet is as black as on a white one.
    """
    values = gray.astype(np.float64)
    background = np.clip(fit_background(gray), DARKEST_BACKGROUND, 255.0 - DARKEST_BACKGROUND)
    if has_light_border(gray):
        contrast = (background - values) / background
    else:
        contrast = (values - background) / (255.0 - background)
    return np.clip(contrast, 0.0, 1.0).astype(np.float32)


def noise_floor(contrast: np.ndarray) -> float:
    """The contrast the background reaches by itself (texture, noise): what is subtracted to make it 0."""
    border = contrast[border_mask(contrast.shape)]
    return float(np.median(border) + 2.0 * robust_sigma(border))


def foreground_mask(contrast: np.ndarray) -> np.ndarray:
    """Pixels that stand out from the background by their level or by an edge, after blurring the texture."""
    blurred = np.asarray(Image.fromarray(np.round(contrast * 255).astype(np.uint8), mode="L")
                         .filter(ImageFilter.GaussianBlur(config.PREPROCESS_BLUR_RADIUS)), dtype=np.float32) / 255
    edges = edge_strength(blurred)
    border = border_mask(contrast.shape)
    return ((blurred > _threshold(blurred[border], config.PREPROCESS_MIN_CONTRAST))
            | (edges > _threshold(edges[border], config.PREPROCESS_MIN_CONTRAST / 4)))


def edge_strength(values: np.ndarray) -> np.ndarray:
    """Size of the step to the next pixel down and right; defined for any shape, even one pixel wide."""
    down = np.abs(np.diff(values, axis=0, append=values[-1:]))
    right = np.abs(np.diff(values, axis=1, append=values[:, -1:]))
    return np.hypot(down, right)


def _threshold(border_values: np.ndarray, minimum: float) -> float:
    """Clearly above the border's own level and spread, and never below a minimum contrast."""
    level = float(np.median(border_values)) + config.PREPROCESS_NOISE_SIGMAS * robust_sigma(border_values)
    return max(minimum, level)


def coarse_grid(mask: np.ndarray, cells: int) -> tuple[np.ndarray, int]:
    """The mask pooled ("any") into blocks so that the component search touches a few thousand cells."""
    block = max(1, -(-max(mask.shape) // cells))
    padded_shape = (-(-mask.shape[0] // block) * block, -(-mask.shape[1] // block) * block)
    padded = np.zeros(padded_shape, dtype=bool)
    padded[:mask.shape[0], :mask.shape[1]] = mask
    pooled = padded.reshape(padded_shape[0] // block, block, padded_shape[1] // block, block).any(axis=(1, 3))
    return pooled, block


def label_components(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected component labels (0 = empty) and each label's size (index 0 unused).

    A breadth-first fill over a set of plain-int cells: the grid has a few thousand cells at most, and set
    look-ups avoid numpy's slow per-element indexing. scipy.ndimage.label does the same, but scipy would be
    a large runtime dependency (and another pin to keep) for a grid of at most 64×64 cells.
    """
    unvisited = set(map(tuple, np.argwhere(grid).tolist()))
    labels = np.zeros(grid.shape, dtype=np.int32)
    sizes = [0]
    while unvisited:
        queue = deque([unvisited.pop()])
        members = []
        while queue:
            row, col = queue.popleft()
            members.append((row, col))
            for neighbour in ((row + dr, col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)):
                if neighbour in unvisited:
                    unvisited.remove(neighbour)
                    queue.append(neighbour)
        rows, cols = zip(*members, strict=True)
        labels[list(rows), list(cols)] = len(sizes)
        sizes.append(len(members))
    return labels, np.asarray(sizes)


def garment_box(mask: np.ndarray) -> Box | None:
    """Bounding box of the largest part of the mask and of the parts nearly as large; None if empty.

    Stray specks of a textured background form small parts and are left out; a sandal's separate straps
    are kept by the size fraction.
    """
    grid, block = coarse_grid(mask, config.PREPROCESS_MASK_GRID)
    labels, sizes = label_components(grid)
    if len(sizes) <= 1:
        return None
    kept = np.flatnonzero(sizes >= config.PREPROCESS_MIN_PART_FRACTION * sizes[1:].max())
    kept = kept[kept > 0]
    cells = np.isin(labels, kept)
    fine = mask & np.repeat(np.repeat(cells, block, axis=0), block, axis=1)[:mask.shape[0], :mask.shape[1]]
    rows, cols = np.flatnonzero(fine.any(axis=1)), np.flatnonzero(fine.any(axis=0))
    return Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def tighten(box: Box, contrast: np.ndarray) -> Box:
    """The box shrunk to the rows and columns where the unblurred garment itself shows.

    The blur that makes the mask robust also spreads it by about twice its radius on every side; the
    garment's own edge is where enough pixels of a row or column clear the minimum contrast.
    """
    inside = contrast[box.top:box.bottom, box.left:box.right] > config.PREPROCESS_MIN_CONTRAST / 2
    rows = np.flatnonzero(inside.sum(axis=1) >= _min_count(box.width))
    cols = np.flatnonzero(inside.sum(axis=0) >= _min_count(box.height))
    if not len(rows) or not len(cols):
        return box
    return Box(box.top + int(rows[0]), box.left + int(cols[0]), box.top + int(rows[-1]) + 1,
               box.left + int(cols[-1]) + 1)


def _min_count(length: int) -> int:
    """Two pixels, or 1 % of the line: a lone noisy pixel does not count as garment."""
    return max(2, length // 100)


def with_margin(box: Box, shape: tuple[int, int], fraction: float) -> Box:
    """The box grown by a fraction of its longer side on every side, kept inside the image."""
    pad = round(max(box.height, box.width) * fraction)
    return Box(max(0, box.top - pad), max(0, box.left - pad),
               min(shape[0], box.bottom + pad), min(shape[1], box.right + pad))


def find_garment(contrast: np.ndarray) -> Box:
    """The garment's tight box (plus the configured margin); the whole image when nothing stands out."""
    found = garment_box(foreground_mask(contrast))
    if found is None:
        return Box(0, 0, *contrast.shape)
    return with_margin(tighten(found, contrast), contrast.shape, config.PREPROCESS_CROP_MARGIN)
