"""Contact sheets: many 28×28 model arrays on one PNG, each with a caption, so a person can look at what the
network was shown (and what it got wrong) rather than only read accuracy figures."""
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


def contact_sheet(arrays: np.ndarray, captions: Sequence[str], columns: int = 12) -> Image.Image:
    """Arrays (N, 28, 28) uint8 tiled left to right, top to bottom, each captioned (two short lines at most)."""
    count = len(arrays)
    rows = max(1, -(-count // columns))
    side = arrays.shape[1] * SCALE if count else 28 * SCALE
    cell_w, cell_h = side + GAP, side + CAPTION_HEIGHT + GAP
    sheet = Image.new("L", (columns * cell_w + GAP, rows * cell_h + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, (array, caption) in enumerate(zip(arrays, captions, strict=True)):
        left, top = GAP + (index % columns) * cell_w, GAP + (index // columns) * cell_h
        tile = Image.fromarray(np.asarray(array, dtype=np.uint8), mode="L").resize((side, side), Image.NEAREST)
        sheet.paste(tile, (left, top))
        draw.multiline_text((left, top + side + 1), caption, fill=TEXT_COLOUR, spacing=0)
    return sheet


def save_contact_sheet(arrays: np.ndarray, captions: Sequence[str], path: Path, columns: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(arrays, captions, columns).save(path, format="PNG", optimize=True)
    return path
