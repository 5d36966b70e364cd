"""GRAM's recipe regresses the pose of every real image (``loss.lambda_realpos``, 15 or 30 in every one of the
authors' configs, which all read real poses). On a plugin's dataset that serves no camera the discriminator step
leaves that term out, so a run trained without it and said nothing (``d_pose_real`` was simply missing from its
log). Such data is now refused before the run folder exists, naming the loss and how to train without it."""

from __future__ import annotations

import sys
import textwrap
from types import SimpleNamespace

import pytest

from conftest import load_tiny_config, one_line_error, run_in_process
from zoo3d.errors import UserError
from zoo3d.train.gan import check_real_pose_data

PLUGIN = '''
import torch

from zoo3d import hookimpl
from zoo3d.specs import DatasetSpec


class Images:
    """4 grey images; with ``posed`` each carries EG3D's camera label of a camera 1 from the origin."""

    def __init__(self, resolution, posed):
        self.resolution, self.posed = resolution, posed

    def __len__(self):
        return 4

    def __getitem__(self, i):
        item = {"image": torch.zeros(3, self.resolution, self.resolution)}
        if self.posed:
            pose = torch.eye(4)
            pose[2, 3] = 1.0
            item["camera"] = torch.cat([pose.flatten(), torch.tensor([4.26, 0, 0.5, 0, 4.26, 0.5, 0, 0, 1])])
        return item


@hookimpl
def zoo3d_register_datasets(register):
    register(DatasetSpec(name="plain", factory="dataset_plain_plugin:build"))


def build(cfg, resolution, query="", **_):
    return Images(resolution, posed=query == "posed")
'''


@pytest.fixture
def plain(tmp_path, monkeypatch):
    (tmp_path / "dataset_plain_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "dataset_plain_plugin")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("dataset_plain_plugin", None)


@pytest.mark.parametrize("model, who, more", [
    ("gram", "GRAM", []), ("gram_hd", "GRAM-HD", []),
    ("gram_inverter", "GRAMInverter", ["--set", "discriminator.conditioned=false"]),  # GRAM's D, as its ffhq256
])
def test_a_gram_run_on_data_without_poses_is_refused_before_its_folder(plain, capsys, model, who, more):
    code, stdout, err = run_in_process(capsys, "train", model, "--preset", "tiny", "--steps", "1", "--data", "plain",
                                       "--out", "run", "--quiet", "--device", "cpu", *more)
    assert code == 2, stdout + err
    assert one_line_error(err) == (
        f"Error: {who} regresses the pose of each real image (loss.lambda_realpos=15, as the authors train it), and "
        f"dataset 'plain' serves no camera poses; use data with poses (dataset.json, GRAM poses/ or poses.json), or "
        f"set loss.lambda_realpos=0 to train without that loss.")
    assert not (plain / "run").exists()


def test_posed_data_or_a_recipe_without_the_real_pose_loss_passes(plain):
    check_real_pose_data(load_tiny_config("gram", "data.spec=plain?posed"), ["gram"], 16, "GRAM")
    check_real_pose_data(load_tiny_config("gram", "data.spec=plain", "loss.lambda_realpos=0"), ["gram"], 16, "GRAM")


def test_a_stage_s_own_weight_is_the_key_named(plain):
    config = load_tiny_config("gram", "data.spec=plain", "loss.lambda_realpos=0", "stages.gram.loss.lambda_realpos=30")
    with pytest.raises(UserError, match=r"^GRAM regresses the pose of each real image "
                                        r"\(stages.gram.loss.lambda_realpos=30, .* or set "
                                        r"stages.gram.loss.lambda_realpos=0 to train without that loss.$"):
        check_real_pose_data(config, ["gram"], 16, "GRAM")


def test_only_the_stages_a_run_trains_are_asked(plain, monkeypatch):
    """A stage of no steps regresses nothing; GRAM-HD from a finished LR run (``generator.lowres_run``) trains stage 2
    alone, so stage 1's weight does not matter there and stage 2's does."""
    import zoo3d_gram_hd.model as gram_hd
    from zoo3d.plugins import get_model_spec

    check_real_pose_data(load_tiny_config("gram", "data.spec=plain", "stages.gram.steps=0"), ["gram"], 16, "GRAM")
    monkeypatch.setattr(gram_hd, "stage1_weights", lambda lowres, ref: {})  # the LR run is not read here
    model = get_model_spec("gram_hd").load()
    stage1, stage2 = (f"stages.{name}.loss.lambda_realpos" for name in (gram_hd.STAGE1, gram_hd.STAGE2))
    base, modules = ("data.spec=plain", "generator.lowres_run=lr"), {"generator": SimpleNamespace(lowres=None)}
    model.check_new_run(load_tiny_config("gram_hd", *base, f"{stage2}=0"), modules)
    with pytest.raises(UserError, match=r"^GRAM-HD regresses the pose of each real image \(loss.lambda_realpos=15, "):
        model.check_new_run(load_tiny_config("gram_hd", *base, f"{stage1}=0"), modules)
