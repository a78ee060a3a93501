"""training/photo_ensemble.py: photo networks of different seeds joined into the one file the server loads."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from core.checksum import sha256_of
from core.model import PHOTO_INPUT_SHAPE
from training.photo_ensemble import join_members, main
from training.photo_network import build_photo_network
from training.record import write_training_record
from training.train import save_for_serving
from training.train_none import with_none_output


def eleven_output_member(seed: int) -> keras.Model:
    """A tiny finished photo network (ten classes and none of the ten), its weights drawn from `seed`."""
    keras.utils.set_random_seed(seed)
    return with_none_output(build_photo_network((4, 8, 8, 8)), none_bias=-4.0)


def saved_member(tmp_path, seed: int):
    path = tmp_path / f"member{seed}.h5"
    digest = save_for_serving(eleven_output_member(seed), path)
    write_training_record(
        path, {"model_sha256": digest, "arguments": {"seed": seed}, "data": {"photos": {"refit": True}}}
    )
    return path, digest


def crops(count: int = 6) -> np.ndarray:
    return np.random.default_rng(3).random((count, *PHOTO_INPUT_SHAPE), dtype=np.float32)


def test_the_joined_network_answers_the_mean_of_its_members():
    members = [eleven_output_member(seed) for seed in (1, 2)]
    joined = join_members(members)
    expected = np.mean([member.predict(crops(), verbose=0) for member in members], axis=0)
    answered = joined.predict(crops(), verbose=0)
    np.testing.assert_allclose(answered, expected, atol=1e-6)
    assert answered.shape == (6, 11)
    # different seeds answer differently, so the mean is not either member's answer
    assert not np.allclose(answered, members[0].predict(crops(), verbose=0), atol=1e-3)


def test_members_must_take_and_give_the_same_shapes():
    keras.utils.set_random_seed(1)
    with pytest.raises(ValueError, match="shapes differ"):
        join_members([eleven_output_member(1), build_photo_network((4, 8, 8, 8))])  # 11 outputs against 10


def test_the_joined_file_has_its_checksum_and_a_record_of_every_member(tmp_path):
    members = [saved_member(tmp_path, seed) for seed in (1, 2)]
    output = tmp_path / "joined" / "photo.h5"
    main([str(path) for path, _ in members] + ["--output", str(output)])

    record = json.loads((tmp_path / "joined" / "photo.training.json").read_text())
    assert record["model_sha256"] == sha256_of(output)
    assert (tmp_path / "joined" / "photo.h5.sha256").read_text().split()[0] == sha256_of(output)
    assert record["data"]["photos"]["refit"] is True  # the first member's record, which the card quotes
    ensemble = record["ensemble"]
    assert [member["sha256"] for member in ensemble["members"]] == [digest for _, digest in members]
    assert [member["seed"] for member in ensemble["members"]] == [1, 2]
    assert ensemble["members"][1]["record"]["arguments"]["seed"] == 2
    assert ensemble["command"].startswith("python -m training.photo_ensemble ")

    from training.evaluate import photo_members  # what the model card names

    assert [(m["seed"], m["sha256"]) for m in photo_members(record)] == [
        (1, members[0][1]),
        (2, members[1][1]),
    ]

    joined = keras.models.load_model(output, compile=False)
    loaded = [keras.models.load_model(path, compile=False) for path, _ in members]
    expected = np.mean([member.predict(crops(), verbose=0) for member in loaded], axis=0)
    np.testing.assert_allclose(joined.predict(crops(), verbose=0), expected, atol=1e-6)


def test_a_member_without_its_checksum_is_refused(tmp_path):
    from core.checksum import ModelChecksumError

    path, _ = saved_member(tmp_path, 1)
    path.with_name(path.name + ".sha256").unlink()
    with pytest.raises(ModelChecksumError):
        main([str(path), "--output", str(tmp_path / "joined.h5")])
