"""``zoo3d train --nproc N`` on the CPU shares out the cores this process may use (docs/training.md: "OMP_NUM_THREADS
= cores / N unless you set it"): under ``taskset -c 0-3`` or a scheduler's allocation of 4 cores on a 64-core
machine, 2 processes take 2 threads each, not 32 each on the same 4 cores."""

from __future__ import annotations

import os

import pytest

from zoo3d import launch


@pytest.fixture
def agent(monkeypatch):
    """torchrun's entry point stood in for: records OMP_NUM_THREADS as the workers would inherit it."""
    from torch.distributed import run as torchrun

    from zoo3d.plugins import PLUGIN_NOTES_SAID

    seen = {}
    monkeypatch.setattr(torchrun, "parse_args", lambda argv: list(argv))
    monkeypatch.setattr(torchrun, "run", lambda args: seen.update(omp=os.environ.get("OMP_NUM_THREADS")))
    for name in (PLUGIN_NOTES_SAID, "OMP_NUM_THREADS"):  # set first so that monkeypatch restores them afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    return seen


@pytest.mark.parametrize("allowed, nproc, threads", [(range(4), 2, "2"), (range(8, 14), 4, "1"), ({5}, 2, "1"),
                                                     (range(64), 8, "8")])
def test_the_processes_share_the_cores_this_process_may_use(agent, monkeypatch, allowed, nproc, threads):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(allowed), raising=False)
    assert launch.launch_processes(nproc, ["train", "toy"]) == 0
    assert agent["omp"] == threads
