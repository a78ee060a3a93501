"""Drawn backpacks, seen face-on as a catalogue shows them, for the training stage that keeps Bag alive on photos.

Fashion-MNIST's bags are nearly all handbags and totes with their handles arching above them; the photos have no
bag at all. Both networks therefore call a backpack seen face-on (a tall, rounded body, no handle arc) a
Pullover or a T-shirt/top, the catalogue shots of issue 23 among them. No backpack photos can be had, so these
are drawn: daypacks and rucksacks with a flap and buckle straps, in many colours and two-tone
panels, with or without shoulder straps, grab loop and pockets, slightly turned, mostly on a studio white, some
on a light grey or cream backdrop. Each is saved as a camera JPEG and put through the served pre-processing
(`core.images.image_to_model_inputs`), so the networks learn from exactly what the server would show them.

This code is separate from `training/catalogue_standins.py` (whose drawn backpacks judge the result) on purpose:
other shapes, proportions, colours and seeds, so the stand-ins are not the training drawings again.

Usage: python -m training.drawn_backpacks [--count N] [--out sheet.png]  (a contact sheet of what is drawn and
what the networks are shown)
"""

from __future__ import annotations

import argparse
import colorsys
import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from core.images import image_to_model_inputs
from training.mixing import BAG, one_hot_masks
from training.photos import PhotoSet

logger = logging.getLogger("training.drawn_backpacks")

SEED = 8_108  # not the stand-ins' seed
COUNT = 240
FOLDER = "drawn-backpack"
STYLES = ("daypack", "rucksack")
STYLE_SHARES = (0.6, 0.4)
Rect = tuple[float, float, float, float]  # left, top, right, bottom in canvas pixels (PIL's order)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """Any hue; dark, mid or light; mostly muted, as bags are (black and navy are common)."""
    if rng.random() < 0.3:
        level = rng.uniform(20, 70)
        return np.array([level, level, level + rng.uniform(0, 25)], dtype=np.float32)
    hue, saturation, value = rng.random(), rng.uniform(0.1, 0.8), rng.uniform(0.25, 0.9)
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value), dtype=np.float32) * 255


