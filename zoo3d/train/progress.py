"""The training progress display: a rich bar with step, images/s, ETA and the latest losses."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class TrainProgress:
    """A rich progress bar; ``enabled=False`` makes every method a no-op (tests, --quiet)."""

    def __init__(self, total: int, start: int = 0, enabled: bool = True, console: Console | None = None):
        self.enabled = enabled
        self._start_step, self._t0 = start, time.perf_counter()
        self._images = 0
        self._bar = None
        if enabled:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                console=console or Console(stderr=True), transient=False,
            )
            self._task = self._bar.add_task("train", total=total, completed=start, rate="", losses="")

    def __enter__(self) -> "TrainProgress":
        if self._bar is not None:
            self._bar.start()
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

    def advance(self, step: int, stage: str, images: int = 0, losses: dict[str, float] | None = None) -> None:
        """Show that ``step`` steps are done (and the latest logged losses); ``images`` not yet :meth:`count`-ed
        are added first."""
        self._images += images
        if self._bar is None:
            return
        fields = {"rate": f"{self.images_per_second():.1f} img/s", "description": stage}
        if losses is not None:
            fields["losses"] = " ".join(f"{k}={v:.3g}" for k, v in list(losses.items())[:6])
        self._bar.update(self._task, completed=step, **fields)

    def log(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message)
