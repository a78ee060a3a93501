"""Drawn stand-ins for the catalogue shots the pre-processing gets wrong (issue 23, item 3), and how well the
garment's box and the served model do on them. They are stand-ins, not catalogue photos (none can be had):
drawn to look like what the issue describes, and checked by eye on their contact sheet.

Three kinds, each a studio shot on white saved as a camera JPEG, with the garment's true box known:

- worn: a person on white wearing a top (T-shirt or shirt, trousers of another colour below it) or a dress (legs
  and shoes below it), with a head (face in one of several skin tones, hair dark, brown or blond, short or long),
  neck and arms; garment colours include white-ish and yellow ones. The true box is the garment's.
- light: a white, cream, pale yellow or light grey garment alone on white, with faint folds and a soft shadow.
- bag: a long duffel bag with its handles, or a backpack face-on.

Plus one control, worn trousers (a top above them, cut at the chest by the frame): the trousers are the product
and must stay whole. The garment shapes are Fashion-MNIST training images' silhouettes (bags are drawn).

Usage: python -m training.catalogue_standins [--out artifacts/catalogue-standins]
  (writes the contact sheets of the drawings and of what the pre-processing makes of them, and prints the
  figures: the share of boxes with IoU >= 0.7 against the true box, the mean IoU, head and trousers left out, and
  the served model's top-1, per kind)
"""

from __future__ import annotations

import argparse
import functools
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from core.garment_box import Box
from core.images import ModelInputs, load_pixels, normalise_photo_with_box, open_image, to_planes
from core.labels import CLASS_NAMES
from core.photo_crop import garment_crop
from training.contact_sheet import save_contact_sheet
from training.dataset import add_data_dir_argument, load_split

logger = logging.getLogger("training.catalogue_standins")

SEED = 23
CANVAS = (480, 640)  # width, height: a portrait catalogue frame
JPEG_QUALITY = 88
GOOD_IOU = 0.7  # a box this close to the true one shows the garment and little else
# How many of each kind: worn tops, worn dresses, light garments alone, duffels, backpacks, worn trousers.
COUNTS = {"worn-top": 20, "worn-dress": 16, "light": 24, "duffel": 8, "backpack": 8, "worn-trousers": 8}
TOP, TROUSER, PULLOVER, DRESS, COAT, SHIRT, BAG = 0, 1, 2, 3, 4, 6, 8

SKIN_TONES = [(255, 224, 189), (241, 194, 155), (224, 172, 140), (198, 134, 96), (141, 85, 36), (92, 56, 36)]
HAIR = [(28, 24, 22), (60, 40, 28), (105, 70, 42), (196, 164, 110), (150, 60, 30)]
GARMENT_COLOURS = [
    (246, 246, 244),  # white
    (238, 228, 200),  # cream
    (245, 215, 70),  # yellow
    (30, 50, 110),  # navy
    (170, 30, 40),  # red
    (60, 120, 70),  # green
    (40, 40, 42),  # black
    (150, 170, 200),  # light blue
    (200, 120, 150),  # pink
]
TROUSER_COLOURS = [(35, 45, 80), (30, 30, 32), (110, 110, 115), (190, 170, 130), (60, 70, 50)]
LIGHT_COLOURS = [(250, 250, 248), (244, 238, 222), (250, 240, 175), (232, 232, 232), (246, 242, 236)]
BAG_COLOURS = [(30, 40, 70), (35, 35, 35), (150, 100, 60), (80, 90, 60), (120, 120, 125), (170, 40, 40)]
SHOE_COLOURS = [(25, 25, 25), (90, 60, 40), (230, 230, 230)]


@dataclass(frozen=True)
class StandIn:
    """One drawn shot: its JPEG bytes, kind, class, the garment's true box (canvas pixels) and, for a worn
    garment, the head's bottom row and the row where the trousers or legs start (None where not drawn)."""

    data: bytes
    kind: str
    label: int
    truth: Box
    head_bottom: int | None = None
    below_top: int | None = None


