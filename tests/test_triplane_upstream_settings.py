"""EG3D snapshots through zoo3d_triplane.upstream: each name, tensor and rendering setting against NVlabs/eg3d's code.

References written out here: ``train.py``'s ``rendering_options`` for its three configs (ffhq, afhq, shapenet)
and its super-resolution module per resolution; ``gen_videos.py``'s focal lengths (4.2647, ShapeNet 1.7074);
the defaults EG3D reads optional keys with (``white_back`` False in ray_marcher.py, ``c_scale`` 0 and
``decoder_lr_mul`` 1 in triplane.py, ``avg_camera_radius`` 2.7 in gen_samples.py); superresolution.py's
modules (input_resolution, the asserted img_resolution, block widths); and the layer layout of
networks_stylegan2.py's ``SynthesisNetwork`` (blocks b4 .. bR: b4 holds const, conv1, torgb; the others
conv0 (x2 up), conv1, torgb; every SynthesisLayer's ``noise_const`` is its block's resolution squared).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from zoo3d.errors import UserError
from zoo3d.upstream import InertObject, load_release, module_state_dict
from zoo3d_triplane.config import TriplaneConfig
from zoo3d_triplane.upstream import SR_MODULES, convert_state_dict, eg3d_config, import_eg3d

pytestmark = pytest.mark.usefixtures("single_thread")

RELEASES = Path(__file__).parent / "fixtures" / "releases"
# the widths of tests/fixtures/releases/eg3d_snapshot.pkl (see its README)
SNAPSHOT_PRESET = dict(z_dim=16, w_dim=16, plane_resolution=32, channel_base=256, channel_max=16, sr_channels=(16, 16))

#: train.py's rendering_options common to every config, with --gen_pose_cond True --c_scale 1 --decoder_lr_mul 1
COMMON = {"disparity_space_sampling": False, "clamp_mode": "softplus", "c_gen_conditioning_zero": False,
          "c_scale": 1.0, "superresolution_noise_mode": "none", "decoder_lr_mul": 1.0, "sr_antialias": True}
#: train.py's per-config rendering_options and the module it picks for the dataset's resolution
EG3D_CONFIGS = {
    "ffhq": dict(COMMON, superresolution_module="training.superresolution.SuperresolutionHybrid8XDC",
                 depth_resolution=48, depth_resolution_importance=48, ray_start=2.25, ray_end=3.3, box_warp=1,
                 avg_camera_radius=2.7, avg_camera_pivot=[0, 0, 0.2]),
    "afhq": dict(COMMON, superresolution_module="training.superresolution.SuperresolutionHybrid8XDC",
                 depth_resolution=48, depth_resolution_importance=48, ray_start=2.25, ray_end=3.3, box_warp=1,
                 avg_camera_radius=2.7, avg_camera_pivot=[0, 0, -0.06]),
    "shapenet": dict(COMMON, superresolution_module="training.superresolution.SuperresolutionHybrid2X",
                     depth_resolution=64, depth_resolution_importance=64, ray_start=0.1, ray_end=2.6, box_warp=1.6,
                     white_back=True, avg_camera_radius=1.7, avg_camera_pivot=[0, 0, 0]),
}


def _fov(focal: float) -> float:
    """The full field of view of a normalised focal length f: the image's half-width 0.5 subtends atan(0.5 / f)."""
    return 2 * math.degrees(math.atan2(0.5, focal))


@pytest.fixture(scope="module")
def snapshot():
    return load_release(RELEASES / "eg3d_snapshot.pkl")


def _fresh():
    """A snapshot whose records a test may change."""
    return load_release(RELEASES / "eg3d_snapshot.pkl")


def _layer(G: InertObject, *path: str) -> InertObject:
    for name in path:
        G = G.get("_modules")[name]
    return G


