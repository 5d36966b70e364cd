"""ESRGAN's residual dense blocks (zoo3d.nn.rrdb) against GRAM-HD's esrgan.py written out.

GRAM-HD (generators/super_resolutions/esrgan.py): ``ResidualDenseBlock_5C(nf=64, gc=32)`` is
x1 = lrelu(conv1(x)), x2 = lrelu(conv2([x, x1])), ..., x5 = conv5([x, x1, x2, x3, x4]), out = 0.2 x5 + x, with
LeakyReLU(0.2) and 3x3 convs padded by 1; ``RRDB(nf, gc=32)`` chains three of them and adds 0.2 times that to x.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo3d.nn.rrdb import RRDB, ResidualDenseBlock

pytestmark = pytest.mark.usefixtures("single_thread")


def _rdb_by_hand(x, convs):
    """GRAM-HD's ResidualDenseBlock_5C.forward with the given convs' weights."""
    conv = [lambda t, c=c: F.conv2d(t, c.weight, c.bias, padding=1) for c in convs]
    x1 = F.leaky_relu(conv[0](x), 0.2)
    x2 = F.leaky_relu(conv[1](torch.cat((x, x1), 1)), 0.2)
    x3 = F.leaky_relu(conv[2](torch.cat((x, x1, x2), 1)), 0.2)
    x4 = F.leaky_relu(conv[3](torch.cat((x, x1, x2, x3), 1)), 0.2)
    x5 = conv[4](torch.cat((x, x1, x2, x3, x4), 1))
    return x5 * 0.2 + x


def test_dense_block_is_gram_hds_residual_dense_block():
    torch.manual_seed(0)
    rdb = ResidualDenseBlock(6, 3).double()
    x = torch.randn(2, 6, 5, 4, dtype=torch.float64)
    # negative inputs reach every leaky ReLU, so its slope shows
    torch.testing.assert_close(rdb(x), _rdb_by_hand(x, rdb.convs), rtol=1e-12, atol=1e-12)


def test_rrdb_is_three_dense_blocks_and_a_scaled_residual_with_its_growth():
    torch.manual_seed(1)
    rrdb = RRDB(6, 3).double()
    assert [c.in_channels for c in rrdb.blocks[0].convs] == [6, 9, 12, 15, 18]  # growth 3, not the default 32
    x = torch.randn(1, 6, 4, 5, dtype=torch.float64)
    h = x
    for block in rrdb.blocks:
        h = _rdb_by_hand(h, block.convs)
    torch.testing.assert_close(rrdb(x), 0.2 * h + x, rtol=1e-12, atol=1e-12)


def test_defaults_are_esrgans_64_features_and_growth_32():
    # GRAM-HD's ResidualDenseBlock_5C(nf=64, gc=32): conv k takes 64 + 32 (k - 1) channels, the last gives back 64
    for block in (ResidualDenseBlock(), RRDB().blocks[2]):
        assert [(c.in_channels, c.out_channels) for c in block.convs] == \
            [(64, 32), (96, 32), (128, 32), (160, 32), (192, 64)]
