"""A top worn over trousers on a studio shot (issue 23, item 3): the box is cut where the top's colour gives way
to the trousers', and only there. Drawn stand-ins, not catalogue photos (training/catalogue_standins.py measures
more of them)."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.worn_top import colour_change
from tests.test_catalogue_crop import SIZE, WHITE, box_of

SKIN = (224, 172, 140)
HEM = 170  # where the top (or dress) ends
TOP = (70, 60, 170, HEM)  # left, top (the neckline), right, bottom: the top's true box
# The skin step sets the legs aside with a halo of 6 working pixels (15 of these 320 rows) around them.
BLUR_SPREAD = 16


def person(garment: tuple, below: tuple | None, shift: int = 0) -> Image.Image:
    """A figure on white, `shift` pixels higher in the frame: head, neck and arms in skin, a garment from the
    neckline to HEM, then trousers of colour `below` (None: bare legs), shoes."""
    image = Image.new("RGB", SIZE, WHITE)
    draw = ImageDraw.Draw(image)

    def up(*points: float) -> tuple:
        return tuple(p - shift if i % 2 else p for i, p in enumerate(points))

    draw.ellipse(up(100, 12, 140, 58), fill=(40, 30, 25))  # hair behind the head
    draw.ellipse(up(102, 18, 138, 62), fill=SKIN)  # face
    draw.rectangle(up(112, 58, 128, 72), fill=SKIN)  # neck
    draw.rectangle(up(56, 80, 68, 175), fill=SKIN)  # arms beside the body
    draw.rectangle(up(172, 80, 184, 175), fill=SKIN)
    if below is None:
        draw.rectangle(up(96, HEM - 4, 110, 300), fill=SKIN)  # legs
        draw.rectangle(up(130, HEM - 4, 144, 300), fill=SKIN)
    else:
        draw.polygon(
            [up(84, HEM - 10), up(156, HEM - 10), up(154, 300), up(122, 300), up(120, 200), up(118, 300), up(86, 300)],
            fill=below,
        )
    draw.ellipse(up(88, 292, 114, 310), fill=(30, 30, 30))  # shoes
    draw.ellipse(up(126, 292, 152, 310), fill=(30, 30, 30))
    left, top, right, bottom = TOP
    draw.polygon(
        [
            up(left + 12, top),
            up(right - 12, top),
            up(right, top + 40),
            up(right - 8, top + 44),
            up(right - 6, bottom),
            up(left + 6, bottom),
            up(left + 8, top + 44),
            up(left, top + 40),
        ],
        fill=garment,
    )
    return image


@pytest.mark.parametrize(
    ("garment", "trousers"),
    [((170, 30, 40), (35, 45, 80)), ((60, 120, 70), (30, 30, 32)), ((40, 40, 42), (110, 110, 115))],
)
def test_a_worn_top_is_boxed_without_the_trousers_below_it(garment, trousers):
    """Red over navy, green over black, black over grey (and black shoes): the box ends at the top's hem."""
    box, scale = box_of(person(garment, trousers))
    assert (HEM - 4) * scale <= box.bottom <= (HEM + 4) * scale, "the top is whole, the trousers left out"
    assert box.width >= (TOP[2] - TOP[0] - 4) * scale


def test_a_dress_keeps_its_length():
    """One colour from the shoulders to the hem, bare legs below (skin): nothing to cut."""
    box, scale = box_of(person((30, 50, 110), None))
    assert box.bottom >= (HEM - BLUR_SPREAD) * scale, "the legs' skin is set aside, the dress kept"


def test_worn_trousers_under_a_top_cut_by_the_frame_are_kept():
    """The control: no head in the shot, the top cut at the chest by the frame; the trousers are the product."""
    shift = 110
    box, scale = box_of(person((170, 30, 40), (35, 45, 80), shift))
    assert box.top >= (HEM - 10 - shift) * scale, "the top above them is left out"
    assert box.bottom >= (290 - shift) * scale, "the trousers are whole"


def test_a_two_coloured_product_alone_is_not_cut():
    """No person (no skin): a colour-blocked garment on white keeps its box whole."""
    image = Image.new("RGB", SIZE, WHITE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 40, 180, 150), fill=(170, 30, 40))
    draw.rectangle((60, 150, 180, 280), fill=(35, 45, 80))
    box, scale = box_of(image)
    assert box.top <= 42 * scale and box.bottom >= 278 * scale


def test_the_change_must_be_clear_and_sustained():
    """Two colour groups, each a sizeable share: found where they meet; a print, a faint change, a band: not."""
    red, navy = np.array([45.0, 110.0, 190.0]), np.array([20.0, 150.0, 120.0])
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 2, (60, 3))
    assert colour_change(np.vstack([np.tile(red, (40, 1)), np.tile(navy, (20, 1))]) + noise) == 40
    stripes = np.vstack([np.tile(c, (5, 1)) for _ in range(6) for c in (red, navy)])
    assert colour_change(stripes + noise) is None, "a print changes colour again and again"
    faint = red + np.array([0.0, 6.0, -6.0])
    assert colour_change(np.vstack([np.tile(red, (40, 1)), np.tile(faint, (20, 1))]) + noise) is None
    assert colour_change(np.vstack([np.tile(red, (55, 1)), np.tile(navy, (5, 1))]) + noise) is None, "a band"
