"""The gram_hd model plugin: modules and the two-stage recipe.

Stage ``gram_hd.stage1`` trains the LR GRAM generator (``generator.lowres``) against ``discriminator_lr``
with GRAM's own phase losses. Stage ``gram_hd.stage2`` starts by putting the stage-1 EMA weights into
``generator.lowres`` (or those of ``stage1.run``), freezes everything of stage 1 but the new feature heads,
switches the generator to HR rendering, and trains feature heads + SR nets against the HR and patch
discriminators with the consistency loss (12). With ``stage1.run`` set, stage 1 is not trained.
"""

from __future__ import annotations

import json
from functools import partial

import torch

from zoo3d.core.model import ModelPlugin, Stage, StepContext
from zoo3d.errors import UserError
from zoo3d.nn.discriminators import CoordConvDiscriminator

from zoo3d_gram import gram_optimizers, gram_phases
from zoo3d_gram_hd.config import GramHDConfig
from zoo3d_gram_hd.discriminator import PatchDiscriminator
from zoo3d_gram_hd.generator import GramHDGenerator
from zoo3d_gram_hd.losses import hr_phases

__all__ = ["GramHDModel", "STAGE1_FROZEN_IN_STAGE2", "load_stage1_weights"]

#: Parts of ``generator.lowres`` that stage 2 freezes (everything but the feature heads).
STAGE1_FROZEN_IN_STAGE2 = [
    "generator.lowres.manifold",
    "generator.lowres.radiance_net.mapping",
    "generator.lowres.radiance_net.trunk",
    "generator.lowres.radiance_net.color_layer",
    "generator.lowres.radiance_net.sigma_heads",
    "generator.lowres.radiance_net.rgb_heads",
]
_FEATURE_HEADS = "radiance_net.feature_heads."


def lowres_generator(ctx: StepContext) -> torch.nn.Module:
    """Stage 1's generator: the LR GRAM inside GRAM-HD's generator."""
    return ctx.generator.lowres


def load_stage1_weights(lowres: torch.nn.Module, ref: str) -> None:
    """Load the EMA weights of a ``gram`` run (or of a ``gram_hd`` run's stage 1) into ``lowres``.

    Feature heads are kept as they are when the source has none (a GRAM run). Raises UserError
    when the run's GRAM does not have this config's architecture.
    """
    from zoo3d.runs import resolve_checkpoint
    from zoo3d.train.checkpoint import read_checkpoint

    path = resolve_checkpoint(ref)
    tensors, meta = read_checkpoint(path)
    model = meta.get("zoo3d.model", "")
    prefix = {"gram": "ema.", "gram_hd": "ema.lowres."}.get(model)
    if prefix is None:
        raise UserError(f"stage1.run '{ref}' holds a '{model}' model; it must be a gram or gram_hd run.")
    if not any(k.startswith(prefix) for k in tensors):
        prefix = prefix.replace("ema.", "generator.", 1)
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    own = lowres.state_dict()
    missing = [k for k in own if k not in state and _FEATURE_HEADS not in k]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k, v in state.items() if k in own and v.shape != own[k].shape]
    if missing or unexpected or wrong:
        stored = json.loads(meta.get("zoo3d.config", "{}")).get("generator", {})
        stored = stored.get("lowres", stored) if model == "gram_hd" else stored
        keys = ", ".join((missing + unexpected + wrong)[:3])
        raise UserError(f"stage1.run '{path}' does not fit generator.lowres (differs at {keys}); set generator.lowres "
                        f"to that run's generator config (its manifold {stored.get('manifold')}, radiance "
                        f"{stored.get('radiance')}).")
    with torch.no_grad():
        for k, v in state.items():
            own[k].copy_(v)


