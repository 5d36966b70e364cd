"""GRAM-HD's paper presets and defaults against the authors' code written out, the generator section's refusals
against its docstring, and the older two-section shape upgraded key by key.

Each preset is loaded through the public config loader and the two stages ``GramHDModel().stages`` builds from
it are compared with JeffreyXiang/GRAM-HD's ``configs.py`` dictionaries (stage 1: GRAM64_*, stage 2: GRAMHD*_*),
its README's training commands and what its training loop does with them.
"""

from __future__ import annotations

import re

import pytest

from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError
from zoo3d.plugins import get_model_spec
from zoo3d_gram_hd.config import STAGE1, STAGE2, GramHDConfig, upgrade_two_section_config
from zoo3d_gram_hd.superres import default_up_channels

SPEC = get_model_spec("gram_hd")
GPUS = 8  # the paper trains on 8 V100s; configs.py's global.batch_size is per GPU (DDP, training_loop.py)
STEPS = 100_000  # README.md:105,108: train.py --total_step 100000 for GRAM64_FFHQ and GRAMHD256_FFHQ (train.py:43)

# JeffreyXiang/GRAM-HD configs.py, stage 1: GRAM64_FFHQ (lines 5-77) and GRAM64_AFHQ (79-151) differ only in the
# dataset; Gan3DProcess sums the generator's loss over batch_split=1 splits (processes.py:89-102), so its clip
# is grad_clip on the batch mean.
GRAM64 = dict(img_size=64, batch_per_gpu=8, gen_lr=2e-5, disc_lr=2e-4, betas=(0.0, 0.9), grad_clip=0.3,
              batch_split=1, pos_lambda=15.0, real_pos_lambda=15.0, r1_lambda=1.0, z_dim=256, hidden_dim=256,
              hidden_dim_sample=128, layer_num_sample=3, center=(0.0, 0.0, -1.5), num_samples=64, num_manifolds=24,
              levels_start=23.0, levels_end=8.0, h_stddev=0.3, v_stddev=0.155, fov=12.0, ray_start=0.88,
              ray_end=1.12)
# Stage 2: GRAMHD256_FFHQ (153-254), GRAMHD256_AFHQ (256-357), GRAMHD512_FFHQ (359-460), GRAMHD512_AFHQ
# (462-563), GRAMHD1024_FFHQ (565-666). SRGan3DProcess divides the generator's loss by batch_split before
# summing it (processes.py:246-247), so both clips are grad_clip on the batch mean (:214, :255).
_HD256 = dict(img_size=256, batch_per_gpu=4, r1_lambda=3.0, cons_lambda=1.0, fg_up=[64, 64], bg_up=[64, 32])
_HD512 = dict(img_size=512, batch_per_gpu=2, r1_lambda=5.0, cons_lambda=3.0, fg_up=[64, 64, 32], bg_up=[64, 32, 16])
_HD1024 = dict(img_size=1024, batch_per_gpu=2, r1_lambda=10.0, cons_lambda=10.0, fg_up=[64, 64, 32, 16],
               bg_up=[64, 32, 16, 8])
GRAMHD = {"ffhq256": _HD256, "cats256": _HD256, "ffhq512": _HD512, "cats512": _HD512, "ffhq1024": _HD1024}
# common to every GRAMHD*: lr_img_size 64, feature_dim 32, Adam (0, 0.9) at 2e-4 / 2e-4, clip 0.3, pose 15/15,
# patch_lambda 0.1 (r1_patch on); fg: w_dim 256, nf 64, nb 8, gc 32, to_rgb_ks 1 (styleesrgan.py:157: a mapping
# network of width 256); bg: nf 64, nb 4, gc 32.
HD_COMMON = dict(lr_img_size=64, feature_dim=32, gen_lr=2e-4, disc_lr=2e-4, betas=(0.0, 0.9), grad_clip=0.3,
                 pos_lambda=15.0, real_pos_lambda=15.0, patch_lambda=0.1, fg=dict(nf=64, nb=8, gc=32, to_rgb_ks=1,
                 mapping_hidden=256), bg=dict(nf=64, nb=4, gc=32))
EMA_DECAY = 0.999  # training_loop.py:49: ExponentialMovingAverage(generator.parameters(), decay=0.999)


