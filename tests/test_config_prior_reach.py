"""Every model renders its scene at the origin along rays from ``near`` to ``far`` of the camera, so a camera prior
whose radius lies outside that range (EG3D's 2.7 against zoo3d's 0.88 to 1.12) trains on fakes that miss the scene
or cut it. :meth:`zoo3d.config.RayRange.check_camera_radius` refuses such a radius when the config is read, for
every model; the paper presets (each placing its cameras inside its own rays) stay accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.config import RayRange, load_run_config
from zoo3d.errors import UserError
from zoo3d.plugins import get_model_spec

pytestmark = pytest.mark.usefixtures("single_thread")

#: model -> (the key of its ray range, the end of the refusal's sentence)
RAYS = {
    "gram": ("generator.render", "GRAM's scene: 1"),
    "gram_hd": ("generator.lowres.render", "GRAM-HD's scene: 1"),
    "gram_inverter": ("generator.render", "GRAM's scene: 1"),
    "pigan": ("generator.rendering", "pi-GAN's scene: 1"),
    "stylesdf": ("generator.renderer", "StyleSDF's scene: 1"),
    "triplane": ("generator", "zoo3d's scene: 1; EG3D's FFHQ scene, at 2.7, sets generator.box_warp, near, far and "
                              "density_scale to 1, 2.25, 3.3 and 1"),
}


def _config(model: str, *overrides: str, preset: str = "tiny"):
    spec = get_model_spec(model)
    return load_run_config(spec.load().config_class, spec.name, spec.presets_dir, preset, None, list(overrides))


def test_from_eg3ds_radius_no_ray_of_zoo3ds_range_comes_near_the_head():
    """The reason, in closed form: from 2.7 away the rays' samples (0.88 to 1.12 along each ray) keep at least
    2.7 - 1.12 = 1.58 from the origin, far outside the head's box [-0.12, 0.12]^3, for every pixel of a 12 deg view."""
    cam = Camera.from_angles(torch.tensor([0.0, 0.3, -0.3]), 0.1, 2.7, 12.0, dtype=torch.float64)
    origins, dirs = cam.rays(16, 16)
    t = torch.linspace(0.88, 1.12, 25, dtype=torch.float64)
    points = origins[..., None, :] + t[:, None] * dirs[..., None, :]
    assert points.norm(dim=-1).min() > 1.5
    assert not ((points.abs() <= 0.12).all(dim=-1)).any()


@pytest.mark.parametrize("model", sorted(RAYS))
@pytest.mark.parametrize("radius", [2.7, 1.2, 0.8])
def test_a_radius_outside_the_models_rays_is_refused_naming_its_keys(model, radius):
    key, scene = RAYS[model]
    with pytest.raises(UserError) as err:
        _config(model, f"camera.radius={radius}")
    assert str(err.value) == (
        f"Invalid config: camera.radius {radius:g} lies outside the generator's ray range, {key}.near 0.88 to far "
        f"1.12, so the fakes rendered from the camera prior's cameras would cut the head at the origin or miss it; "
        f"keep the radius between them ({scene}).")


@pytest.mark.parametrize("model", sorted(RAYS))
@pytest.mark.parametrize("radius", [0.88, 1.0, 1.12])
def test_a_radius_within_them_is_taken(model, radius):
    assert _config(model, f"camera.radius={radius}").camera.radius == radius


def test_eg3ds_radius_is_taken_with_eg3ds_rays():
    cfg = _config("triplane", "camera.radius=2.7", "generator.near=2.25", "generator.far=3.3",
                  "generator.box_warp=1", "generator.density_scale=1")
    assert (cfg.camera.radius, cfg.generator.near, cfg.generator.far) == (2.7, 2.25, 3.3)


def test_moving_the_rays_away_from_the_prior_is_refused_too():
    with pytest.raises(UserError, match=r"camera.radius 1 lies outside .* generator.render.near 1.5 to far 3"):
        _config("gram", "generator.render.near=1.5", "generator.render.far=3")


def test_the_helper_takes_both_ends_and_refuses_just_beyond():
    rays = RayRange(near=0.5, far=2.0)
    rays.check_camera_radius(0.5, "generator", "a scene: 1")
    rays.check_camera_radius(2.0, "generator", "a scene: 1")
    for radius in (0.4999, 2.0001):
        with pytest.raises(ValueError, match=r"generator.near 0.5 to far 2, .*\(a scene: 1\)$"):
            rays.check_camera_radius(radius, "generator", "a scene: 1")


PRESETS = sorted((model, p.stem) for model in RAYS for p in Path(get_model_spec(model).presets_dir).glob("*.yaml"))


@pytest.mark.parametrize("model, preset", PRESETS)
def test_every_preset_places_its_cameras_within_its_rays(model, preset):
    cfg = _config(model, preset=preset)
    key = RAYS[model][0]
    rays = cfg
    for part in key.split("."):
        rays = getattr(rays, part)
    assert rays.near <= cfg.camera.radius <= rays.far


@pytest.mark.parametrize("model", sorted(RAYS))
def test_training_with_eg3ds_radius_stops_with_status_2_before_a_run_folder_exists(model, tmp_path, capsys):
    from zoo3d.cli.main import main

    run = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["train", model, "--preset", "tiny", "--out", str(run), "--quiet", "--device", "cpu",
              "--set", "camera.radius=2.7"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "camera.radius 2.7 lies outside the generator's ray range" in err and "Traceback" not in err
    assert not run.exists()
