"""``zoo3d plugins --check`` reads every preset of every model as ``zoo3d train --preset NAME`` reads it: a third-party
plugin's broken preset (an unknown key, YAML that does not parse, an ``extends`` that names nothing, another model's
config) is a failed ``preset`` row whose sentence is the one ``zoo3d train`` prints for it, exit status 1, while the
built-in presets are each an ``ok`` row, one per YAML file on disk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import one_line_error, run_in_process as zoo3d
from zoo3d.plugins import get_host, reset_host

PLUGIN = '''
from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec

HERE = Path(__file__).parent


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="mine", factory="toy_model:ToyModel", presets_dir=HERE / "mine" / "presets"))
'''

GONE = '''
from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="gone", factory="no_such_module_for_presets:Model",
                       presets_dir=Path(__file__).parent / "mine" / "presets"))
'''

PRESETS = {  # name -> YAML; the first is good, every other one is broken in its own way
    "tiny": "toy:\n  z_dim: 4\n",
    "typo": "toy:\n  z_dimm: 4\n",
    "unparsed": "toy: [\n",
    "based": "extends: nowhere\n",
    "other": "model: gram\n",
    "wrong": "toy:\n  z_dim: four\n",
}


@pytest.fixture
def mine(tmp_path, monkeypatch):
    """The plugin ``clp_presets_plugin`` (model ``mine``) with :data:`PRESETS`, loaded through ZOO3D_PLUGINS, and
    ``clp_gone_plugin`` (model ``gone``, whose factory does not import, with the same presets) beside it; the working
    folder is ``tmp_path/work``."""
    (tmp_path / "clp_presets_plugin.py").write_text(PLUGIN)
    (tmp_path / "clp_gone_plugin.py").write_text(GONE)
    presets = tmp_path / "mine" / "presets"
    presets.mkdir(parents=True)
    for name, text in PRESETS.items():
        (presets / f"{name}.yaml").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))  # toy_model
    monkeypatch.setenv("ZOO3D_PLUGINS", "clp_presets_plugin")
    monkeypatch.setenv("COLUMNS", "1000")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for module in ("clp_presets_plugin", "clp_gone_plugin"):  # imported afresh: an earlier test's copy names its folder
        monkeypatch.delitem(sys.modules, module, raising=False)
    reset_host()
    yield presets
    reset_host()


def _train_says(capsys, preset: str) -> str:
    """The sentence ``zoo3d train mine --preset PRESET`` refuses the preset with."""
    code, _, err = zoo3d(capsys, "train", "mine", "--preset", preset, "--quiet")
    assert code == 2
    return one_line_error(err).removeprefix("Error: ")


def _rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]


def test_a_broken_preset_is_a_failed_row_with_the_sentence_train_gives(mine, capsys):
    sentences = {name: _train_says(capsys, name) for name in PRESETS if name != "tiny"}
    assert sentences["typo"].startswith(f"Unknown config key 'toy.z_dimm' in {mine / 'typo.yaml'}; did you mean")
    assert not Path("runs").exists()
    code, out, err = zoo3d(capsys, "plugins", "--check", "--json")
    assert code == 1
    rows = [r for r in json.loads(out)["presets"] if r["plugin"] == "clp_presets_plugin"]
    assert rows == [{"plugin": "clp_presets_plugin", "model": "mine", "preset": name,
                     "file": str(mine / f"{name}.yaml"), "status": "error" if name in sentences else "ok",
                     "error": sentences.get(name)} for name in sorted(PRESETS)]
    code, out, err = zoo3d(capsys, "plugins", "--check")
    assert code == 1
    table = [r for r in _rows(out) if r[0] == "clp_presets_plugin" and r[1] == "preset"]
    assert table == [["clp_presets_plugin", "preset", f"mine:{name}", f"mine/presets/{name}.yaml",
                      "error" if name in sentences else "ok", sentences.get(name, "")] for name in sorted(PRESETS)]
    lines = err.splitlines()
    for sentence in sentences.values():
        assert f"error: {sentence}" in lines
    factories = get_host().check_factories()
    presets = [p for s in get_host().models for p in s.presets()]
    assert lines[-1] == (f"{len(factories)} of {len(factories)} factories import, {len(presets) - 5} of "
                         f"{len(presets)} presets load; 0 plugins failed to load.")
    for name in sentences:  # the broken files gone, the plugin passes
        (mine / f"{name}.yaml").unlink()
    code, out, err = zoo3d(capsys, "plugins", "--check")
    assert code == 0, err
    assert [r for r in _rows(out) if r[0] == "clp_presets_plugin"][-1] == [
        "clp_presets_plugin", "preset", "mine:tiny", "mine/presets/tiny.yaml", "ok", ""]
    assert err.splitlines()[-1].endswith(f"{len(presets) - 5} of {len(presets) - 5} presets load; "
                                         "0 plugins failed to load.")


def test_a_model_whose_factory_does_not_import_has_its_factory_row_failed_and_no_preset_rows(mine, capsys,
                                                                                             monkeypatch):
    monkeypatch.setenv("ZOO3D_PLUGINS", "clp_presets_plugin,clp_gone_plugin")
    reset_host()
    code, out, _ = zoo3d(capsys, "plugins", "--check", "--json")
    assert code == 1
    report = json.loads(out)
    assert [(r["name"], r["status"]) for r in report["factories"] if r["plugin"] == "clp_gone_plugin"] == [
        ("gone", "error")]
    assert {r["model"] for r in report["presets"] if r["plugin"].startswith("clp_")} == {"mine"}


def test_every_built_in_preset_is_one_ok_row_per_yaml_file(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, err = zoo3d(capsys, "plugins", "--check", "--json")
    assert code == 0, err
    on_disk = [(spec.plugin, spec.name, path.stem, str(path)) for spec in get_host().models
               for path in sorted(Path(spec.presets_dir).glob("*.yaml"), key=lambda p: p.stem)]
    assert ("gram", "gram", "ffhq256", str(Path(get_host().models.get("gram").presets_dir) / "ffhq256.yaml")) in on_disk
    assert len(on_disk) >= 30
    assert [(r["plugin"], r["model"], r["preset"], r["file"], r["status"], r["error"])
            for r in json.loads(out)["presets"]] == [(*row, "ok", None) for row in on_disk]
    code, out, err = zoo3d(capsys, "plugins", "--check")
    assert code == 0
    assert [r for r in _rows(out) if r[1] == "preset"] == [
        [plugin, "preset", f"{model}:{name}", str(Path(*Path(file).parts[-3:])), "ok", ""]
        for plugin, model, name, file in on_disk]
    assert err.splitlines()[-1].endswith(f", {len(on_disk)} of {len(on_disk)} presets load; 0 plugins failed to load.")


def test_config_code_that_raises_is_a_failed_row_not_a_crash(mine, capsys, monkeypatch):
    import zoo3d.config

    real = zoo3d.config.load_run_config

    def load(config_cls, model, presets_dir, preset, *args, **kwargs):
        if preset == "tiny" and model == "mine":
            raise RuntimeError("validator broke")
        return real(config_cls, model, presets_dir, preset, *args, **kwargs)

    monkeypatch.setattr(zoo3d.config, "load_run_config", load)
    rows = {(r["model"], r["preset"]): r for r in get_host().check_presets()}
    error = rows["mine", "tiny"]["error"]
    assert rows["mine", "tiny"]["status"] == "error"
    assert error.startswith("Preset 'tiny' of model 'mine' cannot be read: RuntimeError: validator broke (")
    assert error.endswith(".") and "\n" not in error
    assert rows["gram", "ffhq256"]["status"] == "ok"  # the others are still read


BARE = '''
from zoo3d import hookimpl
from zoo3d.specs import ModelSpec
from toy_model import ToyConfig, ToyModel


class TwoStageConfig(ToyConfig):
    stage_names = ("main", "extra")  # its default stages list one: every run of it is refused


class TwoStage(ToyModel):
    config_class = TwoStageConfig


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="bare", factory="clp_bare_plugin:ToyModel"))
    register(ModelSpec(name="broken_defaults", factory="clp_bare_plugin:TwoStage"))
'''


def test_a_model_without_presets_has_its_default_config_read_as_train_reads_it(mine, capsys, monkeypatch):
    """A model whose spec names no presets folder trains on its config class's defaults; --check reads them in one
    row (``preset`` null), which fails with the sentence `zoo3d train` stops with where the defaults are refused."""
    (mine.parents[1] / "clp_bare_plugin.py").write_text(BARE)
    monkeypatch.delitem(sys.modules, "clp_bare_plugin", raising=False)
    monkeypatch.setenv("ZOO3D_PLUGINS", "clp_bare_plugin")
    reset_host()
    code, _, err = zoo3d(capsys, "train", "broken_defaults", "--steps", "1", "--quiet")
    assert code == 2
    sentence = one_line_error(err).removeprefix("Error: ")
    assert sentence.startswith("Invalid config: stages: this model's recipe has the stages ['main', 'extra']")
    code, out, err = zoo3d(capsys, "plugins", "--check", "--json")
    assert code == 1
    rows = [r for r in json.loads(out)["presets"] if r["plugin"] == "clp_bare_plugin"]
    assert rows == [{"plugin": "clp_bare_plugin", "model": "bare", "preset": None, "file": None, "status": "ok",
                     "error": None},
                    {"plugin": "clp_bare_plugin", "model": "broken_defaults", "preset": None, "file": None,
                     "status": "error", "error": sentence}]
    code, out, err = zoo3d(capsys, "plugins", "--check")
    assert code == 1
    assert [r for r in _rows(out) if r[0] == "clp_bare_plugin" and r[1] == "preset"] == [
        ["clp_bare_plugin", "preset", "bare (defaults)", "", "ok", ""],
        ["clp_bare_plugin", "preset", "broken_defaults (defaults)", "", "error", sentence]]
    assert f"error: {sentence}" in err.splitlines()


def test_config_code_that_raises_on_a_models_defaults_is_a_failed_row_naming_the_defaults(mine, capsys,
                                                                                          monkeypatch):
    """The row of a model without presets says its default config could not be read, not a preset named 'None'."""
    import zoo3d.config

    (mine.parents[1] / "clp_bare_plugin.py").write_text(BARE)
    monkeypatch.delitem(sys.modules, "clp_bare_plugin", raising=False)
    monkeypatch.setenv("ZOO3D_PLUGINS", "clp_bare_plugin")
    reset_host()
    real = zoo3d.config.load_run_config

    def load(config_cls, model, presets_dir, preset, *args, **kwargs):
        if model == "bare":
            raise RuntimeError("validator broke")
        return real(config_cls, model, presets_dir, preset, *args, **kwargs)

    monkeypatch.setattr(zoo3d.config, "load_run_config", load)
    rows = {(r["model"], r["preset"]): r for r in get_host().check_presets()}
    error = rows["bare", None]["error"]
    assert rows["bare", None]["status"] == "error"
    assert error.startswith("The default config of model 'bare' cannot be read: RuntimeError: validator broke ("), error
    assert rows["gram", "ffhq256"]["status"] == "ok"  # the others are still read
