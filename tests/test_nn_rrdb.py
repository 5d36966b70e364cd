"""ESRGAN's residual dense blocks (zoo3d.nn.rrdb)."""

import pytest
import torch

from zoo3d.nn.rrdb import RRDB, ResidualDenseBlock


pytestmark = pytest.mark.usefixtures("single_thread")


def test_residual_scaling_of_dense_blocks():
    torch.manual_seed(0)
    rdb = ResidualDenseBlock(8, 4)
    x = torch.randn(1, 8, 6, 6)
    last_in = []
    rdb.convs[4].register_forward_hook(lambda m, i, o: last_in.append(o))
    out = rdb(x)
    torch.testing.assert_close(out, x + 0.2 * last_in[0])
    rrdb = RRDB(8, 4)
    torch.testing.assert_close(rrdb(x), x + 0.2 * rrdb.blocks(x))


