"""Turn an uploaded image file into what the networks see: the 28×28 grayscale array the model was trained on
and, for a photo, a 64×64 colour crop of its garment.

Fashion-MNIST images are a light garment on a black background, made from product photos by trimming the
background, resizing the longest edge to 28 pixels, centring, negating and making them grayscale (Xiao et al.
2017, section 2). image_to_model_inputs puts an upload through the same steps, in this order, each in the module
that does it:

1. decode any format and mode Pillow reads (within core/admission.py's memory budget) and orient it by EXIF:
   here;
2. flatten transparency onto white: here;
3. split into grayscale (luma) and colour (chroma) planes at the working size: here;
4. model the background from the border and map each pixel's contrast against it, in brightness or colour,
   which becomes its brightness: core/background.py;
5. on a studio shot of a garment worn by a person, set the skin aside: core/skin.py;
6. box the garment, the largest connected parts of what stands out: core/garment_box.py (the parts found by
   core/components.py); on a studio shot of a person, cut a worn top's box where its colour gives way to the
   trousers' below it (or keep the trousers under a top the frame cuts): core/worn_top.py; elsewhere, a box
   that misses the frame's centre can give way to the whole frame (off: core/garment_box.py says why);
7. for the photo network, crop that box (before the tilt step) in colour at 64×64: core/photo_crop.py;
8. undo a small tilt, and box the garment again: core/tilt.py;
9. fit the box's longest edge to 28 pixels, centre it on black, and stretch the garment's bright end to 255:
   here.

An image that is already 28×28 skips stages 4–9: it is only inverted when its background is light, so every
Fashion-MNIST image passes through unchanged. image_to_model_array gives the 28×28 array alone. The entry points
come first below, then the stages' helpers in the order above.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

from core import garment_box
from core.admission import DecodeBudget, decoding_bytes
from core.background import contrast_map, has_light_border, studio_background
from core.garment_box import Box, find_garment, foreground_mask
from core.photo_crop import garment_crop
from core.skin import skin_colour
from core.tilt import estimate_tilt, rotate
from core.worn_top import set_aside_worn_with

logger = logging.getLogger(__name__)

# Pillow raises DecompressionBombError at twice this many pixels and only warns below that;
# refuse_oversized() refuses everything above it, so the warning adds nothing.
Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS = 40_000_000  # the MAX_IMAGE_PIXELS setting's default
warnings.simplefilter("ignore", Image.DecompressionBombWarning)
# Pillow allocates a large image in blocks of this size (what its PILLOW_BLOCK_SIZE variable sets). glibc
# maps allocations over 32 MiB with mmap and hands them back when freed; smaller ones stay in the malloc
# arena of the thread that freed them. With Pillow's 16 MiB default, each request thread that once decoded
# a 40-megapixel image kept hundreds of MB of worker memory.
PILLOW_BLOCK_SIZE = 64 * 1024 * 1024
Image.core.set_block_size(PILLOW_BLOCK_SIZE)

MODEL_SIDE = 28
# Photos are shrunk to this longest side before the garment is looked for: the mask needs no more detail, and
# a 12-megapixel upload then costs little more than its decoding. 128 scored as 256 did on the photo validation
# split at a quarter of the pixels (docs/preprocessing.md).
WORK_SIDE = 128
# Colour counts as contrast (a blue shirt on a grey floor of the same brightness); False: brightness only.
USE_COLOUR = True
WHITE = 255
# shrink() keeps at least this many times its target side before its final Lanczos step (Pillow's reducing_gap).
REDUCING_GAP = 3
GREY_MODES = ("1", "L")  # what is left without colour once 16-bit, float and transparent images are handled
# The garment's "bright end" (→ 255): this percentile of its lit pixels, so a few highlights cannot dim it.
BRIGHT_END_PERCENTILE = 99.0
# Modes Image.reduce() cannot average (1-bit, palette indices, 16-bit) and the mode each is averaged in instead.
REDUCIBLE_MODE = {"1": "L", "P": "RGBA", "PA": "RGBA", "I;16": "I", "I;16B": "I", "I;16L": "I", "I;16N": "I"}

# The IMAGE_MEMORY_BYTES budget of this process (core/admission.py): off until set_image_memory() is called.
DECODE_BUDGET = DecodeBudget()


# --- The entry points ---


class InvalidImageError(ValueError):
    """The upload is not an image we can read: the API answers 400 with this message."""


class ModelInputs(NamedTuple):
    """What the networks are shown for one upload: the 28×28 array, and for a photo its colour garment crop
    (core/photo_crop.py; None for a Fashion-MNIST-sized image, which only the 28×28 network sees)."""

    array: np.ndarray
    photo: np.ndarray | None


def image_to_model_inputs(data: bytes, photo_crop: bool = True) -> ModelInputs:
    """Encoded image file → the 28×28 array and, for a photo, the colour crop of its garment (not made when
    `photo_crop` is False: the photo network is off).

    The whole pre-processing, in the stages the module docstring numbers, each in the module that owns it. The
    full-size pixels exist only inside the budget's block (core/admission.py): what follows works on the small
    planes.
    """
    image = open_image(data, draft_side=WORK_SIDE)  # 1. header (JPEGs drafted to reduced scale)
    with DECODE_BUDGET.reserve(decoding_bytes(image)):
        luma, chroma = to_planes(load_pixels(image))  # 1.–3. decoded, oriented, on white, planes at working size
        del image  # the full-size pixels go before the budget is given back
    if luma.shape == (MODEL_SIDE, MODEL_SIDE):
        return ModelInputs(pass_through_fashion_mnist(luma), None)  # Fashion-MNIST pass-through
    array, box = normalise_photo_with_box(luma, chroma)  # 4.–6., 8., 9.; the box from before the tilt
    return ModelInputs(array, garment_crop(luma, chroma, box) if photo_crop else None)  # 7. the photo network's


def image_to_model_array(data: bytes) -> np.ndarray:
    """Encoded image file → (28, 28) uint8 array, light garment on a dark background: what the 28×28 network
    sees (image_to_model_inputs without the photo crop)."""
    return image_to_model_inputs(data).array


def set_pixel_limit(pixels: int) -> None:
    """The MAX_IMAGE_PIXELS setting: Pillow's own limit is process-wide, and so is ours."""
    Image.MAX_IMAGE_PIXELS = pixels


