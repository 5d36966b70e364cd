"""Image sets for distribution metrics (fid, kid, swd, diversity, detail): generated from the prior, real from data.

Generated images use latents and cameras drawn from one CPU generator seeded with the
protocol's ``seed_start`` (the same draws for every model with the same z_dim and prior),
truncation ``psi_distribution`` (1 = none, as upstream). Real images come from
``zoo3d.data.build_dataset`` at the same resolution (``--data``, default ``synthetic:heads``),
read item by item without the dataset's block cache.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from zoo3d.errors import UserError
from zoo3d.eval.metric import EvalContext, EvalModel, Metric


@torch.no_grad()
def generated_images(generator, n: int, resolution: int, psi: float, seed: int, device, batch: int = 16) -> Tensor:
    """(n, 3, R, R) images in [-1, 1] on the CPU, cameras from the generator's prior."""
    rng = torch.Generator().manual_seed(int(seed))
    out = []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        z = generator.sample_z(b, generator=rng, device=device)
        cams = generator.camera_prior.sample(b, generator=rng).to(device=device)
        out.append(generator(z, cams, psi=psi, resolution=(resolution, resolution)).rgb.float().cpu())
    return torch.cat(out)


def check_reference_data(options: dict[str, Any], metric: str = "a distribution metric") -> None:
    """The pre-flight of a metric against ``--data``: the spec names a registered dataset or a folder with at least
    two usable images (one image is no set: ``metric`` would refuse it only once it came to score, after every
    metric before it had run)."""
    from zoo3d.data.dataset import usable_images

    data = options.get("data", "synthetic:heads")
    usable = usable_images(data)
    if usable is not None and usable < 2:
        raise UserError(f"Dataset '{data}' holds {usable} usable image; {metric} compares sets of images and needs at "
                        f"least 2.")


def real_images(data_spec: str, n: int, resolution: int, seed: int = 0, skipped: dict | None = None) -> Tensor:
    """(n, 3, R, R) dataset images in [-1, 1]: a seeded random subset (all of them when fewer).

    A dataset that counts the files it could not decode (``skipped``, as a folder's does) serves the next readable
    item in place of one: such a stand-in, which would be a second copy of another image, is left out and the
    subset goes on along the same order; ``skipped`` (when given) receives the dataset's ``{file: why}``."""
    try:
        from zoo3d.config import DataConfig
        from zoo3d.data import build_dataset
    except ImportError:
        raise UserError("Distribution metrics need zoo3d.data.build_dataset, which this installation lacks.") from None
    # no block cache: a random subset read once would render (or decode) whole blocks around every item
    from zoo3d.data.served import check_served

    dataset = build_dataset(DataConfig(spec=data_spec, mirror=False, cache=False), resolution)
    check_served(dataset, data_spec, resolution, cameras=False)  # its images are compared, not its cameras
    total = len(dataset)
    if total == 0:
        raise UserError(f"Dataset '{data_spec}' is empty.")
    order = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))
    counts_skipped = isinstance(getattr(dataset, "skipped", None), dict)
    images = []
    for i in order.tolist():
        item = dataset[i]
        if counts_skipped and int(item.get("index", i)) != i:  # a stand-in for a file that could not be decoded
            continue
        images.append(torch.as_tensor(item["image"]).float())
        if len(images) == n:
            break
    if skipped is not None and counts_skipped:
        skipped.update(dataset.skipped)
    return torch.stack(images)  # a readable item is its own stand-in, so one is always here


def smaller_images(data_spec: str, resolution: int) -> tuple[int, int, int] | None:
    """(how many, of how many, the smallest side) of a folder or zip dataset's usable images whose centred square is
    smaller than ``resolution`` px, from their headers; None where none is, and for a registered dataset, which
    renders at any resolution."""
    from zoo3d.data.check import ensure_usable
    from zoo3d.data.dataset import locate_given

    try:  # a caveat only: a dataset that cannot be sized (its real set came from elsewhere) gets none
        _, path = locate_given(data_spec)
        if path is None:
            return None
        sizes = ensure_usable(path).usable_resolutions
    except UserError:
        return None
    sides = [(min(int(v) for v in size.split("x")), count) for size, count in sizes.items()]
    small = [(side, count) for side, count in sides if side < resolution]
    if not small:
        return None
    return sum(c for _, c in small), sum(c for _, c in sides), min(side for side, _ in small)


