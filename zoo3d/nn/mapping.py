"""StyleGAN2 mapping network z (+ optional conditioning c) -> w, with a tracked w average for truncation.

z is pixel-normalised (unit second moment), then ``num_layers`` equalised-lr linear layers
with learning-rate multiplier 0.01 and leaky ReLU 0.2 x sqrt(2). EG3D conditions the mapping
on the camera 25-vector (``c_dim``): c is embedded, normalised and concatenated to z; with
``z_dim=0`` the network maps c alone (the discriminator's camera mapping).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo3d.nn.equalized import EqualLinear

__all__ = ["EqualLinear", "MappingNetwork", "pixel_norm"]


def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Rescale each row of x (B, C) to unit mean square along C."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class MappingNetwork(nn.Module):
    """z (B, z_dim) [, c (B, c_dim)] -> w (B, w_dim), or W+ (B, num_ws, w_dim) when ``num_ws`` is given.

    Args:
        z_dim: latent size (0 = conditioning only). w_dim: output size.
        num_layers: equalised linear layers (8 in StyleGAN2, 2 in EG3D, 5 in StyleSDF's decoder).
        hidden: width of the hidden layers (defaults to w_dim).
        c_dim: conditioning size (25 for EG3D cameras; 0 = unconditional).
        lr_mul: learning-rate multiplier of the layers (0.01).
        num_ws: when set, forward broadcasts w to (B, num_ws, w_dim).
        w_avg_beta: decay of the tracked ``w_avg`` (updated in training mode); None disables tracking.
    """

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, hidden: int | None = None, c_dim: int = 0,
                 lr_mul: float = 0.01, num_ws: int | None = None, w_avg_beta: float | None = 0.995):
        super().__init__()
        if z_dim == 0 and c_dim == 0:
            raise ValueError("a mapping network needs z_dim > 0 or c_dim > 0")
        hidden = hidden or w_dim
        self.embed = EqualLinear(c_dim, w_dim) if c_dim > 0 else None
        width = z_dim + (w_dim if c_dim > 0 else 0)
        layers = []
        for i in range(num_layers):
            out = w_dim if i == num_layers - 1 else hidden
            layers.append(EqualLinear(width, out, lr_mul=lr_mul, activation="lrelu"))
            width = out
        self.layers = nn.Sequential(*layers)
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor | None, c: Tensor | None = None, psi: float = 1.0,
                update_w_avg: bool | None = None) -> Tensor:
        parts = []
        if self.z_dim > 0:
            parts.append(pixel_norm(z))
        if self.embed is not None:
            if c is None:
                raise ValueError(f"this mapping network is conditioned: pass c of shape (B, {self.c_dim})")
            parts.append(pixel_norm(self.embed(c)))
        w = self.layers(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
        if update_w_avg is None:
            update_w_avg = self.training
        if update_w_avg and self.w_avg_beta is not None:
            with torch.no_grad():
                # under autocast w is bf16/fp16 while the tracked mean stays fp32
                self.w_avg.copy_(torch.lerp(w.detach().mean(0).to(self.w_avg.dtype), self.w_avg, self.w_avg_beta))
        w = self.truncate(w, psi)
        if self.num_ws is not None:
            w = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        return w

    def truncate(self, w: Tensor, psi: float, cutoff: int | None = None) -> Tensor:
        """``w_avg + psi (w - w_avg)``; w (B, w_dim) or (B, N, w_dim); with ``cutoff`` only the first N ws of W+."""
        if psi == 1.0:
            return w
        truncated = torch.lerp(self.w_avg.to(w), w, psi)
        if cutoff is None or w.dim() == 2:
            return truncated
        keep = torch.arange(w.shape[1], device=w.device)[None, :, None] < cutoff
        return torch.where(keep, truncated, w)

    @torch.no_grad()
    def compute_w_avg(self, num_samples: int = 10000, c: Tensor | None = None,
                      generator: torch.Generator | None = None) -> Tensor:
        """Set ``w_avg`` to the mean w over ``num_samples`` z ~ N(0, I) (c repeated if given) and return it."""
        p = self.layers[0].weight
        z = torch.randn(num_samples, max(self.z_dim, 1), generator=generator, dtype=torch.float32,
                        device="cpu" if generator is None else generator.device).to(p)
        if c is not None:
            c = c.to(p).expand(num_samples, -1) if c.shape[0] == 1 else c
        num_ws, self.num_ws = self.num_ws, None
        try:
            w = self.forward(z[:, : self.z_dim] if self.z_dim else None, c, update_w_avg=False)
        finally:
            self.num_ws = num_ws
        self.w_avg.copy_(w.mean(0))
        return self.w_avg
