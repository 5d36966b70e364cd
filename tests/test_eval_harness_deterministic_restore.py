"""``compare_models`` on CUDA gives the caller's deterministic-algorithms setting back whole.

``harness.reproducible`` asks for deterministic kernels (warn-only) on CUDA while a comparison runs. torch's
switch has two parts, the mode and ``warn_only``; a caller who had ``use_deterministic_algorithms(True,
warn_only=True)`` must get a warning, not an error, from a non-deterministic kernel after the comparison too.

Without a CUDA device the switch is a stand-in (a dict behind torch's three functions, marked below), and so is
``fork_rng`` (CUDA streams cannot be forked here: it forks the CPU stream alone, so the seeding inside does not
carry into later tests); the CUDA test checks torch's own switch.
"""

from __future__ import annotations

import pytest
import torch

from zoo3d.eval import harness


@pytest.fixture
def switch(monkeypatch):
    """Stand-in for torch's deterministic-algorithms switch (mode, warn_only), and a fork_rng of the CPU stream."""
    state = {"mode": False, "warn_only": False}
    fork = torch.random.fork_rng

    def use(mode, *, warn_only=False):
        state.update(mode=bool(mode), warn_only=bool(warn_only))

    monkeypatch.setattr(torch, "use_deterministic_algorithms", use)
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: state["mode"])
    monkeypatch.setattr(torch, "is_deterministic_algorithms_warn_only_enabled", lambda: state["warn_only"])
    monkeypatch.setattr(torch.random, "fork_rng", lambda devices=None: fork(devices=[]))
    return state


@pytest.mark.parametrize("before", [(False, False), (True, False), (True, True)])
def test_a_cuda_comparison_restores_the_mode_and_warn_only_as_they_were(switch, before):
    switch.update(mode=before[0], warn_only=before[1])
    with harness.reproducible(3, torch.device("cuda")):
        assert (switch["mode"], switch["warn_only"]) == (True, True)  # deterministic kernels, warn-only, inside
    assert (switch["mode"], switch["warn_only"]) == before


@pytest.mark.cuda
def test_on_cuda_a_warn_only_setting_survives_a_comparison():
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        with harness.reproducible(3, torch.device("cuda")):
            pass
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
