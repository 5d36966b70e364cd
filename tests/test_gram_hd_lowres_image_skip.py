"""GRAM-HD's stage 2 renders the LR image (``raw``) only where loss (12) reads it: the discriminator phase scores
the HR fakes alone, and the generator phase with ``lambda_cons`` 0 adds no consistency term, so both now leave the
LR shading out (it was drawn in every render, some 3 % of a step). The HR image is the same either way: a step's
losses, logs and gradients are bit for bit those of the phases built as before (every fake rendered with its LR
image, which this file builds itself), and a count of the LR renders says where it is drawn. A small GRAM-HD at
the format-1 fixture's sizes (LR 8, HR 16), fixed seeds."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from gan_stubs import real_batch

from zoo3d.core.model import StepContext
from zoo3d.train.gan import GANParts, adversarial_loss, gan_phases, real_sample
from zoo3d_gram import GramGenerator
from zoo3d_gram_hd.losses import consistency_terms, hr_phases, render_hr_fakes, score_hr
from zoo3d_gram_hd.model import GramHDModel, super_resolution_stage

from test_gram_hd_config import FORMAT1_RUN, _load

HR, B = 16, 2
WEIGHTS = ["loss.r1_gamma=1.5", "loss.lambda_pos=3.0", "loss.lambda_realpos=0.25", "loss.patch_lambda=0.3"]

pytestmark = pytest.mark.usefixtures("single_thread")


def _setup(lambda_cons):
    cfg = _load(overrides=FORMAT1_RUN + WEIGHTS + [f"loss.lambda_cons={lambda_cons}"])
    torch.manual_seed(0)
    modules = GramHDModel().build(cfg)
    modules["generator"].super_resolve.fill_(True)  # stage 2 has begun: the HR render
    return cfg, modules


def _ctx(modules, stage):
    return StepContext(modules=modules, config=None, stage=stage, step=0, stage_step=0, real=real_batch(B, HR),
                       device=torch.device("cpu"), rng=torch.Generator().manual_seed(5))


def _as_before(loss):
    """hr_phases as the plugin built them before: one set of parts, every fake rendered with its LR image."""
    parts = GANParts(fakes=partial(render_hr_fakes, resolution=HR), reals=partial(real_sample, resolution=HR),
                     discriminate=score_hr, generator_terms=partial(consistency_terms, lambda_cons=loss.lambda_cons))
    return gan_phases(adversarial_loss(loss, patch_lambda=loss.patch_lambda), parts)


def _step(phase, modules, stage):
    """The phase's loss, logs and the gradient of every parameter it reaches."""
    for m in modules.values():
        m.zero_grad(set_to_none=True)
    out = phase.loss(_ctx(modules, stage))
    out.loss.backward()
    grads = {f"{name}.{n}": p.grad.clone() for name, m in modules.items() for n, p in m.named_parameters()
             if p.grad is not None}
    return out.loss.detach(), out.logs, grads


@pytest.mark.parametrize("lambda_cons", [0.6, 0.0])
def test_each_phase_is_bit_for_bit_the_phase_with_the_lr_image(lambda_cons):
    cfg, modules = _setup(lambda_cons)
    stage = super_resolution_stage(cfg)
    now, before = hr_phases(cfg.stage_loss(stage.name), HR), _as_before(cfg.stage_loss(stage.name))
    assert [(p.name, p.optimizer) for p in now] == [(p.name, p.optimizer) for p in before]
    for new, old in zip(now, before):
        (loss, logs, grads), (want, want_logs, want_grads) = _step(new, modules, stage), _step(old, modules, stage)
        assert torch.equal(loss, want) and logs == want_logs
        assert grads.keys() == want_grads.keys() and grads  # the phase reached parameters
        assert all(torch.equal(grads[k], want_grads[k]) for k in grads)
    assert ("cons_image" in logs) == (lambda_cons > 0)  # the generator phase's: loss (12) only with its weight


@pytest.mark.parametrize("lambda_cons, generator_renders", [(0.6, 1), (0.0, 0)])
def test_the_lr_image_is_rendered_only_for_the_consistency_loss(monkeypatch, lambda_cons, generator_renders):
    cfg, modules = _setup(lambda_cons)
    stage = super_resolution_stage(cfg)
    real_render, counts = GramGenerator.render, []

    def counted(self, *args, **kwargs):
        counts[-1] += 1
        return real_render(self, *args, **kwargs)

    monkeypatch.setattr(GramGenerator, "render", counted)
    for phase in hr_phases(cfg.stage_loss(stage.name), HR):
        counts.append(0)
        phase.loss(_ctx(modules, stage))
    assert counts == [0, generator_renders]  # discriminator, generator
    gen = modules["generator"]
    counts.append(0)
    with torch.no_grad():  # a render asked for as such (sample grids: an HR row, then its LR row) keeps its LR image
        out = gen(gen.sample_z(B), gen.sample_cameras(B))
    assert counts[-1] == 1 and out.raw.rgb.shape == (B, 3, 8, 8)
