"""The model file's sha256 is written by training and checked before the server loads it."""

import hashlib

import pytest

from core.checksum import ModelChecksumError, read_expected_checksum, verify_checksum, write_checksum


@pytest.fixture()
def model_file(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"pretend weights" * 1000)
    return path


def test_written_checksum_is_sha256sum_format(model_file, tmp_path):
    checksum = tmp_path / "model.h5.sha256"
    digest = write_checksum(model_file, checksum)
    assert digest == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert checksum.read_text() == f"{digest}  model.h5\n"


def test_matching_checksum_returns_digest(model_file, tmp_path):
    checksum = tmp_path / "model.h5.sha256"
    digest = write_checksum(model_file, checksum)
    assert verify_checksum(model_file, checksum) == digest


def test_modified_model_is_refused_with_both_digests(model_file, tmp_path):
    checksum = tmp_path / "model.h5.sha256"
    expected = write_checksum(model_file, checksum)
    model_file.write_bytes(b"tampered")
    with pytest.raises(ModelChecksumError) as error:
        verify_checksum(model_file, checksum)
    assert expected in str(error.value)
    assert hashlib.sha256(b"tampered").hexdigest() in str(error.value)
    assert str(error.value).endswith("refusing to serve a model that is not the one shipped")


def test_missing_checksum_file_is_refused(model_file, tmp_path):
    with pytest.raises(ModelChecksumError, match="checksum file not found"):
        verify_checksum(model_file, tmp_path / "absent.sha256")


def test_missing_model_file_is_refused(tmp_path):
    with pytest.raises(ModelChecksumError, match="model file not found"):
        verify_checksum(tmp_path / "absent.h5", tmp_path / "absent.h5.sha256")


@pytest.mark.parametrize("text", ["", "not-a-digest  model.h5", "abc123  model.h5"])
def test_checksum_file_without_a_digest_is_refused(tmp_path, text):
    checksum = tmp_path / "model.h5.sha256"
    checksum.write_text(text)
    with pytest.raises(ModelChecksumError, match="does not hold a sha256"):
        read_expected_checksum(checksum)


def test_shipped_model_matches_its_checksum():
    import config

    assert verify_checksum(config.SETTINGS.model_path, config.SETTINGS.model_sha256_path)
