"""Train/serve parity: the 28×28 array a photo is trained and validated on is exactly the array the running
server shows its model for that photo (POST /model/predict with debug=true returns it)."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import requests
from PIL import Image

from tests.imaging import garment_photo
from training.photos import load_photos, split_photos

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory):
    """clothing-dataset-small's layout: train/<folder>/<id>.jpg, one folder naming one class, one several."""
    root = tmp_path_factory.mktemp("clothing") / "train"
    colours = [((40, 90, 200), (120, 120, 120)), ((240, 230, 60), (210, 200, 170)), ((30, 30, 30), (60, 55, 50))]
    for folder in ("t-shirt", "shoes"):
        (root / folder).mkdir(parents=True)
        for seed, (colour, floor) in enumerate(colours):
            (root / folder / f"{folder}-{seed}.jpg").write_bytes(garment_photo(seed, colour, floor))
    return root.parent


def served_model_input(base_url: str, data: bytes) -> np.ndarray:
    response = requests.post(f"{base_url}/model/predict", files={"image": ("photo.jpg", data, "image/jpeg")},
                             data={"debug": "true"}, timeout=30)
    assert response.status_code == 200, response.text
    data_url = response.json()["model_input"]
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))), dtype=np.uint8)


def test_each_training_photo_array_is_what_the_server_shows_the_model(live_server, photos_dir, tmp_path):
    photos = load_photos(photos_dir, cache_dir=tmp_path / "cache")
    assert len(photos) == 6 and photos.images.shape == (6, 28, 28)
    for array, relative in zip(photos.images, photos.files, strict=True):
        served = served_model_input(live_server, (photos_dir / "train" / relative).read_bytes())
        np.testing.assert_array_equal(array, served, err_msg=relative)
        assert array.max() == 255  # the garment was found, not a blank array


def test_cached_arrays_are_the_same_as_fresh_ones(photos_dir, tmp_path):
    fresh = load_photos(photos_dir, cache_dir=tmp_path / "cache")
    cached = load_photos(photos_dir, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir())
    np.testing.assert_array_equal(fresh.images, cached.images)


def test_the_validation_split_is_seeded_stratified_and_disjoint(photos_dir, tmp_path):
    photos = load_photos(photos_dir, cache_dir=tmp_path / "cache")
    train, validation = split_photos(photos, validation_fraction=0.34, seed=7)
    _, again_validation = split_photos(photos, validation_fraction=0.34, seed=7)
    assert list(validation.files) == list(again_validation.files)
    assert not set(train.files) & set(validation.files)
    assert sorted(validation.folders.tolist()) == ["shoes", "t-shirt"]  # one of three from each folder
    footwear = validation.allowed[validation.folders == "shoes"][0]
    assert footwear.nonzero()[0].tolist() == [5, 7, 9]
