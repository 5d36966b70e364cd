"""``mirror_iou``: an example metric plugin with settings of its own.

The silhouette seen from yaw +a, mirrored left to right, against the silhouette seen from -a. A
mirror-symmetric subject (a head) rendered by a 3D-consistent model scores close to 1; a model whose
shape changes with the camera scores lower. ``zoo3d compare --metric mirror_iou --set mirror_iou.yaw=0.4``
changes the angle; the protocol records the settings used.
"""

from __future__ import annotations

from pydantic import Field

from zoo3d.cameras import Camera
from zoo3d.config import Config
from zoo3d.eval.metric import Metric, NotApplicable, instance_latent, model_resolution, render_instance


class MirrorSettings(Config):
    yaw: float = Field(0.3, gt=0.0, le=1.0)             # radians either side of the front
    threshold: float = Field(0.5, gt=0.0, lt=1.0)       # alpha above this is inside the silhouette


class MirrorIoU(Metric):
    name = "mirror_iou"
    higher_is_better = True
    settings = MirrorSettings

    def evaluate(self, model, ctx):
        s = ctx.settings(self)
        gen = model.generator
        cams = Camera.from_angles([s.yaw, -s.yaw], 0.0, gen.camera_prior.radius, gen.camera_prior.fov)
        res = model_resolution(gen, ctx.protocol.resolution)
        values = []
        for seed in ctx.seeds:
            out = render_instance(gen, instance_latent(gen, seed, ctx.device), cams.to(ctx.device), res)
            if out["alpha"] is None:
                raise NotApplicable(f"{model.name} renders no alpha")
            right, left = out["alpha"][0] > s.threshold, out["alpha"][1].flip(-1) > s.threshold
            values.append(float((right & left).sum() / (right | left).sum().clamp_min(1)))
            ctx.advance(1)
        return {"mirror_iou": values}
