"""A garment worn by a person: find the skin, so the crop keeps the garment and not the whole person.

Fashion-MNIST shows the garment alone. A catalogue shot of a model in a dress, or a phone photo of someone
in a T-shirt, shows a face, arms and legs too; without this the garment search boxes the whole person and
the model sees a small garment in a tall figure. Skin is told by its colour: in YCbCr, human skin of every
tone falls in a compact chroma range (Chai & Ngan 1999, "Face segmentation using skin-color map"), and
brightness matters little. The rule costs two comparisons per pixel at the working size.

Beige, tan or pink garments have skin's colour too, and so do wooden floors, orange sofas and beige tiles
that show between a garment's sleeves. Skin is therefore only looked for on a studio shot
(core.background.studio_background), where a person
is photographed (a plain, light, grey-white background), and only set aside when it is a minor share of the
foreground, as a person's face, arms and legs are beside what they wear; a garment that is mostly
skin-coloured is kept whole. On phone photos of clothes laid on a floor or bed, colour alone set aside
floor and garment alike (photo validation 82.3 % -> 73.2 %), so they are left as they are.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from core.components import label_components

# Chai & Ngan's skin range in Pillow's YCbCr (8-bit, chroma centred on 128).
SKIN_CB = (77.0, 127.0)
SKIN_CR = (133.0, 173.0)
# Very dark pixels carry no reliable colour (shadows, black garments, hair).
MIN_SKIN_LUMA = 40.0
# Skin-coloured pixels are left out of the garment search when they make between these shares of the
# foreground (face, arms, legs beside the garment); outside it the skin colour is the garment's own (a beige
# coat) or a few stray pixels. A MAX_SHARE of 0 turns it off. Measured in training/README.md.
MIN_SHARE = 0.03
MAX_SHARE = 0.5
# Skin-coloured lines narrower than this many working pixels are no person's face or arm but the soft edge where
# a red, orange or brown garment meets the white (a red duffel bag's outline): they are not set aside.
MIN_SKIN_WIDTH = 3
# The head: the topmost part of the skin, when it is a face over a neck (its width drops below this fraction of
# the face's widest row), at most this fraction of the foreground's width, with a garment below it at least
# this many times the face's height. Everything above the chin, the hair too, is then left out.
NECK_NARROWING = 0.6
MAX_FACE_WIDTH = 0.5
MIN_BODY_BELOW = 1.5


def skin_colour(luma: np.ndarray, chroma: np.ndarray | None) -> np.ndarray | None:
    """True where a pixel has human skin's colour; None for a grey image (no colour to tell)."""
    if chroma is None or not MAX_SHARE:
        return None
    cb, cr = chroma[..., 0], chroma[..., 1]
    return (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1]) & (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (luma >= MIN_SKIN_LUMA)


def set_aside_worn_skin(foreground: np.ndarray, skin: np.ndarray | None, blur_radius: float) -> np.ndarray:
    """The foreground without the person wearing the garment: skin pixels (and the halo the foreground's blur
    of `blur_radius` spreads around them) removed when skin is a minor share of the foreground; the foreground
    as it is otherwise."""
    worn = person_skin(foreground, skin)
    if worn is None:
        return foreground
    kept = foreground & ~grow(worn, blur_radius)
    chin = chin_row(worn, foreground)
    if chin is not None:
        kept[:chin] = False  # the head and the hair around it
    return kept


def person_skin(foreground: np.ndarray, skin: np.ndarray | None) -> np.ndarray | None:
    """The skin of a person beside the garment (a minor share of the foreground, no thin lines), to be set aside;
    None when there is none (a grey image, stray pixels, or a garment of skin's colour)."""
    if skin is None:
        return None
    worn = without_thin_lines(foreground & skin)
    share = worn.sum() / max(1, int(foreground.sum()))
    return worn if MIN_SHARE <= share <= MAX_SHARE else None


def without_thin_lines(mask: np.ndarray) -> np.ndarray:
    """The mask opened: lines narrower than MIN_SKIN_WIDTH (a coloured garment's soft edge) removed."""
    image = Image.fromarray(mask.astype(np.uint8) * 255, mode="L")
    opened = image.filter(ImageFilter.MinFilter(MIN_SKIN_WIDTH)).filter(ImageFilter.MaxFilter(MIN_SKIN_WIDTH))
    return mask & (np.asarray(opened) > 0)


def chin_row(worn: np.ndarray, foreground: np.ndarray) -> int | None:
    """The row under a face at the top of the person (where the neck narrows), or None when the topmost skin is
    no face over a garment (hands, a strap, a skin-coloured print)."""
    labels, sizes = label_components(worn)
    if len(sizes) <= 1:
        return None
    tops = [int(np.flatnonzero((labels == label).any(axis=1))[0]) for label in range(1, len(sizes))]
    head = labels == 1 + int(np.argmin(tops))
    rows = np.flatnonzero(head.any(axis=1))
    widths = head[rows[0] : rows[-1] + 1].sum(axis=1)
    widest = int(np.argmax(widths))
    narrow = np.flatnonzero(widths[widest:] < NECK_NARROWING * widths[widest])
    if not len(narrow):
        return None
    chin = rows[0] + widest + int(narrow[0])
    face_height = chin - rows[0]
    person_cols = np.flatnonzero(foreground.any(axis=0))
    body_rows = np.flatnonzero(foreground[chin:].any(axis=1))
    if widths[widest] > MAX_FACE_WIDTH * (person_cols[-1] - person_cols[0] + 1):
        return None
    if len(body_rows) < MIN_BODY_BELOW * face_height:
        return None
    return chin


def grow(mask: np.ndarray, blur_radius: float) -> np.ndarray:
    """The mask widened by the distance the foreground's blur spreads a strong edge (about three times its radius)."""
    size = 2 * int(np.ceil(3 * blur_radius)) + 1
    image = Image.fromarray(mask.astype(np.uint8) * 255, mode="L").filter(ImageFilter.MaxFilter(size))
    return np.asarray(image) > 0
