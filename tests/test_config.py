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
    with pytest.raises(config.SettingError, match=r"^WORKERS='abc': must be a whole number$"):
        Settings.from_environ({"WORKERS": "abc"})
    with pytest.raises(config.SettingError, match=r"^BODY_TIMEOUT='soon': must be a number$"):
        Settings.from_environ({"BODY_TIMEOUT": "soon"})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOG_FORMAT", "jsno", "LOG_FORMAT='jsno': must be one of text, json"),
        ("LOG_LEVEL", "verbose", "LOG_LEVEL='verbose': must be one of debug, info, warning, error"),
        ("INFERENCE_RUNTIME", "torch", "INFERENCE_RUNTIME='torch': must be one of auto, onnxruntime, tensorflow"),
    ],
)
def test_an_enumeration_takes_only_its_choices(variable, value, message):
    with pytest.raises(config.SettingError) as raised:
        Settings.from_environ({variable: value})
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "0", "PORT=0: must be between 1 and 65535"),
        ("PORT", "70000", "PORT=70000: must be between 1 and 65535"),
        ("WORKERS", "0", "WORKERS=0: must be at least 1"),
        ("KEEPALIVE_TIMEOUT", "0", "KEEPALIVE_TIMEOUT=0.0: must be greater than 0"),
        ("MAX_BATCH_DELAY_MS", "-1", "MAX_BATCH_DELAY_MS=-1.0: must be at least 0"),
        ("PHOTO_NETWORK_WEIGHT", "1.5", "PHOTO_NETWORK_WEIGHT=1.5: must be between 0 and 1"),
        ("NONE_OF_THE_TEN_THRESHOLD", "-0.1", "NONE_OF_THE_TEN_THRESHOLD=-0.1: must be between 0 and 1"),
        ("DEFAULT_TOP_K", "11", "DEFAULT_TOP_K=11: must be between 1 and 10"),
    ],
)
def test_a_number_out_of_its_range_is_refused(variable, value, message):
    with pytest.raises(config.SettingError) as raised:
        Settings.from_environ({variable: value})
    assert str(raised.value) == message


def test_the_edges_of_each_range_are_allowed():
    settings = Settings.from_environ(
        {
            "PORT": "65535",
            "WORKERS": "1",
            "NONE_OF_THE_TEN_THRESHOLD": "1",
            "PHOTO_NETWORK_WEIGHT": "0",
            "MAX_BATCH_DELAY_MS": "0",
        }
    )
    assert (settings.port, settings.workers, settings.none_of_the_ten_threshold) == (65535, 1, 1.0)


def test_settings_that_depend_on_each_other_are_checked_together():
    with pytest.raises(config.SettingError, match=r"^SEND_TIMEOUT=4.0: must be at least HEADER_TIMEOUT \(10\)"):
        Settings.from_environ({"SEND_TIMEOUT": "4"})
    with pytest.raises(config.SettingError, match=r"^LOG_FORMAT="):
        Settings().replace(log_format="xml")  # replace() checks too


def test_every_limited_or_enumerated_setting_exists():
    names = {field.name for field in dataclasses.fields(Settings)}
    assert set(config.LIMITS) <= names and set(config.CHOICES) <= names


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-c", "import config"],
        [str(Path(sys.executable).with_name("gunicorn")), "--config", "gunicorn.conf.py", "app:create_app()"],
    ],
    ids=["import", "gunicorn"],
)
def test_a_bad_value_stops_the_server_with_one_line_naming_it(command):
    done = subprocess.run(
        command,
        cwd=config.REPO_ROOT,
        env={**os.environ, "LOG_FORMAT": "jsno"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "max-fashion-mnist cannot start: LOG_FORMAT='jsno': must be one of text, json"


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
