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
    if skin is None:
        return foreground
    worn = foreground & skin
    share = worn.sum() / max(1, int(foreground.sum()))
    if share < MIN_SHARE or share > MAX_SHARE:
        return foreground
    return foreground & ~grow(worn, blur_radius)


def grow(mask: np.ndarray, blur_radius: float) -> np.ndarray:
    """The mask widened by the distance the foreground's blur spreads a strong edge (about three times its radius)."""
    size = 2 * int(np.ceil(3 * blur_radius)) + 1
    image = Image.fromarray(mask.astype(np.uint8) * 255, mode="L").filter(ImageFilter.MaxFilter(size))
    return np.asarray(image) > 0
