"""Undo a photo's small tilt, so the garment stands upright as in every Fashion-MNIST image.

Fashion-MNIST's product shots are all axis-aligned; a phone photo of a shirt on a hanger or a bed is
usually turned a few degrees, and the model, which never saw a tilted garment, loses accuracy on it.
An upright garment has the smallest axis-aligned bounding box of all its small rotations (the classic
deskew criterion for scanned pages), so the tilt is the angle, within a few degrees either way, that
minimises the box of the garment's pixels; it is only undone when that saves a clear share of the area,
so an upright or round garment is left exactly as it is.

The garment's pixels are those whose contrast clears the threshold the caller passes: core/images.py passes the
garment box's MIN_CONTRAST (core/garment_box.py), so the tilt is measured on what the box counts as garment, and
a variant of that constant (training.compare_preprocessing) reaches both stages.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

MIN_POINTS = 50  # fewer garment pixels than this give no reliable angle
MAX_POINTS = 4000  # an evenly spaced subsample this large measures the box as well as all pixels do
EXTENT_PERCENTILES = (0.5, 99.5)  # a box that a few stray pixels cannot widen
# Photos tilted by up to this many degrees either way are turned upright; 0 turns it off.
MAX_TILT_DEGREES = 12.0
# Angle step of the tilt search.
TILT_STEP_DEGREES = 1.0
# A tilt is undone only when turning shrinks the garment's bounding box by at least this fraction
# (2 % measured best on an earlier synthetic photo set; 0 % and 5 % both scored lower).
MIN_TILT_GAIN = 0.02


def estimate_tilt(contrast: np.ndarray, threshold: float) -> float:
    """Degrees counter-clockwise that make the garment (the pixels whose contrast exceeds `threshold`) upright;
    0.0 when no turn clearly helps."""
    points = garment_points(contrast, threshold)
    limit = MAX_TILT_DEGREES
    if limit <= 0 or len(points) < MIN_POINTS:
        return 0.0
    steps = int(np.floor(limit / TILT_STEP_DEGREES))
    angles = np.arange(-steps, steps + 1) * TILT_STEP_DEGREES
    areas = box_areas(points, angles)
    best = int(np.argmin(areas))
    upright_area = areas[steps]  # angles[steps] == 0
    if areas[best] >= upright_area * (1.0 - MIN_TILT_GAIN):
        return 0.0
    return float(angles[best])


def rotate(contrast: np.ndarray, degrees: float) -> np.ndarray:
    """The contrast map turned counter-clockwise, grown to keep every corner, new area as background (0)."""
    turned = Image.fromarray(contrast.astype(np.float32), mode="F").rotate(
        degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=0.0
    )
    return np.clip(np.asarray(turned, dtype=np.float32), 0.0, None)


def garment_points(contrast: np.ndarray, threshold: float) -> np.ndarray:
    """(N, 2) row/column coordinates of the pixels that stand out, centred on their mean."""
    points = np.argwhere(contrast > threshold).astype(np.float64)
    if len(points) > MAX_POINTS:
        points = points[np.linspace(0, len(points) - 1, MAX_POINTS).astype(int)]
    return points - points.mean(axis=0) if len(points) else points


def box_areas(points: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """The robust axis-aligned box area of the points rotated by each angle (counter-clockwise)."""
    radians = np.deg2rad(angles_deg)[:, None]
    rows, cols = points[:, 0][None, :], points[:, 1][None, :]
    rotated_cols = cols * np.cos(radians) + rows * np.sin(radians)
    rotated_rows = -cols * np.sin(radians) + rows * np.cos(radians)
    low, high = EXTENT_PERCENTILES
    widths = np.subtract(*np.percentile(rotated_cols, [high, low], axis=1))
    heights = np.subtract(*np.percentile(rotated_rows, [high, low], axis=1))
    return widths * heights
