"""A plugin's dataset that serves no camera poses is refused for a camera-conditioned discriminator (the tri-plane
model's, GRAMInverter's StyleGAN2 D) before the run folder exists, where the data's cameras are checked for their
scene (zoo3d.train.gan.check_data_label_scene): before, the run folder and its config.yaml were made and the first
step refused it, so the same command was then refused for a folder that "already holds a run"."""

from __future__ import annotations

import sys

import pytest

from conftest import load_tiny_config, one_line_error, run_in_process
from test_gram_inverter_discriminator import SG2
from test_gram_inverter_model import MICRO as GI_MICRO
from test_triplane_label_scene import MICRO as TP_MICRO
from zoo3d.errors import UserError
from zoo3d.plugins import reset_host
from zoo3d_gram_inverter.model import GramInverterModel

PLUGIN = '''
import torch

from zoo3d import hookimpl
from zoo3d.specs import DatasetSpec


class Unposed:
    """Images without a camera: a plugin's dataset of photos it has no poses for."""

    def __init__(self, cfg, resolution, **_):
        self.resolution = resolution

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"image": torch.zeros(3, self.resolution, self.resolution)}


@hookimpl
def zoo3d_register_datasets(register):
    register(DatasetSpec("unposed:photos", "tud_unposed_plugin:Unposed"))
'''

POSED = "use data with poses (dataset.json, GRAM poses/ or poses.json)"


@pytest.fixture
def unposed(tmp_path, monkeypatch):
    (tmp_path / "tud_unposed_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tud_unposed_plugin", raising=False)
    monkeypatch.setenv("ZOO3D_PLUGINS", "tud_unposed_plugin")
    monkeypatch.chdir(tmp_path)
    reset_host()
    yield tmp_path
    reset_host()


@pytest.mark.parametrize("model, sets, sentence", [
    ("triplane", TP_MICRO, f"The tri-plane model's discriminator reads each image's camera label, and dataset "
                           f"'unposed:photos' serves no camera poses; {POSED}."),
    ("gram_inverter", [*GI_MICRO[1:], *SG2], f"GRAMInverter's discriminator reads each image's camera label, and "
                                             f"dataset 'unposed:photos' serves no camera poses; {POSED} or set "
                                             f"discriminator.conditioned=false with loss.lambda_realpos=0."),
], ids=["triplane", "gram_inverter"])
def test_unposed_data_is_refused_before_the_run_folder_is_made(unposed, capsys, model, sets, sentence):
    args = ["train", model, "--preset", "tiny", "--data", "unposed:photos", "--steps", "1", "--out", "run",
            "--quiet", "--device", "cpu"]
    for item in sets:
        args += ["--set", item]
    for attempt in range(2):  # the same command again: refused for its data, not for a folder holding a run
        code, stdout, err = run_in_process(capsys, *args)
        assert code == 2, stdout + err
        assert one_line_error(err) == f"Error: {sentence}", attempt
        assert not (unposed / "run").exists()


def test_gram_inverter_with_an_unconditioned_discriminator_takes_unposed_data(unposed):
    """The way out its sentence names: with ``discriminator.conditioned=false`` and GRAM's real-pose loss off, the
    same data passes the check made before the run (its later stages, which render from the data's cameras, take
    unposed data as they did); the sentence names both, as either alone is refused."""
    sets = [*GI_MICRO[1:], *SG2, "data.spec=unposed:photos"]
    with pytest.raises(UserError) as refused:
        GramInverterModel().check_new_run(load_tiny_config("gram_inverter", *sets), {})
    assert str(refused.value).startswith("GRAMInverter's discriminator reads each image's camera label")
    way_out = "discriminator.conditioned=false with loss.lambda_realpos=0"
    assert str(refused.value).endswith(f"or set {way_out}.")
    with pytest.raises(UserError, match=r"^GRAMInverter regresses the pose of each real image"):
        GramInverterModel().check_new_run(load_tiny_config("gram_inverter", *sets, "discriminator.conditioned=false"),
                                          {})
    GramInverterModel().check_new_run(load_tiny_config("gram_inverter", *sets, *way_out.split(" with ")), {})
