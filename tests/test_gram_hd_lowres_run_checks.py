"""GRAM-HD's ``generator.lowres_run`` is read when stage 2 begins, the first step of a new run that has one: a
missing, foreign or misfitting run is refused before the new run's folder or ``config.yaml`` exists (as
docs/training.md promises of everything the user gave), while a resume, which does not read it again, still
continues a run whose ``lowres_run`` has since moved."""

from __future__ import annotations

import pytest
import torch

from conftest import run_in_process as zoo3d
from test_gram_hd_training import HD_SHRINK, HD_SHRINK_FROM_LOWRES_RUN
from zoo3d.train.checkpoint import read_checkpoint, write_safetensors
from zoo3d_gram_hd.model import GramHDModel

SHRINK = [a for s in HD_SHRINK_FROM_LOWRES_RUN for a in ("--set", s)]


def _config():
    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram_hd")
    return load_run_config(GramHDModel.config_class, spec.name, spec.presets_dir, None, None, list(HD_SHRINK),
                           default_preset=spec.default_preset)


def _gram_file(path, model="gram", drop=0):
    """A checkpoint of ``model`` holding the EMA of a GRAM shaped as HD_SHRINK's LR GRAM (less its last ``drop``
    tensors, a GRAM of another architecture)."""
    torch.manual_seed(3)
    lowres = GramHDModel().build(_config())["generator"].lowres
    state = {f"ema.{k}": v for k, v in lowres.state_dict().items() if "feature_heads" not in k}
    for k in list(state)[len(state) - drop:]:
        del state[k]
    return write_safetensors(state, {"zoo3d.model": model}, path), lowres


def _train(capsys, out, lowres_run, *more):
    with torch.random.fork_rng():
        return zoo3d(capsys, "train", "gram_hd", "--out", out, "--quiet", "--device", "cpu",
                     "--set", f"generator.lowres_run={lowres_run}", *SHRINK, *more)


@pytest.mark.parametrize("source, said", [
    ("gone/run", "generator.lowres_run: run folder or checkpoint '{}' does not exist."),
    ("pigan", "holds a 'pigan' model; it must be a gram or gram_hd run."),
    ("narrow", "does not fit generator.lowres (differs at"),
])
def test_a_lowres_run_that_cannot_be_loaded_is_refused_before_the_run_folder_exists(tmp_path, capsys, source,
                                                                                    said):
    ref = str(tmp_path / source)
    if source == "pigan":
        ref = str(_gram_file(tmp_path / "p.safetensors", model="pigan")[0])
    elif source == "narrow":
        ref = str(_gram_file(tmp_path / "n.safetensors", drop=2)[0])
    out = tmp_path / "hd"
    code, _, err = _train(capsys, out, ref, "--steps", "1")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert said.format(ref) in err, err
    assert not out.exists()  # not even config.yaml: the run can be started again with the same --out


def test_a_run_resumes_and_samples_after_its_lowres_run_is_gone(tmp_path, capsys):
    source, lowres = _gram_file(tmp_path / "g.safetensors")
    out = tmp_path / "hd"
    code, _, err = _train(capsys, out, source, "--steps", "1")
    assert code == 0, err
    tensors, _ = read_checkpoint(out / "checkpoints" / "step_000000001.safetensors")
    for k, v in lowres.state_dict().items():  # the run started from the file's weights (frozen in stage 2)
        if "feature_heads" not in k:
            torch.testing.assert_close(tensors[f"generator.lowres.{k}"], v, rtol=0, atol=0, msg=k)
    source.unlink()
    code, _, err = zoo3d(capsys, "train", "gram_hd", "--out", out, "--resume", "--steps", "2", "--quiet",
                         "--device", "cpu")
    assert code == 0, err
    assert (out / "checkpoints" / "step_000000002.safetensors").is_file()
    code, _, err = zoo3d(capsys, "sample", out, "--seeds", "0", "--yaw", "0", "--out", tmp_path / "s.png",
                         "--device", "cpu")
    assert code == 0, err


def test_a_set_of_stage_one_keys_beside_a_lowres_run_is_refused_naming_them_before_anything_is_read(tmp_path,
                                                                                                     capsys):
    """Stage 1 and its discriminator are neither built nor trained: a --set of its keys, its stage by name or by
    index, would change nothing. Refused before the lowres run is read (it does not exist here) or the folder made."""
    out = tmp_path / "hd"
    code, _, err = _train(capsys, out, "gone/run", "--set", "stages.gram_hd.stage1.steps=5", "--set",
                          "stages.0.lr.generator=1e-3", "--set", "discriminator.lowres_channel_scale=0.5",
                          "--set", "stages.gram_hd.stage2.steps=3", "--steps", "1")
    assert code == 2 and not out.exists(), err
    assert err.strip().splitlines() == [
        "Error: --set 'stages.gram_hd.stage1.steps=5' and --set 'stages.0.lr.generator=1e-3' and --set "
        "'discriminator.lowres_channel_scale=0.5' set keys this run does not read, so drop them: generator.lowres_run "
        "gives the LR GRAM, so stage gram_hd.stage1 and its discriminator are not trained (without "
        "generator.lowres_run they are)."]


def test_a_stage_one_of_no_steps_without_a_lowres_run_is_refused_before_the_run_folder_exists(tmp_path, capsys):
    """Stage 2 freezes the LR GRAM it starts from: with neither stage 1's steps nor a lowres run that is the GRAM as
    initialised, and the run would super-resolve noise."""
    out = tmp_path / "hd"
    with torch.random.fork_rng():
        code, _, err = zoo3d(capsys, "train", "gram_hd", "--out", out, "--quiet", "--device", "cpu",
                             *[a for s in HD_SHRINK for a in ("--set", s)], "--set", "stages.gram_hd.stage1.steps=0",
                             "--steps", "2")
    assert code == 2 and not out.exists(), err
    assert err.strip().splitlines() == [
        "Error: stages.gram_hd.stage1.steps is 0 and generator.lowres_run is not set, so stage gram_hd.stage2 would "
        "freeze an untrained LR GRAM; give stage 1 steps, or set generator.lowres_run to a gram or gram_hd run to "
        "start from."]


def test_a_map_that_holds_a_stage_one_key_beside_a_lowres_run_is_refused_too(tmp_path, capsys):
    out = tmp_path / "hd"
    code, _, err = _train(capsys, out, "gone/run", "--set", "discriminator={lowres_max_channels: 8}", "--steps", "1")
    assert code == 2 and not out.exists(), err
    assert err.strip().splitlines() == [
        "Error: --set 'discriminator={lowres_max_channels: 8}' sets a key this run does not read, so drop it: "
        "generator.lowres_run gives the LR GRAM, so stage gram_hd.stage1 and its discriminator are not trained "
        "(without generator.lowres_run they are)."]
