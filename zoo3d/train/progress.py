"""The training progress display: a rich bar with step, images/s, ETA and the latest losses; plain lines when
the output is not a terminal (a log file, a pipe, CI), where a bar draws nothing until it stops, or a terminal
that cannot move its cursor (TERM=dumb)."""

from __future__ import annotations

import os
import time
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

#: seconds between two plain progress lines
PLAIN_EVERY_S = 60.0


class TrainProgress:
    """A rich progress bar, or with ``plain`` one line every :data:`PLAIN_EVERY_S` seconds and at the last step
    (None: plain when stderr, the default console, is no terminal); ``enabled=False`` makes every method a no-op
    (tests, --quiet)."""

    def __init__(self, total: int, start: int = 0, enabled: bool = True, console: Console | None = None,
                 plain: bool | None = None):
        self.enabled = enabled
        self._start_step, self._t0 = start, time.perf_counter()
        self._total, self._printed_at = total, self._t0
        self._images = 0
        self._bar = None
        self._plain: Console | None = None
        self._losses: dict[str, float] | None = None
        if enabled and console is None:
            console = Console(stderr=True)
            # the stream itself, not rich's is_terminal, which FORCE_COLOR (set by many CI systems) turns on; a
            # terminal without cursor movement (TERM=dumb: Emacs' shell, some IDE consoles) showed only a cut-off
            # last frame of the bar
            plain = not moves_cursor(console.file) if plain is None else plain
        if enabled and plain:
            self._plain = console
        elif enabled:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                console=console, transient=False,
            )
            self._task = self._bar.add_task("train", total=total, completed=start, rate="", losses="")

    def __enter__(self) -> "TrainProgress":
        if self._bar is not None:
            self._bar.start()
        if self._plain is not None:
            self._plain.print(f"training from step {self._start_step} to {self._total}", highlight=False)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def images_per_second(self) -> float:
        elapsed = time.perf_counter() - self._t0
        return self._images / elapsed if elapsed > 0 else 0.0

    def count(self, images: int) -> None:
        """Add a finished step's generated images (before its losses are logged with the rate)."""
        self._images += images

    def advance(self, step: int, stage: str, images: int = 0, losses: dict[str, float] | None = None,
                window: Callable[[], dict[str, float]] | None = None) -> None:
        """Show that ``step`` steps are done (and the latest logged losses); ``images`` not yet :meth:`count`-ed
        are added first. ``window`` gives the means of the steps since the last logged record: a plain line that
        falls between two records shows them, not the last record's, which may be a whole window old."""
        self._images += images
        if self._plain is not None:
            self._losses = losses if losses is not None else self._losses
            self._plain_line(step, stage, window if losses is None else None)
        if self._bar is None:
            return
        fields = {"rate": f"{self.images_per_second():.1f} img/s", "description": stage}
        if losses is not None:
            fields["losses"] = _losses_text(losses, first=6)
        self._bar.update(self._task, completed=step, **fields)

    def _plain_line(self, step: int, stage: str, window: Callable[[], dict[str, float]] | None) -> None:
        now = time.perf_counter()
        if now - self._printed_at < PLAIN_EVERY_S and step < self._total:
            return
        losses = (window() if window is not None else None) or self._losses  # read only for a line: it syncs a GPU
        self._printed_at = now
        done, elapsed = step - self._start_step, now - self._t0
        left = ""
        if 0 < done and step < self._total:
            left = f", about {(self._total - step) * elapsed / done / 60:.1f} min left"
        shown = " " + _losses_text(losses) if losses else ""
        self._plain.print(f"{stage} step {step}/{self._total}: {self.images_per_second():.1f} img/s, "
                          f"{elapsed / 60:.1f} min{left}{shown}", highlight=False, soft_wrap=True, markup=False)

    def log(self, message: str, style: str | None = None) -> None:
        """``message`` as written (a run folder's ``[v2]`` is no markup), on one line however long (a path in a log
        file is not cut at 80 columns), in ``style`` where the console shows colour."""
        console = self._bar.console if self._bar is not None else self._plain
        if console is not None:
            console.print(Text(message, style=style or ""), highlight=False, soft_wrap=True)


def moves_cursor(stream) -> bool:
    """Whether ``stream`` is a terminal a live bar can be drawn on: a tty (the stream itself, not rich's is_terminal,
    which FORCE_COLOR turns on) whose TERM can move the cursor (not ``dumb`` or ``unknown``)."""
    return _isatty(stream) and not _dumb_term()


def _dumb_term() -> bool:
    """TERM names a terminal that cannot move its cursor (as rich reads it: ``dumb`` or ``unknown``)."""
    return os.environ.get("TERM", "").lower() in ("dumb", "unknown")


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _losses_text(losses: dict[str, float], first: int | None = None) -> str:
    """``name=value`` of the (``first``) losses, as the bar and the plain lines show them."""
    return " ".join(f"{k}={v:.3g}" for k, v in list(losses.items())[:first])
