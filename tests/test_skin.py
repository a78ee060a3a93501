"""A garment worn by a person: the crop keeps the garment, not the face, arms and legs around it."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.background import contrast_map
from core.garment_box import Box, find_garment
from core.images import normalise_photo, to_planes
from core.skin import set_aside_worn_skin, skin_colour

SKIN_TONES = [(255, 219, 172), (224, 172, 140), (141, 85, 36)]  # light, medium, dark
DRESS = (40, 70, 160)
DRESS_ROWS = (60, 170)
# The foreground's blur widens the garment by a few working pixels (about 8 of these 240), into the neck.
BLUR_SPREAD = 10


def person_in_a_dress(skin: tuple[int, int, int], background=(245, 245, 245)) -> Image.Image:
    """A catalogue-style figure on a light background: head, arms and legs in `skin`, a blue dress."""
    image = Image.new("RGB", (160, 240), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((62, 10, 98, 50), fill=skin)  # head
    draw.rectangle((74, 48, 86, 62), fill=skin)  # neck
    draw.rectangle((36, 62, 48, 150), fill=skin)  # arms
    draw.rectangle((112, 62, 124, 150), fill=skin)
    draw.polygon([(52, 60), (108, 60), (120, DRESS_ROWS[1]), (40, DRESS_ROWS[1])], fill=DRESS)  # dress
    draw.rectangle((62, 170, 74, 232), fill=skin)  # legs
    draw.rectangle((86, 170, 98, 232), fill=skin)
    return image


def garment_box_of(image: Image.Image) -> Box:
    luma, chroma = to_planes(image)
    return find_garment(contrast_map(luma, chroma), skin_colour(luma, chroma)), luma.shape


@pytest.mark.parametrize("skin", SKIN_TONES)
def test_the_box_holds_the_dress_and_leaves_out_head_and_legs(skin):
    box, (height, _) = garment_box_of(person_in_a_dress(skin))
    scale = height / 240
    assert box.top >= (DRESS_ROWS[0] - BLUR_SPREAD) * scale, "the head is left out"
    assert box.bottom <= (DRESS_ROWS[1] + BLUR_SPREAD) * scale, "the legs are left out"
    assert box.bottom - box.top >= (DRESS_ROWS[1] - DRESS_ROWS[0] - 12) * scale, "the dress is kept whole"


def test_without_skin_removal_the_whole_person_is_boxed(monkeypatch):
    monkeypatch.setattr("core.skin.MAX_SHARE", 0.0)
    box, (height, _) = garment_box_of(person_in_a_dress(SKIN_TONES[1]))
    assert box.top < 20 * height / 240 and box.bottom > 220 * height / 240


def test_a_skin_coloured_garment_is_kept_whole():
    """A beige coat alone is mostly 'skin' by colour: too large a share to be a person's."""
    image = Image.new("RGB", (160, 240), (250, 250, 250))
    ImageDraw.Draw(image).rectangle((30, 20, 130, 220), fill=SKIN_TONES[1])
    box, (height, _) = garment_box_of(image)
    assert box.top <= 22 * height / 240 and box.bottom >= 218 * height / 240


def test_grey_images_and_stray_skin_pixels_change_nothing():
    foreground = np.zeros((20, 20), dtype=bool)
    foreground[5:15, 5:15] = True
    skin = np.zeros_like(foreground)
    skin[5, 5] = True  # 1 % of the foreground
    assert set_aside_worn_skin(foreground, None, 2.0) is foreground
    assert np.array_equal(set_aside_worn_skin(foreground, skin, 2.0), foreground)
    luma = np.full((4, 4), 120, dtype=np.uint8)
    assert skin_colour(luma, None) is None


def test_the_model_is_shown_the_dress_filling_its_frame():
    """Through the whole pipeline: the 28×28 array is the dress, long side touching the frame."""
    luma, chroma = to_planes(person_in_a_dress(SKIN_TONES[0]))
    array = normalise_photo(luma, chroma)
    rows = np.flatnonzero(array.max(axis=1) > 60)
    assert rows[0] <= 1 and rows[-1] >= 26
    cols = np.flatnonzero(array.max(axis=0) > 60)
    assert cols[-1] - cols[0] + 1 < 28, "a dress is taller than wide: its width does not fill the frame"
