"""GRAM-HD's released checkpoints through zoo3d_gram_hd.upstream, tensor by tensor, against the authors' networks.

The reference is JeffreyXiang/GRAM-HD's ``generators/super_resolutions/styleesrgan.py`` (``StyleRRDBNet``,
``ModConv2D``, ``MappingNetwork``) and ``esrgan.py`` (``RRDBNet``) written out here: their parameter shapes
(``_authors_style_net`` / ``_authors_background_net``) and the style net's forward computed straight from the
file's own tensor names (``_authors_style_forward``). The release is ``tests/fixtures/releases/gram_hd_ffhq256.pt``
(written by the authors' code; widths in the fixtures' README) or one laid out with the authors' shapes.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from conftest import FIXTURES
from zoo3d.errors import UserError
from zoo3d.upstream import InertObject, load_release
from zoo3d_gram_hd.config import GramHDConfig
from zoo3d_gram_hd.superres import StyleRRDBNet
from zoo3d_gram_hd.upstream import import_gram_hd_release

pytestmark = pytest.mark.usefixtures("single_thread")

RELEASE = FIXTURES / "releases" / "gram_hd_ffhq256.pt"
#: the authors' ModConv2D layers of a StyleRRDBNet (the ones whose kernels are modulated)
MODULATED = ("upconvs", "HRconv", "conv_last")


def _config(kernels: str = "upstream", resolution: int = 256, up_channels: list[int] | None = (8, 8)) -> GramHDConfig:
    """GramHDConfig at the widths of gram_hd_ffhq256.pt (its README): GRAM radiance 16, mapping 16, z 8,
    feature 4; SR nf 8, nb 1, gc 4, style mapping 16, 1x1 last conv; background up widths [8, 4]."""
    return GramHDConfig.model_validate({"generator": {
        "resolution": resolution,
        "lowres": {"resolution": 64, "manifold": {"hidden": 8, "layers": 3},
                   "radiance": {"z_dim": 8, "mapping_hidden": 16, "mapping_layers": 3, "hidden": 16, "num_layers": 8,
                                "feature_dim": 4}},
        "foreground_sr": {"nf": 8, "nb": 1, "gc": 4, "style_hidden": 16, "last_kernel": 1, "kernels": kernels,
                          "up_channels": None if up_channels is None else list(up_channels)},
        "background_sr": {"nf": 8, "nb": 1, "gc": 4, "up_channels": [8, 4] if resolution == 256 else None}}})


@pytest.fixture(scope="module")
def release() -> dict[str, torch.Tensor]:
    return load_release(RELEASE)


def _rrdb_trunk_shapes(in_nc: int, nf: int, nb: int, gc: int) -> dict[str, tuple[int, ...]]:
    """conv_first, RRDB_trunk.{i}.RDB{1,2,3}.conv{1..5} (dense: conv k reads nf + (k-1) gc), trunk_conv."""
    shapes = {"conv_first.weight": (nf, in_nc, 3, 3), "conv_first.bias": (nf,)}
    for i in range(nb):
        for j in (1, 2, 3):
            for k in range(1, 6):
                out = nf if k == 5 else gc
                shapes[f"RRDB_trunk.{i}.RDB{j}.conv{k}.weight"] = (out, nf + (k - 1) * gc, 3, 3)
                shapes[f"RRDB_trunk.{i}.RDB{j}.conv{k}.bias"] = (out,)
    shapes.update({"trunk_conv.weight": (nf, nf, 3, 3), "trunk_conv.bias": (nf,)})
    return shapes


def _authors_style_net(in_nc, out_nc, w_dim, nf, nb, gc, up_channels, to_rgb_ks, map_hidden) -> dict:
    """StyleRRDBNet(..., use_mapping_network=True, use_pixel_shuffle=True)'s state dict shapes and its style_dim."""
    shapes = _rrdb_trunk_shapes(in_nc, nf, nb, gc)
    style_dim, prev = 0, nf
    for i, c in enumerate(up_channels):
        shapes[f"upconvs.{i}.weight"], shapes[f"upconvs.{i}.bias"] = (4 * c, prev, 3, 3), (4 * c,)
        style_dim, prev = style_dim + prev, c
    shapes.update({"HRconv.weight": (prev, prev, 3, 3), "HRconv.bias": (prev,),
                   "conv_last.weight": (out_nc, prev, to_rgb_ks, to_rgb_ks), "conv_last.bias": (out_nc,)})
    style_dim += 2 * prev
    for i, (a, b) in enumerate([(w_dim, map_hidden), (map_hidden, map_hidden), (map_hidden, map_hidden),
                                (map_hidden, style_dim)]):
        shapes[f"mapping_network.network.{2 * i}.weight"] = (b, a)
        shapes[f"mapping_network.network.{2 * i}.bias"] = (b,)
    return shapes


