"""GRAM-HD's cross-resolution consistency loss (12): Down_s(HR) against LR, on images and radiance maps."""

from __future__ import annotations

import torch

from zoo3d_gram_hd.generator import ManifoldTextures
from zoo3d_gram_hd.losses import consistency_loss
from zoo3d_gram_hd.resample import bicubic_downsample


def _textures(lr_maps, lr_bg, hr_maps, hr_bg) -> ManifoldTextures:  # noqa: D401
    return ManifoldTextures(lr_maps=lr_maps, lr_background=lr_bg, hr_maps=hr_maps, hr_background=hr_bg)


def test_consistency_loss_is_zero_when_hr_holds_the_lr_content_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    B, N, F, h, s = 2, 3, 5, 8, 4
    # Smooth content (a linear ramp per map): Keys' bicubic Down_s reproduces linear functions exactly.
    ramp = torch.linspace(-1, 1, h * s)
    hr_ramp = (ramp[None, :] + 0.5 * ramp[:, None])  # (H, W)
    coef = torch.rand(B, N, 4, 1, 1, generator=g) * 0.2
    base = torch.rand(B, N, 4, 1, 1, generator=g)
    hr_maps = base + coef * hr_ramp
    hr_bg = torch.rand(B, 3, 1, 1, generator=g) + 0.1 * hr_ramp
    hr_image = torch.rand(B, 3, 1, 1, generator=g) * 0.5 + 0.2 * hr_ramp
    down = lambda x: bicubic_downsample(x.reshape(B, -1, h * s, h * s), s)  # noqa: E731
    lr_ramp = bicubic_downsample(hr_ramp[None, None], s)[0, 0]
    # The LR content the HR content came from (sampled at LR pixel centres, away from the replicate-padded border).
    lr_maps = torch.cat([base + coef * lr_ramp, torch.rand(B, N, F, h, h, generator=g)], dim=2)
    lr_bg = down(hr_bg)
    lr_image = down(hr_image)
    tex = ManifoldTextures(lr_maps=lr_maps, lr_background=lr_bg, hr_maps=hr_maps, hr_background=hr_bg)
    image_term, map_term = consistency_loss(hr_image, lr_image, tex)
    assert image_term.item() < 1e-10 and map_term.item() < 1e-10
    # Detail that is not in the LR content costs something.
    noisy = ManifoldTextures(lr_maps=lr_maps, lr_background=lr_bg, hr_background=hr_bg,
                             hr_maps=hr_maps + 0.1 * torch.randn(hr_maps.shape, generator=g))
    assert consistency_loss(hr_image, lr_image, noisy)[1].item() > 1e-4


def test_consistency_loss_measures_a_colour_shift_of_the_maps_exactly():
    """Adding delta to every HR rgb texel (the background's too) costs delta² x 3/4: rgb is 3 of 4 channels."""
    g = torch.Generator().manual_seed(1)
    B, N, h, s, delta = 1, 2, 8, 2, 0.3
    lr_maps = torch.rand(B, N, 6, 1, 1, generator=g).expand(B, N, 6, h, h)
    lr_bg = torch.rand(B, 3, 1, 1, generator=g).expand(B, 3, h, h)
    shift = torch.tensor([delta, delta, delta, 0.0]).reshape(1, 1, 4, 1, 1)
    hr_maps = (lr_maps[:, :, :4, :1, :1] + shift).expand(B, N, 4, h * s, h * s)
    hr_bg = (lr_bg[..., :1, :1] + delta).expand(B, 3, h * s, h * s)
    image = torch.zeros(B, 3, h, h)
    image_term, map_term = consistency_loss(torch.zeros(B, 3, h * s, h * s), image,
                                            _textures(lr_maps, lr_bg, hr_maps, hr_bg))
    assert image_term.item() == 0
    torch.testing.assert_close(map_term, torch.tensor(delta ** 2 * 3 / 4))
