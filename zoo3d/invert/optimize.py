"""The optimisation inverter: latent optimisation (z, W or W+) with pixel + perceptual losses, then
optional PTI-style generator fine-tuning, for any registered generator.

Per image batch: (1) Adam on the latent for ``steps`` with the generator frozen, loss
``pixel(render, image) + perceptual_weight * perceptual(render, image)`` rendered at the given
cameras; (2) with ``tune_steps`` > 0, a *copy* of the generator is fine-tuned for ``tune_steps`` with
the latent fixed (Roich et al.'s pivotal tuning; the copy is what renders the result, the caller's
generator is never changed), every weight of it, or with ``keep_geometry`` all but a geometry no latent
changes (see :func:`keeps_geometry`). The tuned copy is shared by the batch given: pass one image at a time
for per-image PTI (as ``zoo3d invert`` and the invert benchmark do). Losses are summed over the batch,
so with the per-element Adam each image's latent evolves as if optimised alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.inverter import InversionResult, Inverter
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import UserError
from zoo3d.invert.latent import LatentSpace, resolve_space
from zoo3d.invert.losses import PerceptualLoss, reconstruction_loss

__all__ = ["OptimizeSettings", "OptimizationInverter", "keeps_geometry"]


@dataclass
class OptimizeSettings:
    """Settings of :class:`OptimizationInverter` (PTI's 450 latent steps; its generator tuning, 350 steps in PTI,
    is off unless ``tune_steps`` is set).

    space: ``auto`` (W+ where the generator exposes it, else z), ``z``, ``w``, ``w+``.
    lr: Adam step size of the latent. tune_lr: of the generator in PTI tuning (PTI: 3e-4).
    pixel: ``l1`` or ``l2``. perceptual_weight: weight of the perceptual term (0 disables it).
    psi: truncation when the space is z.
    weight_decay: Adam's L2 penalty on the latent's offset from where it started (the mean w, or z = 0).
    lr_step, lr_gamma: the step size is multiplied by ``lr_gamma`` every ``lr_step`` latent steps (0: constant).
    noise: each latent step renders the latent plus N(0, sigma^2) noise, sigma falling linearly from ``noise`` at the
    first step towards 0 at the last; the latent found is without it.
    :meth:`pigan` gives pi-GAN's own settings (``inverse_render.py``).
    keep_geometry: PTI keeps a geometry every instance shares as it is and tunes the rest (only for a generator
    :func:`keeps_geometry` accepts): its steps render from the latent steps' hits, faster, but fitting less.
    """

    space: str = "auto"
    steps: int = 450
    lr: float = 0.01
    tune_steps: int = 0
    tune_lr: float = 3e-4
    pixel: str = "l1"
    perceptual_weight: float = 1.0
    psi: float = 1.0
    keep_geometry: bool = False
    weight_decay: float = 0.0
    lr_step: int = 0
    lr_gamma: float = 1.0
    noise: float = 0.0

    @classmethod
    def pigan(cls, **changes) -> "OptimizeSettings":
        """pi-GAN's ``inverse_render.py``: offsets to the mean W+ for 700 steps of Adam (lr 1e-2, weight decay 1e-4,
        x0.75 every 100 steps) on the MSE alone, with noise of 0.03 (1 - i / 700) on the codes at step i;
        ``changes`` set other fields (``steps``, ``tune_steps``, ...)."""
        return cls(**{**dict(space="w+", steps=700, lr=1e-2, weight_decay=1e-4, lr_step=100, lr_gamma=0.75,
                             noise=0.03, pixel="l2", perceptual_weight=0.0), **changes})


def shared_intersections(generator, cameras: Camera, resolution) -> dict:
    """``{"intersections": hits}`` for a generator whose geometry no latent changes (it has
    ``intersect(cameras, resolution)``, and ``render`` takes the hits as ``intersections=``, as GRAM's and
    Efficient GRAM's do), else ``{}``. With the generator frozen the latent steps render the same cameras from
    the same hits, so they are found once, in the grad mode the steps render in (the same chunks, the same
    values)."""
    if not keeps_geometry(generator):
        return {}
    return {"intersections": generator.intersect(cameras, resolution)}


def keeps_geometry(generator) -> bool:
    """Whether PTI can keep ``generator``'s geometry apart from the rest: it exposes ``intersect`` (see
    :func:`shared_intersections`), a geometry that every instance shares (GRAM's and Efficient GRAM's manifold
    predictor), which tuning steps rendered from the latent steps' hits give no gradient."""
    return callable(getattr(generator, "intersect", None))


