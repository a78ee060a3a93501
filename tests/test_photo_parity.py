"""Train/serve parity: the 28×28 array and the 64×64 colour crop a photo is trained and validated on are exactly
what the running server shows its two networks for that photo (POST /model/predict with debug=true returns
both)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import requests
from PIL import Image

from tests.imaging import garment_photo
from training.photos import load_photos

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory):
    """The shared folder's layout: train/<folder>/<id>.jpg (one folder naming one class, one several), extra/
    <label>/<id>.jpg, and senders.tsv."""
    dataset = tmp_path_factory.mktemp("clothing")
    colours = [((40, 90, 200), (120, 120, 120)), ((240, 230, 60), (210, 200, 170)), ((30, 30, 30), (60, 55, 50))]
    senders = ["image\tsender_id\tkids"]
    for parent, folder in (("train", "t-shirt"), ("train", "shoes"), ("extra", "hoodie")):
        (dataset / parent / folder).mkdir(parents=True)
        for seed, (colour, floor) in enumerate(colours):
            (dataset / parent / folder / f"{folder}-{seed}.jpg").write_bytes(garment_photo(seed, colour, floor))
            senders.append(f"{folder}-{seed}\t{seed}\t{seed == 2}")
    (dataset / "senders.tsv").write_text("\n".join(senders) + "\n")
    return dataset


def served_model_inputs(base_url: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    response = requests.post(
        f"{base_url}/model/predict",
        files={"image": ("photo.jpg", data, "image/jpeg")},
        data={"debug": "true"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return decoded_png(body["model_input"]), decoded_png(body["photo_input"])


def decoded_png(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))), dtype=np.uint8)


def test_each_training_photo_is_what_the_server_shows_both_networks(live_server, photos_dir, tmp_path):
    photos = load_photos(photos_dir, cache_dir=tmp_path / "cache")
    assert len(photos) == 9 and photos.images.shape == (9, 28, 28) and photos.crops.shape == (9, 64, 64, 3)
    for array, crop, relative in zip(photos.images, photos.crops, photos.files, strict=True):
        folder = photos_dir if relative.startswith("extra/") else photos_dir / "train"
        served_array, served_crop = served_model_inputs(live_server, (folder / relative).read_bytes())
        np.testing.assert_array_equal(array, served_array, err_msg=relative)
        np.testing.assert_array_equal(crop, served_crop, err_msg=relative)
        assert array.max() == 255  # the garment was found, not a blank array


def test_cached_inputs_are_the_same_as_fresh_ones(photos_dir, tmp_path):
    fresh = load_photos(photos_dir, cache_dir=tmp_path / "cache")
    cached = load_photos(photos_dir, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir())
    np.testing.assert_array_equal(fresh.images, cached.images)
    np.testing.assert_array_equal(fresh.crops, cached.crops)


def test_extra_photos_and_their_senders_are_read(photos_dir, tmp_path):
    photos = load_photos(photos_dir, cache_dir=tmp_path / "cache")
    hoodies = photos.folders == "hoodie"
    assert hoodies.sum() == 3 and all(name.startswith("extra/hoodie/") for name in photos.files[hoodies])
    assert photos.allowed[hoodies][0].nonzero()[0].tolist() == [2, 4]  # Pullover, or Coat when zipped
    assert sorted(set(photos.senders.tolist())) == ["0", "1", "2"]
    assert photos.kids.tolist() == [name.endswith("-2.jpg") for name in photos.files]
