"""Contact sheets: many model inputs on one PNG, each with a caption, so a person can look at what the networks
were shown (and what they got wrong) rather than only read accuracy figures. Tiles are 28×28 grey arrays, or
any (H, W, 3) colour pictures (a photo's crop beside its array)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SCALE = 3  # each 28×28 array drawn at 84×84 pixels
CAPTION_HEIGHT = 22
GAP = 4
BACKGROUND = 48
TEXT_COLOUR = 255


def contact_sheet(arrays: np.ndarray, captions: Sequence[str], columns: int = 12, scale: int = SCALE) -> Image.Image:
    """Tiles (N, H, W) grey or (N, H, W, 3) colour uint8, drawn `scale` times their size, left to right, top to
    bottom, each captioned (two short lines at most)."""
    count = len(arrays)
    rows = max(1, -(-count // columns))
    height, width = (arrays.shape[1] * scale, arrays.shape[2] * scale) if count else (28 * scale, 28 * scale)
    colour = count and arrays.ndim == 4
    cell_w, cell_h = width + GAP, height + CAPTION_HEIGHT + GAP
    sheet = Image.new(
        "RGB" if colour else "L",
        (columns * cell_w + GAP, rows * cell_h + GAP),
        (BACKGROUND,) * 3 if colour else BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    for index, (array, caption) in enumerate(zip(arrays, captions, strict=True)):
        left, top = GAP + (index % columns) * cell_w, GAP + (index // columns) * cell_h
        tile = Image.fromarray(np.asarray(array, dtype=np.uint8), mode="RGB" if colour else "L")
        sheet.paste(tile.resize((width, height), Image.NEAREST), (left, top))
        draw.multiline_text(
            (left, top + height + 1), caption, fill=(TEXT_COLOUR,) * 3 if colour else TEXT_COLOUR, spacing=0
        )
    return sheet


def save_contact_sheet(
    arrays: np.ndarray, captions: Sequence[str], path: Path, columns: int = 12, scale: int = SCALE
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(arrays, captions, columns, scale).save(path, format="PNG", optimize=True)
    return path