class GramHDModel(ModelPlugin):
    """GRAM-HD (Xiang et al., ICCV 2023): super-resolution of GRAM's radiance manifolds."""

    config_class = GramHDConfig
    imports_releases = True

    def import_release(self, release, config: GramHDConfig):
        """JeffreyXiang/GRAM-HD ``ckpts/*.pt`` (generator state dicts); see :mod:`zoo3d_gram_hd.upstream`."""
        from zoo3d_gram_hd.upstream import import_gram_hd_release

        return import_gram_hd_release(release, config)

    def benchmark_generator(self, config: GramHDConfig, resolution: int | None = None) -> GramHDGenerator:
        """GRAM-HD's generator of ``config`` at HR ``resolution``² (its LR side unchanged), super-resolving,
        with stage 2's trainables (feature heads, SR nets) the only parameters that require grad."""
        g = config.generator.model_copy(update={"resolution": resolution or config.generator.resolution})
        gen = GramHDGenerator(g, config.camera)
        gen.super_resolve.fill_(True)
        for name in STAGE1_FROZEN_IN_STAGE2:
            gen.get_submodule(name.removeprefix("generator.")).requires_grad_(False)
        return gen

    def build(self, config: GramHDConfig) -> dict[str, torch.nn.Module]:
        g, d2 = config.generator, config.stage2.discriminator
        hr = g.resolution
        if d2.patch_ndf is None and d2.patch_layers is None:
            patch = PatchDiscriminator.for_resolution(hr)
        else:
            auto = PatchDiscriminator.for_resolution(hr)
            patch = PatchDiscriminator(3, d2.patch_ndf or auto.model[0].out_channels, d2.patch_layers or auto.n_layers)
        modules = {
            "generator": GramHDGenerator(g, config.camera),
            "discriminator": CoordConvDiscriminator(hr, d2.max_channels, pose_dim=2, channel_scale=d2.channel_scale),
            "patch_discriminator": patch,
        }
        if config.stage1.run is None:
            d1 = config.stage1.discriminator
            modules["discriminator_lr"] = CoordConvDiscriminator(g.lowres.resolution, d1.max_channels, pose_dim=2,
                                                                 channel_scale=d1.channel_scale)
        return modules

    def stages(self, config: GramHDConfig) -> list[Stage]:
        s1, s2, g = config.stage1, config.stage2, config.generator
        stages = []
        if s1.run is None:
            lr_res = g.lowres.resolution
            stages.append(Stage(
                name="gram_hd.stage1", steps=s1.steps, resolution=lr_res, batch_size=s1.batch_size,
                phases=gram_phases(s1.loss, lr_res, generator=lowres_generator, discriminator="discriminator_lr"),
                optimizers=gram_optimizers(s1.optim, ["generator.lowres"], ["discriminator_lr"]),
                frozen=["generator.foreground_sr", "generator.background_sr",
                        "generator.lowres.radiance_net.feature_heads", "discriminator", "patch_discriminator"],
            ))
        stages.append(Stage(
            name="gram_hd.stage2", steps=s2.steps, resolution=g.resolution, batch_size=s2.batch_size,
            phases=hr_phases(s2.loss, g.resolution),
            optimizers=gram_optimizers(s2.optim, ["generator.lowres.radiance_net.feature_heads",
                                                  "generator.foreground_sr", "generator.background_sr"],
                                       ["discriminator", "patch_discriminator"]),
            frozen=STAGE1_FROZEN_IN_STAGE2 + (["discriminator_lr"] if s1.run is None else []),
            on_start=partial(_begin_super_resolution, stage1_run=s1.run),
        ))
        return stages


def _begin_super_resolution(ctx: StepContext, stage1_run: str | None) -> None:
    """Stage 2's start: stage-1 EMA weights into ``generator.lowres``, then HR rendering on."""
    generator = ctx.generator
    if stage1_run is not None:
        load_stage1_weights(generator.lowres, stage1_run)
    elif ctx.ema is not None:
        with torch.no_grad():
            for dst, src in zip(generator.lowres.parameters(), ctx.ema.lowres.parameters()):
                dst.copy_(src)
    generator.super_resolve.fill_(True)
