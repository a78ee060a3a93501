"""Join photo networks trained alike but from different seeds into one photo network file the server can load:
the mean of their eleven outputs, meant to average out what depends on the seed. Tried on 2026-12-07 and not
shipped: two seeds joined missed one final-check photo more than the single network (training/README.md).

Usage: python -m training.photo_ensemble MEMBER.h5 MEMBER.h5 [...] --output JOINED.h5 (the default output is the
served file, assets/fashion_mnist_photo.h5). Each member is a finished photo network (train_photo, then
train_none --network photo). The joined file is one flat Keras graph, each member's layers renamed `m<i>_…`, so
that the ONNX export, the runtimes and the server see one network with one input and one (N, 11) output, as
before. Its record is the first member's, with every member's file, sha256 and record under "ensemble".
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

import keras
import numpy as np
from keras import layers

import config
from core.checksum import verify_checksum
from training.record import read_training_record, write_training_record
from training.train import repo_relative, save_for_serving

logger = logging.getLogger("training.photo_ensemble")

COMBINATION = "arithmetic mean of the members' eleven softmax outputs"


def member_prefix(index: int) -> str:
    return f"m{index + 1}_"


def copy_layer(layer: keras.layers.Layer, prefix: str) -> keras.layers.Layer:
    """A new layer of the same kind and settings under a prefixed name: two members' layers must not share names
    in one graph. Its weights are set once it is built."""
    return type(layer).from_config({**layer.get_config(), "name": prefix + layer.name})


def apply_member(member: keras.Model, inputs: keras.KerasTensor, prefix: str) -> keras.KerasTensor:
    """The member's layers, copied and applied in order to `inputs`: a photo network is a plain chain. main()
    checks that the joined network answers exactly the members' mean, so a member that is not a chain fails."""
    x = inputs
    for layer in member.layers[1:]:
        copied = copy_layer(layer, prefix)
        x = copied(x)
        copied.set_weights(layer.get_weights())
    return x


def join_members(members: list[keras.Model], name: str = "fashion_mnist_photo") -> keras.Model:
    """One network whose output is the mean of the members' outputs, all members seeing the same input."""
    shapes = {(tuple(member.input_shape[1:]), tuple(member.output_shape[1:])) for member in members}
    if len(shapes) != 1:
        raise ValueError(f"the members' input and output shapes differ: {sorted(shapes)}")
    inputs = keras.Input(shape=members[0].input_shape[1:], name="photo")
    outputs = [apply_member(member, inputs, member_prefix(index)) for index, member in enumerate(members)]
    joined = outputs[0] if len(outputs) == 1 else layers.Average(name="probabilities")(outputs)
    return keras.Model(inputs, joined, name=name)


def member_entry(path: Path, sha256: str, record: dict | None) -> dict:
    return {
        "model_file": repo_relative(path),
        "sha256": sha256,
        "seed": (record or {}).get("arguments", {}).get("seed"),
    }


def ensemble_record(members: list[tuple[Path, str, dict | None]], digest: str, output: Path, argv: list[str]) -> dict:
    """The first member's record (what the card quotes: data, recipe, refit), keyed to the joined file, with
    every member's own record kept under "ensemble"."""
    first = members[0][2] or {}
    return {
        **first,
        "model_sha256": digest,
        "model_file": output.name,
        "ensemble": {
            "command": shlex.join(["python", "-m", "training.photo_ensemble", *argv]),
            "combination": COMBINATION,
            "members": [{**member_entry(path, sha256, record), "record": record} for path, sha256, record in members],
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("members", type=Path, nargs="+", help="finished photo networks (.h5, each with its .sha256)")
    parser.add_argument(
        "--output",
        type=Path,
        default=config.SETTINGS.photo_model_path,
        help="where to write the joined .h5 (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    members = []
    for path in args.members:
        sha256 = verify_checksum(path, path.with_name(path.name + ".sha256"))
        members.append((path, sha256, read_training_record(path, sha256)))
    networks = [keras.models.load_model(path, compile=False) for path in args.members]
    joined = join_members(networks)
    probe = np.random.default_rng(0).random((4, *joined.input_shape[1:]), dtype=np.float32)
    expected = np.mean([network.predict(probe, verbose=0) for network in networks], axis=0)
    np.testing.assert_allclose(joined.predict(probe, verbose=0), expected, atol=1e-5)
    digest = save_for_serving(joined, args.output)
    record = ensemble_record(members, digest, args.output, argv)
    logger.info(
        "joined %d members; wrote %s (sha256 %s) and %s",
        len(networks),
        args.output,
        digest,
        write_training_record(args.output, record),
    )
    return record


if __name__ == "__main__":
    main()
