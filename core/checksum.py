"""The model file's sha256: written next to it by training, checked by the server before loading."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20


class ModelChecksumError(RuntimeError):
    """The model file is missing, has no checksum, or does not match it: refuse to serve it."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksum(model_path: Path, checksum_path: Path) -> str:
    """Write '<sha256>  <file name>' in sha256sum's format, so `sha256sum -c` checks it too."""
    digest = sha256_of(model_path)
    checksum_path.write_text(f"{digest}  {model_path.name}\n")
    return digest


def read_expected_checksum(checksum_path: Path) -> str:
    text = checksum_path.read_text().strip()
    digest = text.split()[0].lower() if text else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ModelChecksumError(f"{checksum_path} does not hold a sha256 digest")
    return digest


def verify_checksum(model_path: Path, checksum_path: Path) -> str:
    """Return the model's sha256 when it matches the recorded one; raise ModelChecksumError otherwise."""
    if not model_path.is_file():
        raise ModelChecksumError(f"model file not found: {model_path}")
    if not checksum_path.is_file():
        raise ModelChecksumError(f"checksum file not found: {checksum_path}")
    expected = read_expected_checksum(checksum_path)
    actual = sha256_of(model_path)
    if actual != expected:
        raise ModelChecksumError(
            f"model file {model_path} has sha256 {actual}, but {checksum_path} expects {expected}: "
            "refusing to serve a model that is not the one shipped"
        )
    return actual
