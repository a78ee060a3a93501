"""Catalogue shots on white (issue 23, item 3): the head found above a worn garment, a light garment boxed whole,
a red bag not cut to a strip. Drawn stand-ins, not catalogue photos (training/catalogue_standins.py
measures more of them)."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.garment_box import Box
from core.images import normalise_photo_with_box, to_planes
from core.skin import chin_row

WHITE = (248, 248, 248)
SIZE = (240, 320)  # width, height


def jpeg(image: Image.Image) -> Image.Image:
    """Through a camera's JPEG, as catalogue shots arrive."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return Image.open(io.BytesIO(buffer.getvalue()))


def box_of(image: Image.Image) -> tuple[Box, float]:
    """The served box (before the tilt) and the working image's scale against the drawing."""
    luma, chroma = to_planes(jpeg(image))
    return normalise_photo_with_box(luma, chroma)[1], luma.shape[0] / SIZE[1]


def iou(a: Box, b: Box) -> float:
    height = max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
    width = max(0, min(a.right, b.right) - max(a.left, b.left))
    inter = height * width
    return inter / (a.height * a.width + b.height * b.width - inter)


def scaled(box: tuple[int, int, int, int], scale: float) -> Box:
    left, top, right, bottom = box
    return Box(round(top * scale), round(left * scale), round(bottom * scale), round(right * scale))


def test_the_chin_is_found_under_a_face_over_a_garment():
    """The head step: the topmost skin is a face over a narrower neck, with a garment below it."""
    foreground = np.zeros((120, 90), dtype=bool)
    skin = np.zeros_like(foreground)
    rows, cols = np.mgrid[0:120, 0:90]
    face = ((rows - 22) / 14) ** 2 + ((cols - 45) / 10) ** 2 <= 1  # rows 8-36
    skin |= face
    skin[34:44, 41:50] = True  # the neck
    foreground |= skin
    foreground[4:14, 33:57] = True  # hair on top
    foreground[42:110, 15:75] = True  # the top
    foreground[60:100, 10:15] = skin[60:100, 10:15] = True  # an arm
    assert 30 <= chin_row(skin, foreground) <= 37
    strap = np.zeros_like(foreground)
    strap[5:8, 30:60] = True  # a skin-coloured strap or handle at the top: no neck under it
    assert chin_row(strap, foreground | strap) is None


SHIRT = (50, 40, 190, 290)


@pytest.mark.parametrize("colour", [(240, 240, 238), (242, 236, 218), (246, 236, 176)])
def test_a_light_garment_on_white_is_boxed_whole(colour):
    """White, cream and pale yellow on white differ by a few levels only: the whole shirt is the box."""
    image = Image.new("RGB", SIZE, WHITE)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = SHIRT
    draw.polygon(
        [
            (left, top),
            (right, top),
            (right, top + 60),
            (right - 25, top + 60),
            (right - 25, bottom),
            (left + 25, bottom),
            (left + 25, top + 60),
            (left, top + 60),
        ],
        fill=colour,
    )
    draw.line((120, top + 10, 120, bottom - 10), fill=tuple(c - 10 for c in colour), width=2)  # a placket
    box, scale = box_of(image)
    assert iou(box, scaled(SHIRT, scale)) >= 0.85


def test_a_red_duffel_bag_is_not_cut_to_a_strip():
    """Its soft edge against white has skin's colour: a thin line, no person, so nothing is set aside."""
    image = Image.new("RGB", SIZE, WHITE)
    draw = ImageDraw.Draw(image)
    draw.arc((80, 120, 160, 200), 180, 360, fill=(140, 30, 30), width=5)  # the handles
    draw.rounded_rectangle((20, 150, 220, 220), 30, fill=(170, 40, 40))
    box, scale = box_of(image)
    assert iou(box, scaled((20, 120, 220, 220), scale)) >= 0.8
