"""core/photo_crop.py: the photo network's 64×64 colour crop of a photo's garment box."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from core.garment_box import Box
from core.images import image_to_model_inputs, to_planes
from core.photo_crop import PHOTO_SIDE, cut_square, garment_crop, square_box, to_rgb


def jpeg_of(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def red_shirt_on_grey(height: int = 300, width: int = 400) -> np.ndarray:
    photo = np.full((height, width, 3), 150, np.uint8)
    photo[80:220, 150:260] = (200, 30, 30)
    return photo


def test_square_box_grows_the_short_side_about_the_centre():
    assert square_box(Box(10, 20, 50, 100)) == Box(-10, 20, 70, 100)
    assert square_box(Box(0, 0, 30, 30)) == Box(0, 0, 30, 30)


def test_cut_square_repeats_the_edge_where_the_square_leaves_the_image():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:, 0] = 9
    cut = cut_square(rgb, Box(-1, -2, 5, 4))
    assert cut.shape == (6, 6, 3)
    assert (cut[:, :3] == 9).all() and (cut[:, 3:] == 0).all()


def test_to_rgb_round_trips_colour_and_repeats_grey():
    image = Image.fromarray(red_shirt_on_grey()).convert("YCbCr")
    planes = np.asarray(image, dtype=np.float32)
    rgb = to_rgb(planes[..., 0].astype(np.uint8), planes[..., 1:])
    assert np.abs(rgb.astype(int) - red_shirt_on_grey().astype(int)).max() <= 3
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert (to_rgb(grey, None) == grey[..., None]).all()


def test_a_photos_crop_is_its_garment_in_colour_at_64_pixels():
    inputs = image_to_model_inputs(jpeg_of(red_shirt_on_grey()))
    crop = inputs.photo
    assert crop.shape == (PHOTO_SIDE, PHOTO_SIDE, 3) and crop.dtype == np.uint8
    centre = crop[24:40, 24:40].reshape(-1, 3).mean(axis=0)
    assert centre[0] > 170 and centre[1] < 70 and centre[2] < 70  # the red shirt fills the middle
    assert inputs.array.shape == (28, 28) and inputs.array.max() == 255


def test_a_fashion_mnist_sized_image_has_no_photo_crop():
    array = np.zeros((28, 28), np.uint8)
    array[5:23, 8:20] = 200
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    inputs = image_to_model_inputs(buffer.getvalue())
    assert inputs.photo is None and np.array_equal(inputs.array, array)


def test_garment_crop_of_a_grey_photo_is_grey():
    luma, chroma = to_planes(Image.fromarray(red_shirt_on_grey()).convert("L"))
    crop = garment_crop(luma, chroma, Box(20, 40, 70, 90))
    assert chroma is None and (crop[..., 0] == crop[..., 1]).all() and (crop[..., 1] == crop[..., 2]).all()


def test_no_crop_is_made_when_the_photo_network_is_off():
    data = jpeg_of(red_shirt_on_grey())
    without = image_to_model_inputs(data, photo_crop=False)
    assert without.photo is None
    assert (without.array == image_to_model_inputs(data).array).all()
