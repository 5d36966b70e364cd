"""SIGINT/SIGTERM during training: finish the current step, save a checkpoint, exit cleanly."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """Catches SIGINT and SIGTERM while active; ``signum`` is the first one received (or None).

    A second signal of the same kind falls through to the previous handler, so a user who
    presses Ctrl-C twice still gets out (checkpoint writes are atomic either way); one of the other
    kind is ignored, since the stop it asks for is already under way (until one has gone through).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
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
            self.signum = signum
            return
        if signum != self.signum and not self._passed:  # another kind (a scheduler's SIGTERM after Ctrl-C)
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
