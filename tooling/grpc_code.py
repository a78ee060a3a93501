"""`make grpc-code`: protoc's descriptor of api/grpc/grpc_predict_v2.proto, written beside it as
grpc_predict_v2.binpb, which api/grpc/messages.py builds the service's message classes from.

Usage: python -m tooling.grpc_code [--output PATH]

protoc is grpcio-tools' (requirements-dev.txt, the version of grpcio in requirements.txt), so the output is the
same byte for byte wherever it runs; tests/test_grpc_code.py regenerates it and fails when it differs from the
committed file.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from api.grpc.messages import DESCRIPTOR_SET

logger = logging.getLogger("tooling.grpc_code")

PROTO = DESCRIPTOR_SET.with_suffix(".proto")


def generate(output: Path = DESCRIPTOR_SET) -> Path:
    """Run protoc on the .proto, in a process of its own: grpcio-tools' protoc carries its own C++ protobuf, which
    crashes a process that has loaded another one (TensorFlow's, in the test suite). RuntimeError with protoc's
    message when it fails."""
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO.parent}",
        f"--descriptor_set_out={output}",
        PROTO.name,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603  # our own argv
    if done.returncode != 0:
        raise RuntimeError(f"protoc failed ({done.returncode}) on {PROTO}: {done.stderr.strip()}")
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DESCRIPTOR_SET)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("wrote %s", generate(args.output))


if __name__ == "__main__":
    main()
