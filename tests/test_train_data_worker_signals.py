"""Data-loading worker processes and the stop signals. torchrun's agent passes SIGINT/SIGTERM on to each training
process's whole process group (``os.killpg``), as a terminal's Ctrl-C does to the foreground group, so the
``data.num_workers`` loader processes used to receive it too: one that died of SIGTERM made torch raise "DataLoader
worker ... is killed by signal: Terminated" in the training process, mid-step or at its exit, instead of the stop
docs/training.md promises (finish the step, write the checkpoint, exit 130 / 143). SIGINT is in the list too: torch's
workers happen to ignore it by default, and the training process must still get it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: A training process in a session of its own: it reads a batch through one loader worker, catches the stop signals
#: as the engine does (zoo3d.train.signals.StopRequest), signals its whole group as torchrun's agent does, and reads
#: on; it prints whether every batch equals the one read without workers.
SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import torch
    from toy_model import SphereDataset
    from zoo3d.train.data import BatchStream
    from zoo3d.train.signals import StopRequest

    signum = int(sys.argv[1])
    dataset = SphereDataset(8, count=12)
    alone = BatchStream(dataset, 4, seed=3, world_size=2, rank=1)
    expected = [alone.next(torch.device("cpu")).images for _ in range(5)]
    with StopRequest() as stop:
        stream = BatchStream(dataset, 4, seed=3, num_workers=1, world_size=2, rank=1)
        got = [stream.next(torch.device("cpu")).images]
        os.killpg(0, signum)
        time.sleep(0.5)  # the signal lands (and a worker's death would reach this process)
        got += [stream.next(torch.device("cpu")).images for _ in range(4)]  # across an epoch boundary (12 items)
        same = all(torch.equal(a, b) for a, b in zip(got, expected))
        print("STOP", stop.signum == signum, "SAME", same, "ALIVE", all(w.is_alive() for w in stream._iter._workers))
""")


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_to_the_group_leaves_the_loader_workers_serving(tmp_path: Path, signum):
    script = tmp_path / "trainer.py"
    script.write_text(SCRIPT)
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script), str(int(signum))], capture_output=True, text=True, env=env,
                          timeout=120, start_new_session=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["STOP", "True", "SAME", "True", "ALIVE", "True"], done.stderr[-3000:]
