"""Decoding and normalising uploads into the 28×28 array the model was trained on."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

import config
from core import garment_box
from core.background import has_light_border
from core.images import WORK_SIDE, InvalidImageError, decode_image, image_to_model_array, image_to_model_inputs
from tests.imaging import SAMPLES_DIR, encode, png_of
from training.dataset import default_data_dir

PASS_THROUGH_SUBSET = 2000  # the first official test images, each checked to reach the model unchanged
PROPERTY_MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]


def garment_on_black() -> np.ndarray:
    """A Fashion-MNIST-like image: a bright block on a black background."""
    array = np.zeros((28, 28), dtype=np.uint8)
    array[6:22, 9:19] = 200
    return array


def test_fashion_mnist_like_png_passes_through_unchanged():
    array = garment_on_black()
    array[10, 10] = 37  # any value survives
    assert np.array_equal(image_to_model_array(png_of(array)), array)


def test_dark_garment_on_white_is_inverted():
    light = 255 - garment_on_black()
    assert has_light_border(light)
    assert np.array_equal(image_to_model_array(png_of(light)), garment_on_black())


def test_large_rgb_jpeg_becomes_28_by_28_uint8():
    rgb = np.full((300, 200, 3), 240, dtype=np.uint8)
    rgb[50:250, 50:150] = (20, 30, 120)
    result = image_to_model_array(encode(Image.fromarray(rgb), "JPEG", quality=90))
    assert result.shape == (28, 28) and result.dtype == np.uint8
    assert result[14, 14] > 180, "the garment should be bright after inversion"
    assert result[14, 0] < 40, "the padding should match the (inverted) background"


def test_aspect_ratio_is_kept_by_padding():
    wide = np.zeros((10, 100), dtype=np.uint8)
    wide[:, :] = 200
    result = image_to_model_array(png_of(np.pad(wide, 5)))
    rows_with_garment = np.flatnonzero(result.max(axis=1) > 100)
    assert len(rows_with_garment) < 10, "a wide strip must stay a wide strip, not be stretched"


def test_rgba_transparency_is_composited_on_white():
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)  # fully transparent (and black underneath)...
    rgba[10:30, 15:25] = (0, 0, 0, 255)  # ...around an opaque black upright rectangle
    result = image_to_model_array(encode(Image.fromarray(rgba, mode="RGBA")))
    assert result[14, 0] < 10, "transparent background becomes white, then inverted to black"
    assert result[14, 14] > 245, "the opaque black rectangle becomes the bright garment"


def test_exif_orientation_is_applied():
    array = np.zeros((28, 56), dtype=np.uint8)
    array[12:16, 8:48] = 255  # a wide, flat bar in a landscape image
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the bar stands upright
    result = image_to_model_array(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    bright = result > 100
    assert bright.any(axis=1).sum() > 20, "the bar should span the rows after rotation"
    assert bright.any(axis=0).sum() < 8, "and only a few columns"


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
def test_every_pillow_mode_decodes(mode):
    base = Image.fromarray(garment_on_black())
    wide_types = {"I;16": np.uint16, "I": np.int32, "F": np.float32}  # values far beyond 255
    image = (
        Image.fromarray(garment_on_black().astype(wide_types[mode]) * 300) if mode in wide_types else base.convert(mode)
    )
    assert image.mode == mode
    image_format = "TIFF" if mode in ("CMYK", "I;16", "I", "F", "LA") else "PNG"
    result = image_to_model_array(encode(image, image_format))
    assert result.shape == (28, 28)
    assert result[14, 14] > 150 and result[0, 0] < 50


def test_animated_gif_uses_its_first_frame():
    first = Image.fromarray(garment_on_black())
    second = Image.fromarray(np.zeros((28, 28), dtype=np.uint8))
    data = encode(first, "GIF", save_all=True, append_images=[second])
    assert image_to_model_array(data)[14, 14] > 150


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"hello, I am text", "not a readable image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a readable image"),
        (b"%PDF-1.4\n%%EOF", "not a readable image"),
    ],
)
def test_non_images_are_refused(data, message):
    with pytest.raises(InvalidImageError, match=message):
        decode_image(data)


def test_truncated_png_is_refused():
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)))
    with pytest.raises(InvalidImageError):
        decode_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    side = int(config.SETTINGS.max_image_pixels**0.5) + 100
    bomb = encode(Image.new("1", (side, side)))  # tiny file, too many pixels
    assert len(bomb) < 1_000_000
    with pytest.raises(InvalidImageError, match="too many pixels"):
        decode_image(bomb)


def test_far_over_the_limit_bomb_is_refused():
    side = int((3 * config.SETTINGS.max_image_pixels) ** 0.5)  # past Pillow's own hard limit (2×)
    with pytest.raises(InvalidImageError, match="too many pixels"):
        decode_image(encode(Image.new("1", (side, side))))


@pytest.mark.parametrize(
    "image_format, mode",
    [
        ("BMP", "RGB"),
        ("BMP", "L"),
        ("WEBP", "RGB"),
        ("WEBP", "RGBA"),
        ("ICO", "RGBA"),
        ("TIFF", "RGB"),
        ("GIF", "P"),
        ("JPEG", "L"),
        ("JPEG", "CMYK"),
        ("PNG", "P"),
        ("TIFF", "I;16"),
    ],
)
def test_every_format_decodes_a_photo(image_format, mode):
    light = np.full((64, 48), 230, dtype=np.uint8)
    light[8:56, 14:34] = 30  # a dark upright garment on a light background
    image = Image.fromarray(light).convert(mode)
    result = image_to_model_array(encode(image, image_format))
    assert result.shape == (28, 28) and result.dtype == np.uint8
    assert result[14, 14] > 200, "the garment is bright"
    assert result[14, 1] < 30, "the background is dark"


def test_palette_transparency_is_composited_on_white():
    palette_image = Image.new("P", (40, 40), 0)
    palette_image.putpalette([0, 0, 0, 20, 20, 20] + [0] * 762)  # index 0 black (transparent), 1 near-black
    palette_image.paste(1, (15, 5, 25, 35))
    result = image_to_model_array(encode(palette_image, "PNG", transparency=0))
    assert result[14, 14] > 200 and result[14, 0] < 10


def photo_of(
    darkness: np.ndarray, background: float = 200.0, gradient: float = 0.0, texture: float = 0.0, seed: int = 0
) -> np.ndarray:
    """A dark garment (darkness 0–1) on a grey sheet, lit with a left-to-right gradient, with grain."""
    rng = np.random.default_rng(seed)
    cols = np.linspace(-0.5, 0.5, darkness.shape[1])[None, :]
    sheet = background + gradient * cols + rng.normal(0, texture, darkness.shape)
    return np.clip(sheet * (1.0 - darkness), 0, 255).astype(np.uint8)


def test_photo_garment_is_cropped_to_touch_the_frame_and_centred():
    darkness = np.zeros((400, 600))
    darkness[100:300, 150:250] = 0.9  # a 200×100 garment far off-centre, with wide margins
    result = image_to_model_array(encode(Image.fromarray(photo_of(darkness)).convert("RGB"), "JPEG", quality=90))
    rows, cols = np.flatnonzero(result.max(axis=1) > 60), np.flatnonzero(result.max(axis=0) > 60)
    assert (rows[0], rows[-1]) == (0, 27), "the long side spans the 28-pixel frame, as in Fashion-MNIST"
    assert 12 <= len(cols) <= 16, "aspect kept: 2:1 → about 14 columns"
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1, "centred"
    assert result[:, : cols[0] - 1].max() < 30 and result[:, cols[-1] + 2 :].max() < 30, "background is black"


def test_uneven_textured_background_is_not_taken_for_the_garment():
    darkness = np.zeros((300, 300))
    darkness[60:240, 120:180] = 0.8
    photo = photo_of(darkness, background=190, gradient=60, texture=6)  # 160 to 220 across, grainy
    result = image_to_model_array(encode(Image.fromarray(photo), "PNG"))
    cols = np.flatnonzero(result.max(axis=0) > 60)
    assert 7 <= len(cols) <= 11, f"only the 3:1 garment is kept, found {len(cols)} bright columns"
    assert result[:, : cols[0] - 1].max() < 40, "the darker side of the sheet stays background"


def test_stray_specks_do_not_widen_the_crop():
    darkness = np.zeros((300, 300))
    darkness[50:250, 100:200] = 0.9
    darkness[10:14, 10:14] = darkness[280:284, 280:284] = 0.9  # dust in the corners
    result = image_to_model_array(encode(Image.fromarray(photo_of(darkness)), "PNG"))
    rows = np.flatnonzero(result.max(axis=1) > 60)
    assert (rows[0], rows[-1]) == (0, 27), "the crop is the garment's box, not the dust's"


def test_large_photo_is_shrunk_early_and_still_found():
    darkness = np.zeros((4000, 3000), dtype=np.float32)
    darkness[800:3200, 1000:2000] = 0.85
    data = encode(Image.fromarray(photo_of(darkness)).convert("RGB"), "JPEG", quality=80)
    decoded = decode_image(data, draft_side=WORK_SIDE)
    assert max(decoded.size) < 1000, "the JPEG is decoded at a reduced scale"
    result = image_to_model_array(data)
    assert result.shape == (28, 28) and result[14, 14] > 200


def test_blank_photo_gives_a_black_image():
    assert image_to_model_array(encode(Image.new("RGB", (120, 80), (210, 205, 200)), "JPEG")).max() < 30


def test_large_fashion_mnist_like_image_round_trips():
    array = np.asarray(Image.open(SAMPLES_DIR / "ankle-boot.png"))
    upscaled = Image.fromarray(array).resize((280, 280), Image.Resampling.LANCZOS)
    result = image_to_model_array(encode(upscaled))
    assert np.corrcoef(result.ravel().astype(float), array.ravel().astype(float))[0, 1] > 0.95


@pytest.mark.skipif(
    not (default_data_dir() / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST test images not found in FASHION_MNIST_DIR",
)
def test_fashion_mnist_test_images_pass_through_unchanged():
    from training.dataset import load_split

    images, _ = load_split("test")
    for index, image in enumerate(images[:PASS_THROUGH_SUBSET]):
        assert np.array_equal(image_to_model_array(png_of(image)), image), f"test image {index} was changed"


def model_array_or_invalid(data: bytes) -> np.ndarray | None:
    """The property every upload must have: a 28×28 uint8 array, or InvalidImageError (a 400)."""
    try:
        result = image_to_model_array(data)
    except InvalidImageError:
        return None
    assert result.shape == (28, 28) and result.dtype == np.uint8
    return result


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(1, 80),
    width=st.integers(1, 80),
    mode=st.sampled_from(PROPERTY_MODES),
    image_format=st.sampled_from(["PNG", "JPEG", "BMP", "WEBP", "TIFF", "GIF"]),
    seed=st.integers(0, 2**32 - 1),
    flat=st.booleans(),
)
def test_any_decodable_image_gives_a_model_array(height, width, mode, image_format, seed, flat):
    rng = np.random.default_rng(seed)
    pixels = (
        np.full((height, width), rng.integers(0, 256), dtype=np.uint8)
        if flat
        else rng.integers(0, 256, (height, width), dtype=np.uint8)
    )
    image = Image.fromarray(pixels).convert(mode)
    try:
        data = encode(image, image_format)
    except (OSError, ValueError, KeyError):
        assume(False)  # this format cannot store this mode; nothing to test
    assert model_array_or_invalid(data) is not None


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_anything_but_invalid_image(data):
    model_array_or_invalid(data)


@settings(max_examples=60, deadline=None)
@given(cut=st.floats(0.05, 0.95), image_format=st.sampled_from(["PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP"]))
def test_truncated_files_give_a_model_array_or_invalid_image(cut, image_format):
    pixels = np.random.default_rng(7).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    data = encode(Image.fromarray(pixels).convert("P" if image_format == "GIF" else "RGB"), image_format)
    model_array_or_invalid(data[: int(len(data) * cut)])


KNIT, FLOOR = (60, 90, 160), (230, 230, 220)


def garment_filling_the_frame_with_a_light_corner(seed: int = 0) -> bytes:
    """A blue knit that covers the whole frame, borders included, and a patch of light floor in one corner."""
    rng = np.random.default_rng(seed)
    photo = np.empty((300, 400, 3))
    photo[:] = KNIT
    photo += rng.normal(0, 4, photo.shape)
    photo[0:60, 330:400] = FLOOR
    return encode(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)), "JPEG", quality=90)


@pytest.mark.parametrize(("whole_frame", "shown", "not_shown"), [(True, KNIT, FLOOR), (False, FLOOR, KNIT)])
def test_a_fragment_box_gives_way_to_the_whole_frame(monkeypatch, whole_frame, shown, not_shown):
    monkeypatch.setattr(garment_box, "WHOLE_FRAME_FOR_FRAGMENTS", whole_frame)
    crop = image_to_model_inputs(garment_filling_the_frame_with_a_light_corner()).photo
    mean = crop.reshape(-1, 3).mean(axis=0)
    assert np.abs(mean - shown).max() < np.abs(mean - not_shown).max() / 3, f"the crop shows {mean}"


def test_a_studio_shots_off_centre_garment_keeps_its_box(monkeypatch):
    monkeypatch.setattr(garment_box, "WHOLE_FRAME_FOR_FRAGMENTS", True)
    photo = np.full((300, 400, 3), 246, np.uint8)
    photo[40:140, 40:140] = (30, 40, 120)  # a dark garment in a corner of a white studio shot, away from the centre
    crop = image_to_model_inputs(encode(Image.fromarray(photo), "PNG")).photo
    assert crop[16:48, 16:48].reshape(-1, 3).mean(axis=0)[2] < 160, "the crop is the garment, not the white frame"
