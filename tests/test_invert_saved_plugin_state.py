"""A plugin's single-pass inverter saves its state under names of its own (``Inverter.state``): ``zoo3d render
--inversion`` reads the file back and hands ``restore`` the same tensors, whatever the names; a state the file cannot
hold (a number beside the latent, a bare tensor, a name that is no text) is named in one sentence (docs/plugins.md,
Single-pass inversion)."""

from __future__ import annotations

import pytest
import torch

import toy_model
from conftest import one_line_error, run_in_process as zoo3d
from test_cli_invert_options import no_lpips, sphere  # noqa: F401 (fixtures)
from test_invert_cli import toy_image  # noqa: F401 (a fixture)
from zoo3d.core.inverter import InversionResult, Inverter
from zoo3d.errors import PluginError
from zoo3d.invert.saved import check_state


class NamedStateInverter(Inverter):
    """Inverts every image into the latent z = 0.5 and saves it as 'code', not 'latent'."""

    def __init__(self, generator, restored, extra=None):
        super().__init__()
        self.generator, self.restored, self.extra = generator, restored, extra or {}

    def invert(self, images, cameras=None):
        z = torch.full((images.shape[0], self.generator.z_dim), 0.5)
        return InversionResult(self.generator.represent(z), cameras, latent=z)

    def render(self, result, cameras, resolution=None):
        return self.generator.render(result.representation, cameras, resolution)

    def state(self, result):
        return {"code": result.latent, **self.extra}

    def restore(self, state, cameras):
        self.restored.append(state)
        return InversionResult(self.generator.represent(state["code"]), cameras, latent=state["code"])


def test_render_inversion_restores_a_state_saved_under_the_inverters_own_names(sphere, no_lpips, monkeypatch,
                                                                                tmp_path, capsys):
    restored = []
    monkeypatch.setattr(toy_model.ProceduralToy, "build_inverter",
                        lambda self, config, modules: NamedStateInverter(modules["generator"], restored))
    code, _, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", "--pose", "0.1,0", "--frames",
                         "2", "--out", "o")
    assert code == 0, err
    assert (tmp_path / "o" / "sphere" / "inversion.safetensors").is_file()
    code, out, err = zoo3d(capsys, "render", "--inversion", "o/sphere", "--frames", "2", "--out", "again.gif")
    assert code == 0, err
    assert [sorted(s) for s in restored] == [["code"]]
    assert torch.equal(restored[0]["code"], torch.full_like(restored[0]["code"], 0.5))
    assert (tmp_path / "again.gif").is_file()


def test_a_state_that_holds_a_number_is_named_in_one_sentence(sphere, no_lpips, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(toy_model.ProceduralToy, "build_inverter", lambda self, config, modules: NamedStateInverter(
        modules["generator"], [], extra={"psi": 0.7}))
    code, _, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", "--pose", "0.1,0", "--frames",
                         "2", "--out", "o")
    assert code == 2 and one_line_error(err) == (
        "Error: NamedStateInverter.state returned 'psi' as a float; the file holds tensors by text names, so give it "
        "as one (torch.tensor(value)) (docs/plugins.md, Single-pass inversion).")
    assert not (tmp_path / "o" / "sphere" / "inversion.safetensors").exists()


@pytest.mark.parametrize("state, sentence", [
    (torch.zeros(1, 2), "NamedStateInverter.state returned a Tensor; it returns the tensors that rebuild the result by "
                        "name, {'latent': tensor, ...} (docs/plugins.md, Single-pass inversion)."),
    ({0: torch.zeros(1, 2)}, "NamedStateInverter.state returned the name 0, a int; the file holds tensors by text "
                             "names, so name each with a str (docs/plugins.md, Single-pass inversion)."),
])
def test_a_state_that_is_no_dict_of_named_tensors_is_named_in_one_sentence(state, sentence):
    with pytest.raises(PluginError) as refused:
        check_state(NamedStateInverter(None, []), state)
    assert str(refused.value) == sentence
    check_state(NamedStateInverter(None, []), {"code": torch.zeros(1, 2)})  # the names are the inverter's own