def set_image_memory(capacity: int, wait_s: float) -> None:
    """The IMAGE_MEMORY_BYTES and IMAGE_MEMORY_WAIT settings, process-wide like the pixel limit."""
    DECODE_BUDGET.configure(capacity, wait_s)


# --- Stages 1–3: decode and orient, flatten onto white, luma and chroma planes ---


def open_image(data: bytes, draft_side: int | None = None) -> Image.Image:
    """The image's header only, checked against the pixel limit and drafted (decode_image): no pixel decoded
    yet, so what decoding will cost is known first (core.admission.decoding_bytes)."""
    if not data:
        raise InvalidImageError("The uploaded file is empty.")
    try:
        image = Image.open(io.BytesIO(data))
        refuse_oversized(image)
        if draft_side and image.format == "JPEG":
            image.draft(image.mode, (draft_side, draft_side))  # keeps the colour
    except InvalidImageError:
        raise
    except Exception as error:
        raise unreadable(error) from error
    return image


def load_pixels(image: Image.Image) -> Image.Image:
    """The opened image, decoded."""
    try:
        image.load()
    except Exception as error:
        raise unreadable(error) from error
    return image


def decode_image(data: bytes, draft_side: int | None = None) -> Image.Image:
    """Decode every format Pillow reads (first frame of an animation), refusing decompression bombs.

    Pillow raises many unrelated exception types for malformed files (OSError, SyntaxError,
    struct.error, EOFError, ...), so any failure while decoding becomes one InvalidImageError.
    With draft_side, a JPEG is decoded at the smallest 1/2, 1/4 or 1/8 scale that keeps both sides at
    least that long: a 12-megapixel phone photo then decodes in a fraction of the time.
    """
    return load_pixels(open_image(data, draft_side))


def unreadable(error: Exception) -> InvalidImageError:
    if isinstance(error, Image.DecompressionBombError):
        return InvalidImageError(too_large_message())
    return InvalidImageError(
        "The uploaded file is not a readable image; send a JPEG, PNG, GIF, BMP, WebP, TIFF or ICO file."
    )