def silhouette(image28: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A Fashion-MNIST image's garment as a filled mask and its shading (0–1), resized to `size` (w, h)."""
    rows, cols = np.flatnonzero(image28.max(axis=1) > 20), np.flatnonzero(image28.max(axis=0) > 20)
    crop = image28[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32) / 255.0
    shade = np.asarray(Image.fromarray(crop, mode="F").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    mask = Image.fromarray(((shade > 0.12) * 255).astype(np.uint8), mode="L")
    padded = Image.new("L", (size[0] + 2, size[1] + 2), 0)
    padded.paste(mask, (1, 1))
    ImageDraw.floodfill(padded, (0, 0), 128)  # what the fill cannot reach from outside is a hole: garment
    filled = np.asarray(padded)[1:-1, 1:-1] != 128
    return filled, np.clip(shade, 0.0, 1.0)


def pick_images(images: np.ndarray, labels: np.ndarray, label: int, count: int, rng: np.random.Generator) -> list:
    """`count` training images of a class with a solid silhouette (a faint white garment has none)."""
    candidates = np.flatnonzero(labels == label)
    chosen = []
    for index in rng.permutation(candidates):
        image = images[index]
        if (image > 20).mean() > 0.3 and image[image > 20].mean() > 70:
            chosen.append(image)
        if len(chosen) == count:
            break
    return chosen


def studio(rng: np.random.Generator) -> np.ndarray:
    """A clean white studio background, a few levels of gradient, float RGB."""
    width, height = CANVAS
    level = rng.uniform(243, 253)
    rows = np.linspace(-0.5, 0.5, height)[:, None] * rng.uniform(-5, 5)
    cols = np.linspace(-0.5, 0.5, width)[None, :] * rng.uniform(-3, 3)
    plane = np.clip(level + rows + cols, 0, 255)
    return np.repeat(plane[..., None], 3, axis=2).astype(np.float32)


def paint(canvas: np.ndarray, mask: np.ndarray, colour: tuple, shade: np.ndarray | None = None, depth=0.2) -> None:
    """Colour the mask's pixels, darker where the garment's shading (folds) says so."""
    factor = 1.0 if shade is None else (1.0 - depth) + depth * shade
    painted = np.asarray(colour, dtype=np.float32)[None, None, :] * np.asarray(factor, dtype=np.float32)[..., None]
    canvas[mask] = np.broadcast_to(painted, canvas.shape)[mask] if shade is not None else painted[0, 0]


class FilledDraw:
    """An ImageDraw whose shapes are filled (the mask's pixels), not outlined."""

    def __init__(self, draw: ImageDraw.ImageDraw) -> None:
        self.draw = draw

    def __getattr__(self, name: str):
        return functools.partial(getattr(self.draw, name), fill=255)


def shape_mask(draw_calls) -> np.ndarray:
    """A bool mask of the canvas from PIL drawing calls (each a function of an ImageDraw)."""
    layer = Image.new("L", CANVAS, 0)
    draw = FilledDraw(ImageDraw.Draw(layer))
    for call in draw_calls:
        call(draw)
    return np.asarray(layer) > 0


def place(mask: np.ndarray, left: int, top: int) -> np.ndarray:
    """A small mask placed on the canvas at (left, top), clipped to the frame."""
    width, height = CANVAS
    out = np.zeros((height, width), dtype=bool)
    h, w = mask.shape
    r0, c0 = max(0, top), max(0, left)
    r1, c1 = min(height, top + h), min(width, left + w)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = mask[r0 - top : r1 - top, c0 - left : c1 - left]
    return out


def place_values(values: np.ndarray, left: int, top: int) -> np.ndarray:
    width, height = CANVAS
    out = np.zeros((height, width), dtype=np.float32)
    h, w = values.shape
    r0, c0 = max(0, top), max(0, left)
    r1, c1 = min(height, top + h), min(width, left + w)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = values[r0 - top : r1 - top, c0 - left : c1 - left]
    return out


def box_of(mask: np.ndarray) -> Box:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def to_jpeg(canvas: np.ndarray, rng: np.random.Generator) -> bytes:
    """Softened a little, with sensor noise, encoded as a camera would."""
    noisy = canvas + rng.normal(0, 1.5, canvas.shape)
    image = Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8), mode="RGB")
    image = image.filter(ImageFilter.GaussianBlur(0.7))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def soft_shadow(canvas: np.ndarray, mask: np.ndarray, offset: tuple[int, int], depth: float, radius: float) -> None:
    """A faint blurred shadow of the mask, shifted: the studio light's."""
    shifted = np.roll(np.roll(mask, offset[0], axis=0), offset[1], axis=1)
    layer = Image.fromarray((shifted * 255).astype(np.uint8), mode="L").filter(ImageFilter.GaussianBlur(radius))
    canvas -= (np.asarray(layer, dtype=np.float32) / 255.0 * depth)[..., None]