def _authors_background_net(nf, nb, gc, up_channels) -> dict:
    """RRDBNet(3, 3, ..., use_pixel_shuffle=False, global_residual=True)'s state dict shapes."""
    shapes = _rrdb_trunk_shapes(3, nf, nb, gc)
    prev = nf
    for i, c in enumerate(up_channels):
        shapes[f"upconvs.{i}.weight"], shapes[f"upconvs.{i}.bias"] = (c, prev, 3, 3), (c,)
        prev = c
    shapes.update({"HRconv.weight": (prev, prev, 3, 3), "HRconv.bias": (prev,),
                   "conv_last.weight": (3, prev, 3, 3), "conv_last.bias": (3,)})
    return shapes


def _authors_modconv(x, weight, bias, style):
    """GRAM-HD's ModConv2D.forward: kernel x style per input channel, demodulated (eps 1e-8), plus bias."""
    w = weight[None] * style[:, None, :, None, None]
    w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    return torch.cat([F.conv2d(x[i:i + 1], w[i], bias, padding=(weight.shape[-1] - 1) // 2) for i in range(len(x))])


def _authors_style_forward(t: dict[str, torch.Tensor], x, z):
    """StyleRRDBNet.forward (pixel shuffle, mapping network) from the file's tensors ``t`` (no prefix), with
    GRAM-HD's sigmoid on the alpha channel; one texture per z."""
    def conv(name, inp):
        return F.conv2d(inp, t[f"{name}.weight"], t[f"{name}.bias"], padding=1)

    def rdb(prefix, inp):
        feats = [inp]
        for k in range(1, 5):
            feats.append(F.leaky_relu(conv(f"{prefix}.conv{k}", torch.cat(feats, 1)), 0.2))
        return conv(f"{prefix}.conv5", torch.cat(feats, 1)) * 0.2 + inp

    style = z
    for i in (0, 2, 4, 6):
        style = F.linear(style, t[f"mapping_network.network.{i}.weight"], t[f"mapping_network.network.{i}.bias"])
        style = F.leaky_relu(style, 0.2) if i < 6 else style
    fea = conv("conv_first", x)
    trunk, i = fea, 0
    while f"RRDB_trunk.{i}.RDB1.conv1.weight" in t:
        out = trunk
        for j in (1, 2, 3):
            out = rdb(f"RRDB_trunk.{i}.RDB{j}", out)
        trunk, i = out * 0.2 + trunk, i + 1
    fea = fea + conv("trunk_conv", trunk)
    start, i = 0, 0
    while f"upconvs.{i}.weight" in t:
        w = t[f"upconvs.{i}.weight"]
        fea = F.leaky_relu(F.pixel_shuffle(_authors_modconv(fea, w, t[f"upconvs.{i}.bias"],
                                                            style[:, start:start + w.shape[1]]), 2), 0.2)
        start, i = start + w.shape[1], i + 1
    w = t["HRconv.weight"]
    fea = F.leaky_relu(_authors_modconv(fea, w, t["HRconv.bias"], style[:, start:start + w.shape[1]]), 0.2)
    start += w.shape[1]
    w = t["conv_last.weight"]
    out = _authors_modconv(fea, w, t["conv_last.bias"], style[:, start:start + w.shape[1]])
    assert start + w.shape[1] == style.shape[1]
    return torch.cat([out[:, :-1], torch.sigmoid(out[:, -1:])], dim=1)


def _under(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _style_net(cfg: GramHDConfig) -> StyleRRDBNet:
    g, fg = cfg.generator, cfg.generator.foreground_sr
    return StyleRRDBNet(in_ch=4 + g.lowres.radiance.feature_dim, out_ch=4, nf=fg.nf, nb=fg.nb, gc=fg.gc,
                        scale=g.scale, z_dim=g.lowres.radiance.z_dim, up_channels=fg.up_channels,
                        style_hidden=fg.style_hidden, last_kernel=fg.last_kernel, kernels=fg.kernels).eval()


@pytest.mark.parametrize("kernels", ["upstream", "equalized"])
def test_the_imported_style_net_computes_the_authors_forward(release, kernels):
    """An equalised config stores the modulated kernels x sqrt(fan_in) and scales them back when used: both kinds
    compute GRAM-HD's StyleRRDBNet on the file's tensors, HRconv and conv_last included."""
    torch.manual_seed(0)
    authors = {k: v.clone() for k, v in _under(release, "super_resolution.").items()}
    for name in MODULATED[1:] + ("upconvs.0", "upconvs.1"):  # the file's biases are 0: make them count
        authors[f"{name}.bias"].normal_()
    file = {**release, **{f"super_resolution.{k}": v for k, v in authors.items()}}
    imported = import_gram_hd_release(file, _config(kernels), "ffhq256.pt")
    net = _style_net(imported.config)
    net.load_state_dict(_under(imported.state, "foreground_sr."), strict=True)
    x, z = torch.randn(2, 8, 4, 4), torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(net(x, z), _authors_style_forward(authors, x, z), atol=1e-5, rtol=1e-5)


def test_only_the_style_nets_modulated_kernels_are_rescaled_for_an_equalized_config(release):
    """x sqrt(fan_in) = sqrt(in_channels k k) for the weights of upconvs, HRconv and conv_last of
    ``super_resolution``; every other tensor (biases, trunk, mapping, the whole background net) as in the file."""
    plain = import_gram_hd_release(release, _config("upstream"), "ffhq256.pt")
    equalized = import_gram_hd_release(release, _config("equalized"), "ffhq256.pt")
    assert plain.sources == equalized.sources
    rescaled = []
    for name, source in equalized.sources.items():
        value, up = equalized.state[name], release[source]
        assert torch.equal(plain.state[name], up), name
        layer = source.split(".")[1]
        if source.startswith("super_resolution.") and layer in MODULATED and source.endswith(".weight"):
            _, fan_in, kh, kw = up.shape
            torch.testing.assert_close(value, up * math.sqrt(fan_in * kh * kw), rtol=1e-6, atol=0)
            rescaled.append(source)
        else:
            assert torch.equal(value, up), name
    assert sorted(rescaled) == ["super_resolution.HRconv.weight", "super_resolution.conv_last.weight",
                                "super_resolution.upconvs.0.weight", "super_resolution.upconvs.1.weight"]


def test_every_tensor_of_the_file_is_placed_and_named_back(release):
    """sources names, for each zoo3d tensor, the file tensor it holds; all 168 file tensors are placed once;
    the rest are what the file has no entry for (the SR flag and the mean style, recomputed when needed)."""
    # the written-out shapes are those of the file the authors' code wrote (the other tests use them)
    style = _authors_style_net(8, 4, 8, nf=8, nb=1, gc=4, up_channels=[8, 8], to_rgb_ks=1, map_hidden=16)
    assert {k: tuple(v.shape) for k, v in _under(release, "super_resolution.").items()} == style
    background = _authors_background_net(nf=8, nb=1, gc=4, up_channels=[8, 4])
    assert {k: tuple(v.shape) for k, v in _under(release, "super_resolution_bg.").items()} == background
    imported = import_gram_hd_release(release, _config(), "ffhq256.pt")
    assert sorted(imported.sources.values()) == sorted(release)
    for name, source in imported.sources.items():
        assert torch.equal(imported.state[name], release[source]), name
    extra = set(imported.state) - set(imported.sources)
    assert {k for k in extra if not k.startswith("lowres.")} == {"super_resolve", "foreground_sr.style_avg"}
    assert bool(imported.state["super_resolve"])


def test_the_mean_style_has_one_entry_per_style_of_the_authors_mapping(release):
    """x8 with GRAM-HD's default widths (up_channels None: [64, 64, 32]): StyleRRDBNet's style_dim is
    nf + 64 + 64 + 2 * 32, the out features of its mapping's last layer; the (zero) mean style has that size."""
    torch.manual_seed(0)
    style = _authors_style_net(8, 4, 8, nf=8, nb=1, gc=4, up_channels=[64, 64, 32], to_rgb_ks=1, map_hidden=16)
    background = _authors_background_net(nf=8, nb=1, gc=4, up_channels=[64, 32, 16])
    file = {k: v for k, v in release.items() if k.startswith("representation.")}
    file.update({f"super_resolution.{k}": torch.randn(s) for k, s in style.items()})
    file.update({f"super_resolution_bg.{k}": torch.randn(s) for k, s in background.items()})
    imported = import_gram_hd_release(file, _config(resolution=512, up_channels=None), "ffhq512.pt")
    style_dim = style["mapping_network.network.6.weight"][0]
    assert style_dim == 8 + 64 + 64 + 2 * 32
    assert torch.equal(imported.state["foreground_sr.style_avg"], torch.zeros(style_dim))
    net = _style_net(imported.config)
    net.load_state_dict(_under(imported.state, "foreground_sr."), strict=True)


def test_the_import_sets_gram_hds_grid_flags_says_so_and_leaves_the_callers_config_alone(release):
    config = _config()
    before = config.model_dump()
    imported = import_gram_hd_release(release, config, "ffhq256.pt")
    assert config.model_dump() == before  # the preset given is not changed in place
    g = imported.config.generator
    assert (g.lowres.render.align_corners, g.texture_align_corners, g.upsample_background_hits) == (True, False, True)
    assert imported.notes[0] == "read the GRAM-HD generator state dict from ffhq256.pt"
    # the note names each key the import set, with the value it set (YAML spelling)
    said = dict(re.findall(r"\b(generator\.[\w.]+): (true|false)\b", " ".join(imported.notes)))
    assert said == {"generator.lowres.render.align_corners": "true", "generator.texture_align_corners": "false",
                    "generator.upsample_background_hits": "true"}
    dumped = imported.config.model_dump()
    for key, value in said.items():
        node = dumped
        for part in key.split(".")[:-1]:
            node = node[part]
        assert node[key.split(".")[-1]] is (value == "true"), key


def test_files_that_are_not_gram_hd_generators_are_refused_naming_the_file_and_the_tensor(release):
    cfg = _config()
    for not_a_state_dict in ({}, {**release, "super_resolution.notes": "text"}):
        with pytest.raises(UserError, match=r"^f\.pt is not a GRAM-HD checkpoint \(ckpts/\*\.pt hold a generator "):
            import_gram_hd_release(not_a_state_dict, cfg, "f.pt")
    extra = torch.zeros(1)
    with pytest.raises(UserError, match=r"^f\.pt has a tensor 'decoder\.weight' that GRAM-HD's generator does not"):
        import_gram_hd_release({**release, "decoder.weight": extra}, cfg, "f.pt")
    with pytest.raises(UserError, match=r"^f\.pt has a tensor 'super_resolution\.to_rgb\.weight' that GRAM-HD's "
                                        r"super-resolution nets do not have"):
        import_gram_hd_release({**release, "super_resolution.to_rgb.weight": extra}, cfg, "f.pt")
    with pytest.raises(UserError, match=r"^f\.pt has a tensor 'representation\.extra\.weight'"):
        import_gram_hd_release({**release, "representation.extra.weight": extra}, cfg, "f.pt")


def test_a_training_runs_ema_file_is_refused_naming_the_generator_file_to_import_instead():
    """GRAM-HD's training saves a torch_ema ema.pth beside stepNNNNNN_generator.pth; its unnamed list (frozen
    layers dropped on resume) cannot be named, so the sentence sends the user to the state dict."""
    ema = InertObject("torch_ema.ema.ExponentialMovingAverage", {"decay": 0.999, "shadow_params": [torch.zeros(1)]})
    with pytest.raises(UserError) as info:
        import_gram_hd_release(ema, _config(), "step010000_ema.pth")
    assert str(info.value) == (
        "step010000_ema.pth is a torch_ema average (a training run's ema.pth), whose unnamed list zoo3d cannot match "
        "to GRAM-HD's tensors: import a GRAM-HD generator state dict instead (a released ckpts/*.pt, or the "
        "stepNNNNNN_generator.pth its training saves beside the ema.pth).")
