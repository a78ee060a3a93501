"""A top worn over trousers: the garment's box cut where the top's colour gives way to what is worn below it.

On a catalogue shot a model wears the product with something else: a shirt over trousers, trousers under a top.
The skin step (core/skin.py) sets the face, arms and legs aside, but the trousers below a shirt are no skin: the
box then spans shirt and trousers, a tall figure the model calls Dress. What tells them apart is their colour:
down the person, the per-row colour of what stands out stays the top's, then changes, once and for good, to the
trousers'. So the box is cut at the strongest such change (the best split of the rows in two), only when it is
clear: on each side of it, a sizeable share of the box's rows is one colour, the two far apart, and each row
nearer its own side's colour (a print, folds and shading change a row's colour too, but not for good).

Which part is the product: the one the person wears on the torso, just below the chin (the upper part), unless
the frame cuts the upper part at its top (no head in the shot; a catalogue shot of trousers shows the top only
down from the chest): then the trousers below it are the product. A dress is one colour from the shoulders to
the hem, with legs (skin, already set aside) below: no change, no cut. Only studio shots with a person in them
(the skin step, core/skin.py, set skin aside) are cut; a product alone keeps its box, whatever its colours.
Measured on the catalogue stand-ins (training/catalogue_standins.py, docs/preprocessing.md).
"""

from __future__ import annotations

import numpy as np

from core.garment_box import Box
from core.skin import person_skin

# A row's colour is the median of its garment pixels: rows with fewer of them carry none.
MIN_ROW_PIXELS = 3
# The torso starts at the box's first row at least this share as wide (in garment pixels) as its widest row: hair
# and neck above the shoulders are narrower.
MIN_SHOULDER_WIDTH = 0.6
# Luma counts at this weight against the two chroma planes: shading and folds change a garment's brightness,
# much less its colour.
LUMA_WEIGHT = 0.5
# Each of the two colour groups spans at least this share of the box's rows (a belt, a print's band is no part).
MIN_PART_SHARE = 0.2
# The two sides' colours (medians) differ by at least this much (levels, luma weighted)...
MIN_COLOUR_STEP = 15.0
# ...and at least this share of each side's rows is nearer its own colour than the other's: the change is sustained.
MIN_SIDE_AGREEMENT = 0.85


def set_aside_worn_with(
    box: Box,
    contrast: np.ndarray,
    foreground: np.ndarray,
    skin: np.ndarray | None,
    min_contrast: float,
    luma: np.ndarray,
    chroma: np.ndarray | None,
) -> np.ndarray | None:
    """What to leave out of the garment's `box` (True pixels): the rows below a worn top's colour change, or
    above it when the frame cuts the top (the trousers are the product); None when no person wears the garment
    (no skin set aside) or no clear change is seen. `contrast`, `foreground`, `skin` and `min_contrast` are the
    box's own (core.garment_box.find_garment's)."""
    if chroma is None or skin is None:
        return None
    if person_skin(foreground, skin) is None:
        return None
    garment = foreground & ~skin & (contrast > min_contrast)  # the garments' own pixels, without the blur's halo
    rows, colours = row_colours(box, garment, luma, chroma)
    cut = colour_change(colours)
    if cut is None:
        return None
    cut_row = int(rows[cut])
    left_out = np.zeros(luma.shape, dtype=bool)
    if box.top == 0:
        left_out[:cut_row] = True  # the top cut by the frame: the trousers below are the product
    else:
        left_out[cut_row:] = True
    return left_out


def row_colours(box: Box, garment: np.ndarray, luma: np.ndarray, chroma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box's rows that show garment from the shoulders down, and each one's median colour (luma weighted, Cb,
    Cr). Hair the head step left in the box is another colour too, but narrower than the torso: not looked at."""
    inside = garment[box.top : box.bottom, box.left : box.right].copy()
    widths = inside.sum(axis=1)
    inside[: int(np.argmax(widths >= MIN_SHOULDER_WIDTH * widths.max()))] = False
    planes = np.dstack(
        [
            LUMA_WEIGHT * luma[box.top : box.bottom, box.left : box.right],
            chroma[box.top : box.bottom, box.left : box.right],
        ]
    ).astype(np.float64)
    shown = inside.sum(axis=1) >= MIN_ROW_PIXELS
    colours = np.nanmedian(np.where(inside[shown, :, None], planes[shown], np.nan), axis=1)
    return box.top + np.flatnonzero(shown), colours.reshape(-1, 3)


def colour_change(colours: np.ndarray) -> int | None:
    """The index of the first row below a clear, sustained change of colour, or None.

    The change is the best split of the rows into two runs; it counts when the rows next to it, a sizeable share
    of the box on each side, are two colours far apart, each row nearer its own side's colour. Only the rows
    next to the change are asked: below a top's trousers come shoes, which may be the top's colour again.
    """
    count = len(colours)
    least = max(2, int(np.ceil(MIN_PART_SHARE * count)))
    if count < 2 * least:
        return None
    cut = best_split(colours, least)
    above, below = colours[cut - least : cut], colours[cut : cut + least]
    above_colour, below_colour = np.median(above, axis=0), np.median(below, axis=0)
    if float(np.linalg.norm(above_colour - below_colour)) < MIN_COLOUR_STEP:
        return None
    if min(nearer_share(above, above_colour, below_colour), nearer_share(below, below_colour, above_colour)) < (
        MIN_SIDE_AGREEMENT
    ):
        return None
    return cut


def nearer_share(colours: np.ndarray, own: np.ndarray, other: np.ndarray) -> float:
    """The share of the rows whose colour is nearer their own side's than the other side's."""
    return float(np.mean(np.linalg.norm(colours - own, axis=1) < np.linalg.norm(colours - other, axis=1)))


def best_split(colours: np.ndarray, least: int) -> int:
    """The split into two runs of rows, each at least `least` long, with the least squared spread about their means."""
    cumulative = np.cumsum(np.vstack([np.zeros((1, 3)), colours]), axis=0)
    squares = np.cumsum(np.concatenate([[0.0], (colours**2).sum(axis=1)]))
    count = len(colours)
    splits = np.arange(least, count - least + 1)
    above = squares[splits] - (cumulative[splits] ** 2).sum(axis=1) / splits
    rest = count - splits
    below = (squares[-1] - squares[splits]) - ((cumulative[-1] - cumulative[splits]) ** 2).sum(axis=1) / rest
    return int(splits[np.argmin(above + below)])
