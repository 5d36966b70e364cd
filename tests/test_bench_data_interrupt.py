"""A Ctrl-C during ``zoo3d bench data`` is the command's to handle: its worker processes do not take it."""

from __future__ import annotations

import os
import signal


def _interrupted_job(job: tuple[int, int, int]) -> int:
    """Stands in for a worker's render: Ctrl-C reaches it mid-batch; the batch counts only if it runs on."""
    try:
        os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler as the call returns
    except KeyboardInterrupt:
        return 0
    return job[1]


def test_a_ctrl_c_reaching_the_workers_leaves_their_batches_to_the_parent(monkeypatch):
    from zoo3d.benchmarks import data

    monkeypatch.setattr(data, "_render_job", _interrupted_job)
    handler = signal.getsignal(signal.SIGINT)
    rec = data._measure_workers(16, 3, 2, 1)
    assert rec["images"] == 3 * 2  # no worker's batch was interrupted
    assert signal.getsignal(signal.SIGINT) is handler  # the parent still takes Ctrl-C
