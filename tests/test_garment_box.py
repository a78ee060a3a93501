"""core/garment_box.py: the garment's box, the whole image when nothing stands out, and fragments."""

import numpy as np

from core import garment_box
from core.garment_box import Box, find_garment, is_fragment, with_margin


def test_find_garment_on_a_blank_image_is_the_whole_image():
    assert find_garment(np.zeros((40, 30), dtype=np.float32)) == Box(0, 0, 40, 30)


def test_margin_stays_inside_the_image():
    assert with_margin(Box(2, 2, 38, 18), (40, 20), 0.1) == Box(0, 0, 40, 20)


def test_a_box_that_misses_the_frames_centre_is_a_fragment(monkeypatch):
    monkeypatch.setattr(garment_box, "WHOLE_FRAME_FOR_FRAGMENTS", True)
    assert is_fragment(Box(0, 104, 21, 128), (96, 128)), "a corner patch"
    assert is_fragment(Box(80, 0, 96, 128), (96, 128)), "a strip along the bottom edge"
    assert not is_fragment(Box(10, 30, 90, 100), (96, 128)), "a garment over the centre, off-centre or not"
    assert not is_fragment(Box(48, 64, 49, 65), (96, 128)), "the centre pixel itself"


def test_fragments_are_kept_while_the_rule_is_off():
    assert garment_box.WHOLE_FRAME_FOR_FRAGMENTS is False, "the shipped networks were trained on fragments kept"
    assert not is_fragment(Box(0, 104, 21, 128), (96, 128))
