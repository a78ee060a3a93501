"""The background model: which border pixels show the background, its level across the image, and how strongly
each pixel stands out from it (the contrast map the later stages work on).

Fashion-MNIST was made from product shots on white: the background became exactly 0 and the garment's
darkness its brightness. Real photos have grey, tinted, unevenly lit or textured backgrounds, so the
background is modelled from the image's border (a robust plane fit: it follows a light gradient), and each
pixel is expressed as its contrast against that model (0 background, 1 the strongest possible). The garment
is then found in that map (core/garment_box.py).
"""

from __future__ import annotations

import numpy as np

BORDER_FRACTION = 0.03  # how wide a frame (fraction of the shorter side, at least 1 px) shows the background
MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per median absolute deviation
LIGHT_THRESHOLD = 127.0  # a border median above this is a light background (the garment is darker)
DARKEST_BACKGROUND = 1.0  # keeps the background level strictly inside 0–255
# A brightness step is measured against the room the background leaves, but never less than this many
# levels: a near-white or near-black background must not turn JPEG noise into full contrast.
MIN_LUMA_SPAN = 64.0
# A colour difference this large (Cb/Cr levels) counts as full contrast: about twice the distance of a
# saturated blue from grey, so colour alone lifts a garment clearly without outshining its shading.
CHROMA_SPAN = 128.0
# The border's group unlike the image's centre is the background when it holds at least this share of the
# border, and when the two groups' mean colours lie this many levels apart (luma/chroma units).
MIN_BACKGROUND_SHARE = 0.15
MIN_GROUP_DISTANCE = 12.0
# A studio background: the border's median luma at least this light, its chroma this close to neutral grey
# (Cb = Cr = 128), and its luma this flat (robust standard deviation, levels).
STUDIO_MIN_LUMA = 200.0
STUDIO_MAX_CHROMA = 8.0
STUDIO_MAX_SIGMA = 6.0
NEUTRAL_CHROMA = 128.0
TWO_MEANS_ITERATIONS = 6


def contrast_map(luma: np.ndarray, chroma: np.ndarray | None = None) -> np.ndarray:
    """Each pixel's contrast against the fitted background, 0 (background) to 1, less the background's own
    texture: the strongest of its difference in brightness (darker or lighter) and in colour.

    Brightness differences are relative to the room the background leaves (flat-field correction): a black
    shirt on a grey, dimly lit sheet is as black as on a white one, and a white shirt on a beige bed or dark
    trousers on a dark floor still stand out. Colour separates a blue shirt from a grey floor of the same
    brightness.
    """
    samples = background_samples(luma, chroma)
    contrast = luma_contrast(luma, samples)
    if chroma is not None:
        contrast = np.maximum(contrast, chroma_contrast(chroma, samples))
    return np.clip(contrast - noise_floor(contrast, samples), 0.0, None)


def studio_background(luma: np.ndarray, chroma: np.ndarray | None) -> bool:
    """A plain, light, grey-white border: a catalogue shot (where people model clothes), not a garment
    laid on a floor, bed or sofa."""
    if chroma is None:
        return False
    border = border_mask(luma.shape)
    edge_luma = luma[border].astype(np.float32)
    chroma_offset = np.abs(chroma[border] - NEUTRAL_CHROMA).max(axis=-1)
    return (
        float(np.median(edge_luma)) >= STUDIO_MIN_LUMA
        and float(np.median(chroma_offset)) <= STUDIO_MAX_CHROMA
        and robust_sigma(edge_luma) <= STUDIO_MAX_SIGMA
    )


def has_light_border(gray: np.ndarray) -> bool:
    """Photos show a dark garment on a light background, the opposite of Fashion-MNIST."""
    return float(np.median(gray[border_mask(gray.shape)])) > LIGHT_THRESHOLD


def background_samples(luma: np.ndarray, chroma: np.ndarray | None = None) -> np.ndarray:
    """The border pixels that show the background: a bool mask of the image's shape.

    A garment that fills the frame covers most of the border, so the border's median is the garment's own
    level. The border's pixels fall in two groups by brightness and colour (two-means); the background is
    the group unlike the image's centre, which the garment covers in a photo of one item. Where the border
    is one colour, or the group unlike the centre is a thin sliver, the whole border is the background.
    """
    border = border_mask(luma.shape)
    features = _pixel_features(luma, chroma)
    samples = features[border]
    height, width = luma.shape
    centre = np.median(
        features[
            height // 3 : max(height // 3 + 1, 2 * height // 3), width // 3 : max(width // 3 + 1, 2 * width // 3)
        ].reshape(-1, features.shape[-1]),
        axis=0,
    )
    nearest_centre = _two_means(samples, centre)
    share_unlike = 1.0 - nearest_centre.mean()
    if share_unlike < MIN_BACKGROUND_SHARE or share_unlike == 1.0:
        return border
    mask = np.zeros(luma.shape, dtype=bool)
    rows, cols = np.nonzero(border)
    mask[rows[~nearest_centre], cols[~nearest_centre]] = True
    return mask


