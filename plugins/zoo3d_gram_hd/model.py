"""The gram_hd model plugin: modules and the two-stage recipe.

Stage ``gram_hd.stage1`` trains the LR GRAM generator (``generator.lowres``) against ``discriminator_lr``
with GRAM's own phase losses. Stage ``gram_hd.stage2`` starts by putting the stage-1 EMA weights into
``generator.lowres`` (or those of ``generator.lowres_run``), freezes everything of stage 1 but the new feature
heads, switches the generator to HR rendering, and trains feature heads + SR nets against the HR and patch
discriminators with the consistency loss (12). With ``generator.lowres_run`` set, stage 1 is not trained.
"""

from __future__ import annotations

import json
from functools import partial

import torch

from zoo3d.core.model import ModelPlugin, Stage, StepContext, stage_optimizers
from zoo3d.errors import UserError
from zoo3d.nn.discriminators import CoordConvDiscriminator
from zoo3d.train.ema import take_averages
from zoo3d.train.gan import check_real_pose_data, lazy_r1_interval

from zoo3d_gram import LossConfig as GramLossConfig
from zoo3d_gram import gram_phases
from zoo3d_gram_hd.config import STAGE1, STAGE2, GramHDConfig
from zoo3d_gram_hd.discriminator import PatchDiscriminator
from zoo3d_gram_hd.generator import GramHDGenerator
from zoo3d_gram_hd.losses import hr_phases

__all__ = ["GramHDModel", "LOWRES_SOURCE", "STAGE1_FROZEN_IN_STAGE2", "load_stage1_weights", "lowres_stage",
           "patch_discriminator", "super_resolution_stage"]

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


#: where a stage 2 started from ``generator.lowres_run`` records the checkpoint its LR GRAM came from, in the
#: training state every later checkpoint stores (``zoo3d.state``): ``<prefix>checkpoint`` (its absolute path),
#: ``<prefix>step`` and ``<prefix>sha256``; ``zoo3d compare`` copies them into the model's provenance
LOWRES_SOURCE = "sources.generator.lowres."


def load_stage1_weights(lowres: torch.nn.Module, ref: str) -> dict[str, str | int]:
    """Load the EMA weights of a ``gram`` run (or of a ``gram_hd`` run's stage 1) into ``lowres``; returns where
    they came from: the checkpoint ``ref`` resolved to (absolute), its step and its sha256.

    Feature heads are kept as they are when the source has none (a GRAM run). Raises UserError
    when the run's GRAM does not have this config's architecture.
    """
    from zoo3d.runs import file_sha256

    path, state, meta = _read_stage1(lowres, ref)
    own = lowres.state_dict()
    with torch.no_grad():
        for k, v in state.items():
            own[k].copy_(v)
    return {"checkpoint": str(path.resolve()), "step": int(meta.get("zoo3d.step", "0")), "sha256": file_sha256(path)}


def stage1_weights(lowres: torch.nn.Module, ref: str) -> dict[str, torch.Tensor]:
    """The weights :func:`load_stage1_weights` would load into ``lowres`` from ``ref``, by ``lowres``'s names;
    ``lowres`` is not changed. Raises UserError as that does."""
    return _read_stage1(lowres, ref)[1]


def _read_stage1(lowres: torch.nn.Module, ref: str):
    """The checkpoint ``ref`` names, the weights :func:`stage1_weights` gives and the checkpoint's metadata."""
    from zoo3d.runs import resolve_checkpoint
    from zoo3d.train.checkpoint import read_checkpoint

    try:
        path = resolve_checkpoint(ref)
    except UserError as exc:  # which option named the path: the sentence alone reads as a --ckpt of `sample`'s
        said = str(exc)
        raise UserError(f"generator.lowres_run: {said[:1].lower() + said[1:]}") from None
    tensors, meta = read_checkpoint(path)
    model = meta.get("zoo3d.model", "")
    prefix = {"gram": "ema.", "gram_hd": "ema.lowres."}.get(model)
    if prefix is None:
        raise UserError(f"generator.lowres_run '{ref}' holds a '{model}' model; it must be a gram or gram_hd run.")
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
        raise UserError(f"generator.lowres_run '{path}' does not fit generator.lowres (differs at {keys}); set "
                        f"generator.lowres to that run's generator config (its manifold {stored.get('manifold')}, "
                        f"radiance {stored.get('radiance')}).")
    return path, state, meta


def patch_discriminator(config: GramHDConfig) -> PatchDiscriminator:
    """Stage 2's PatchGAN at the HR side: GRAM-HD's sizes for that resolution unless the config gives them."""
    d, auto = config.discriminator, PatchDiscriminator.for_resolution(config.generator.resolution)
    if d.patch_ndf is None and d.patch_layers is None:
        return auto
    return PatchDiscriminator(3, d.patch_ndf or auto.model[0].out_channels, d.patch_layers or auto.n_layers)


def lowres_stage(config: GramHDConfig) -> Stage:
    """Stage 1: GRAM's phases at the LR side for ``generator.lowres`` against ``discriminator_lr``, with the
    adversarial weights of the stage's loss (GRAM's LossConfig: stage 2's terms are not GRAM's)."""
    stage, loss, res = config.stage(STAGE1), config.stage_loss(STAGE1), config.generator.lowres.resolution
    gram_loss = GramLossConfig(**loss.model_dump(include=set(GramLossConfig.model_fields)))
    return Stage.from_config(
        stage, gram_phases(gram_loss, res, generator=lowres_generator, discriminator="discriminator_lr"),
        stage_optimizers(stage, {"generator": ["generator.lowres"], "discriminator": ["discriminator_lr"]},
                         lazy_every={"discriminator": lazy_r1_interval(loss)}),
        resolution=res,
        frozen=["generator.foreground_sr", "generator.background_sr", "generator.lowres.radiance_net.feature_heads",
                "discriminator", "patch_discriminator"])