def worn(image28: np.ndarray, label: int, rng: np.random.Generator, product: str) -> StandIn:
    """A person on white wearing the garment (a top over trousers, or a dress over legs). `product`: 'top',
    'dress' or 'trousers' (the top then cut at the chest by the frame and the trousers' box the true one)."""
    width, height = CANVAS
    canvas = studio(rng)
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))]
    hair = HAIR[rng.integers(len(HAIR))]
    colour = GARMENT_COLOURS[rng.integers(len(GARMENT_COLOURS))]
    trousers_colour = TROUSER_COLOURS[rng.integers(len(TROUSER_COLOURS))]
    gw = int(rng.uniform(0.5, 0.7) * width) if product != "dress" else int(rng.uniform(0.4, 0.55) * width)
    if product == "trousers":
        gw = int(rng.uniform(0.55, 0.75) * width)
    aspect = (image28.max(axis=0) > 20).sum() and (image28.max(axis=1) > 20).sum() / (image28.max(axis=0) > 20).sum()
    gh = int(gw * aspect)
    cx = width // 2 + int(rng.uniform(-0.06, 0.06) * width)
    if product == "trousers":
        y0 = -int(gh * rng.uniform(0.3, 0.5))  # the frame cuts the top at the chest
    else:
        y0 = int(gw * rng.uniform(0.42, 0.55))  # room for the head above the neckline
    mask_small, shade_small = silhouette(image28, (gw, gh))
    left = cx - gw // 2
    garment = place(mask_small, left, y0)
    shade = place_values(shade_small, left, y0)
    body = gw * (0.62 if label != DRESS else 0.5)
    hem = y0 + gh
    # legs or trousers below the hem, then shoes
    legs_top = hem - int(0.12 * gh) if label != DRESS else hem - int(0.1 * gh)
    leg_len = int(rng.uniform(0.9, 1.4) * gh) if label != DRESS else int(rng.uniform(0.6, 0.9) * gh)
    if product == "trousers":
        leg_len = height - legs_top - int(rng.uniform(0.05, 0.1) * height)
    foot = legs_top + leg_len
    leg_w = body * (0.42 if label != DRESS else 0.22)
    if label == DRESS:
        legs = shape_mask(
            [
                lambda d, s=s: d.rectangle(
                    (cx + s * body * 0.22 - leg_w / 2, legs_top, cx + s * body * 0.22 + leg_w / 2, foot)
                )
                for s in (-1, 1)
            ]
        )
        paint(canvas, legs, skin)
    else:
        half = body * 0.5
        trousers = shape_mask(
            [
                lambda d: d.polygon(
                    [
                        (cx - half, legs_top),
                        (cx + half, legs_top),
                        (cx + half * 0.95, foot),
                        (cx + 0.06 * body, foot),
                        (cx, legs_top + 0.3 * leg_len),
                        (cx - 0.06 * body, foot),
                        (cx - half * 0.95, foot),
                    ]
                )
            ]
        )
        paint(canvas, trousers, trousers_colour)
    shoe_colour = SHOE_COLOURS[rng.integers(len(SHOE_COLOURS))]
    shoe_x = body * (0.22 if label == DRESS else 0.3)
    shoes = shape_mask(
        [
            lambda d, s=s: d.ellipse(
                (cx + s * shoe_x - leg_w * 0.7, foot - 10, cx + s * shoe_x + leg_w * 0.7, foot + 14)
            )
            for s in (-1, 1)
        ]
    )
    paint(canvas, shoes, shoe_colour)
    # neck, head and hair above the neckline
    head_w, head_h = 0.27 * gw, 0.34 * gw
    chin = y0 + 0.02 * gw
    long_hair = rng.random() < 0.5
    if long_hair:
        hair_back = shape_mask(
            [
                lambda d: d.rounded_rectangle(
                    (cx - head_w * 0.62, chin - head_h, cx + head_w * 0.62, chin + 0.12 * gw), 20
                )
            ]
        )
        paint(canvas, hair_back, hair)
    neck = shape_mask([lambda d: d.rectangle((cx - 0.07 * gw, chin - 0.1 * gw, cx + 0.07 * gw, y0 + 0.08 * gw))])
    paint(canvas, neck, skin)
    head = shape_mask([lambda d: d.ellipse((cx - head_w / 2, chin - head_h, cx + head_w / 2, chin))])
    paint(canvas, head, skin)
    hair_cap = shape_mask(
        [
            lambda d: d.chord(
                (cx - head_w * 0.55, chin - head_h * 1.08, cx + head_w * 0.55, chin - head_h * 0.25), 180, 360
            )
        ]
    )
    paint(canvas, hair_cap, hair)
    # arms: hanging beside the body, under short sleeves; hands at the cuffs of long ones
    arm_w = 0.1 * gw
    if label == SHIRT or label == PULLOVER:
        arms = shape_mask(
            [
                lambda d, s=s: d.ellipse(
                    (cx + s * gw * 0.4 - arm_w * 0.6, hem - 0.02 * gh, cx + s * gw * 0.4 + arm_w * 0.6, hem + 0.1 * gh)
                )
                for s in (-1, 1)
            ]
        )
    else:
        arms = shape_mask(
            [
                lambda d, s=s: d.rectangle(
                    (
                        cx + s * (body / 2 + arm_w * 0.55) - arm_w / 2,
                        y0 + 0.15 * gh,
                        cx + s * (body / 2 + arm_w * 0.55) + arm_w / 2,
                        hem + 0.05 * gh,
                    )
                )
                for s in (-1, 1)
            ]
        )
    paint(canvas, arms, skin)
    paint(canvas, garment, colour, shade, depth=0.25 if sum(colour) < 600 else 0.12)
    soft_shadow(canvas, garment, (4, 3), 10.0, 4.0)
    truth_mask = garment
    if product == "trousers":
        truth_mask = trousers if label != DRESS else legs
        truth_mask = truth_mask & ~garment
        label = TROUSER
    truth = box_of(truth_mask)
    return StandIn(
        to_jpeg(canvas, rng), f"worn-{product}", label, truth, int(chin), legs_top if product != "trousers" else None
    )


