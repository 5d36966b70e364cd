"""``zoo3d import triplane`` refusals are whole sentences, as every other model's (docs/errors.md): they end
with a full stop, also where ``zoo3d import`` prints them as they are (no other preset fits)."""

from __future__ import annotations

import importlib
import pytest

from conftest import FIXTURES, one_line_error, run_in_process as zoo3d
from zoo3d.upstream import load_release

pytestmark = pytest.mark.usefixtures("single_thread")

RELEASES = FIXTURES / "releases"


@pytest.mark.parametrize("name, says", [
    ("gram_generator.pth", "holds no G_ema generator; EG3D's network snapshots (.pkl) hold one; it reads as a gram "
                           "release: import it as model gram."),
    ("pigan_generator.pth", "holds a generators.generators.ImplicitGenerator3d as G_ema, not EG3D's "
                            "TriPlaneGenerator."),
])
def test_a_file_of_another_model_is_one_finished_sentence(in_tmp, capsys, name, says):
    code, _, err = zoo3d(capsys, "import", "triplane", RELEASES / name, "--preset", "tiny_eg3d", "--out", "run")
    line = one_line_error(err)
    assert code == 2 and not (in_tmp / "run").exists()
    assert line == f"Error: {RELEASES / name} {says}"


@pytest.mark.parametrize("key, value, says", [
    ("disparity_space_sampling", True, "renders with disparity_space_sampling=True; zoo3d reproduces EG3D's "
                                       "disparity_space_sampling=False only."),
    ("ray_start", "auto", "bounds its rays by the tri-plane box (ray_start='auto'); zoo3d renders EG3D models "
                          "with a fixed ray interval only."),
])
def test_rendering_settings_zoo3d_does_not_reproduce_are_one_finished_sentence(in_tmp, capsys, monkeypatch, key,
                                                                              value, says):
    """The snapshot's rendering_kwargs changed in the loaded records (the file cannot be re-pickled without EG3D)."""
    snapshot = load_release(RELEASES / "eg3d_snapshot.pkl")
    snapshot["G_ema"].get("rendering_kwargs")[key] = value
    monkeypatch.setattr(importlib.import_module("zoo3d.upstream.importing"), "load_release", lambda path: snapshot)
    code, _, err = zoo3d(capsys, "import", "triplane", RELEASES / "eg3d_snapshot.pkl", "--preset", "tiny_eg3d",
                         "--out", "run")
    line = one_line_error(err)
    assert code == 2 and not (in_tmp / "run").exists()
    assert line == f"Error: {RELEASES / 'eg3d_snapshot.pkl'} {says}"