def super_resolution_stage(config: GramHDConfig) -> Stage:
    """Stage 2: feature heads + SR nets against the HR and patch discriminators, stage 1 frozen."""
    stage, loss, g = config.stage(STAGE2), config.stage_loss(STAGE2), config.generator
    trained = {"generator": ["generator.lowres.radiance_net.feature_heads", "generator.foreground_sr",
                             "generator.background_sr"],
               "discriminator": ["discriminator", "patch_discriminator"]}
    return Stage.from_config(
        stage, hr_phases(loss, g.resolution),
        stage_optimizers(stage, trained, lazy_every={"discriminator": lazy_r1_interval(loss)}),
        resolution=g.resolution,
        frozen=STAGE1_FROZEN_IN_STAGE2 + (["discriminator_lr"] if g.lowres_run is None else []),
        on_start=partial(_begin_super_resolution, lowres_run=g.lowres_run))


def _begin_super_resolution(ctx: StepContext, lowres_run: str | None) -> None:
    """Stage 2's start: stage-1 EMA weights into ``generator.lowres``, then HR rendering on. Weights from
    ``lowres_run`` leave their source in the run's state (:data:`LOWRES_SOURCE`)."""
    generator = ctx.generator
    if lowres_run is not None:
        source = load_stage1_weights(generator.lowres, lowres_run)
        ctx.state.update({LOWRES_SOURCE + k: v for k, v in source.items()})
    elif ctx.ema is not None:
        take_averages(generator.lowres, ctx.ema.lowres)
    generator.super_resolve.fill_(True)


class GramHDModel(ModelPlugin):
    """GRAM-HD (Xiang et al., ICCV 2023): super-resolution of GRAM's radiance manifolds."""

    config_class = GramHDConfig
    imports_releases = True

    def import_release(self, release, config: GramHDConfig):
        """JeffreyXiang/GRAM-HD ``ckpts/*.pt`` (generator state dicts); see :mod:`zoo3d_gram_hd.upstream`."""
        from zoo3d_gram_hd.upstream import import_gram_hd_release

        return import_gram_hd_release(release, config)

    def release_settings(self, release, config: GramHDConfig) -> dict:
        """The LR GRAM's widths and depths (as GRAM's) and the super-resolution nets' widths, read from the shapes
        of a ``ckpts/*.pt`` state dict."""
        from zoo3d_gram_hd.upstream import release_settings

        return release_settings(release)

    def benchmark_generator(self, config: GramHDConfig, resolution: int | None = None) -> GramHDGenerator:
        """GRAM-HD's generator of ``config`` at HR ``resolution``² (its LR side unchanged), super-resolving,
        with stage 2's trainables (feature heads, SR nets) the only parameters that require grad."""
        g = config.generator.model_copy(update={"resolution": resolution or config.generator.resolution})
        gen = GramHDGenerator(g, config.camera)
        gen.super_resolve.fill_(True)
        for name in STAGE1_FROZEN_IN_STAGE2:
            gen.get_submodule(name.removeprefix("generator.")).requires_grad_(False)
        return gen

    def check_new_run(self, config: GramHDConfig, modules: dict[str, torch.nn.Module]) -> None:
        """``generator.lowres_run`` is read when stage 2 begins, which for a new run is its first step: it is read
        here too, so that a run folder or checkpoint that is missing, of another model or of another
        architecture is refused before the run's folder exists. Without it, a stage 1 of no steps before a stage 2
        of some is refused: stage 2 would freeze the LR GRAM as initialised and super-resolve noise. Data without
        camera poses is refused while a stage that trains regresses the reals' poses
        (:func:`zoo3d.train.gan.check_real_pose_data`)."""
        if config.generator.lowres_run is not None:
            stage1_weights(modules["generator"].lowres, config.generator.lowres_run)
        elif config.stage(STAGE1).steps == 0 and config.stage(STAGE2).steps > 0:
            raise UserError(f"stages.{STAGE1}.steps is 0 and generator.lowres_run is not set, so stage {STAGE2} "
                            f"would freeze an untrained LR GRAM; give stage 1 steps, or set generator.lowres_run to "
                            f"a gram or gram_hd run to start from.")
        trained = ([STAGE1] if config.generator.lowres_run is None else []) + [STAGE2]
        check_real_pose_data(config, trained, config.generator.lowres.resolution, "GRAM-HD")

    def build(self, config: GramHDConfig) -> dict[str, torch.nn.Module]:
        """Generator, HR CoordConv D (1 logit + (yaw, pitch)), PatchGAN, and stage 1's LR CoordConv D unless
        stage 1 comes from ``generator.lowres_run``. The PatchGAN is built first: a seed gives the weights it
        always gave."""
        g, d = config.generator, config.discriminator
        patch = patch_discriminator(config)
        modules = {"generator": GramHDGenerator(g, config.camera),
                   "discriminator": CoordConvDiscriminator(g.resolution, d.max_channels, pose_dim=2,
                                                           channel_scale=d.channel_scale, mbstd_group=d.mbstd_group),
                   "patch_discriminator": patch}
        if g.lowres_run is None:
            modules["discriminator_lr"] = CoordConvDiscriminator(
                g.lowres.resolution, d.lowres_max_channels or d.max_channels, pose_dim=2,
                channel_scale=d.lowres_channel_scale or d.channel_scale, mbstd_group=d.mbstd_group)
        return modules

    def stages(self, config: GramHDConfig) -> list[Stage]:
        first = [lowres_stage(config)] if config.generator.lowres_run is None else []
        return first + [super_resolution_stage(config)]
