"""Decoding and normalising uploads into the 28×28 array the model was trained on."""
import numpy as np
import pytest
from PIL import Image

import config
from core.images import InvalidImageError, decode_image, has_light_background, image_to_model_array
from tests.imaging import encode, png_of


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
    assert has_light_background(light)
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
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)  # fully transparent...
    rgba[10:30, 10:30] = (0, 0, 0, 255)           # ...around an opaque black square
    result = image_to_model_array(encode(Image.fromarray(rgba, mode="RGBA")))
    assert result[0, 0] < 10, "transparent background becomes white, then inverted to black"
    assert result[14, 14] > 245, "the opaque black square becomes the bright garment"


def test_exif_orientation_is_applied():
    array = np.zeros((28, 56), dtype=np.uint8)
    array[10:18, 4:14] = 255  # a block at the left of a landscape image
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the left edge becomes the top
    result = image_to_model_array(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    brightest_row = int(np.argmax(result.max(axis=1)))
    assert result.max() > 150
    assert brightest_row < 10, f"the block should be near the top after rotation, found at row {brightest_row}"


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
def test_every_pillow_mode_decodes(mode):
    base = Image.fromarray(garment_on_black())
    wide_types = {"I;16": np.uint16, "I": np.int32, "F": np.float32}  # values far beyond 255
    image = Image.fromarray(garment_on_black().astype(wide_types[mode]) * 300) if mode in wide_types \
        else base.convert(mode)
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


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello, I am text", "not a readable image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a readable image"),
    (b"%PDF-1.4\n%%EOF", "not a readable image"),
])
def test_non_images_are_refused(data, message):
    with pytest.raises(InvalidImageError, match=message):
        decode_image(data)


def test_truncated_png_is_refused():
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)))
    with pytest.raises(InvalidImageError):
        decode_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    side = int(config.MAX_IMAGE_PIXELS ** 0.5) + 100
    bomb = encode(Image.new("1", (side, side)))  # tiny file, too many pixels
    assert len(bomb) < 1_000_000
    with pytest.raises(InvalidImageError, match="too many pixels"):
        decode_image(bomb)


def test_far_over_the_limit_bomb_is_refused():
    side = int((3 * config.MAX_IMAGE_PIXELS) ** 0.5)  # past Pillow's own hard limit (2×)
    with pytest.raises(InvalidImageError, match="too many pixels"):
        decode_image(encode(Image.new("1", (side, side))))
