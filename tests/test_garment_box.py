"""core/garment_box.py: the garment's box, and the whole image when nothing stands out."""

import numpy as np

from core.garment_box import Box, find_garment, with_margin


def test_find_garment_on_a_blank_image_is_the_whole_image():
    assert find_garment(np.zeros((40, 30), dtype=np.float32)) == Box(0, 0, 40, 30)


def test_margin_stays_inside_the_image():
    assert with_margin(Box(2, 2, 38, 18), (40, 20), 0.1) == Box(0, 0, 40, 20)
