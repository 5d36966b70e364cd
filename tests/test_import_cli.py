"""``zoo3d import`` through the real CLI: an authors' GRAM release (written by microsoft/GRAM's code,
tests/fixtures/releases) becomes a run that ``sample`` and ``render`` use like any other."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from PIL import Image
from safetensors import safe_open

from conftest import FIXTURES, one_line_error, run_in_process as zoo3d
from zoo3d.upstream import load_release

RELEASES = FIXTURES / "releases"


def test_import_ema_then_sample_and_render(in_tmp, capsys):
    code, out, err = zoo3d(capsys, "import", "gram", RELEASES / "gram_ema.pth", "--preset", "tiny", "--out", "run")
    assert code == 0, err
    run = in_tmp / "run"
    assert {p.name for p in run.iterdir()} == {"config.yaml", "checkpoints", "latest"}
    assert "gram_ema.pth" in out and "the release file" not in out
    checkpoint = run / "checkpoints" / "step_000000000.safetensors"
    with safe_open(str(checkpoint), "pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    assert meta["zoo3d.model"] == "gram" and meta["zoo3d.imported_from"] == "gram_ema.pth"
    assert json.loads(meta["zoo3d.config"])["generator"]["render"]["align_corners"] is True
    # generator and EMA both hold the release's averaged weights, exactly
    shadow = load_release(RELEASES / "gram_ema.pth").get("shadow_params")
    assert torch.equal(tensors["generator.manifold.hidden.0.weight"], shadow[0])
    assert torch.equal(tensors["ema.radiance_net.mapping.out.bias"], shadow[-1])
    assert torch.equal(tensors["ema.levels"], torch.linspace(23, 8, 23))

    code, out, err = zoo3d(capsys, "sample", run, "--seeds", "0-1", "--resolution", "16", "--out", "grid.png")
    assert code == 0, err
    grid = Image.open(in_tmp / "grid.png").convert("RGB")
    assert grid.size == (2 * 18 + 2, 18 + 2) and len(set(grid.tobytes())) > 10
    code, out, err = zoo3d(capsys, "render", run, "--seed", "1", "--frames", "3", "--resolution", "16",
                           "--trajectory", "yaw-sweep", "--out", "turn.gif")
    assert code == 0, err
    gif = Image.open(in_tmp / "turn.gif")
    assert gif.n_frames == 3


def _generator_tensors(run) -> dict[str, torch.Tensor]:
    with safe_open(str(run / "checkpoints" / "step_000000000.safetensors"), "pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys() if k.startswith("generator.")}


def test_ema_averages_land_on_the_layers_the_generator_file_names(in_tmp, capsys):
    """ema.pth is an unnamed list in parameter order; the fixture's averages are the generator's weights
    after one +0.01 step at torch_ema's first decay (2/11). Every parameter of the EMA import must then be
    the generator import's + that step, and every buffer equal: a layer put in another's place is not."""
    for name in ("gram_ema.pth", "gram_generator.pth"):
        code, _, err = zoo3d(capsys, "import", "gram", RELEASES / name, "--preset", "tiny", "--out", name)
        assert code == 0, err
    averaged, weights = _generator_tensors(in_tmp / "gram_ema.pth"), _generator_tensors(in_tmp / "gram_generator.pth")
    assert sorted(averaged) == sorted(weights)
    step = 0.01 * (1 - 2 / 11)
    moved = []
    for key, value in weights.items():
        if torch.equal(averaged[key], value):
            continue  # a buffer (levels, centre): not in the average
        torch.testing.assert_close(averaged[key], value + step, rtol=0, atol=1e-6, msg=key)
        moved.append(key)
    assert len(moved) == len(load_release(RELEASES / "gram_ema.pth").get("shadow_params"))


def test_wrong_preset_names_the_first_mismatching_tensor_and_the_preset_that_fits(in_tmp, capsys):
    code, _, err = zoo3d(capsys, "import", "gram", RELEASES / "gram_generator.pth", "--preset", "ffhq256",
                         "--out", "run")
    line = one_line_error(err)
    assert code == 2 and not (in_tmp / "run").exists()
    assert "'representation.sample_network.network.0.weight' has shape (64, 3)" in line
    assert "needs (128, 3)" in line and "preset 'tiny' fits it" in line


@pytest.mark.parametrize("model, name, says", [("gram", "eg3d_snapshot.pkl", "GRAM"),
                                               ("gram", "gram_hd_ffhq256.pt", "import it as model gram_hd"),
                                               ("gram_hd", "gram_generator.pth", "not a GRAM-HD generator")])
def test_a_file_of_another_model_is_refused_in_one_sentence(in_tmp, capsys, model, name, says):
    code, _, err = zoo3d(capsys, "import", model, RELEASES / name, "--preset", "tiny", "--out", "run")
    line = one_line_error(err)
    assert code == 2 and name in line and says in line


class _Evil:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return open, (self.target, "w")


def test_hostile_truncated_and_unknown_files_are_refused(in_tmp, capsys):
    target = in_tmp / "pwned"
    hostile = in_tmp / "generator.pth"
    torch.save({"representation.x": _Evil(target)}, hostile)
    truncated = in_tmp / "cut.pth"
    truncated.write_bytes((RELEASES / "gram_generator.pth").read_bytes()[:5000])
    unknown = in_tmp / "notes.pth"
    unknown.write_text("not a checkpoint\n")
    for path in (hostile, truncated, unknown):
        code, _, err = zoo3d(capsys, "import", "gram", path, "--preset", "tiny", "--out", "run")
        line = one_line_error(err)
        assert code == 2 and str(path) in line
    assert not target.exists() and not (in_tmp / "run").exists()


def test_models_without_an_importer_and_existing_folders(in_tmp, capsys):
    code, _, err = zoo3d(capsys, "import", "oracle", RELEASES / "gram_generator.pth", "--preset", "tiny",
                         "--out", "run")
    assert code == 2 and "has no importer" in one_line_error(err)
    (in_tmp / "taken").mkdir()
    (in_tmp / "taken" / "config.yaml").write_text("model: gram\n")
    code, _, err = zoo3d(capsys, "import", "gram", RELEASES / "gram_generator.pth", "--preset", "tiny",
                         "--out", "taken")
    assert code == 2 and "already exists" in one_line_error(err)


def test_pickle_of_a_payload_was_really_dangerous(tmp_path):
    # the payload above does write with the standard unpickler: the refusal is not vacuous
    target = tmp_path / "written"
    pickle.loads(pickle.dumps(_Evil(target))).close()
    assert target.exists()


REFUSED_BUILD = '''
from pathlib import Path

from toy_model import ToyModel
from zoo3d import hookimpl
from zoo3d.specs import ModelSpec
from zoo3d.upstream import ImportedRelease


class Importing(ToyModel):
    imports_releases = True

    def build(self, config):
        if config.toy.resolution % 4:
            raise ValueError(f"toy.resolution must be a multiple of 4, got {config.toy.resolution}")
        return super().build(config)

    def import_release(self, release, config):
        return ImportedRelease(state={}, config=config.model_copy(update={
            "toy": config.toy.model_copy(update={"resolution": 18})}))


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="toy_importing", factory="refused_build_plugin:Importing",
                       presets_dir=Path(__file__).parent / "presets"))
'''


def test_a_release_config_the_constructors_refuse_is_one_config_sentence(in_tmp, capsys, monkeypatch):
    # `zoo3d import` called plugin.build directly: the constructor's ValueError came out as a traceback
    (in_tmp / "refused_build_plugin.py").write_text(REFUSED_BUILD)
    (in_tmp / "presets").mkdir()
    (in_tmp / "presets" / "tiny.yaml").write_text("{}\n")
    torch.save({"w": torch.zeros(1)}, in_tmp / "release.pt")
    monkeypatch.syspath_prepend(str(in_tmp))
    monkeypatch.setenv("ZOO3D_PLUGINS", "refused_build_plugin")
    code, _, err = zoo3d(capsys, "import", "toy_importing", in_tmp / "release.pt", "--preset", "tiny",
                         "--out", "run")
    assert code == 2
    assert one_line_error(err) == ("Error: Invalid config: the model cannot be built with it: toy.resolution must "
                                   "be a multiple of 4, got 18.")
    assert not (in_tmp / "run").exists()
