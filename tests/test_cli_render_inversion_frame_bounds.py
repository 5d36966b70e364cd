"""``zoo3d render --inversion`` refuses frames beyond zoo3d.limits' bounds before it draws them, at the size it draws
them: ``--resolution``, else the one the image was inverted at, else (a header written without one) the generator's.

Before, an inversion whose header held no resolution skipped the check: ``--frames 10001`` (or frames too large for
memory) went on to be drawn, one after another, instead of being refused in one sentence. The inversion is a stand-in
(a generator with the cache protocol, 64 pixels a side), so the refusal, or what is drawn, shows which size was used.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cli_toy import zoo3d
from conftest import one_line_error
from test_freeview_cache_closed_form import StandIn
from zoo3d.cameras import Camera
from zoo3d.core.inverter import InversionResult
from zoo3d.limits import BYTES_PER_PIXEL, byte_size


@pytest.fixture
def inversion(tmp_path, monkeypatch):
    """An inversion folder whose loading gives a stand-in generator of 64x64 frames and the header returned (without a
    resolution until a test sets one); zoo3d.limits' memory budget is 1000 bytes."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inv" / "face").mkdir(parents=True)
    header = {"model": "stand_in", "image": "face.png"}
    generator = StandIn()
    generator.resolution = (64, 64)
    result = InversionResult("inverted rep", Camera.from_angles(0.3, 0.0, 1.0, 12.0), extras={"header": header})
    monkeypatch.setattr("zoo3d.invert.saved.load_inversion",
                        lambda folder, device: (SimpleNamespace(generator=generator), result))
    monkeypatch.setattr("zoo3d.limits.memory_budget", lambda: 1000)
    return header


@pytest.mark.parametrize("cached", [["--cached", "--rasterizer", "torch"], []], ids=["cached", "model"])
@pytest.mark.parametrize("recorded, given, side", [(None, [], 64), ([48, 48], [], 48), (None, ["--resolution", "40"], 40),
                                                   ([48, 48], ["--resolution", "40"], 40)],
                         ids=["generator's", "inverted-at", "given", "given-over-inverted-at"])
def test_frames_beyond_the_memory_budget_are_refused_at_the_size_they_would_be_drawn(inversion, capsys, cached,
                                                                                     recorded, given, side):
    if recorded is not None:
        inversion["resolution"] = recorded
    assert zoo3d("render", "--inversion", "inv/face", *cached, "--frames", "2", *given, "--out", "turn.gif") == 2
    need = byte_size(2 * side * side * BYTES_PER_PIXEL)
    assert one_line_error(capsys.readouterr().err) == (
        f"Error: --frames 2 asks for 2 frames of {side}x{side}, which need about {need} of memory, more than "
        f"the {byte_size(1000)} a command may hold (half the memory available now); ask for fewer or smaller frames.")


def test_more_frames_than_one_output_holds_are_refused_for_a_header_without_a_resolution(inversion, monkeypatch,
                                                                                           capsys):
    def drawn(*args, **kwargs):  # a missed check would draw all 10,001 frames (minutes) before the output refused them
        raise AssertionError("frames were drawn")

    monkeypatch.setattr("zoo3d.freeview.commands.render_cache", drawn)
    assert zoo3d("render", "--inversion", "inv/face", "--cached", "--frames", "10001", "--out", "turn.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: --frames 10001 asks for 10,001; at most 10,000 frames fit in one output (split the work over several "
        "commands).")


@pytest.mark.parametrize("recorded, given, side",
                         [(None, [], 64), ([48, 48], [], 48), (None, ["--resolution", "40"], 40)],
                         ids=["generator's", "inverted-at", "given"])
def test_cached_frames_within_the_bounds_are_drawn_at_the_size_checked(inversion, monkeypatch, capsys, recorded, given,
                                                                       side):
    from PIL import Image

    monkeypatch.setattr("zoo3d.limits.memory_budget", lambda: 1 << 30)
    if recorded is not None:
        inversion["resolution"] = recorded
    assert zoo3d("render", "--inversion", "inv/face", "--cached", "--rasterizer", "torch", "--frames", "2", *given,
                 "--out", "turn.gif") == 0, capsys.readouterr().err
    with Image.open("turn.gif") as gif:
        assert (gif.size, gif.n_frames) == ((side, side), 2)
