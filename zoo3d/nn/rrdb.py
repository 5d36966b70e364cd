"""ESRGAN's residual-in-residual dense blocks (shared by GRAM-HD's super-resolution nets and GRAMInverter's
manifold super-resolution).

* :class:`ResidualDenseBlock` — five densely connected 3x3 convs with a 0.2-scaled residual.
* :class:`RRDB` — three of them with an outer 0.2-scaled residual.

Leaky ReLUs act in place and each residual sum is one ``add`` (same results, less memory traffic).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RRDB", "ResidualDenseBlock"]


def _cat(feats: list[Tensor]) -> Tensor:
    return feats[0] if len(feats) == 1 else torch.cat(feats, dim=1)


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs with dense connections (growth ``gc``), LReLU 0.2; out = x + 0.2 * conv5; (B, nf, H, W) -> same."""

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        # PyTorch's default init, as GRAM-HD (it drops ESRGAN's 0.1-scaled Kaiming init).
        self.convs = nn.ModuleList([nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, padding=1) for i in range(5)])

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in self.convs[:4]:
            feats.append(F.leaky_relu(conv(_cat(feats)), 0.2, inplace=True))
        return torch.add(x, self.convs[4](_cat(feats)), alpha=0.2)


class RRDB(nn.Module):
    """Residual in residual dense block: three RDBs, out = x + 0.2 * RDB3(RDB2(RDB1(x))); (B, nf, H, W) -> same."""

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        self.blocks = nn.Sequential(*[ResidualDenseBlock(nf, gc) for _ in range(3)])

    def forward(self, x: Tensor) -> Tensor:
        return torch.add(x, self.blocks(x), alpha=0.2)