def light(image28: np.ndarray, label: int, rng: np.random.Generator) -> StandIn:
    """A white, cream, pale yellow or light grey garment alone on white: faint folds and a soft shadow."""
    width, height = CANVAS
    canvas = studio(rng)
    colour = LIGHT_COLOURS[rng.integers(len(LIGHT_COLOURS))]
    rows, cols = np.flatnonzero(image28.max(axis=1) > 20), np.flatnonzero(image28.max(axis=0) > 20)
    aspect = len(rows) / len(cols)
    gw = int(rng.uniform(0.55, 0.85) * width)
    gh = int(gw * aspect)
    if gh > 0.85 * height:
        gh = int(0.85 * height)
        gw = int(gh / aspect)
    left = (width - gw) // 2 + int(rng.uniform(-0.05, 0.05) * width)
    top = (height - gh) // 2 + int(rng.uniform(-0.05, 0.05) * height)
    mask_small, shade_small = silhouette(image28, (gw, gh))
    mask, shade = place(mask_small, left, top), place_values(shade_small, left, top)
    soft_shadow(canvas, mask, (int(rng.integers(3, 10)), int(rng.integers(-4, 6))), rng.uniform(6, 14), 6.0)
    paint(canvas, mask, colour, shade, depth=rng.uniform(0.03, 0.1))
    return StandIn(to_jpeg(canvas, rng), "light", label, box_of(mask))


