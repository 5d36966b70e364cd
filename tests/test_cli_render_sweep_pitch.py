"""``zoo3d render --trajectory yaw-sweep --pitch-range P``: the sweep stays at the prior's centre pitch
(--pitch-range is "the orbit's pitch amplitude", its help says), so P was dropped without a word and the frames drew
another path than the one typed. The command refuses it, as it refuses --rasterizer without --cached, before the
model loads and before anything is written; docs/errors.md quotes the sentence."""

from __future__ import annotations

import pytest

from cli_toy import zoo3d
from conftest import one_line_error

SAID = ("Error: --pitch-range sets the orbit's pitch amplitude, not a yaw sweep, which stays at the prior's centre "
        "pitch; leave it out or choose --trajectory orbit.")


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


@pytest.mark.parametrize("pitch", ["0.9", "0.15", "0"])  # the default typed out is refused too: it was typed
def test_a_pitch_range_with_a_yaw_sweep_is_refused_before_the_model_loads(here, capsys, pitch):
    # 'nowhere' is no run or model: had the model been loaded first, the error would name it instead
    assert zoo3d("render", "nowhere", "--trajectory", "yaw-sweep", "--pitch-range", pitch, "--out", "t.gif") == 2
    assert one_line_error(capsys.readouterr().err) == SAID
    assert sorted(p.name for p in here.iterdir()) == []


def test_a_yaw_sweep_without_it_and_an_orbit_with_it_render(here, capsys):
    assert zoo3d("render", "oracle", "--trajectory", "yaw-sweep", "--frames", "2", "--resolution", "8",
                 "--out", "s.gif") == 0
    assert zoo3d("render", "oracle", "--pitch-range", "0.3", "--frames", "2", "--resolution", "8",
                 "--out", "o.gif") == 0
    assert sorted(p.name for p in here.iterdir()) == ["o.gif", "s.gif"]