@pytest.mark.parametrize("name", list(EG3D_CONFIGS))
def test_eg3ds_training_configs_become_the_same_scene_and_rendering(name):
    rk = EG3D_CONFIGS[name]
    cfg = eg3d_config(TriplaneConfig(), rk, 128, sr_conv_clamp=None, backbone_conv_clamp=256.0)
    g, cam = cfg.generator, cfg.camera
    assert (g.box_warp, g.near, g.far) == (rk["box_warp"], rk["ray_start"], rk["ray_end"])
    assert (g.num_samples, g.num_importance) == (rk["depth_resolution"], rk["depth_resolution_importance"])
    assert g.white_background is rk.get("white_back", False)
    assert (g.gen_pose_cond, g.c_scale, g.decoder_lr_mul) == (True, 1.0, 1.0)
    assert (g.density_scale, g.third_plane, g.sampling, g.eval_noise) == (1.0, "zx", "eg3d", "const")
    assert (g.sr_conv_clamp, g.backbone_conv_clamp, g.neural_resolution) == (None, 256.0, 128)
    # 512 px: SuperresolutionHybrid8XDC (128 -> 512); 128 px: SuperresolutionHybrid2X (64 -> 128)
    assert (g.sr_input_resolution, g.resolution) == ((64, 128) if name == "shapenet" else (128, 512))
    assert cam.radius == rk["avg_camera_radius"]
    assert cam.fov == pytest.approx(_fov(1.7074 if name == "shapenet" else 4.2647), abs=1e-9)
    assert cam.fov == pytest.approx(32.64 if name == "shapenet" else 13.37, abs=0.01)


def test_the_sr_clamp_defaults_to_eg3ds_fp16_clamp():
    """train.py's --sr_num_fp16_res defaults to 4, and superresolution.py's blocks then clamp at 256."""
    assert eg3d_config(TriplaneConfig(generator=dict(sr_conv_clamp=None)), EG3D_CONFIGS["ffhq"]).generator.sr_conv_clamp == 256.0


def test_conditioning_and_decoder_settings_follow_the_file():
    """--gen_pose_cond False sets c_gen_conditioning_zero; --c_scale and --decoder_lr_mul are stored as given."""
    rk = dict(EG3D_CONFIGS["ffhq"], c_gen_conditioning_zero=True, c_scale=0.5, decoder_lr_mul=0.25)
    g = eg3d_config(TriplaneConfig(), rk).generator
    assert (g.gen_pose_cond, g.c_scale, g.decoder_lr_mul) == (False, 0.5, 0.25)


def test_optional_rendering_keys_take_the_defaults_eg3d_reads_them_with():
    rk = {k: v for k, v in EG3D_CONFIGS["ffhq"].items()
          if k not in ("c_scale", "decoder_lr_mul", "white_back", "avg_camera_radius")}
    preset = TriplaneConfig(generator=dict(c_scale=3.0, decoder_lr_mul=2.0, white_background=True),
                            camera=dict(radius=1.0))
    cfg = eg3d_config(preset, rk)
    assert (cfg.generator.c_scale, cfg.generator.decoder_lr_mul, cfg.generator.white_background) == (0.0, 1.0, False)
    assert cfg.camera.radius == 2.7
    # without a neural rendering resolution the preset's stays
    assert cfg.generator.neural_resolution == preset.generator.neural_resolution


def test_sr_modules_are_eg3ds_with_their_resolutions_and_widths():
    """superresolution.py: (input_resolution, the img_resolution it asserts, block0 / block1 out channels)."""
    assert SR_MODULES == {"SuperresolutionHybrid8XDC": (128, 512, (256, 128)),
                          "SuperresolutionHybrid8X": (128, 512, (128, 64)),
                          "SuperresolutionHybrid4X": (128, 256, (128, 64)),
                          "SuperresolutionHybrid2X": (64, 128, (128, 64))}
    for module, (low, high, _) in SR_MODULES.items():
        rk = dict(EG3D_CONFIGS["ffhq"], superresolution_module=f"training.superresolution.{module}")
        g = eg3d_config(TriplaneConfig(), rk).generator
        assert (g.sr_input_resolution, g.resolution) == (low, high), module
    # the module record's class wins over the name in rendering_kwargs
    g = eg3d_config(TriplaneConfig(), EG3D_CONFIGS["ffhq"], sr_module="SuperresolutionHybrid4X").generator
    assert (g.sr_input_resolution, g.resolution) == (128, 256)