def backdrop(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Studio white most of the time, else a light grey or cream backdrop; a faint gradient either way."""
    width, height = size
    if rng.random() < 0.75:
        base = np.full(3, rng.uniform(238, 254), dtype=np.float32)
    else:
        base = np.array([rng.uniform(205, 235)] * 3, dtype=np.float32) + np.array([rng.uniform(0, 14), 4, -6])
    ramp = np.linspace(-1, 1, height, dtype=np.float32)[:, None, None] * rng.uniform(-6, 6)
    return np.clip(base[None, None, :] + ramp + np.zeros((height, width, 3), np.float32), 0, 255)


def layer(size: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", size, 0)
    return image, ImageDraw.Draw(image)


def body_outline(draw: ImageDraw.ImageDraw, box: Rect, rng: np.random.Generator) -> None:
    """The bag's body: a slab whose top is rounded, a little or a lot."""
    left, top, right, bottom = box
    width = right - left
    radius = width * rng.uniform(0.18, 0.5)
    draw.rounded_rectangle(box, radius=radius, fill=255)
    bottom_radius = width * rng.uniform(0.05, 0.15)
    draw.rectangle((left, top + radius, right, bottom - bottom_radius), fill=255)


def details(size: tuple[int, int], box: Rect, style: str, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
    """(mask, brightness factor) of the parts drawn over the body: flap and buckle straps, pocket, zips, panel."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    parts = []
    if style == "rucksack":
        image, draw = layer(size)
        flap_bottom = top + height * rng.uniform(0.3, 0.5)
        draw.rounded_rectangle(
            (left + width * 0.04, top, right - width * 0.04, flap_bottom), radius=width * 0.3, fill=255
        )
        parts.append((np.asarray(image) > 0, rng.uniform(0.7, 0.9)))
        image, draw = layer(size)
        for x in (0.3, 0.7):
            centre = left + width * x
            strap = width * 0.045
            draw.rectangle((centre - strap, flap_bottom - height * 0.12, centre + strap, top + height * 0.72), fill=255)
        parts.append((np.asarray(image) > 0, rng.uniform(0.5, 0.75)))
    if rng.random() < 0.8:  # a front pocket
        image, draw = layer(size)
        pocket_top = top + height * rng.uniform(0.5, 0.65)
        inset = width * rng.uniform(0.1, 0.22)
        draw.rounded_rectangle(
            (left + inset, pocket_top, right - inset, bottom - height * rng.uniform(0.05, 0.12)),
            radius=width * rng.uniform(0.03, 0.15),
            fill=255,
        )
        parts.append((np.asarray(image) > 0, rng.uniform(0.8, 0.95)))
        if style == "daypack":
            image, draw = layer(size)
            draw.line((left + inset * 1.2, pocket_top + 5, right - inset * 1.2, pocket_top + 5), fill=255, width=3)
            parts.append((np.asarray(image) > 0, rng.uniform(0.45, 1.5)))
    if style == "daypack":
        image, draw = layer(size)
        draw.arc(
            (left + width * 0.06, top + height * 0.03, right - width * 0.06, top + height * rng.uniform(0.5, 0.8)),
            185,
            355,
            fill=255,
            width=3,
        )
        parts.append((np.asarray(image) > 0, rng.uniform(0.45, 1.5)))
    if rng.random() < 0.3:  # a two-tone bottom panel
        image, draw = layer(size)
        draw.rectangle((left, bottom - height * rng.uniform(0.12, 0.3), right, bottom), fill=255)
        parts.append((np.asarray(image) > 0, rng.uniform(0.35, 1.4)))
    return parts


def straps_and_loop(size: tuple[int, int], box: Rect, rng: np.random.Generator) -> np.ndarray:
    """What shows around the body: shoulder straps at its sides, a grab loop on top."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    image, draw = layer(size)
    if rng.random() < 0.65:
        out, strap = width * rng.uniform(0.03, 0.1), width * rng.uniform(0.06, 0.11)
        for side in (-1, 1):
            edge = left if side < 0 else right
            x0 = edge + side * out
            draw.polygon(
                [
                    (edge - side * strap, top + height * 0.12),
                    (edge, top + height * 0.12),
                    (x0, top + height * 0.55),
                    (edge, top + height * rng.uniform(0.8, 0.95)),
                    (edge - side * strap, top + height * 0.9),
                ],
                fill=255,
            )
    if rng.random() < 0.7:
        loop = height * rng.uniform(0.05, 0.1)
        centre, half = (left + right) / 2, width * rng.uniform(0.08, 0.14)
        draw.arc((centre - half, top - loop, centre + half, top + loop), 180, 360, fill=255, width=5)
    return np.asarray(image) > 0


def paint(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    canvas[mask] = np.clip(colour, 0, 255)


def draw_backpack(rng: np.random.Generator) -> bytes:
    """One backpack shot as JPEG bytes."""
    size = (int(rng.integers(360, 640)), int(rng.integers(420, 720)))  # width, height
    canvas = backdrop(size, rng)
    style = STYLES[rng.choice(len(STYLES), p=STYLE_SHARES)]
    height = size[1] * rng.uniform(0.45, 0.8)
    width = min(height / rng.uniform(1.05, 1.6), size[0] * 0.8)
    cx = size[0] / 2 + rng.uniform(-0.08, 0.08) * size[0]
    cy = size[1] / 2 + rng.uniform(-0.06, 0.06) * size[1]
    box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    colour = random_colour(rng)
    body_image, body_draw = layer(size)
    body_outline(body_draw, box, rng)
    body = np.asarray(body_image) > 0
    around = straps_and_loop(size, box, rng) & ~body
    shadow = Image.fromarray((body * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(8))
    canvas -= (np.asarray(shadow, np.float32) / 255 * rng.uniform(5, 15))[..., None]
    paint(canvas, around, colour * rng.uniform(0.55, 0.85))
    shade = 1.0 + np.linspace(0.08, -0.12, size[1], dtype=np.float32)[:, None, None]
    canvas[body] = np.clip((colour[None, None, :] * shade).repeat(size[0], axis=1)[body], 0, 255)
    for mask, factor in details(size, box, style, rng):
        paint(canvas, mask & body, colour * factor)
    canvas += rng.normal(0, rng.uniform(1, 4), canvas.shape)  # fabric grain and sensor noise
    image = Image.fromarray(np.clip(np.round(canvas), 0, 255).astype(np.uint8), "RGB")
    image = image.rotate(rng.uniform(-8, 8), resample=Image.BICUBIC, fillcolor=tuple(int(v) for v in canvas[2, 2]))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(80, 95)))
    return buffer.getvalue()


def drawn_backpacks(count: int = COUNT, seed: int = SEED) -> PhotoSet:
    """`count` drawn backpacks as the networks see them (the 28×28 array and the colour crop), each allowed Bag
    only; the same on every run."""
    rng = np.random.default_rng(seed)
    inputs = [image_to_model_inputs(draw_backpack(rng)) for _ in range(count)]
    return PhotoSet(
        images=np.stack([found.array for found in inputs]),
        allowed=one_hot_masks(np.full(count, BAG)) > 0,
        folders=np.full(count, FOLDER),
        files=np.array([f"{FOLDER}/{index:04d}" for index in range(count)]),
        crops=np.stack([found.photo for found in inputs]),
    )


def main(argv: list[str] | None = None) -> None:
    from training.contact_sheet import save_contact_sheet
    from training.photo_validation import failure_tile

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--out", type=Path, default=Path("artifacts/drawn-backpacks.png"))
    args = parser.parse_args(argv)
    bags = drawn_backpacks(args.count)
    tiles = np.stack([failure_tile(bags, index) for index in range(len(bags))])  # the crop beside the array
    save_contact_sheet(tiles, list(bags.files), args.out, columns=8, scale=1)
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