def duffel(rng: np.random.Generator) -> StandIn:
    """A long duffel bag, its handles arching above, on white."""
    width, height = CANVAS
    canvas = studio(rng)
    colour = BAG_COLOURS[rng.integers(len(BAG_COLOURS))]
    bw = int(rng.uniform(0.7, 0.9) * width)
    bh = int(bw * rng.uniform(0.3, 0.42))
    left, top = (width - bw) // 2, int(height * rng.uniform(0.42, 0.5))
    body = shape_mask([lambda d: d.rounded_rectangle((left, top, left + bw, top + bh), int(bh * 0.45))])
    handle_h = int(bh * rng.uniform(0.4, 0.7))
    handles = shape_mask(
        [
            lambda d: d.arc(
                (left + 0.3 * bw, top - handle_h, left + 0.7 * bw, top + handle_h), 180, 360, width=max(4, bw // 40)
            )
        ]
    )
    paint(canvas, handles, tuple(int(c * 0.8) for c in colour))
    paint(canvas, body, colour)
    ends = shape_mask(
        [
            lambda d: d.ellipse((left + 4, top + 6, left + bh * 0.5, top + bh - 6)),
            lambda d: d.ellipse((left + bw - bh * 0.5, top + 6, left + bw - 4, top + bh - 6)),
        ]
    )
    paint(canvas, ends, tuple(int(c * 0.85) for c in colour))
    zip_line = shape_mask(
        [lambda d: d.line((left + bh * 0.4, top + bh * 0.12, left + bw - bh * 0.4, top + bh * 0.12), width=3)]
    )
    paint(canvas, zip_line, tuple(min(255, int(c * 0.6 + 60)) for c in colour))
    soft_shadow(canvas, body, (8, 2), 12.0, 6.0)
    return StandIn(to_jpeg(canvas, rng), "duffel", BAG, box_of(body | handles))


def backpack(rng: np.random.Generator) -> StandIn:
    """A backpack face-on on white: rounded top, front pocket, top loop and the straps' edges at its sides."""
    width, height = CANVAS
    canvas = studio(rng)
    colour = BAG_COLOURS[rng.integers(len(BAG_COLOURS))]
    bw = int(rng.uniform(0.5, 0.65) * width)
    bh = int(bw * rng.uniform(1.2, 1.45))
    left, top = (width - bw) // 2, (height - bh) // 2 + int(0.04 * height)
    loop_h = int(0.08 * bh)
    loop = shape_mask(
        [lambda d: d.arc((left + 0.4 * bw, top - loop_h, left + 0.6 * bw, top + loop_h), 180, 360, width=5)]
    )
    straps = shape_mask(
        [
            lambda d: d.rectangle((left - 0.06 * bw, top + 0.15 * bh, left + 0.05 * bw, top + 0.9 * bh)),
            lambda d: d.rectangle((left + 0.95 * bw, top + 0.15 * bh, left + 1.06 * bw, top + 0.9 * bh)),
        ]
    )
    dark = tuple(int(c * 0.7) for c in colour)
    paint(canvas, straps | loop, dark)
    body = shape_mask([lambda d: d.rounded_rectangle((left, top, left + bw, top + bh), int(bw * 0.3))])
    paint(canvas, body, colour)
    pocket = shape_mask(
        [lambda d: d.rounded_rectangle((left + 0.15 * bw, top + 0.5 * bh, left + 0.85 * bw, top + 0.92 * bh), 18)]
    )
    paint(canvas, pocket, tuple(int(c * 0.88) for c in colour))
    zips = shape_mask(
        [
            lambda d: d.line((left + 0.2 * bw, top + 0.56 * bh, left + 0.8 * bw, top + 0.56 * bh), width=3),
            lambda d: d.arc((left + 0.08 * bw, top + 0.06 * bh, left + 0.92 * bw, top + 0.7 * bh), 190, 350, width=3),
        ]
    )
    paint(canvas, zips, tuple(min(255, int(c * 0.6 + 70)) for c in colour))
    soft_shadow(canvas, body, (6, 4), 12.0, 6.0)
    return StandIn(to_jpeg(canvas, rng), "backpack", BAG, box_of(body | straps | loop))


def make_standins(data_dir: str | None = None) -> list[StandIn]:
    """Every stand-in, the same on every run (seeded)."""
    images, labels = load_split("train", data_dir)
    rng = np.random.default_rng(SEED)
    shots = []
    tops = pick_images(images, labels, TOP, COUNTS["worn-top"] // 2, rng) + pick_images(
        images, labels, SHIRT, COUNTS["worn-top"] // 2, rng
    )
    top_labels = [TOP] * (COUNTS["worn-top"] // 2) + [SHIRT] * (COUNTS["worn-top"] // 2)
    shots += [worn(image, label, rng, "top") for image, label in zip(tops, top_labels, strict=True)]
    shots += [
        worn(image, DRESS, rng, "dress") for image in pick_images(images, labels, DRESS, COUNTS["worn-dress"], rng)
    ]
    light_classes = [TOP, SHIRT, DRESS, PULLOVER]
    per_class = COUNTS["light"] // len(light_classes)
    for label in light_classes:
        shots += [light(image, label, rng) for image in pick_images(images, labels, label, per_class, rng)]
    shots += [duffel(rng) for _ in range(COUNTS["duffel"])]
    shots += [backpack(rng) for _ in range(COUNTS["backpack"])]
    shots += [
        worn(image, TOP, rng, "trousers") for image in pick_images(images, labels, TOP, COUNTS["worn-trousers"], rng)
    ]
    return shots


# --- What the pre-processing makes of them ---


@dataclass(frozen=True)
class Found:
    """The pre-processing's box (working-image pixels, before the tilt), the true box at that scale, the inputs."""

    box: Box
    truth: Box
    scale: float
    inputs: ModelInputs


def preprocess(shot: StandIn) -> Found:
    """The served pre-processing's stages on the shot, keeping the garment's box (image_to_model_inputs's)."""
    luma, chroma = to_planes(load_pixels(open_image(shot.data, draft_side=128)))
    array, box = normalise_photo_with_box(luma, chroma)
    scale = luma.shape[0] / CANVAS[1]
    truth = Box(*(round(v * scale) for v in (shot.truth.top, shot.truth.left, shot.truth.bottom, shot.truth.right)))
    return Found(box, truth, scale, ModelInputs(array, garment_crop(luma, chroma, box)))


def iou(a: Box, b: Box) -> float:
    height = max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
    width = max(0, min(a.right, b.right) - max(a.left, b.left))
    inter = height * width
    return inter / (a.height * a.width + b.height * b.width - inter)


def head_left_out(shot: StandIn, found: Found) -> bool | None:
    """The box starts at the garment's top (2 working pixels of slack), for a worn garment with its head shown."""
    if shot.head_bottom is None or shot.kind == "worn-trousers":
        return None
    return found.box.top >= found.truth.top - 2


def below_left_out(shot: StandIn, found: Found) -> bool | None:
    """The box ends above the middle of what is below the garment (trousers or legs)."""
    if shot.below_top is None:
        return None
    return found.box.bottom <= found.truth.bottom + 0.1 * found.truth.height + 2


def figures(shots: list[StandIn], found: list[Found], right: np.ndarray) -> dict[str, dict[str, float]]:
    """Per kind: count, share with IoU >= GOOD_IOU, mean IoU, head and below left out, top-1."""
    table = {}
    kinds = [*sorted({shot.kind for shot in shots}), "all"]
    for kind in kinds:
        chosen = [i for i, shot in enumerate(shots) if kind in ("all", shot.kind)]
        ious = np.array([iou(found[i].box, found[i].truth) for i in chosen])
        heads = [head_left_out(shots[i], found[i]) for i in chosen]
        belows = [below_left_out(shots[i], found[i]) for i in chosen]
        heads = [h for h in heads if h is not None]
        belows = [b for b in belows if b is not None]
        table[kind] = {
            "shots": len(chosen),
            "iou_good": float(np.mean(ious >= GOOD_IOU)),
            "mean_iou": float(ious.mean()),
            "head_left_out": float(np.mean(heads)) if heads else float("nan"),
            "below_left_out": float(np.mean(belows)) if belows else float("nan"),
            "top1": float(right[chosen].mean()),
        }
    return table


def thumbnail(shot: StandIn, found: Found | None, side: int = 96) -> np.ndarray:
    """The shot at a small size, the true box in green and (when given) the found box in red."""
    image = Image.open(io.BytesIO(shot.data)).convert("RGB")
    scale = side / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        tuple(round(v * scale) for v in (shot.truth.left, shot.truth.top, shot.truth.right - 1, shot.truth.bottom - 1)),
        outline=(0, 200, 0),
    )
    if found is not None:
        k = scale / found.scale
        b = found.box
        draw.rectangle(tuple(round(v * k) for v in (b.left, b.top, b.right - 1, b.bottom - 1)), outline=(230, 0, 0))
    tile = Image.new("RGB", (side, side), (255, 255, 255))
    tile.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return np.asarray(tile)


def inputs_tile(found: Found, side: int = 96) -> np.ndarray:
    """The shot's box (thumbnail), its 64×64 crop and its 28×28 array, side by side."""
    crop = Image.fromarray(found.inputs.photo, mode="RGB").resize((side, side), Image.Resampling.BILINEAR)
    array = Image.fromarray(found.inputs.array, mode="L").resize((side, side), Image.Resampling.NEAREST)
    return np.concatenate([np.asarray(crop), np.asarray(array.convert("RGB"))], axis=1)


def main(argv: list[str] | None = None) -> None:
    from core.model import ModelWrapper

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    parser.add_argument("--out", type=Path, default=Path("artifacts/catalogue-standins"))
    args = parser.parse_args(argv)
    shots = make_standins(args.data_dir)
    found = [preprocess(shot) for shot in shots]
    probabilities = ModelWrapper().infer_inputs([f.inputs for f in found]).probabilities
    answers = probabilities.argmax(axis=1)
    right = answers == np.array([shot.label for shot in shots])
    captions = [
        f"{shot.kind} IoU {iou(f.box, f.truth):.2f}\n{CLASS_NAMES[a][:9]} {'ok' if r else 'WRONG'}"
        for shot, f, a, r in zip(shots, found, answers, right, strict=True)
    ]
    save_contact_sheet(
        np.stack([thumbnail(shot, f) for shot, f in zip(shots, found, strict=True)]),
        captions,
        args.out / "standins.png",
        columns=11,
        scale=2,
    )
    save_contact_sheet(
        np.stack(
            [np.concatenate([thumbnail(shot, f), inputs_tile(f)], axis=1) for shot, f in zip(shots, found, strict=True)]
        ),
        captions,
        args.out / "standins-inputs.png",
        columns=6,
        scale=1,
    )
    for kind, row in figures(shots, found, right).items():
        logger.info(
            "%-14s %2d shots: IoU>=%.1f %5.1f %%, mean IoU %.2f, head out %5.1f %%, below out %5.1f %%, top-1 %5.1f %%",
            kind,
            row["shots"],
            GOOD_IOU,
            100 * row["iou_good"],
            row["mean_iou"],
            100 * row["head_left_out"],
            100 * row["below_left_out"],
            100 * row["top1"],
        )


if __name__ == "__main__":
    main()
