"""A second SIGTERM (or Ctrl-C) to ``zoo3d train --nproc``'s launcher kills its training processes at once, as a
second signal ends a training process at once, and the launcher ends with 128 + signal, saying so. Under torchrun's
own handler each later signal began the agent's 30 s wait for the processes again, and the third left the launcher
while a process that had not ended (one in a long step, or ignoring SIGTERM) ran on without it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from distributed_harness import clean_env
from zoo3d.train.signals import LauncherStop, started_group_leaders

#: a training process that takes no notice of SIGTERM (a step or a collective that does not return)
DEAF = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the processes through /proc")


class _Stopped(Exception):
    pass


def test_the_first_signal_stops_through_the_agent_and_a_second_of_its_kind_kills_the_processes(ctrl_c_raises,
                                                                                              monkeypatch):
    from zoo3d.train import signals

    deaf = subprocess.Popen([sys.executable, "-c", DEAF], stdout=subprocess.PIPE, text=True, start_new_session=True)
    # a child in this process's own group (a compiler worker, a shell) is no training process: never killed
    ours = subprocess.Popen([sys.executable, "-c", DEAF], stdout=subprocess.PIPE, text=True)
    try:
        assert deaf.stdout.readline() == "ready\n" and ours.stdout.readline() == "ready\n"
        found = started_group_leaders()
        assert ours.pid not in found
        # only this test's process is killed, not another that this test process may hold
        monkeypatch.setattr(signals, "started_group_leaders", lambda: [pid for pid in found if pid == deaf.pid])
        before = signal.getsignal(signal.SIGTERM)
        stop = LauncherStop(_Stopped)
        with stop:
            assert deaf.pid in found
            with pytest.raises(_Stopped) as first:
                signal.raise_signal(signal.SIGTERM)
            assert first.value.args == (signal.SIGTERM,)  # what the agent passes on to its processes
            signal.raise_signal(signal.SIGINT)  # the other kind: ignored, the stop is under way
            time.sleep(0.2)
            assert deaf.poll() is None and stop.killed == []
            signal.raise_signal(signal.SIGTERM)
            assert deaf.wait(10) == -signal.SIGKILL
        assert stop.killed == [deaf.pid] and signal.getsignal(signal.SIGTERM) is before
    finally:
        for child in (deaf, ours):
            if child.poll() is None:
                child.kill()
            child.wait()


def test_a_signal_ignored_when_the_launcher_started_stays_ignored(ctrl_c_raises):
    """``zoo3d train --nproc 2 &`` in a script (SIGINT ignored), or under a launcher that ignores SIGTERM."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with LauncherStop(_Stopped):
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            signal.raise_signal(signal.SIGTERM)  # nothing happens
            with pytest.raises(_Stopped):
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.slow
def test_a_second_sigterm_to_the_launcher_ends_it_and_its_processes_at_once(tmp_path):
    """Two processes that ignore SIGTERM under ``launch_processes``: before, the second SIGTERM left the launcher
    waiting another 30 s, a third left them running."""
    (tmp_path / "deaf.py").write_text(DEAF.replace("print('ready', flush=True)",
                                                   f"open({str(tmp_path)!r} + '/ready', 'a').write('x')"))
    launcher = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from zoo3d.launch import launch_processes
        sys.exit(launch_processes(2, [], script={str(tmp_path / 'deaf.py')!r}))
        """)], env=clean_env(), stderr=subprocess.PIPE, text=True)
    processes = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len((tmp_path / "ready").read_text() if (tmp_path / "ready").exists()
                                             else "") < 2:
            time.sleep(0.1)
        processes = started_group_leaders(launcher.pid)
        assert len(processes) == 2, processes
        launcher.send_signal(signal.SIGTERM)
        time.sleep(1)
        launcher.send_signal(signal.SIGTERM)
        sent = time.time()
        _, err = launcher.communicate(timeout=15)
        assert launcher.returncode == 143 and time.time() - sent < 10, err
        assert ("Stopped by a second SIGTERM: the launcher killed the 2 training processes at once; --resume "
                "continues from the run's newest whole checkpoint, if it has one.") in err.splitlines()
        assert not [pid for pid in processes if Path(f"/proc/{pid}").exists()]
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for pid in processes:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
