"""core/background.py: the background model and each pixel's contrast against it."""

import numpy as np

from core.background import contrast_map, fit_background


def test_background_plane_follows_a_lighting_gradient_despite_a_garment_on_the_edge():
    cols = np.arange(200)[None, :].repeat(100, axis=0)
    gray = (160 + 0.3 * cols).astype(np.uint8)  # 160 on the left to 220 on the right
    gray[0:60, 0:50] = 20  # a dark garment touching the top-left border
    background = fit_background(gray)
    assert abs(background[50, 10] - 163) < 3 and abs(background[50, 190] - 217) < 3


def test_contrast_is_relative_to_the_background_on_light_and_dark():
    light = np.full((50, 50), 200, dtype=np.uint8)
    light[20:30, 20:30] = 0
    dark = 255 - light
    for gray in (light, dark):
        contrast = contrast_map(gray)
        assert contrast[25, 25] > 0.99 and contrast[2, 2] < 0.01
