"""The photo-like generator (training/make_photo_like.py) and the pre-processing's round trip through it."""
import csv
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageOps

from core.images import image_to_model_array
from tests.imaging import sample_files
from training.make_photo_like import (
    GENERATION_FILE,
    LABELS_FILE,
    SAMPLE_SHEET,
    STORED_SIDEWAYS,
    make_photo,
    make_set,
    random_style,
    render,
)

SAMPLES = [np.asarray(Image.open(path)) for path in sample_files()]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


@pytest.mark.parametrize("orientation", sorted(STORED_SIDEWAYS))
def test_exif_photo_is_stored_sideways_and_shown_upright(tmp_path, orientation):
    style = replace(SAMPLE_SHEET, kind="jpeg-exif", orientation=orientation, canvas_side=300)
    upright, _ = render(SAMPLES[0], style, np.random.default_rng(0))
    path = make_photo(SAMPLES[0], 0, 0, tmp_path / "photo", style)
    with Image.open(path) as stored:
        assert stored.getexif()[0x0112] == orientation
        shown = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"), dtype=float)
    assert shown.shape == upright.shape
    assert correlation(shown, upright) > 0.95


def test_alpha_photo_is_an_rgba_png_with_a_transparent_background(tmp_path):
    path = make_photo(SAMPLES[0], 0, 0, tmp_path / "photo", replace(SAMPLE_SHEET, kind="png-alpha"))
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGBA"
        alpha = np.asarray(image)[..., 3]
    assert alpha[0, 0] == 0 and alpha.max() == 255


def test_styles_stay_in_the_issue_ranges():
    styles = [random_style(np.random.default_rng([0, i])) for i in range(300)]
    assert all(200 <= s.canvas_side <= 1000 and -10 <= s.angle <= 10 and 60 <= s.quality <= 95 for s in styles)
    assert {s.kind for s in styles} == {"jpeg", "png-alpha", "jpeg-exif"}


def test_a_photo_depends_only_on_seed_and_index(tmp_path):
    first = make_photo(SAMPLES[3], 5, 42, tmp_path / "a").read_bytes()
    assert make_photo(SAMPLES[3], 5, 42, tmp_path / "b").read_bytes() == first
    assert make_photo(SAMPLES[3], 6, 42, tmp_path / "c").read_bytes() != first


def extent(image: np.ndarray) -> tuple[int, int, int, int]:
    """First and last row and column with any garment pixel."""
    rows, cols = np.flatnonzero(image.max(axis=1) > 0), np.flatnonzero(image.max(axis=0) > 0)
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


@pytest.mark.parametrize("index", range(len(SAMPLES)), ids=[p.stem for p in sample_files()])
def test_pre_processing_undoes_the_photo(tmp_path, index):
    """Straight photo → the model sees nearly the test image itself: same crop, scale, centring and levels
    (what is left is the blur of upscaling, JPEG and downscaling)."""
    style = replace(SAMPLE_SHEET, kind=("jpeg", "png-alpha", "jpeg-exif")[index % 3])
    path = make_photo(SAMPLES[index], 0, index, tmp_path / "photo", style)
    seen = image_to_model_array(path.read_bytes())
    assert np.allclose(extent(seen), extent(SAMPLES[index]), atol=1), "the garment's box, within a pixel"
    assert correlation(seen, SAMPLES[index]) > 0.8
    assert np.abs(seen.astype(int) - SAMPLES[index]).mean() < 35


def test_make_set_writes_labels_and_how_it_was_made(tmp_path):
    images, labels = np.stack(SAMPLES[:4]), np.arange(4)
    make_set(images, labels, tmp_path, seed=3, start=1, count=2)
    with (tmp_path / LABELS_FILE).open() as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["label"], r["index"]) for r in rows] == [("1", "1"), ("2", "2")]
    assert all((tmp_path / r["file"]).is_file() for r in rows)
    generation = json.loads((tmp_path / GENERATION_FILE).read_text())
    assert (generation["seed"], generation["start"], generation["count"]) == (3, 1, 2)
