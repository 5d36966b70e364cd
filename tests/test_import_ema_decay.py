"""GRAM's and pi-GAN's training loops save two torch_ema averages: ``ema.pth`` (decay 0.999), which the
authors' render scripts copy into the generator, and ``ema2.pth`` (0.9999). Either imports; the import's
notes say which average was read when it is not the one the authors render with."""

from __future__ import annotations

import sys
import types

import torch

from conftest import FIXTURES
from test_gram_upstream_names import _tiny as gram_tiny
from test_pigan_import import _config as pigan_config
from zoo3d.upstream import InertObject, load_release
from zoo3d_gram.model import GramModel
from zoo3d_pigan.model import PiGanModel

RELEASES = FIXTURES / "releases"


def _save_ema(path, shadow, decay, monkeypatch):
    """``torch.save`` of a torch_ema ExponentialMovingAverage, as GRAM's training loop writes one."""
    package, module = types.ModuleType("torch_ema"), types.ModuleType("torch_ema.ema")

    class ExponentialMovingAverage:
        pass

    ExponentialMovingAverage.__module__ = "torch_ema.ema"
    ExponentialMovingAverage.__qualname__ = "ExponentialMovingAverage"
    module.ExponentialMovingAverage = ExponentialMovingAverage
    monkeypatch.setitem(sys.modules, "torch_ema", package)
    monkeypatch.setitem(sys.modules, "torch_ema.ema", module)
    ema = ExponentialMovingAverage()
    ema.__dict__.update(decay=decay, num_updates=100, shadow_params=shadow, collected_params=[])
    torch.save(ema, path)


def test_an_ema2_file_imports_with_a_note_naming_its_decay_and_the_file_the_authors_render_with(
        tmp_path, monkeypatch):
    shadow = load_release(RELEASES / "gram_ema.pth").get("shadow_params")
    _save_ema(tmp_path / "ema2.pth", shadow, 0.9999, monkeypatch)
    notes = GramModel().import_release(load_release(tmp_path / "ema2.pth"), gram_tiny()).notes
    assert notes[:2] == [
        "read EMA weights (torch_ema shadow parameters, named in GRAM's parameter order) from the release file",
        "the release file averages with decay 0.9999, not the 0.999 of the ema.pth the authors render with (their "
        "training saves a 0.9999 average as ema2.pth): import ema.pth for their images"]
    # ema.pth itself, the average the authors render with: no such note
    assert not any("decay" in note for note in GramModel().import_release(shadow_ema(shadow), gram_tiny()).notes)


def shadow_ema(shadow, decay=0.999):
    return InertObject("torch_ema.ema.ExponentialMovingAverage", {"decay": decay, "shadow_params": shadow})


def test_a_pigan_ema2_record_is_not_called_what_the_authors_render_with():
    cfg = pigan_config()
    shadow = load_release(RELEASES / "pigan_ema.pth").get("shadow_params")
    for decay, note in [(0.999, "weights: the EMA averages in the release file (what the authors render with)"),
                        (0.9999, "weights: the EMA averages in the release file; the release file averages with decay "
                                 "0.9999, not the 0.999 of the ema.pth the authors render with (their training saves "
                                 "a 0.9999 average as ema2.pth): import ema.pth for their images")]:
        assert PiGanModel().import_release(shadow_ema(shadow, decay), cfg).notes == [note]


def test_an_average_at_a_decay_of_its_own_is_not_called_an_ema2_file():
    """A run's own torch_ema average (here at 0.99) is noted as not the authors' ema.pth, without calling it
    the ema2.pth their training saves at 0.9999."""
    shadow = load_release(RELEASES / "gram_ema.pth").get("shadow_params")
    notes = GramModel().import_release(shadow_ema(shadow, 0.99), gram_tiny()).notes
    assert notes[1] == ("the release file averages with decay 0.99, not the 0.999 of the ema.pth the authors render "
                        "with: import ema.pth for their images")
