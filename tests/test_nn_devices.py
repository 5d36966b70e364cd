"""Every shared layer follows the device and dtype of its module and inputs (nothing hard-coded)."""

import pytest
import torch

from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.nn.discriminators import CoordConvDiscriminator, StyleGAN2Discriminator
from zoo3d.nn.mapping import MappingNetwork
from zoo3d.nn.modconv import StyleSynthesis
from zoo3d.nn.siren import ColorFiLMLayer, FiLMSirenTrunk, PiGanMappingNetwork
from zoo3d_gram_hd.discriminator import PatchDiscriminator
from zoo3d_gram_hd.resample import bicubic_downsample
from zoo3d_gram_hd.superres import RRDBNet, StyleRRDBNet
from zoo3d_pigan.discriminator import ProgressiveCoordConvDiscriminator


pytestmark = pytest.mark.usefixtures("single_thread")


def _cases():
    """(name, module builder, inputs builder(device, dtype)) for a tiny instance of each layer."""

    def randn(*shape):
        return lambda d, t: torch.randn(*shape, device=d, dtype=t)

    def inputs(*makers):
        return lambda d, t: tuple(m(d, t) if callable(m) else m for m in makers)

    return [
        ("siren", _SirenStack, inputs(randn(2, 5, 3), randn(2, 4))),
        ("mapping", lambda: MappingNetwork(4, 4, num_layers=2, c_dim=3).eval(), inputs(randn(2, 4), randn(2, 3))),
        ("coordconv_d", lambda: CoordConvDiscriminator(8, channel_scale=1 / 256), inputs(randn(2, 3, 8, 8))),
        ("progressive_d", lambda: ProgressiveCoordConvDiscriminator(8, channel_scale=1 / 256),
         inputs(randn(2, 3, 8, 8), None, 0.5)),
        ("patch_d", lambda: PatchDiscriminator(ndf=2), inputs(randn(2, 3, 32, 32))),
        ("stylegan2_d", lambda: StyleGAN2Discriminator(8, channel_base=32, max_channels=4, c_dim=25, mapping_layers=1),
         inputs(randn(2, 3, 8, 8), None, randn(2, 25))),
        ("synthesis", lambda: StyleSynthesis(4, 3, 8, lambda r: 4, noise=False), inputs(randn(2, 4, 4))),
        ("style_rrdb", lambda: StyleRRDBNet(in_ch=5, out_ch=4, nf=4, nb=1, gc=2, scale=2, z_dim=4, up_channels=[4],
                                            style_hidden=4),
         inputs(randn(2, 5, 4, 4), randn(1, 4))),
        ("rrdb", lambda: RRDBNet(nf=4, nb=1, gc=2, scale=2, up_channels=[4]), inputs(randn(1, 3, 4, 4))),
    ]


class _SirenStack(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mapping = PiGanMappingNetwork(4, 8, num_film_layers=3, film_dim=8)
        self.trunk = FiLMSirenTrunk(3, 8, num_layers=2)
        self.color = ColorFiLMLayer(8, 8)

    def forward(self, x, z):
        freq, phase = self.mapping(z)
        h = self.trunk(x, freq, phase)[-1]
        return self.color(h, torch.nn.functional.normalize(x, dim=-1), freq[:, 2], phase[:, 2])


def _first_tensor(out):
    return out.logit if isinstance(out, DiscriminatorOutput) else out


@pytest.mark.parametrize("case", range(len(_cases())), ids=[c[0] for c in _cases()])
def test_float64_follows_the_module_and_agrees_with_float32(case):
    """The same weights and inputs in float64 and float32 give the same output to float32 precision."""
    _, build, inputs = _cases()[case]
    torch.manual_seed(0)
    module = build().eval()
    torch.manual_seed(1)
    x64 = inputs("cpu", torch.float64)
    x32 = tuple(a.float() if isinstance(a, torch.Tensor) else a for a in x64)
    out32 = _first_tensor(module(*x32))
    out = _first_tensor(module.double()(*x64))
    assert out.dtype == torch.float64 and out32.dtype == torch.float32
    assert out.abs().max() > 1e-3  # a non-trivial output
    torch.testing.assert_close(out.float(), out32, rtol=1e-4, atol=1e-5)


def test_bicubic_downsample_keeps_dtype_and_agrees_with_float32():
    x = torch.rand(1, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = bicubic_downsample(x, 2)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), bicubic_downsample(x.float(), 2), rtol=1e-6, atol=1e-6)
    assert torch.allclose(bicubic_downsample(torch.full_like(x, 0.3), 2), torch.full((1, 2, 4, 4), 0.3,
                                                                                   dtype=torch.float64))


@pytest.mark.cuda
@pytest.mark.parametrize("case", range(len(_cases())), ids=[c[0] for c in _cases()])
def test_cuda_matches_cpu(case):
    _, build, inputs = _cases()[case]
    torch.manual_seed(0)
    module = build().eval()
    cpu_in = inputs("cpu", torch.float32)
    expected = _first_tensor(module(*cpu_in))
    gpu_in = tuple(a.cuda() if isinstance(a, torch.Tensor) else a for a in cpu_in)
    got = _first_tensor(module.cuda()(*gpu_in))
    assert got.is_cuda
    torch.testing.assert_close(got.cpu(), expected, atol=1e-3, rtol=1e-3)