class OptimizationInverter(Inverter):
    """Inverts images by optimisation through ``generator.represent``/``render`` (any zoo3d Generator).

    Args:
        generator: the generator to invert (not modified).
        settings: :class:`OptimizeSettings`.
        perceptual: the perceptual loss (None: built on first use, LPIPS or its substitute).
        pose_estimator: images (B, 3, H, W) -> Camera, used when ``invert`` gets no cameras
            (e.g. GRAMInverter's pose head); without one a missing camera is a UserError.
    """

    def __init__(self, generator, settings: OptimizeSettings | None = None, perceptual: PerceptualLoss | None = None,
                 pose_estimator: Callable[[Tensor], Camera] | None = None):
        super().__init__()
        self.generator = generator
        self.settings = settings or OptimizeSettings()
        if self.settings.keep_geometry and not keeps_geometry(generator):
            raise UserError("This generator has no shared geometry that PTI can keep apart from the rest (it exposes "
                            "no intersect(cameras, resolution)); leave keep_geometry off.")
        self._perceptual = perceptual
        self.pose_estimator = pose_estimator

    @property
    def perceptual(self) -> PerceptualLoss | None:
        if self.settings.perceptual_weight <= 0:
            return None
        if self._perceptual is None:
            from zoo3d.invert.losses import perceptual_for

            self._perceptual = perceptual_for(self.generator.device)
        return self._perceptual

    def _loss(self, out: RenderOutput, images: Tensor) -> Tensor:
        return reconstruction_loss(out.rgb, images, self.perceptual, self.settings.perceptual_weight,
                                   self.settings.pixel).sum()

    def resolve_cameras(self, images: Tensor, cameras: Camera | None) -> Camera:
        if cameras is not None:
            return cameras
        if self.pose_estimator is None:
            raise UserError("This model has no pose estimator, so the input pose must be given (--pose yaw,pitch).")
        with torch.no_grad():
            return self.pose_estimator(images)

    def invert(self, images: Tensor, cameras: Camera | None = None,
               on_step: Callable[[], None] | None = None) -> InversionResult:
        """``on_step``: called after each latent step and each PTI tuning step (a progress bar's advance)."""
        s = self.settings
        gen = self.generator
        device = gen.device
        images = images.to(device=device, dtype=gen.dtype)
        cameras = self.resolve_cameras(images, cameras).to(device=device)
        res = tuple(images.shape[-2:])
        latent = LatentSpace(gen, s.space, images.shape[0], s.psi)
        was_training = gen.training
        gen.eval()
        grad_state = [(p, p.requires_grad) for p in gen.parameters()]
        history = []
        try:
            for p, _ in grad_state:
                p.requires_grad_(False)
            opt = torch.optim.Adam([latent.param], lr=s.lr, betas=(0.9, 0.999))
            schedule = torch.optim.lr_scheduler.StepLR(opt, s.lr_step, s.lr_gamma) if s.lr_step > 0 else None
            fixed = shared_intersections(gen, cameras, res)
            for i in range(s.steps):
                opt.zero_grad(set_to_none=True)
                noise = (torch.randn_like(latent.param) * (s.noise * (s.steps - i) / s.steps)) if s.noise else None
                loss = self._loss(gen.render(latent.represent(gen, noise), cameras, res, **fixed), images)
                if not loss.requires_grad:  # e.g. a calibration model, which draws fixed scenes
                    raise UserError(f"This generator's renders do not depend on its {latent.space} latent, so "
                                    f"latent optimisation has nothing to fit.")
                loss.backward()
                if s.weight_decay:  # Adam's own weight decay, on the offset from the start rather than the latent
                    latent.param.grad.add_(latent.param.detach() - latent.start, alpha=s.weight_decay)
                opt.step()
                if schedule is not None:
                    schedule.step()
                history.append(loss.item())
                if on_step is not None:
                    on_step()
        finally:
            for p, flag in grad_state:
                p.requires_grad_(flag)
            gen.train(was_training)
        latent.param.requires_grad_(False)
        used = gen
        if s.tune_steps > 0:
            used = self._tune(latent, images, cameras, res, history, fixed if s.keep_geometry else {}, on_step)
        with torch.no_grad():
            rep = latent.represent(used)
        return InversionResult(representation=rep, cameras=cameras, latent=latent.codes(used).detach(),
                               generator=used if used is not gen else None,
                               extras={"space": latent.space, "losses": history})

    def _tune(self, latent: LatentSpace, images: Tensor, cameras: Camera, res, history: list, fixed: dict,
              on_step: Callable[[], None] | None = None) -> torch.nn.Module:
        """PTI: a copy of the generator trained to reproduce the images from the fixed pivot latent. Its steps render
        from ``fixed``, the hits the latent steps found, when PTI keeps the geometry: the geometry then gets no
        gradient, so Adam leaves its weights exactly as they were; ``{}`` intersects afresh each step and tunes
        every weight."""
        tuned = copy.deepcopy(self.generator).eval()
        params = [p for p in tuned.parameters() if p.is_floating_point()]
        if not params:
            raise UserError("This generator has no parameters for PTI to fine-tune; use --tune-steps 0.")
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=self.settings.tune_lr)
        for _ in range(self.settings.tune_steps):
            opt.zero_grad(set_to_none=True)
            loss = self._loss(tuned.render(latent.represent(tuned), cameras, res, **fixed), images)
            loss.backward()
            opt.step()
            history.append(loss.item())
            if on_step is not None:
                on_step()
        for p in params:
            p.requires_grad_(False)
        return tuned

    def render(self, result: InversionResult, cameras: Camera,
               resolution: tuple[int, int] | None = None) -> RenderOutput:
        gen = result.generator if result.generator is not None else self.generator
        return gen.render(result.representation, cameras.to(device=gen.device), resolution)

    def state(self, result: InversionResult) -> dict[str, Tensor] | None:
        """``latent``: the codes found as the generator consumes them (z (B, z_dim), or W+ (B, num_ws, w_dim) for
        the spaces w and w+); after PTI also ``generator.<name>`` for each weight or buffer of the tuned copy that
        differs from the generator's (a geometry PTI kept is not stored again). None for a result without a latent."""
        if result.latent is None:
            return None
        out = {"latent": result.latent}
        if result.generator is not None:
            base = self.generator.state_dict()
            out.update({f"generator.{name}": value for name, value in result.generator.state_dict().items()
                        if not torch.equal(value, base[name])})
        return out

    def restore(self, state: dict[str, Tensor], cameras: Camera) -> InversionResult:
        """The result from ``state``'s latent, represented (in ``settings.space``, at ``settings.psi`` for z) by the
        generator, or by a copy of it carrying PTI's tuned weights when ``state`` holds some."""
        gen = self.generator
        tuned = {name.removeprefix("generator."): v for name, v in state.items() if name.startswith("generator.")}
        if tuned:
            gen = copy.deepcopy(self.generator)
            gen.load_state_dict({**gen.state_dict(), **tuned})
        space = resolve_space(gen, self.settings.space)
        latent = state["latent"].to(device=gen.device, dtype=gen.dtype)
        with torch.no_grad():
            rep = gen.represent(latent, self.settings.psi) if space == "z" else gen.represent_ws(latent)
        return InversionResult(representation=rep, cameras=cameras.to(device=gen.device), latent=latent,
                               generator=gen if tuned else None, extras={"space": space})
