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

#: A training process in a session of its own: for each signal named on its command line, in turn, it reads a batch
#: through one loader worker, catches the stop signals as the engine does (zoo3d.train.signals.StopRequest), signals
#: its whole group as torchrun's agent does, and reads on; it prints, per signal, whether every batch equals the one
#: read without workers. One process serves both signals: starting Python with torch costs most of a test's time.
SCRIPT = textwrap.dedent("""
    import gc, os, signal, sys, time
    import torch
    from toy_model import SphereDataset
    from zoo3d.train.data import BatchStream
    from zoo3d.train.signals import StopRequest

    dataset = SphereDataset(8, count=12)
    alone = BatchStream(dataset, 4, seed=3, world_size=2, rank=1)
    expected = [alone.next(torch.device("cpu")).images for _ in range(5)]
    for signum in map(int, sys.argv[1:]):
        try:
            with StopRequest() as stop:
                stream = BatchStream(dataset, 4, seed=3, num_workers=1, world_size=2, rank=1)
                got = [stream.next(torch.device("cpu")).images]
                os.killpg(0, signum)
                time.sleep(0.5)  # the signal lands (and a worker's death would reach this process)
                got += [stream.next(torch.device("cpu")).images for _ in range(4)]  # across an epoch boundary
                same = all(torch.equal(a, b) for a, b in zip(got, expected))
                alive = all(w.is_alive() for w in stream._iter._workers)
                print(signum, "STOP", stop.signum == signum, "SAME", same, "ALIVE", alive, flush=True)
        except Exception as exc:  # the next signal is still tried
            print(signum, "RAISED", type(exc).__name__, flush=True)
        stream = None  # its worker ends before the next signal is sent
        gc.collect()
""")

SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    """The script's run over every signal of SIGNALS: its exit status, its lines by signal number, its stderr."""
    script = tmp_path_factory.mktemp("trainer") / "trainer.py"
    script.write_text(SCRIPT)
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script), *(str(int(s)) for s in SIGNALS)], capture_output=True,
                          text=True, env=env, timeout=120, start_new_session=True)
    lines = {int(line.split()[0]): line.split()[1:] for line in done.stdout.splitlines() if line.split()}
    return done.returncode, lines, done.stderr[-3000:]


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
@pytest.mark.parametrize("signum", SIGNALS)
def test_a_stop_signal_to_the_group_leaves_the_loader_workers_serving(trainer, signum):
    returncode, lines, stderr = trainer
    assert lines.get(int(signum)) == ["STOP", "True", "SAME", "True", "ALIVE", "True"], stderr
    assert returncode == 0, stderr
