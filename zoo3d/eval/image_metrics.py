"""Full-reference image metrics for reconstruction and inversion: PSNR, SSIM, LPIPS.

Images are (B, 3, H, W) in [-1, 1] (the zoo3d convention); PSNR and SSIM are computed on
[0, 1] (data range 1), per image, over the full frame (as NeuS and GRAM-HD report them).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.devices import at_least_float32
from zoo3d.errors import UserError

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


def to_unit(img: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1], clamped; in at least float32 (float64 images stay float64)."""
    return ((at_least_float32(img) + 1) / 2).clamp(0, 1)


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB per image (B,), images in [-1, 1]; 20 log10(1 / RMSE) on [0, 1], capped at
    100 dB (an MSE below 1e-10: identical images, or a prediction equal to the target once both are clipped to
    the image range)."""
    mse = (to_unit(pred) - to_unit(target)).pow(2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(pred: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Structural similarity per image (B,) (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03).

    Images in [-1, 1]; computed on [0, 1] per channel without padding ('valid' windows), then averaged.
    The window shrinks to the image size for tiny images. The moments are taken in float64 (where the
    device has it): in float32, E[x^2] - E[x]^2 loses ~1e-7 to cancellation, ~5e-5 of SSIM once divided by C2.
    The result is float32, or float64 for float64 images.
    """
    wide = torch.float32 if pred.device.type == "mps" else torch.float64
    x, y = to_unit(pred).to(wide), to_unit(target).to(wide)
    window = min(window, x.shape[-1], x.shape[-2])
    c = x.shape[1]
    w = _gaussian_window(window, sigma, c, x.device, x.dtype)
    mu_x, mu_y = F.conv2d(x, w, groups=c), F.conv2d(y, w, groups=c)
    xx = F.conv2d(x * x, w, groups=c) - mu_x ** 2
    yy = F.conv2d(y * y, w, groups=c) - mu_y ** 2
    xy = F.conv2d(x * y, w, groups=c) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * xy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (xx + yy + c2))
    return s.flatten(1).mean(1).to(at_least_float32(pred).dtype)


def torch_hub_checkpoints() -> Path:
    """$TORCH_HOME/hub/checkpoints (torch's own cache folder)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_lpips(device=None, weights: str | Path | None = None):
    """LPIPS (AlexNet, v0.1) with the backbone read from the torch cache; never downloads.

    ``weights`` overrides the AlexNet file; otherwise ``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth``.
    Raises UserError naming the file and folder when it is absent, and checks every backbone key loaded.
    """
    import lpips

    path = Path(weights) if weights else torch_hub_checkpoints() / ALEXNET_FILE
    if not path.is_file():
        raise UserError(
            f"LPIPS needs the torchvision AlexNet weights '{ALEXNET_FILE}' in '{path.parent}' "
            f"(download https://download.pytorch.org/models/{ALEXNET_FILE} there, or set TORCH_HOME).")
    model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    # lpips' alexnet wrapper splits torchvision's `features` into slice1..5 with the original indices.
    target = model.net
    own = {}
    for name, _ in target.named_parameters():
        idx = name.split(".", 1)[1]
        own[name] = idx
    missing = [idx for idx in own.values() if idx not in features]
    if missing:
        raise UserError(f"'{path}' is not a torchvision AlexNet checkpoint (missing features.{missing[0]}).")
    target.load_state_dict({name: features[idx] for name, idx in own.items()}, strict=True)
    model.eval().requires_grad_(False)
    return model.to(device) if device is not None else model


#: AlexNet's layers leave nothing of an image under 31 px a side; smaller images are upsampled to this first.
LPIPS_SMALL_SIDE = 64


def lpips_distance(model, pred: Tensor, target: Tensor) -> Tensor:
    """LPIPS distance per image (B,), images in [-1, 1]. Images under 32 px a side (the tiny presets' 16 px) are
    upsampled bilinearly to :data:`LPIPS_SMALL_SIDE` first, where AlexNet would otherwise fail."""
    pred, target = pred.float(), target.float()
    if min(pred.shape[-2:]) < 32:
        scale = LPIPS_SMALL_SIDE / min(pred.shape[-2:])
        size = [round(n * scale) for n in pred.shape[-2:]]
        pred, target = (F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in (pred, target))
    return model(pred, target, normalize=False).flatten(1).mean(1)
