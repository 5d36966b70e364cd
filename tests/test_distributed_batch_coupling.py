"""docs/training.md ("Gradients"): a minibatch-stddev layer groups the images of each process's share, and its
groups are strided (groups of g: images i, i + B/g, ...), so N processes group other images than one process with
the whole batch, even when each share is a multiple of g. Checked against the standard deviations computed here."""

from __future__ import annotations

import torch

from zoo3d.nn.discriminators import minibatch_stddev


def _group_std(x: torch.Tensor, members: list[int]) -> float:
    """The mean over features of the (biased) standard deviation of ``x[members]``: the map the layer appends."""
    return x[members].std(dim=0, unbiased=False).mean().item()


def test_one_process_groups_strided_images_and_two_processes_group_their_own_shares():
    x = torch.randn(8, 3, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    one = minibatch_stddev(x, 4, eps=0.0)[:, -1, 0, 0]
    for i in range(8):  # batch 8, groups of 4: {0, 2, 4, 6} and {1, 3, 5, 7}
        assert abs(one[i].item() - _group_std(x, list(range(i % 2, 8, 2)))) < 1e-12
    shares = torch.cat([minibatch_stddev(x[:4], 4, eps=0.0), minibatch_stddev(x[4:], 4, eps=0.0)])[:, -1, 0, 0]
    for i in range(8):  # 2 processes with 4 each: {0, 1, 2, 3} and {4, 5, 6, 7}
        start = 4 * (i // 4)
        assert abs(shares[i].item() - _group_std(x, list(range(start, start + 4)))) < 1e-12
    assert (one - shares).abs().max() > 1e-3
