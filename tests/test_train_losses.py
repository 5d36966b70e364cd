"""Shared GAN losses, EMA and the step split: checked against analytic answers."""

import math

import pytest
import torch

from zoo3d.train import losses
from zoo3d.train.ema import copy_into_ema, make_ema, take_averages, update_ema
from zoo3d.train.schedule import split_steps


def test_nonsaturating_losses_match_softplus_formulas():
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[-1.0], [0.0]])
    assert losses.generator_loss(torch.zeros(3, 1)).item() == pytest.approx(math.log(2))
    expected_d = (math.log1p(math.exp(-1)) + math.log(2)) / 2 + (math.log1p(math.exp(-2)) + math.log(2)) / 2
    assert losses.discriminator_loss(real, fake).item() == pytest.approx(expected_d)
    # G wants D(fake) high: its loss falls as the logit rises.
    assert losses.generator_loss(torch.full((1, 1), 3.0)) < losses.generator_loss(torch.full((1, 1), -3.0))


def test_r1_of_a_linear_discriminator_is_half_gamma_squared_weight_norm():
    w = torch.tensor([1.0, -2.0, 0.5, 3.0])
    x = torch.randn(5, 1, 2, 2, requires_grad=True)
    logits = (x.flatten(1) * w).sum(1, keepdim=True)
    gamma = 10.0
    assert losses.r1_penalty(logits, x, gamma).item() == pytest.approx(0.5 * gamma * w.pow(2).sum().item())
    lazy = losses.r1_penalty((x.flatten(1) * w).sum(1, keepdim=True), x, gamma, interval=16)
    assert lazy.item() == pytest.approx(16 * 0.5 * gamma * w.pow(2).sum().item())


def test_r1_is_differentiable_for_the_discriminator():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    x = torch.randn(3, 2, requires_grad=True)
    losses.r1_penalty((x * w).sum(1), x, gamma=2.0).backward()
    assert torch.allclose(w.grad, 2.0 * w.detach())  # d/dw of 0.5*2*|w|^2


def test_pose_loss_is_mse():
    assert losses.pose_loss(torch.tensor([[0.1, 0.2]]), torch.tensor([[0.3, -0.2]])).item() == pytest.approx(0.1)


def test_ema_averages_trained_weights_and_copies_frozen_ones():
    net = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(0.0)
        net[1].weight.fill_(0.0)
    ema = make_ema(net)
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[1].weight.fill_(1.0)
    net[1].requires_grad_(False)
    update_ema(ema, net, decay=0.9)
    assert ema[0].weight.item() == pytest.approx(0.1)
    assert ema[1].weight.item() == 1.0
    update_ema(ema, net, decay=0.9)
    assert ema[0].weight.item() == pytest.approx(0.19)
    copy_into_ema(ema, net)
    assert ema[0].weight.item() == 1.0


@pytest.mark.parametrize("lengths,cap,expected", [
    ([10], None, [10]), ([10], 3, [3]), ([10, 90], 100, [10, 90]), ([10, 90], 3, [1, 2]),
    ([10, 90], 12, [2, 10]), ([5, 5, 0], 2, [1, 1, 0]), ([5, 5], 1, [1, 0]),
])
def test_split_steps_caps_the_total_and_keeps_every_stage(lengths, cap, expected):
    out = split_steps(lengths, cap)
    assert out == expected
    assert sum(out) == (sum(lengths) if cap is None else min(cap, sum(lengths)))


def test_the_ema_is_a_frozen_eval_copy_and_follows_the_generators_buffers():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = make_ema(net.train())
    assert not ema.training and all(not p.requires_grad for p in ema.parameters())
    assert all(p.requires_grad for p in net.parameters())  # the generator itself is untouched
    with torch.no_grad():
        net(torch.randn(8, 2) * 3 + 1)  # moves BatchNorm's running statistics (buffers)
    update_ema(ema, net, decay=0.9)
    assert not torch.equal(net[1].running_mean, torch.zeros(2))
    assert torch.equal(ema[1].running_mean, net[1].running_mean)  # buffers are copied, not averaged
    assert torch.equal(ema[1].num_batches_tracked, net[1].num_batches_tracked)


def test_take_averages_loads_the_average_into_every_parameter_as_a_copy():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    average = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    want = [p.detach().clone() for p in average.parameters()]
    take_averages(net, average)
    for got, w in zip(net.parameters(), want, strict=True):
        assert torch.equal(got, w)
    with torch.no_grad():  # a copy: the average moving on leaves the network as it was loaded
        for p in average.parameters():
            p.add_(1.0)
    for got, w in zip(net.parameters(), want, strict=True):
        assert torch.equal(got, w)
    for other, counts in ((torch.nn.Linear(3, 4), "2 parameters against 4"),  # a prefix: not loaded in part
                          (torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Linear(1, 2)),  # shapes copy_ would
                           "4 parameters against 4")):  # broadcast
        # another architecture is refused with the counts that tell the user which, and the network is left as it was
        with pytest.raises(ValueError, match=rf"^take_averages: the average is not a copy of the network \({counts}, "
                                             r"or their names or shapes differ\)$"):
            take_averages(net, other)
        for got, w in zip(net.parameters(), want, strict=True):
            assert torch.equal(got, w)

