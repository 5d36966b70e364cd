"""SIGINT/SIGTERM during training: finish the current step, save a checkpoint, exit cleanly (and, for the launcher of
several processes, pass the stop on and leave no process behind)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Callable


SAME_STOP_S = 2.0
"""Within this many seconds of the first, a process of a run of several takes a second signal of the same kind for
the same stop (:class:`StopRequest`); the launcher's copy of a scheduler's signal follows it within milliseconds."""


class StopRequest:
    """Catches SIGINT and SIGTERM while active; ``signum`` is the first one received (or None).

    A second signal of the same kind (``same_stop_s`` or more after the first) falls through to the previous handler,
    so a user who presses Ctrl-C twice still gets out (checkpoint writes are atomic either way); one of the other
    kind is ignored, since the stop it asks for is already under way (until one has gone through).
    ``announce(signum)``, where given, is called on the first signal, as it arrives: a step can take minutes, and a
    user who sees nothing happen presses Ctrl-C again.
    ``same_stop_s``: a second signal of the kind within this many seconds of the first is the same stop, and ignored
    (:data:`SAME_STOP_S` in a process of a run of several: a scheduler's SIGTERM reaches every process of the job, and
    the launcher passes its own on to each of them as well; one stop, with its checkpoint, not two).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, announce: Callable[[int], None] | None = None, same_stop_s: float = 0.0) -> None:
        self.signum: int | None = None
        self._announce = announce
        self._same_stop_s, self._first_at = same_stop_s, 0.0
        self._passed = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s in self._previous:
            self._put_back(s)
        self._previous.clear()

    def _put_back(self, signum: int) -> None:
        """Reinstall the handler ``signum`` had before; the default action where that was None (a handler set
        outside Python, which ``signal.signal`` cannot reinstall)."""
        previous = self._previous.get(signum)
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum, self._first_at = signum, time.monotonic()
            if self._announce is not None:
                self._announce(signum)
            return
        if signum != self.signum and not self._passed:  # another kind (a scheduler's SIGTERM after Ctrl-C)
            return
        if not self._passed and time.monotonic() - self._first_at < self._same_stop_s:  # the first one again
            return
        self._passed = True  # from here on every signal goes through
        self._put_back(signum)
        signal.raise_signal(signum)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""


def stop_notice(signum: int, finishing: bool) -> str:
    """What the first SIGINT/SIGTERM of a run is told as it arrives (``finishing``: after the run's last step, while
    its last checkpoint and final grid are written); the stop itself waits for the step to end."""
    name = signal.Signals(signum).name
    again = "Ctrl-C" if signum == signal.SIGINT else name
    if finishing:
        return (f"Received {name}: the run stops once its last checkpoint and sample grid are written; a second "
                f"{again} stops it at once.")
    return (f"Received {name}: the run stops after the current step, once it has written a checkpoint there; a second "
            f"{again} stops it at once, keeping only the checkpoints written before.")


class LauncherStop:
    """SIGINT and SIGTERM to ``zoo3d train --nproc``'s launcher while its training processes run, in place of the
    torchrun agent's own handler.

    The first raises ``stop(signal)`` (torch's ``SignalException``), on which the agent passes the signal on to every
    process and waits for them to finish their step, write the checkpoint and exit (``TORCH_ELASTIC_SHUTDOWN_TIMEOUT``
    seconds, then SIGKILL). A second of the same kind kills them at once (SIGKILL to each one's process group, its
    data-loader workers with it), as a second signal ends a training process at once: the agent's wait then ends and
    no process outlives the launcher. Under the agent's own handler each later signal began the wait again (another
    SIGTERM, another 30 s), and the third left the launcher while a process that had not ended (one in a long step or
    collective) ran on. One of the other kind is ignored, the stop being under way, as :class:`StopRequest` does.
    A signal this process was started with ignored (``nohup``, ``cmd &`` in a script) stays ignored.
    ``killed``: the processes the second signal killed.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, stop) -> None:
        self.signum: int | None = None
        self._first_at = 0.0
        self.killed: list[int] = []
        self._stop = stop
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "LauncherStop":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                if signal.getsignal(s) is not signal.SIG_IGN:  # one ignored when this process started stays so
                    self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum, self._first_at = signum, time.monotonic()
            raise self._stop(signal.Signals(signum))
        if signum == self.signum:
            self.killed += kill_process_groups(started_group_leaders())

    def waited(self) -> float:
        """Seconds since the first SIGINT/SIGTERM this handler took; 0 before one (a signal the agent took itself,
        SIGHUP or SIGQUIT, or any under an older torch's own handler, was not timed here)."""
        return time.monotonic() - self._first_at if self.signum is not None else 0.0


def started_group_leaders(parent: int | None = None) -> list[int]:
    """The live processes that ``parent`` (default: this process) started and that lead a process group of their own,
    as torchrun's agent starts each training process (in a session of its own); read from /proc, so [] on a system
    without it (the agent's own wait, then its SIGKILL, ends them there)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        if fields[0] != "Z" and int(fields[1]) == parent and int(fields[2]) == pid:  # state, parent, group
            found.append(pid)
    return sorted(found)


def kill_process_groups(leaders: list[int]) -> list[int]:
    """SIGKILL to the process group of each of ``leaders``; the leaders whose group was still there."""
    killed = []
    for pid in leaders:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
        killed.append(pid)
    return killed
