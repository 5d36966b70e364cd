"""An SDF model's --level is in SDF units; so is the refusal when the field has no surface there."""

from __future__ import annotations

import math

import pytest
import torch

from cli_toy import zoo3d
from conftest import one_line_error
from zoo3d.core.representation import Radiance
from zoo3d.errors import UserError
from zoo3d.mesh import extract_mesh, grid_points

RADIUS, BOUNDS = 0.07, 0.12


class SphereSDF:
    kind = "sdf"
    bounds = BOUNDS

    def query(self, points, dirs):
        return Radiance(rgb=torch.zeros_like(points), sigma=points.norm(dim=-1, keepdim=True) - RADIUS)


@pytest.mark.parametrize("level", [5.0, -5.0, 0.2])
def test_the_refusal_states_the_level_asked_and_the_sdf_values(level):
    # 9 points a side hold the origin (SDF -R) and the corners (SDF sqrt(3) b - R)
    lo, hi = -RADIUS, math.sqrt(3) * BOUNDS - RADIUS
    with pytest.raises(UserError) as err:
        extract_mesh(SphereSDF(), resolution=9, level=level, colors=False)
    assert str(err.value) == (f"The field has no surface at level {level:g} (values range from {lo:.4g} to "
                              f"{hi:.4g}); choose another --level.")


def test_the_cli_refusal_names_the_typed_level_and_the_oracles_sdf_range(tmp_path, monkeypatch, capsys,
                                                                          single_thread):
    from zoo3d.runs import load_model
    from zoo3d.train.sampling import seed_latents

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    gen = load_model(None, model="oracle", device="cpu").generator
    with torch.no_grad():
        rep = gen.represent(seed_latents([0], gen.z_dim, gen.device, gen.dtype), psi=0.5)
        p = grid_points(float(rep.bounds), 12).unsqueeze(0)
        sdf = rep.query(p, p).sigma.float()
    assert zoo3d("export", "--model", "oracle", "--level", "5", "--resolution", "12", "--out", "o.ply") == 2
    assert one_line_error(capsys.readouterr().err) == (f"Error: The field has no surface at level 5 (values range from {sdf.min():.4g} to "
                                      f"{sdf.max():.4g}); choose another --level.")
    assert not (tmp_path / "o.ply").exists()
