"""Importing EG3D network snapshots: the G_ema record of a real snapshot file becomes a zoo3d tri-plane model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.upstream import load_release, module_state_dict
from zoo3d_triplane.config import TriplaneConfig
from zoo3d_triplane.generator import TriplaneGenerator
from zoo3d_triplane.model import TriplaneModel
from zoo3d_triplane.upstream import convert_state_dict, eg3d_config

RELEASES = Path(__file__).parent / "fixtures" / "releases"
# the widths of tests/fixtures/releases/eg3d_snapshot.pkl (see its README)
SNAPSHOT_PRESET = dict(z_dim=16, w_dim=16, plane_resolution=32, channel_base=256, channel_max=16, sr_channels=(16, 16))


@pytest.fixture(scope="module")
def snapshot():
    return load_release(RELEASES / "eg3d_snapshot.pkl")


def test_a_snapshot_imports_with_eg3ds_settings_and_every_tensor_unchanged(snapshot):
    preset = TriplaneConfig(generator=SNAPSHOT_PRESET)
    imported = TriplaneModel().import_release(snapshot, preset)
    g, cam = imported.config.generator, imported.config.camera
    # the scene and rendering of the file (EG3D's FFHQ settings), the SR module's resolutions
    assert (g.box_warp, g.near, g.far, g.num_samples, g.num_importance) == (1.0, 2.25, 3.3, 48, 48)
    assert (g.third_plane, g.sampling, g.eval_noise, g.density_scale) == ("zx", "eg3d", "const", 1.0)
    assert (g.resolution, g.sr_input_resolution, g.neural_resolution) == (128, 64, 64)
    assert g.sr_conv_clamp is None  # the snapshot's SR runs in fp32 (sr_num_fp16_res=0): no clamp
    assert cam.radius == 2.7 and abs(cam.fov - 13.3738) < 1e-3
    generator = TriplaneGenerator(g, cam)
    generator.load_state_dict(imported.state, strict=True)
    upstream = module_state_dict(snapshot["G_ema"])
    for name, source in imported.sources.items():
        assert torch.equal(imported.state[name].flatten(), upstream[source].flatten()), name
    assert imported.sources["backbone.convs.0.conv.weight"] == "backbone.synthesis.b8.conv0.weight"
    generator.eval()
    with torch.no_grad():
        out = generator(torch.randn(1, 16), Camera.from_angles([0.3], 0.0, radius=2.7, fov=cam.fov))
    assert out.rgb.shape == (1, 3, 128, 128) and torch.isfinite(out.rgb).all()


def test_a_backbone_trained_in_fp16_keeps_its_conv_clamp():
    """EG3D sets conv_clamp=256 on every backbone layer when it trains with --g_num_fp16_res > 0; the clamp
    acts in fp32 too, so an imported model must apply it."""
    snapshot = load_release(RELEASES / "eg3d_snapshot.pkl")  # a fresh copy: the records are changed below
    synthesis = snapshot["G_ema"].get("_modules")["backbone"].get("_modules")["synthesis"].get("_modules")
    assert synthesis["b4"].get("_modules")["conv1"].get("conv_clamp") is None  # the fixture's (fp32) backbone
    preset = TriplaneConfig(generator=SNAPSHOT_PRESET)
    assert TriplaneModel().import_release(snapshot, preset).config.generator.backbone_conv_clamp is None
    for block in synthesis.values():
        for layer in block.get("_modules").values():
            if "conv_clamp" in layer.state:
                layer.state["conv_clamp"] = 256
    imported = TriplaneModel().import_release(snapshot, preset)
    assert imported.config.generator.backbone_conv_clamp == 256.0
    generator = TriplaneGenerator(imported.config.generator, imported.config.camera)
    clamps = {m.clamp for m in generator.backbone.modules() if hasattr(m, "clamp")}
    assert clamps == {256.0}


def test_the_frontal_conditioning_camera_is_eg3ds(snapshot):
    """gen_samples.py conditions on LookAtPoseSampler(pi/2, pi/2, radius 2.7) with focal 4.2647: the prior's frontal."""
    imported = TriplaneModel().import_release(snapshot, TriplaneConfig(generator=SNAPSHOT_PRESET))
    label = imported.config.camera.frontal(1).to_eg3d()[0]
    expected = torch.tensor([1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 2.7, 0, 0, 0, 1,
                             4.2647, 0, 0.5, 0, 4.2647, 0.5, 0, 0, 1], dtype=label.dtype)
    torch.testing.assert_close(label, expected, atol=1e-5, rtol=0)


def test_files_that_are_not_eg3d_generators_are_refused_in_one_sentence(snapshot):
    preset = TriplaneConfig(generator=SNAPSHOT_PRESET)
    with pytest.raises(UserError, match="no G_ema"):
        TriplaneModel().import_release(load_release(RELEASES / "gram_generator.pth"), preset)
    with pytest.raises(UserError, match="not EG3D's TriPlaneGenerator"):
        TriplaneModel().import_release({"G_ema": snapshot["augment_pipe"]}, preset)
    state = module_state_dict(snapshot["G_ema"])
    with pytest.raises(UserError, match="no place for"):
        convert_state_dict({**state, "backbone.extra.weight": torch.zeros(1)})
    rendering = dict(snapshot["G_ema"].get("rendering_kwargs"), ray_start="auto", ray_end="auto")
    with pytest.raises(UserError, match="ray_start='auto'"):
        eg3d_config(preset, rendering)
