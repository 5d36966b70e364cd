"""GRAMInverter's camera prior must place its cameras where the generator's rays (``generator.render.near`` to
``far``, 0.88 to 1.12 in its presets) reach GRAM's manifolds at the origin: from farther every fake is the background
alone, so such a radius is refused when the config is read instead of training the GAN on empty renders."""

from __future__ import annotations

import pytest
import torch
from test_gram_inverter_model import MICRO, micro_config

from zoo3d.errors import UserError

pytestmark = pytest.mark.usefixtures("single_thread")


@torch.no_grad()
@pytest.mark.parametrize("radius, sees_the_head", [(1.0, True), (1.12, True), (1.5, False), (2.7, False)])
def test_fakes_drawn_from_a_prior_at_the_radius_show_the_head_only_within_the_rays_range(radius, sees_the_head):
    """The reason for the refusal: the preset's generator, its prior's draws moved to ``radius``."""
    plugin, cfg = micro_config()
    torch.manual_seed(0)
    gen = plugin.build(cfg)["generator"].eval()
    g = torch.Generator().manual_seed(0)
    z = gen.sample_z(4, generator=g)
    cameras = cfg.camera.model_copy(update={"radius": radius}).sample(4, generator=g)
    out = gen(z, cameras, resolution=(16, 16))
    assert bool((out.extras["foreground_depth"] > 0).any()) == sees_the_head


@pytest.mark.parametrize("radius", [2.7, 1.2, 0.8])
def test_a_radius_outside_the_rays_range_is_refused_naming_both(radius):
    with pytest.raises(UserError) as err:
        micro_config(f"camera.radius={radius}")
    assert str(err.value) == (
        f"Invalid config: camera.radius {radius:g} lies outside the generator's ray range, generator.render.near 0.88 "
        "to far 1.12, so the fakes rendered from the camera prior's cameras would cut the head at the origin or miss "
        "it; keep the radius between them (GRAM's scene: 1).")


@pytest.mark.parametrize("radius", [0.88, 1.0, 1.12])
def test_a_radius_within_it_is_taken(radius):
    _, cfg = micro_config(f"camera.radius={radius}")
    assert cfg.camera.radius == radius


def test_training_with_eg3ds_radius_stops_with_status_2_before_a_run_folder_exists(tmp_path, capsys):
    from zoo3d.cli.main import main

    run = tmp_path / "run"
    args = ["train", "gram_inverter", "--preset", "tiny", "--out", str(run), "--quiet", "--device", "cpu"]
    for s in [*MICRO, "camera.radius=2.7", "stages.gram_inverter.efficient_gram.steps=1"]:
        args += ["--set", s]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "camera.radius 2.7 lies outside the generator's ray range" in err and "Traceback" not in err
    assert not run.exists()