def _load(preset: str = "tiny", overrides: list[str] | None = None) -> GramHDConfig:
    return load_run_config(GramHDConfig, SPEC.name, SPEC.presets_dir, preset, None, overrides)


def _check_recipe(cfg: GramHDConfig, hd: dict) -> None:
    """``cfg``'s two stages and sections against GRAM64 (stage 1) and the GRAMHD config ``hd`` (stage 2)."""
    one, two = SPEC.load().stages(cfg)
    lo, c = GRAM64, HD_COMMON
    assert (one.name, two.name) == (STAGE1, STAGE2)
    assert (one.steps, one.batch_size, one.resolution) == (STEPS, lo["batch_per_gpu"] * GPUS, lo["img_size"])
    assert (two.steps, two.batch_size, two.resolution) == (STEPS, hd["batch_per_gpu"] * GPUS, hd["img_size"])
    for stage, up in ((one, lo), (two, c)):
        g, d = stage.optimizers["generator"], stage.optimizers["discriminator"]
        assert (g.lr, d.lr, g.betas, d.betas) == (up["gen_lr"], up["disc_lr"], up["betas"], up["betas"])
        assert (g.grad_clip, d.grad_clip) == (up["grad_clip"] / up.get("batch_split", 1), up["grad_clip"])
    loss1 = one.phases[0].loss.keywords["loss"]
    assert (loss1.r1_gamma, loss1.lambda_pos, loss1.lambda_realpos, loss1.patch_lambda) == (
        lo["r1_lambda"], lo["pos_lambda"], lo["real_pos_lambda"], 0.0)  # GRAM's loss: no patch D in stage 1
    for phase in two.phases:
        loss2 = phase.loss.keywords["loss"]
        assert (loss2.r1_gamma, loss2.lambda_pos, loss2.lambda_realpos, loss2.patch_lambda) == (
            hd["r1_lambda"], c["pos_lambda"], c["real_pos_lambda"], c["patch_lambda"])
        assert phase.loss.keywords["parts"].generator_terms.keywords["lambda_cons"] == hd["cons_lambda"]
    assert cfg.train.ema_decay == EMA_DECAY

    g = cfg.generator
    low = g.lowres
    assert (g.resolution, low.resolution, g.scale) == (hd["img_size"], c["lr_img_size"], hd["img_size"] // 64)
    assert (low.manifold.hidden, low.manifold.layers, low.manifold.center) == (
        lo["hidden_dim_sample"], lo["layer_num_sample"], lo["center"])
    assert low.manifold.num_levels == lo["num_manifolds"] - 1 and low.manifold.background_z is not None
    assert (low.manifold.level_start, low.manifold.level_end) == (lo["levels_start"], lo["levels_end"])
    assert (low.radiance.z_dim, low.radiance.hidden, low.radiance.feature_dim) == (
        lo["z_dim"], lo["hidden_dim"], c["feature_dim"])
    assert (low.render.num_samples, low.render.near, low.render.far) == (
        lo["num_samples"], lo["ray_start"], lo["ray_end"])
    fg, bg = g.foreground_sr, g.background_sr
    fg_up = fg.up_channels or default_up_channels(g.scale, style=True)  # None: what the nets are built with
    bg_up = bg.up_channels or default_up_channels(g.scale, style=False)
    assert (fg.nf, fg.nb, fg.gc, fg.last_kernel, fg.style_hidden, fg_up) == (
        c["fg"]["nf"], c["fg"]["nb"], c["fg"]["gc"], c["fg"]["to_rgb_ks"], c["fg"]["mapping_hidden"], hd["fg_up"])
    assert (bg.nf, bg.nb, bg.gc, bg_up) == (c["bg"]["nf"], c["bg"]["nb"], c["bg"]["gc"], hd["bg_up"])
    assert (fg.residual, g.texture_filter) == (False, "bilinear")  # upstream's SR nets and texture reads
    cam = cfg.camera
    assert (cam.distribution, cam.yaw_std, cam.pitch_std, cam.fov) == (
        "gaussian", lo["h_stddev"], lo["v_stddev"], lo["fov"])


@pytest.mark.parametrize("preset", [*sorted(GRAMHD), "defaults"])
def test_each_paper_preset_and_the_defaults_train_the_authors_two_stages(preset):
    """Each paper preset, and the class defaults (a config that sets nothing: GRAM64_FFHQ + GRAMHD256_FFHQ, as the
    module says)."""
    if preset == "defaults":
        _check_recipe(GramHDConfig(), GRAMHD["ffhq256"])
    else:
        _check_recipe(_load(preset), GRAMHD[preset])


def test_a_stored_config_with_only_its_stage1_section_upgrades_key_by_key():
    """A two-section config that stored ``stage1`` alone (stage 2 at the defaults of then): each key moved by hand."""
    stored = {"model": "gram_hd", "generator": {"resolution": 128},
              "stage1": {"run": "runs/g64", "steps": 5, "batch_size": 6, "discriminator": {"channel_scale": 0.5},
                         "loss": {"lambda_realpos": 30.0}, "optim": {"g_lr": 1e-4, "betas": [0.5, 0.99]}}}
    upgraded = upgrade_two_section_config(stored)
    assert upgraded == {
        "model": "gram_hd",
        "generator": {"resolution": 128, "lowres_run": "runs/g64"},
        # stage 2's widths of then, stage 1's differing width as its lowres_ key
        "discriminator": {"max_channels": 400, "channel_scale": 1.0, "patch_ndf": None, "patch_layers": None,
                          "lowres_channel_scale": 0.5},
        "loss": {"r1_gamma": 3.0, "lambda_pos": 15.0, "lambda_realpos": 15.0, "patch_lambda": 0.1, "lambda_cons": 1.0},
        "stages": [
            # stage 1 keeps its R1 weight of then (1) and the pose weight that differs from stage 2's
            {"name": STAGE1, "steps": 5, "batch_size": 6, "lr": {"generator": 1e-4, "discriminator": 2e-4},
             "betas": [0.5, 0.99], "grad_clip": 0.3, "loss": {"r1_gamma": 1.0, "lambda_realpos": 30.0}},
            {"name": STAGE2, "steps": 100000, "batch_size": 32, "lr": {"generator": 2e-4, "discriminator": 2e-4},
             "betas": [0.0, 0.9], "grad_clip": 0.3, "loss": {}}]}
    assert "stage1" in stored and "stages" not in stored  # the stored dict is not changed
    cfg = GramHDConfig.model_validate(GramHDConfig.upgrade_stored(stored))
    assert cfg.generator.foreground_sr.kernels == "equalized"  # stored before the key: its checkpoint's kernels
    assert (cfg.generator.lowres_run, cfg.stage_loss(STAGE1).lambda_realpos, cfg.loss.lambda_realpos) == (
        "runs/g64", 30.0, 15.0)


def test_the_hr_side_is_taken_exactly_when_it_is_the_lr_side_times_a_power_of_two_from_2():
    """GeneratorConfig's rule, as a closed form: the HR side must be 32 * 2^k, k >= 1, over the tiny preset's LR 32
    (one super-resolution net per doubling); every other side is refused with the sentence naming both sides."""
    taken = {32 * 2 ** k for k in range(1, 5)}
    for hr in range(8, 545, 8):
        if hr in taken:
            assert _load(overrides=[f"generator.resolution={hr}"]).generator.scale == hr // 32
        else:
            with pytest.raises(ConfigError, match=re.escape(
                    f"'generator': resolution ({hr}) must be the low resolution (32) times a power of two >= 2.")):
                _load(overrides=[f"generator.resolution={hr}"])


def test_a_lowres_gram_without_feature_heads_is_refused_with_the_key():
    """Stage 2 trains the stage-1 generator's feature heads (module docstring; GRAM-HD's feature_dim 32): GRAM's
    own feature_dim 0 leaves it nothing to super-resolve."""
    with pytest.raises(ConfigError, match=re.escape(
            "'generator': lowres.radiance.feature_dim must be >= 1 (GRAM-HD's feature heads; 32 upstream).")):
        _load(overrides=["generator.lowres.radiance.feature_dim=0"])
    assert _load(overrides=["generator.lowres.radiance.feature_dim=1"]).generator.lowres.radiance.feature_dim == 1