def protocol_generated_images(model, ctx) -> Tensor:
    """The protocol's generated set of one model (an EvalModel) at its metric resolution.

    Its draws are seeded, so every distribution metric of a comparison scores the same images: the set of
    the model being evaluated is kept in ``ctx.options["generated_images"]`` for its other metrics, and
    the next model's set replaces it (the harness evaluates one model at a time).
    """
    from zoo3d.eval.metric import model_resolution

    proto = ctx.protocol
    res = model_resolution(model.generator, proto.resolution)
    key = (res, proto.distribution_images, proto.psi_distribution, proto.seed_start, str(ctx.device))
    held = ctx.options.get("generated_images")
    if held is None or held[0] is not model or held[1] != key:
        fake = generated_images(model.generator, proto.distribution_images, res, proto.psi_distribution,
                                proto.seed_start, ctx.device)
        held = ctx.options["generated_images"] = (model, key, fake)
    return held[2]


def protocol_image_sets(model, ctx) -> tuple[Tensor, Tensor]:
    """(generated, real) image sets of the protocol for one model at its metric resolution.

    The generated set is :func:`protocol_generated_images`; the real set is read once per resolution and
    kept in ``ctx.options["real_images"]`` for the other models and metrics of the same comparison.
    """
    from zoo3d.eval.metric import model_resolution

    proto = ctx.protocol
    res = model_resolution(model.generator, proto.resolution)
    fake = protocol_generated_images(model, ctx)
    real = ctx.options.get("real_images") or {}
    if res not in real:
        data, skipped = ctx.options.get("data", "synthetic:heads"), {}
        real[res] = real_images(data, proto.distribution_images, res, skipped=skipped)
        ctx.options["real_images"] = real
        smaller = smaller_images(data, res)
        if smaller:  # said where it happens, not only in metrics.md: every model's detail read 7 times the data's
            count, total, side = smaller
            ctx.notes.append(f"dataset '{data}': {count} of its {total} usable images are smaller than the {res} px "
                             f"the models are scored at (the smallest {side} px); upsampled, they lower the dataset's "
                             f"own fine detail, which raises every model's detail score and moves swd: give a --data "
                             f"at least as large.")
        if skipped:  # the real set is the readable images only: said, since the file names were not
            first, why = next(iter(skipped.items()))
            ctx.notes.append(f"dataset '{data}': {len(skipped)} image(s) could not be decoded and are not in the real "
                             f"set (first: '{first}', {why}); `zoo3d data check {data}` lists them.")
    return fake, real[res]


class DistributionMetric(Metric):
    """A metric of the protocol's two image sets (:func:`protocol_image_sets`), one value per model.

    Subclasses give :meth:`score_sets`, which returns what ``evaluate`` does (``{key: [value]}``, and an optional
    ``"_meta"``); the generated set is rendered once per model, the real set read once per comparison and resolution.
    """

    requires = ("images", "dataset")
    units = "one"

    def check(self, protocol: Any, options: dict[str, Any]) -> None:
        check_reference_data(options, self.name)

    def evaluate(self, model: EvalModel, ctx: EvalContext) -> dict[str, Any]:
        fake, real = protocol_image_sets(model, ctx)
        wanted, data = ctx.protocol.distribution_images, ctx.options.get("data", "synthetic:heads")
        if real.shape[0] < 2:
            raise UserError(f"Dataset '{data}' holds {real.shape[0]} image; {self.name} compares sets of images and "
                            f"needs at least 2.")
        if real.shape[0] < wanted:  # the report said the protocol's count while fewer were read
            ctx.notes.append(f"dataset '{data}' holds {real.shape[0]} images, fewer than the protocol's {wanted}: "
                             f"the distribution metrics' real set is those {real.shape[0]}.")
        from zoo3d.eval.harness import evaluated

        out, meta = evaluated(self.name, self.score_sets(fake, real, ctx), "score_sets")
        meta.update({"generated_images": int(fake.shape[0]), "real_images": int(real.shape[0])})
        ctx.advance(1)
        return {**out, "_meta": meta}

    def score_sets(self, generated: Tensor, real: Tensor, ctx: EvalContext) -> dict[str, Any]:
        """The result for generated and dataset images (N, 3, R, R): each key -> [value], optional ``_meta``."""
        raise NotImplementedError
