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
from zoo3d_gram_inverter.efficient_gram import EfficientGramGenerator, FeatureManifolds
from zoo3d_gram_inverter.encoders import CoarseEncoder

__all__ = ["GramInverter", "camera_from_pose"]


def camera_from_pose(pose: Tensor, prior: CameraPrior) -> Camera:
    """(B, 2) (yaw, pitch) radians -> look-at cameras at the prior's radius and fov."""
    return Camera.from_angles(pose[:, 0], pose[:, 1], prior.radius, prior.fov)


class GramInverter(Inverter):
    """images (B, 3, H, W) in [-1, 1] -> InversionResult whose representation is the combined FeatureManifolds.

    ``result.extras``: ``coarse`` (FeatureManifolds), ``detail`` (FeatureManifolds or None), ``pose``
    ((B, 2) estimate or None). ``use_detail=False`` gives the coarse (encoder-only) inversion.
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
        detail = None
        if use_detail:
            fg_points, _ = self.generator.gridded(self.detail.config.lr_resolution)
            detail = self.detail(images, cameras, fg_points)
        return InversionResult(representation=coarse + detail, cameras=cameras, latent=ws,
                               extras={"coarse": coarse, "detail": detail, "pose": pose})

    def render(self, result: InversionResult, cameras: Camera, resolution: tuple[int, int] | None = None,
               normals: bool = False) -> RenderOutput:
        return self.generator.render(result.representation, cameras, resolution, normals=normals)

    def state(self, result: InversionResult) -> dict[str, Tensor]:
        """``latent`` (W+ from the encoder), ``detail.foreground`` and ``detail.background`` (the detail manifolds'
        features seen through the input camera, when the detail branch ran) and ``pose`` (the pose head's estimate,
        when it gave the camera)."""
        out = {"latent": result.latent}
        detail, pose = result.extras.get("detail"), result.extras.get("pose")
        if detail is not None:
            out.update({"detail.foreground": detail.foreground, "detail.background": detail.background})
        if pose is not None:
            out["pose"] = pose
        return out

    def restore(self, state: dict[str, Tensor], cameras: Camera) -> InversionResult:
        """The coarse manifolds from the saved W+ by the generator, plus the saved detail manifolds."""
        ref = self.generator.levels  # the generator's device and dtype
        ws = state["latent"].to(ref)
        coarse = self.generator.represent_ws(ws)
        detail = None
        if "detail.foreground" in state:
            detail = FeatureManifolds(state["detail.foreground"].to(ref), state["detail.background"].to(ref))
        pose = state["pose"].to(ref) if "pose" in state else None
        return InversionResult(representation=coarse + detail, cameras=cameras.to(device=ref.device), latent=ws,
                               extras={"coarse": coarse, "detail": detail, "pose": pose})
