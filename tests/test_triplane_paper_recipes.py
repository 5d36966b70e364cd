"""The tri-plane recipes (the defaults and each paper preset) against EG3D's training commands, written out from
NVlabs/eg3d: the commands of docs/models.md, the options of ``eg3d/train.py`` they leave at their defaults, and
what ``eg3d/training/training_loop.py`` makes of them (the lazy regularisation's Adam correction, the EMA)."""

from __future__ import annotations


import pytest

from conftest import preset_config
from zoo3d_triplane.model import TriplaneModel


def eg3d_command(cfg: str, gamma: float, gen_pose_cond: bool, gpc_reg_prob: float = 0.5, final: int | None = None,
                 finetune_kimg: int = 0, resumed: bool = False, batch: int = 32) -> dict:
    """What ``python train.py --cfg=CFG --batch=32 --gamma=GAMMA [...]`` trains with, in zoo3d's units (steps of
    ``batch`` images: N kimg = N * 1000 / batch steps)."""
    steps = lambda kimg: round(kimg * 1000 / batch)  # noqa: E731
    g_lr, d_lr, betas = 0.0025, 0.002, (0.0, 0.99)  # train.py L246 (not --cfg=stylegan2), L153 --dlr, L224-225
    density_every = 4  # train.py L191 --density_reg_every, made G_reg_interval at L337-338 (density_reg 0.25 > 0)
    r1_every = 16  # training_loop.py L114 D_reg_interval

    def lazy(lr, every):  # training_loop.py L208-211: mb_ratio = k / (k + 1); lr * mb_ratio, betas ** mb_ratio
        r = every / (every + 1)
        return lr * r, tuple(b ** r for b in betas)

    ema_kimg = batch * 10 / 32  # train.py L266
    return {
        "gan": (steps(25000), batch),  # train.py L160 --kimg 25000
        "finetune": (steps(finetune_kimg), batch),
        "generator": lazy(g_lr, density_every), "discriminator": lazy(d_lr, r1_every),
        # training_loop.py L203-214: per network its main phase, then its lazy regularisation phase; G before D
        "phases": [("generator", 1), ("density", density_every), ("discriminator", 1), ("r1", r1_every)],
        "r1_gamma": gamma,  # train.py L245
        "density": (0.25, density_every, 0.004),  # train.py L190-192 --density_reg, _every, _p_dist
        "gpc": (gpc_reg_prob if gen_pose_cond else None,  # train.py L344
                0 if resumed else steps(1000)),  # L179 --gpc_reg_fade_kimg 1000; L371 no ramp-up on resume
        "blur": (0 if resumed else 10.0, steps(batch * 200 / 32)),  # L341-342 (L370: none on resume); L174 200
        "neural_resolution": (64, final, steps(1000)),  # train.py L170-172
        "ema": (0.5 ** (batch / (ema_kimg * 1000)),  # training_loop.py L307-310
                None if resumed else 0.05),  # training_loop.py L112; train.py L368 on resume
        "samples": {"ffhq": (48, 48), "afhq": (48, 48), "shapenet": (64, 64)}[cfg],  # train.py L301-330
        "white_back": cfg == "shapenet",  # train.py L328
        "mapping": (2, 1.0, 1.0),  # train.py L154 --map-depth, L176 --c-scale, L194 --decoder_lr_mul
        # train.py L155 --mbstd-group, L180 --disc_c_noise; L185 --d_num_fp16_res 4 gives D conv_clamp 256 (L379-380)
        "disc": (4, 0.0, 256.0),
        # dataset_preprocessing/{ffhq,afhq}/runme.py add every image's x-flipped copy with its pose flipped
        # (mirror_dataset.py flip_yaw); shapenet_cars/run_me.py adds none (train.py L141 --mirror stays False)
        "mirror": cfg in ("ffhq", "afhq"),
    }