def refuse_oversized(image: Image.Image) -> None:
    """Checked from the header, before any pixel is decoded, so a bomb costs nothing."""
    limit = Image.MAX_IMAGE_PIXELS  # set by set_pixel_limit; None would mean no limit
    if limit is not None and image.width * image.height > limit:
        raise InvalidImageError(too_large_message())


def too_large_message() -> str:
    return f"The image has too many pixels to process (limit {Image.MAX_IMAGE_PIXELS})."


def to_planes(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Oriented by EXIF, transparency flattened onto white, shrunk to the working size: the luma as uint8
    and, for a colour image, its two chroma planes (Cb, Cr) as float32, or None for a grey one.

    The chroma is what separates a blue shirt from a grey floor of the same brightness; the luma alone is
    what Fashion-MNIST shows (its product shots were made grayscale).
    """
    ImageOps.exif_transpose(image, in_place=True)  # not a copy: without in_place, an upright image is copied
    image = reduce_early(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return shrink(_stretch_to_uint8(np.asarray(image, dtype=np.float64)), WORK_SIDE), None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (WHITE, WHITE, WHITE, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode in GREY_MODES or not USE_COLOUR:
        return shrink(np.asarray(image.convert("L"), dtype=np.uint8), WORK_SIDE), None
    image = shrink_in_place(image.convert("RGB"), WORK_SIDE)
    luma = np.asarray(image.convert("L"), dtype=np.uint8)
    chroma = np.asarray(image.convert("YCbCr"), dtype=np.float32)[..., 1:]
    return luma, chroma


def reduce_early(image: Image.Image) -> Image.Image:
    """A large image box-averaged down (by a whole factor) before any conversion copies it.

    shrink() would make the same reduction later, but only after the mode conversions below: each of those
    copies the full decoded image, so a small upload of a highly compressible 40-megapixel RGBA PNG used to
    cost over 600 MB of worker memory. JPEGs are already decoded at reduced scale (draft), and images under
    2 × REDUCING_GAP × WORK_SIDE pixels on their longest side are left as they are.
    """
    factor = max(image.size) // (REDUCING_GAP * WORK_SIDE)
    if factor < 2:
        return image
    if image.mode in REDUCIBLE_MODE:
        wanted = REDUCIBLE_MODE[image.mode]
        if image.mode == "P" and "transparency" not in image.info:
            wanted = "RGB"
        image = image.convert(wanted)
    return image.reduce(factor)


def _stretch_to_uint8(values: np.ndarray) -> np.ndarray:
    """16-bit and float images carry their own value range: map it linearly onto 0–255."""
    finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.zeros(finite.shape, dtype=np.uint8)
    return np.round((finite - low) * (255.0 / (high - low))).astype(np.uint8)


def shrink(gray: np.ndarray, side: int) -> np.ndarray:
    """At most `side` pixels on the longest edge, anti-aliased: the garment search needs no more."""
    if max(gray.shape) <= side:
        return gray
    return np.asarray(shrink_in_place(Image.fromarray(gray, mode="L"), side), dtype=np.uint8)


def shrink_in_place(image: Image.Image, side: int) -> Image.Image:
    """The image itself, made at most `side` pixels on the longest edge (Lanczos, anti-aliased); callers pass
    an image of their own (a conversion's result), so no copy is needed."""
    image.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=float(REDUCING_GAP))
    return image


# --- A 28×28 upload, already in Fashion-MNIST's format ---


def pass_through_fashion_mnist(gray: np.ndarray) -> np.ndarray:
    """A 28×28 image is already in the model's format: only inverted when its background is light."""
    return WHITE - gray if has_light_border(gray) else gray


# --- Stages 4–9 of a photo: the stage modules in turn, then crop, fit and stretch here ---


def normalise_photo_with_box(luma: np.ndarray, chroma: np.ndarray | None = None) -> tuple[np.ndarray, Box]:
    """normalise_photo, and the garment's box in the working image before the tilt step (the colour crop's)."""
    contrast = contrast_map(luma, chroma)  # 4. each pixel's contrast against the background
    studio = studio_background(luma, chroma)
    skin = skin_colour(luma, chroma) if studio else None  # 5. a person wearing the garment, left out of its box
    # 6. the garment's box (7. the photo crop's); on a clean studio white, a light garment's faint contrast counts
    least = garment_box.STUDIO_MIN_CONTRAST if studio else garment_box.MIN_CONTRAST
    foreground = foreground_mask(contrast, least)  # made once for the box, the worn-top cut and the box again
    box = find_garment(contrast, skin, least, foreground=foreground)
    other = set_aside_worn_with(box, contrast, foreground, skin, least, luma, chroma)  # 6. the top without the
    if other is not None:  # trousers, or the reverse
        box = find_garment(contrast, skin, least, other, foreground)
    fills_frame = not studio and garment_box.is_fragment(box, contrast.shape)
    if fills_frame:  # 6. a fragment (a sliver at an edge, a print): the garment fills the frame
        box = garment_box.whole_frame(contrast.shape)
    upright_box = box
    # 8. the tilt, measured on the pixels the box counts as garment (none to measure when it fills the frame)
    tilt = 0.0 if fills_frame else estimate_tilt(crop(contrast, box), least)
    if tilt:
        contrast = rotate(contrast, tilt)
        skin = None if skin is None else rotate(skin.astype(np.float32), tilt) > 0.5
        other = None if other is None else rotate(other.astype(np.float32), tilt) > 0.5
        box = find_garment(contrast, skin, least, other)
    logger.debug("garment box %s in a %s working image, turned %.0f degrees", box, contrast.shape, tilt)
    garment = crop(contrast, box)  # 9. crop,
    fitted = fit_longest_edge(garment)  # fit: longest edge 28, centred on black,
    return stretch_to_full_range(fitted), upright_box  # and stretch


def normalise_photo(luma: np.ndarray, chroma: np.ndarray | None = None) -> np.ndarray:
    """A photo's planes → 28×28: background and contrast, skin, garment box, tilt, crop, fit, stretch."""
    return normalise_photo_with_box(luma, chroma)[0]


def crop(values: np.ndarray, box: Box) -> np.ndarray:
    """Only the garment's box: Fashion-MNIST trimmed the background away before resizing."""
    return values[box.top : box.bottom, box.left : box.right]


def fit_longest_edge(values: np.ndarray, side: int = MODEL_SIDE) -> np.ndarray:
    """Longest edge scaled to `side` (Lanczos, anti-aliased), centred on a zero canvas of side×side.

    Like Fashion-MNIST's own images, the object then touches the frame on its long side; an odd leftover
    pixel goes before the object, as the dataset's slightly right- and down-of-centre objects show.
    """
    height, width = values.shape
    scale = side / max(height, width)
    size = (max(1, min(side, round(width * scale))), max(1, min(side, round(height * scale))))
    resized = np.asarray(
        Image.fromarray(values.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS), dtype=np.float32
    )
    canvas = np.zeros((side, side), dtype=np.float32)
    top, left = (side - size[1] + 1) // 2, (side - size[0] + 1) // 2
    canvas[top : top + size[1], left : left + size[0]] = resized
    return canvas


def stretch_to_full_range(values: np.ndarray) -> np.ndarray:
    """The garment's bright end → 255, as in Fashion-MNIST (whose images reach 254–255 in 99 % of cases).

    The bright end is a high percentile of the garment's pixels, not the single brightest one: one shiny
    button or logo must not leave the rest of the garment dark and flat.
    """
    values = np.clip(values, 0.0, None)
    lit = values[values > 0.0]
    if not len(lit):
        return np.zeros(values.shape, dtype=np.uint8)
    peak = float(np.percentile(lit, BRIGHT_END_PERCENTILE))
    return np.round(np.clip(values * (255.0 / peak), 0.0, 255.0)).astype(np.uint8)


# --- What a network was shown, for a client to see (debug=true) ---


def model_input_png(array: np.ndarray) -> bytes:
    """What a network was shown as PNG bytes, so a client can see it: the 28×28 grey array or the photo
    network's 64×64 colour crop."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode="RGB" if np.ndim(array) == 3 else "L").save(
        buffer, format="PNG"
    )
    return buffer.getvalue()
