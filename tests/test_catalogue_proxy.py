"""training.catalogue_proxy: drawn catalogue photos are plain studio shots, and the model names most of them."""

import pytest

from training.catalogue_proxy import photo_style, proxy_accuracy
from training.dataset import default_data_dir


def test_catalogue_style_is_a_plain_upright_studio_shot_and_phone_style_is_not():
    catalogue, phone = photo_style(3, "catalogue"), photo_style(3, "phone")
    assert (catalogue.background, catalogue.angle, catalogue.texture, catalogue.gradient) == (250.0, 0.0, 0.0, (0, 0))
    assert phone != catalogue and phone.canvas_side == catalogue.canvas_side


@pytest.mark.skipif(
    not (default_data_dir() / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="the Fashion-MNIST IDX files are not in FASHION_MNIST_DIR",
)
def test_the_shipped_model_names_most_drawn_catalogue_photos():
    figures = proxy_accuracy(40, "catalogue")
    assert figures["served"] >= 0.85 and figures["28x28_network_alone"] >= 0.85
    assert set(figures) >= {"T-shirt/top", "Bag", "Ankle boot"}
