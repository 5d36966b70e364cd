"""``train.device`` is a device's name, as ``--device`` takes it: a number (``--set train.device=0``, YAML's integer,
GPU 0 meant) is refused with the names a device may have and the name of that GPU, not with pydantic's "input
should be a valid string", which said nothing of what to write."""

from __future__ import annotations

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError
from zoo3d.plugins import get_model_spec

NAMES = "a device is one of cpu, cuda, cuda:N, mps or auto"


def _config(value: str):
    spec = get_model_spec("gram")
    return load_run_config(spec.load().config_class, spec.name, spec.presets_dir, None, None,
                           [f"train.device={value}"], default_preset=spec.default_preset)


@pytest.mark.parametrize("value, said", [
    ("0", f"Invalid value 0 for config key 'train.device': {NAMES}; GPU 0 is cuda:0."),
    ("3", f"Invalid value 3 for config key 'train.device': {NAMES}; GPU 3 is cuda:3."),
    ("-1", f"Invalid value -1 for config key 'train.device': {NAMES}."),  # no GPU is numbered -1
    ("true", f"Invalid value True for config key 'train.device': {NAMES}."),
    ("[0, 1]", f"Invalid value [0, 1] for config key 'train.device': {NAMES}."),
])
def test_a_device_given_as_other_than_a_name_is_refused_with_the_names(value, said):
    with pytest.raises(ConfigError) as exc:
        _config(value)
    assert str(exc.value) == said


def test_every_name_the_sentence_gives_is_taken_as_written():
    for value in ("cpu", "cuda", "cuda:1", "mps", "auto"):  # whether the machine has it is said when the run starts
        assert _config(value).train.device == value


def test_train_refuses_a_numbered_device_in_one_line_before_any_folder(tmp_path, capsys):
    code, _, err = zoo3d(capsys, "train", "gram", "--set", "train.device=0", "--steps", "1", "--out", tmp_path / "r")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "GPU 0 is cuda:0" in err, err
    assert not (tmp_path / "r").exists()
