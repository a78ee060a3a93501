"""Tilt estimation: a turned garment is turned back, an upright or round one is left alone."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core import tilt
from core.garment_box import MIN_CONTRAST
from core.images import normalise_photo
from core.tilt import estimate_tilt, rotate


def garment_contrast(angle: float = 0.0, shape: str = "rectangle") -> np.ndarray:
    """A contrast map (1 = garment) of a tall rectangle, or a disk, turned counter-clockwise by angle."""
    canvas = Image.new("F", (240, 240), 0.0)
    draw = ImageDraw.Draw(canvas)
    if shape == "rectangle":
        draw.rectangle((90, 40, 150, 200), fill=1.0)
    else:
        draw.ellipse((60, 60, 180, 180), fill=1.0)
    return np.asarray(canvas.rotate(angle, Image.Resampling.BILINEAR), dtype=np.float32)


@pytest.mark.parametrize("angle", [-10.0, -6.0, 4.0, 9.0])
def test_a_tilted_garment_is_measured_to_the_degree(angle):
    assert estimate_tilt(garment_contrast(angle), MIN_CONTRAST) == pytest.approx(-angle, abs=1.0)


def test_an_upright_garment_is_left_alone():
    assert estimate_tilt(garment_contrast(0.0), MIN_CONTRAST) == 0.0


def test_a_round_garment_has_no_tilt_to_undo():
    assert estimate_tilt(garment_contrast(7.0, shape="disk"), MIN_CONTRAST) == 0.0


def test_too_few_pixels_give_no_tilt():
    contrast = np.zeros((100, 100), dtype=np.float32)
    contrast[50, 40:60] = 1.0
    assert estimate_tilt(contrast, MIN_CONTRAST) == 0.0


@pytest.mark.parametrize("limit", [12.0, 5.0])
def test_a_tilt_beyond_the_limit_is_turned_by_the_limit_only(monkeypatch, limit):
    """A 30° tilt is more than the search looks at: the garment is turned by the limit, the most it may be."""
    monkeypatch.setattr(tilt, "MAX_TILT_DEGREES", limit)
    assert estimate_tilt(garment_contrast(30.0), MIN_CONTRAST) == -limit
    assert estimate_tilt(garment_contrast(-30.0), MIN_CONTRAST) == limit


def test_turning_off_by_config(monkeypatch):
    monkeypatch.setattr(tilt, "MAX_TILT_DEGREES", 0.0)
    assert estimate_tilt(garment_contrast(8.0), MIN_CONTRAST) == 0.0


def test_rotate_keeps_every_corner_and_fills_with_background():
    turned = rotate(garment_contrast(0.0), 45.0)
    assert turned.shape[0] > 240 and turned.shape[1] > 240
    assert turned[0, 0] == 0.0 and turned.min() >= 0.0
    assert turned.sum() == pytest.approx(garment_contrast(0.0).sum(), rel=0.02)


def dark_rectangle_photo(angle: float) -> np.ndarray:
    """A dark tall rectangle on a white 400×400 photo, turned counter-clockwise by angle."""
    photo = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(photo).rectangle((150, 60, 250, 340), fill=30)
    return np.asarray(photo.rotate(angle, Image.Resampling.BICUBIC, fillcolor=255), dtype=np.uint8)


def test_a_tilted_photo_reaches_the_model_as_upright_as_a_straight_one(monkeypatch):
    upright = normalise_photo(dark_rectangle_photo(0.0)).astype(np.float32)
    straightened = normalise_photo(dark_rectangle_photo(8.0)).astype(np.float32)
    monkeypatch.setattr(tilt, "MAX_TILT_DEGREES", 0.0)
    left_tilted = normalise_photo(dark_rectangle_photo(8.0)).astype(np.float32)
    assert np.abs(straightened - upright).mean() < 0.4 * np.abs(left_tilted - upright).mean()