# each preset's command in docs/models.md (ffhq512: ffhq512-64.pkl; ffhq512_128: its fine-tune, --kimg=2000;
# afhq512_128: afhqcats512-128.pkl, resumed from the FFHQ model; shapenet128: shapenetcars128-64.pkl)
COMMANDS = {
    None: dict(cfg="ffhq", gamma=1, gen_pose_cond=True),  # the defaults: EG3D's FFHQ 512 config (module doc)
    "ffhq512": dict(cfg="ffhq", gamma=1, gen_pose_cond=True),
    "ffhq512_128": dict(cfg="ffhq", gamma=1, gen_pose_cond=True, final=128, finetune_kimg=2000),
    "afhq512_128": dict(cfg="afhq", gamma=5, gen_pose_cond=True, gpc_reg_prob=0.8, final=128, resumed=True),
    "shapenet128": dict(cfg="shapenet", gamma=0.3, gen_pose_cond=False),
}


@pytest.mark.parametrize("preset", list(COMMANDS), ids=[p or "defaults" for p in COMMANDS])
def test_each_recipe_trains_with_eg3ds_optimisers_phases_and_schedules(preset):
    cfg, want = preset_config("triplane", preset), eg3d_command(**COMMANDS[preset])
    gan, finetune = cfg.stages
    assert (gan.name, gan.steps, gan.batch_size) == ("gan", *want["gan"])
    if preset != "afhq512_128":  # models.md's AFHQ command gives no --kimg; the preset fine-tunes FFHQ's 2000
        assert (finetune.name, finetune.steps, finetune.batch_size) == ("finetune", *want["finetune"])
    stages = TriplaneModel().stages(cfg)
    assert [s.name for s in stages] == ["gan"] + (["finetune"] if finetune.steps else [])
    for stage in stages:
        assert (stage.steps, stage.batch_size) == (cfg.stage(stage.name).steps, cfg.stage(stage.name).batch_size)
        for role in ("generator", "discriminator"):
            lr, betas = want[role]
            assert stage.optimizers[role].lr == pytest.approx(lr, rel=1e-12)
            assert stage.optimizers[role].betas == pytest.approx(betas, rel=1e-12)
        assert [(p.name, p.every) for p in stage.phases] == want["phases"]
        density = next(p for p in stage.phases if p.name == "density").loss.keywords
        initial, final, fade = want["neural_resolution"]
        assert density["fade"] == (None if stage.name == "gan" else (initial, final))
    loss = cfg.loss
    assert loss.r1_gamma == want["r1_gamma"] and loss.r1_every == 16
    assert (loss.density_reg, loss.density_reg_every, loss.density_reg_perturb) == want["density"]
    prob = want["gpc"][0]
    assert cfg.generator.gen_pose_cond == (prob is not None)
    if prob is not None:
        assert loss.gpc_prob == prob
    # afhq512_128: EG3D resumes it, without the swap and blur ramp-ups, but zoo3d may train it from scratch, so the
    # preset keeps the ramp-ups of a run that is not resumed (its comment); its EMA has no ramp-up, as EG3D's (below)
    ramps = eg3d_command(**{**COMMANDS[preset], "resumed": False}) if preset == "afhq512_128" else want
    assert (loss.gpc_fade_steps, (loss.blur_sigma, loss.blur_fade_steps)) == (ramps["gpc"][1], ramps["blur"])
    assert cfg.generator.neural_resolution == initial
    if final is not None:
        assert (loss.finetune_neural_resolution, loss.neural_resolution_fade_steps) == (final, fade)
    g = cfg.generator
    assert (g.num_samples, g.num_importance) == want["samples"]
    assert g.white_background == want["white_back"]
    assert (g.mapping_layers, g.c_scale, g.decoder_lr_mul) == want["mapping"]
    d = cfg.discriminator
    assert (d.mbstd_group_size, d.c_noise, d.conv_clamp) == want["disc"]
    assert cfg.data.mirror == want["mirror"]
    if preset is not None:  # the defaults keep the shared train section's EMA
        decay, rampup = want["ema"]
        assert cfg.train.ema_decay == pytest.approx(decay, abs=5e-6)  # the presets write it to 5 places
        assert cfg.train.ema_rampup == rampup
