"""GramInverter: single-pass inversion of portraits into detailed radiance manifolds.

invert(images, cameras=None): E_w gives W+ (and a pose when ``cameras`` is None), the frozen Efficient
GRAM turns W+ into coarse feature manifolds, the detail reconstructor adds HR detail manifolds seen
through the input camera; one forward pass of each network. render(result, cameras) draws the sum with
the generator's renderer from any camera.
"""

from __future__ import annotations

from torch import Tensor

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.inverter import InversionResult, Inverter
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import UserError

from zoo3d_gram_inverter.detail import DetailReconstructor
from zoo3d_gram_inverter.efficient_gram import EfficientGramGenerator
from zoo3d_gram_inverter.encoders import CoarseEncoder

__all__ = ["GramInverter", "camera_from_pose"]


def camera_from_pose(pose: Tensor, prior: CameraPrior) -> Camera:
    """(B, 2) (yaw, pitch) radians -> look-at cameras at the prior's radius and fov."""
    return Camera.from_angles(pose[:, 0], pose[:, 1], prior.radius, prior.fov)


class GramInverter(Inverter):
    """images (B, 3, H, W) in [-1, 1] -> InversionResult whose representation is the combined FeatureManifolds.

    ``result.extras``: ``coarse`` (FeatureManifolds), ``detail`` (FeatureManifolds or None), ``pose``
    ((B, 2) estimate or None), ``images`` (the detail branch's input, or None). ``use_detail=False`` gives the coarse
    (encoder-only) inversion.
    """

    def __init__(self, generator: EfficientGramGenerator, encoder: CoarseEncoder, detail: DetailReconstructor):
        super().__init__()
        self.generator, self.encoder, self.detail = generator, encoder, detail

    @property
    def has_pose_head(self) -> bool:
        return self.encoder.has_pose_head

    def encode(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """W+ (B, num_ws, w_dim) and pose (B, 2) or None."""
        return self.encoder(images, self.generator.mean_latent().detach())

    def _require_pose_head(self) -> None:
        if not self.has_pose_head:
            raise UserError("This GRAMInverter was trained without a pose head, so the input pose must be given "
                            "(--pose yaw,pitch).")

    def estimate_cameras(self, images: Tensor) -> Camera:
        """The encoder's pose estimate as cameras (UserError when the encoder has no pose head)."""
        self._require_pose_head()
        _, pose = self.encode(images)
        return camera_from_pose(pose, self.generator.camera_prior).to(device=images.device)

    def invert(self, images: Tensor, cameras: Camera | None = None, use_detail: bool = True) -> InversionResult:
        images = images.to(self.generator.levels)  # the generator's device and dtype
        if cameras is None:
            self._require_pose_head()
        ws, pose = self.encode(images)
        if cameras is None:
            cameras = camera_from_pose(pose, self.generator.camera_prior)
        cameras = cameras.to(device=images.device)
        coarse = self.generator.represent_ws(ws)
        detail = self._detail(images, cameras) if use_detail else None
        return InversionResult(representation=coarse + detail, cameras=cameras, latent=ws,
                               extras={"coarse": coarse, "detail": detail, "pose": pose,
                                       "images": images if use_detail else None})

    def _detail(self, images: Tensor, cameras: Camera):
        """The detail manifolds the detail branch sees in ``images`` through ``cameras``."""
        fg_points, _ = self.generator.gridded(self.detail.config.lr_resolution)
        return self.detail(images, cameras, fg_points)

    def render(self, result: InversionResult, cameras: Camera, resolution: tuple[int, int] | None = None,
               normals: bool = False) -> RenderOutput:
        return self.generator.render(result.representation, cameras, resolution, normals=normals)

    def state(self, result: InversionResult) -> dict[str, Tensor]:
        """``latent`` (W+ from the encoder), ``images`` (the detail branch's input, when it ran: the detail manifolds
        are drawn from it again, one forward pass, as they hold ``num_levels * feature_dim`` channels at the texture
        resolution, 96 MB an image at ffhq256, against 0.8 MB) and ``pose`` (the pose head's estimate)."""
        out = {"latent": result.latent}
        images, pose = result.extras.get("images"), result.extras.get("pose")
        if images is not None:
            out["images"] = images
        if pose is not None:
            out["pose"] = pose
        return out

    def restore(self, state: dict[str, Tensor], cameras: Camera) -> InversionResult:
        """The coarse manifolds from the saved W+ by the generator, plus the detail manifolds of the saved image."""
        ref = self.generator.levels  # the generator's device and dtype
        ws, cameras = state["latent"].to(ref), cameras.to(device=ref.device)
        images = state["images"].to(ref) if "images" in state else None
        coarse = self.generator.represent_ws(ws)
        detail = self._detail(images, cameras) if images is not None else None
        pose = state["pose"].to(ref) if "pose" in state else None
        return InversionResult(representation=coarse + detail, cameras=cameras, latent=ws,
                               extras={"coarse": coarse, "detail": detail, "pose": pose, "images": images})