def test_rendering_settings_zoo3d_does_not_reproduce_are_refused_in_one_sentence():
    preset, ffhq = TriplaneConfig(), EG3D_CONFIGS["ffhq"]
    for key, value, wanted in (("clamp_mode", "mipnerf", "'softplus'"), ("disparity_space_sampling", True, "False"),
                               ("sr_antialias", False, "True")):
        with pytest.raises(UserError, match=rf"renders with {key}={value!r}; zoo3d reproduces EG3D's {key}={wanted} only"):
            eg3d_config(preset, dict(ffhq, **{key: value}))
    for key in ("ray_start", "ray_end"):
        with pytest.raises(UserError, match=r"bounds its rays by the tri-plane box \(ray_start='auto'\); zoo3d renders "
                                            r"EG3D models with a fixed ray interval only\.$"):
            eg3d_config(preset, dict(ffhq, **{key: "auto"}))
    for key in ("ray_start", "ray_end", "box_warp", "depth_resolution", "depth_resolution_importance"):
        with pytest.raises(UserError, match=rf"has no '{key}' in its generator's rendering_kwargs, so it is not an "
                                            r"EG3D generator\.$"):
            eg3d_config(preset, {k: v for k, v in ffhq.items() if k != key})
    with pytest.raises(UserError, match=r"super-resolution module SuperresolutionHybridDeepfp32, which zoo3d does "
                                        r"not import \(it imports SuperresolutionHybrid8XDC, SuperresolutionHybrid8X, "):
        eg3d_config(preset, dict(ffhq, superresolution_module="training.superresolution.SuperresolutionHybridDeepfp32"))
    # without a module named, the preset's SR resolutions stay
    unnamed = {k: v for k, v in ffhq.items() if k != "superresolution_module"}
    g = eg3d_config(TriplaneConfig(generator=dict(resolution=256, sr_input_resolution=64)), unnamed).generator
    assert (g.sr_input_resolution, g.resolution) == (64, 256)
    # the three checked keys are optional: a file without them renders as EG3D's defaults
    lean = {k: v for k, v in ffhq.items() if k not in ("clamp_mode", "disparity_space_sampling", "sr_antialias")}
    assert eg3d_config(preset, lean).generator.sampling == "eg3d"


