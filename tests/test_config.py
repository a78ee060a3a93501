"""config.Settings: built from the environment, typed, frozen, documented by the page generated from it."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

import config
from config import Settings
from tooling import config_docs


def test_each_field_is_read_from_its_upper_case_variable_and_typed():
    settings = Settings.from_environ(
        {
            "PORT": "8080",
            "MAX_BATCH_DELAY_MS": "2.5",
            "TTA_FLIP": "yes",
            "REQUEST_LOG": "off",
            "MODEL_PATH": "/m/model.h5",
            "LOG_LEVEL": "debug",
        }
    )
    assert (settings.port, settings.max_batch_delay_ms, settings.tta_flip) == (8080, 2.5, True)
    assert settings.request_log is False and settings.log_level == "debug"
    assert settings.model_path == Path("/m/model.h5")


def test_unset_variables_keep_the_defaults_and_unknown_ones_are_ignored():
    assert Settings.from_environ({"NOT_A_SETTING": "1"}) == Settings.from_environ({})
    assert Settings.from_environ({}).workers == Settings().workers == 2


def test_derived_defaults_follow_the_settings_they_derive_from():
    settings = Settings.from_environ({"MODEL_PATH": "/m/model.h5", "ONNX_MODEL_PATH": "/m/model.onnx", "WORKERS": "1"})
    assert settings.model_sha256_path == Path("/m/model.h5.sha256")
    assert settings.onnx_model_sha256_path == Path("/m/model.onnx.sha256")
    assert settings.intra_op_threads == max(1, os.cpu_count() or 1)
    assert Settings.from_environ({"INTRA_OP_THREADS": "0"}).intra_op_threads == 0, "0: the runtime chooses"
    assert Settings.from_environ({"MODEL_SHA256_PATH": "/elsewhere"}).model_sha256_path == Path("/elsewhere")


def test_a_malformed_number_stops_the_start():
    with pytest.raises(ValueError, match="abc"):
        Settings.from_environ({"WORKERS": "abc"})


def test_settings_are_frozen_and_replace_makes_a_changed_copy():
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.workers = 9
    changed = settings.replace(max_batch_size=1)
    assert (changed.max_batch_size, settings.max_batch_size) == (1, 16)


def test_every_setting_is_documented_in_a_known_section():
    for item in dataclasses.fields(Settings):
        assert len(item.metadata["help"]) > 10, item.name
        assert item.metadata["section"] in config_docs.SECTIONS, item.name


def test_the_configuration_page_is_current():
    """Run `python -m tooling.config_docs` after changing a setting."""
    assert config_docs.PAGE.read_text() == config_docs.render()
    assert config_docs.main(["--check"]) == 0


def test_the_check_fails_on_a_stale_page(tmp_path):
    stale = tmp_path / "configuration.md"
    stale.write_text(config_docs.render().replace("`WORKERS`", "`WORKER`"))
    assert config_docs.main(["--check", "--output", str(stale)]) == 1


def test_importing_config_leaves_the_environment_alone():
    code = "import os; before = dict(os.environ); import config; print(before == dict(os.environ))"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=config.REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "True"