def _pixel_features(luma: np.ndarray, chroma: np.ndarray | None) -> np.ndarray:
    """(H, W, C) luma and, when there is colour, the chroma planes: what tells background from garment."""
    if chroma is None:
        return luma.astype(np.float32)[..., np.newaxis]
    return np.concatenate([luma.astype(np.float32)[..., np.newaxis], chroma], axis=-1)


def _two_means(samples: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """True for the samples in the group nearer the centre's colour (two-means, seeded at the sample most
    like the centre and the one least like it); all False when the two groups are not clearly apart."""
    distance = np.linalg.norm(samples - centre, axis=1)
    means = samples[[int(np.argmin(distance)), int(np.argmax(distance))]]
    for _ in range(TWO_MEANS_ITERATIONS):
        near_first = np.linalg.norm(samples - means[0], axis=1) <= np.linalg.norm(samples - means[1], axis=1)
        if near_first.all() or not near_first.any():
            return np.zeros(len(samples), dtype=bool)
        means = np.stack([samples[near_first].mean(axis=0), samples[~near_first].mean(axis=0)])
    if np.linalg.norm(means[0] - means[1]) < MIN_GROUP_DISTANCE:
        return np.zeros(len(samples), dtype=bool)
    return near_first


def fit_background(gray: np.ndarray, samples: np.ndarray | None = None) -> np.ndarray:
    """Background level at every pixel: a plane through the background's pixels (by default the border's),
    refitted without outliers.

    A plane follows the brightness gradient of a photo lit from one side. Starting from the samples'
    median level and refitting on the pixels near the current plane ignores the border pixels of a
    garment touching the edge.
    """
    height, width = gray.shape
    rows, cols = np.nonzero(border_mask(gray.shape) if samples is None else samples)
    values = gray[rows, cols].astype(np.float64)
    design = np.column_stack([np.ones(len(rows)), rows / max(height, 1), cols / max(width, 1)])
    coefficients = np.array([np.median(values), 0.0, 0.0])  # start from the level most of the samples have
    for _ in range(3):
        residuals = values - design @ coefficients
        keep = np.abs(residuals) <= max(3.0 * robust_sigma(residuals), 2.0)
        if keep.sum() < design.shape[1]:
            break
        coefficients, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
    row_term = (coefficients[1] * np.arange(height) / max(height, 1))[:, np.newaxis]
    col_term = (coefficients[2] * np.arange(width) / max(width, 1))[np.newaxis, :]
    return coefficients[0] + row_term + col_term


def luma_contrast(luma: np.ndarray, samples: np.ndarray | None = None) -> np.ndarray:
    """How much darker or lighter than the fitted background each pixel is, scaled to 0–1."""
    values = luma.astype(np.float64)
    background = np.clip(fit_background(luma, samples), DARKEST_BACKGROUND, 255.0 - DARKEST_BACKGROUND)
    darker = (background - values) / np.maximum(background, MIN_LUMA_SPAN)
    lighter = (values - background) / np.maximum(255.0 - background, MIN_LUMA_SPAN)
    return np.clip(np.maximum(darker, lighter), 0.0, 1.0).astype(np.float32)


def chroma_contrast(chroma: np.ndarray, samples: np.ndarray | None = None) -> np.ndarray:
    """Distance of each pixel's colour (Cb, Cr) from the background's fitted colour, scaled to 0–1."""
    offsets = [chroma[..., plane] - fit_background(chroma[..., plane], samples) for plane in range(chroma.shape[-1])]
    return np.clip(np.hypot(*offsets) / CHROMA_SPAN, 0.0, 1.0).astype(np.float32)


def noise_floor(contrast: np.ndarray, samples: np.ndarray | None = None) -> float:
    """The contrast the background reaches by itself (texture, noise): what is subtracted to make it 0."""
    background = contrast[border_mask(contrast.shape) if samples is None else samples]
    return float(np.median(background) + 2.0 * robust_sigma(background))


def quiet_border(contrast: np.ndarray, min_contrast: float) -> np.ndarray:
    """The border pixels that are background (below `min_contrast`), whose texture sets the garment mask's
    thresholds; the whole border when the garment covers nearly all of it."""
    border = border_mask(contrast.shape)
    quiet = border & (contrast < min_contrast)
    return quiet if quiet.sum() >= MIN_BACKGROUND_SHARE * border.sum() else border


def border_mask(shape: tuple[int, int]) -> np.ndarray:
    """True on a frame a few percent wide: the pixels that show the background in a framed photo."""
    width = max(1, round(min(shape) * BORDER_FRACTION))
    mask = np.ones(shape, dtype=bool)
    mask[width:-width, width:-width] = False
    return mask


def robust_sigma(values: np.ndarray) -> float:
    """Spread of the background that a few garment pixels on the border cannot inflate."""
    return float(np.median(np.abs(values - np.median(values)))) * MAD_TO_SIGMA
