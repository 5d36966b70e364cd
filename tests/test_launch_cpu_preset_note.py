"""A new run of a paper preset on the CPU (``zoo3d train gram --preset ffhq256 --device cpu``) started without a word,
although each of its steps is GRAM's full 32 images of 256x256 (a step had not finished after ten minutes on a 2-core
CPU, where a tiny step takes under a second). It now starts with one ``note:`` naming the first stage's step against
the tiny preset's and ``--preset tiny`` (docs/training.md, "Presets on a CPU"); the CPU-sized presets and a
``--config`` file get none (nor does a resumed run, which takes no ``--preset``: not run here). The engine is
replaced by a stand-in that stops the command at once, so nothing trains here."""

from __future__ import annotations

import pytest

from conftest import run_in_process
from zoo3d.errors import UserError
from zoo3d.train import engine

GRAM_NOTE = ("note: preset 'ffhq256' is sized for GPUs: its first stage, 'gram', trains on 32 images of 256x256 a step "
             "(--preset tiny: 4 images of 32x32), so on the CPU each step takes many times as long and as much memory; "
             "--preset tiny is sized for a CPU.")
STOP = "Error: the engine stand-in stops here."


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))

    def stand_in(*args, **kwargs):
        raise UserError(STOP.removeprefix("Error: "))

    monkeypatch.setattr(engine, "Trainer", stand_in)
    return tmp_path


def _stderr(capsys, *args):
    code, out, err = run_in_process(capsys, "train", *args)
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[-1] == STOP, err
    return lines[:-1]


def test_a_paper_preset_on_the_cpu_says_so_once(here, capsys):
    # the note is said before the trainer is built (the stand-in stops there), so before any run folder is made
    assert _stderr(capsys, "gram", "--preset", "ffhq256", "--device", "cpu", "--data", "synthetic:heads") == [GRAM_NOTE]


def test_it_names_the_step_the_overrides_leave(here, capsys):
    lines = _stderr(capsys, "gram_hd", "--preset", "ffhq512", "--device", "cpu", "--set",
                    "stages.gram_hd.stage1.batch_size=2")
    # GRAM-HD's stage 1 is GRAM at 64x64 (the x8 super-resolution's input); its default preset's at 32x32
    assert lines == ["note: preset 'ffhq512' is sized for GPUs: its first stage, 'gram_hd.stage1', trains on 2 images "
                     "of 64x64 a step (--preset tiny: 4 images of 32x32), so on the CPU each step takes many times as "
                     "long and as much memory; --preset tiny is sized for a CPU."]


@pytest.mark.parametrize("args", [
    ("gram",),  # the default preset, tiny
    ("gram", "--preset", "tiny"),
    ("gram_hd", "--preset", "demo"),
    ("triplane", "--preset", "tiny_eg3d"),
    ("gram", "--preset", "ffhq256", "--set", "stages.gram.batch_size=1",
     "--set", "generator.resolution=32"),  # a paper preset cut to a tiny step: no more pixels a step than tiny's
])
def test_the_cpu_sized_presets_get_no_note(here, capsys, args):
    assert _stderr(capsys, *args, "--device", "cpu") == []


def test_a_config_file_gets_no_note(here, capsys):
    from zoo3d.plugins import get_model_spec

    preset = get_model_spec("gram").presets_dir / "ffhq256.yaml"
    assert _stderr(capsys, "gram", "--config", preset, "--device", "cpu") == []