def _eg3d_name(zoo: str) -> tuple[str, tuple[int, ...] | None]:
    """EG3D's tensor (and the side of its noise_const) for a zoo3d backbone/SR/mapping/decoder tensor, from
    networks_stylegan2.py's layout: zoo3d's convs 2i, 2i+1 and to_rgbs i are block b(8 * 2^i)'s conv0, conv1, torgb."""
    parts = zoo.split(".")
    tail = {"conv.weight": "weight", "conv.modulation.weight": "affine.weight", "conv.modulation.bias": "affine.bias",
            "activate.bias": "bias", "bias": "bias", "noise.weight": "noise_strength", "noise.noise_const": "noise_const"}
    if parts[0] == "mapping":
        return {"w_avg": "backbone.mapping.w_avg", "embed": f"backbone.mapping.embed.{parts[-1]}",
                "layers": f"backbone.mapping.fc{parts[2] if len(parts) > 2 else ''}.{parts[-1]}"}[parts[1]], None
    if parts[0] == "decoder":
        return f"decoder.net.{ {'fc1': 0, 'fc2': 2}[parts[1]] }.{parts[2]}", None
    if parts[0] == "superresolution":
        layer = {"to_rgb": "torgb"}.get(parts[2], parts[2])
        return f"superresolution.{parts[1]}.{layer}.{tail['.'.join(parts[3:])]}", None
    assert parts[0] == "backbone", zoo
    if parts[1] == "const":
        return "backbone.synthesis.b4.const", None
    if parts[1] in ("conv1", "to_rgb1"):
        res, layer, rest = 4, {"conv1": "conv1", "to_rgb1": "torgb"}[parts[1]], parts[2:]
    else:
        i = int(parts[2])
        res = 8 * 2 ** (i // 2 if parts[1] == "convs" else i)
        layer = ("conv0", "conv1")[i % 2] if parts[1] == "convs" else "torgb"
        rest = parts[3:]
    return f"backbone.synthesis.b{res}.{layer}.{tail['.'.join(rest)]}", (res, res) if rest[-1] == "noise_const" else None


def test_every_tensor_lands_on_the_layer_eg3d_runs_it_as(snapshot):
    upstream = module_state_dict(snapshot["G_ema"])
    sources: dict[str, str] = {}
    state = convert_state_dict(upstream, 64, sources)
    assert int(state.pop("_neural_resolution")) == 64
    assert set(state) == set(sources)
    placed = set()
    for zoo, value in state.items():
        name, noise_side = _eg3d_name(zoo)
        assert sources[zoo] == name, zoo
        up = upstream[name]
        # a per-channel bias of a ToRGB is (1, C, 1, 1) in zoo3d; a noise strength (1,); a noise buffer (1, 1, R, R)
        assert torch.equal(value.flatten(), up.flatten()) and value.numel() == up.numel(), zoo
        if noise_side is not None:
            assert tuple(up.shape) == noise_side and tuple(value.shape) == (1, 1, *noise_side), zoo
        if zoo.endswith("conv.weight"):
            assert value.shape == up.shape, zoo  # [out, in, k, k] in both: no transpose
        placed.add(name)
    left = {k for k in upstream if k not in placed}
    assert all(k.endswith("resample_filter") or (k.startswith("superresolution.")
                                                 and k.endswith(("noise_const", "noise_strength"))) for k in left)
    assert {k for k in left if not k.endswith("resample_filter")}  # the SR layers' noise is in the file
    # only the SR layers' noise is left out: another SR tensor, or noise outside the SR, has to have a place
    for extra in ("superresolution.block2.conv0.weight", "backbone.synthesis.b8.conv2.noise_const"):
        with pytest.raises(UserError, match=rf"holds '{extra}' in its generator, which zoo3d's tri-plane model"):
            convert_state_dict({**upstream, extra: torch.zeros(1)})
    # the returned tensors are copies: training the imported model cannot write into the release
    assert all(state[k].data_ptr() != upstream[sources[k]].data_ptr() for k in state)


def test_a_generator_without_a_backbone_or_with_a_missing_tensor_is_refused(snapshot):
    upstream = module_state_dict(snapshot["G_ema"])
    with pytest.raises(UserError, match=r"has no StyleGAN2 backbone in its generator \(backbone\.synthesis\.b4 \.\.\.\), "
                                        r"so it is not an EG3D TriPlaneGenerator"):
        convert_state_dict({k: v for k, v in upstream.items() if not k.startswith("backbone.synthesis.")})
    with pytest.raises(UserError, match=r"has no tensor 'decoder\.net\.2\.bias' in its generator, so it is not an "
                                        r"EG3D TriPlaneGenerator of the kind zoo3d imports"):
        convert_state_dict({k: v for k, v in upstream.items() if k != "decoder.net.2.bias"})
    with pytest.raises(UserError, match=r"holds 'backbone\.synthesis\.b8\.extra' in its generator, which zoo3d's "
                                        r"tri-plane model has no place for"):
        convert_state_dict({**upstream, "backbone.synthesis.b8.extra": torch.zeros(1)})
    assert "_neural_resolution" not in convert_state_dict(upstream)


def test_the_import_reads_the_sr_module_its_clamp_and_the_neural_resolution_from_the_records():
    snapshot = _fresh()
    G = snapshot["G_ema"]
    # the records run a SuperresolutionHybrid2X (64 -> 128); rendering_kwargs naming another module do not count
    G.state["rendering_kwargs"] = dict(G.get("rendering_kwargs"), superresolution_module="training.superresolution."
                                                                                         "SuperresolutionHybrid8XDC")
    _layer(G, "superresolution", "block0", "conv1").state["conv_clamp"] = 256  # an SR trained in fp16
    preset = TriplaneConfig(generator=dict(SNAPSHOT_PRESET, neural_resolution=32))
    imported = import_eg3d(G, preset)  # the G_ema record itself as well as the snapshot dict
    g = imported.config.generator
    assert (g.sr_input_resolution, g.resolution, g.sr_conv_clamp, g.neural_resolution) == (64, 128, 256.0, 64)
    assert int(imported.state["_neural_resolution"]) == 64
    assert "neural rendering resolution 64 from the file (the preset says 32)" in imported.notes
    G.state["neural_rendering_resolution"] = None
    g = import_eg3d(snapshot, preset).config.generator
    assert g.neural_resolution == 32


def test_the_notes_give_eg3ds_scene_units_and_say_what_differs(snapshot):
    preset = TriplaneConfig(generator=SNAPSHOT_PRESET)
    notes = import_eg3d(snapshot, preset).notes
    fov = _fov(4.2647)
    assert notes[0] == (f"EG3D's scene units: tri-plane box 1, rays 2.25..3.3, cameras at radius 2.7 with a "
                        f"{fov:.2f} deg field of view")
    assert len(notes) == 2 and "third plane read as ZX" in notes[1]  # the preset's neural resolution is the file's
    # a file without superresolution_noise_mode: train.py's default --sr_noise_mode none, nothing to say
    quiet = _fresh()
    quiet["G_ema"].state["rendering_kwargs"] = {k: v for k, v in quiet["G_ema"].get("rendering_kwargs").items()
                                                if k != "superresolution_noise_mode"}
    assert len(import_eg3d(quiet, preset).notes) == 2
    noisy = _fresh()
    noisy["G_ema"].state["rendering_kwargs"] = dict(noisy["G_ema"].get("rendering_kwargs"),
                                                    superresolution_noise_mode="random")
    notes = import_eg3d(noisy, preset).notes
    assert len(notes) == 3 and notes[2] == "the release file injects random noise in its super-resolution layers; zoo3d's have none"


def test_rendering_kwargs_stored_as_an_easydict_are_read_as_a_dict():
    """dnnlib.EasyDict is a dict subclass: its record keeps the entries in ``items``, nested ones too."""
    snapshot = _fresh()
    G = snapshot["G_ema"]
    rk = dict(G.get("rendering_kwargs"))
    pivot = InertObject("dnnlib.util.EasyDict", items={"x": 0})
    G.state["rendering_kwargs"] = InertObject("dnnlib.util.EasyDict", items=dict(rk, nested=pivot))
    imported = import_eg3d(snapshot, TriplaneConfig(generator=SNAPSHOT_PRESET))
    assert (imported.config.generator.near, imported.config.generator.far) == (rk["ray_start"], rk["ray_end"])
    G.state["rendering_kwargs"] = InertObject("dnnlib.util.EasyDict")  # an empty one: no rendering settings
    with pytest.raises(UserError, match="has no rendering_kwargs in its generator, so it is not an EG3D generator"):
        import_eg3d(snapshot, TriplaneConfig(generator=SNAPSHOT_PRESET))


def test_other_records_are_refused_naming_what_they_hold(snapshot):
    preset = TriplaneConfig(generator=SNAPSHOT_PRESET)
    with pytest.raises(UserError, match=r"holds no G_ema generator; EG3D's network snapshots \(\.pkl\) hold one"):
        import_eg3d({"G": snapshot["G_ema"]}, preset)
    with pytest.raises(UserError, match=r"holds a torch_utils\.ops\.Other as G_ema, not EG3D's TriPlaneGenerator"):
        import_eg3d({"G_ema": InertObject("torch_utils.ops.Other")}, preset)
    # the class is matched by its own name, whatever module path the pickle records it under
    moved = InertObject("training.triplane.TriPlaneGenerator", state=snapshot["G_ema"].state)
    assert import_eg3d({"G_ema": moved}, preset).config.generator.third_plane == "zx"


@pytest.mark.parametrize("cut", ["no superresolution", "superresolution without submodules", "no b4 block"])
def test_records_missing_a_network_part_are_refused_in_one_sentence(cut):
    """The SR clamp, the SR class and the backbone clamp are read from records that may be absent: the import then
    refuses the file for the tensors it lacks, instead of failing on the missing record."""
    snapshot = _fresh()
    G = snapshot["G_ema"]
    if cut == "no superresolution":
        del G.get("_modules")["superresolution"]
    elif cut == "superresolution without submodules":
        del _layer(G, "superresolution").state["_modules"]
    else:
        del _layer(G, "backbone", "synthesis").get("_modules")["b4"]
    missing = "backbone.synthesis.b8.const" if cut == "no b4 block" else "superresolution.block0.conv0.weight"
    with pytest.raises(UserError, match=rf"has no tensor '{missing}' in its generator"):
        import_eg3d(snapshot, TriplaneConfig(generator=SNAPSHOT_PRESET))
