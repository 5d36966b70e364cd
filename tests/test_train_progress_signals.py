"""The training progress bar (what it shows, the image rate on a fake clock) and the stop-signal catcher
(which signals, the first one kept, a second one passed on, the handlers put back)."""

from __future__ import annotations

import io
import os
import signal
import threading
import types

import pytest
from rich.console import Console

from zoo3d.train import progress as progress_module
from zoo3d.train import signals as signals_module
from zoo3d.train.progress import TrainProgress
from zoo3d.train.signals import StopRequest


@pytest.fixture
def clock(monkeypatch):
    """``progress``'s perf_counter, set by hand: ``clock.now = 12.5``."""
    fake = types.SimpleNamespace(now=100.0)
    monkeypatch.setattr(progress_module, "time", types.SimpleNamespace(perf_counter=lambda: fake.now))
    return fake


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False, color_system=None), out


def test_images_per_second_counts_every_advance_over_the_time_since_start(clock):
    p = TrainProgress(total=10, enabled=False)
    assert p.images_per_second() == 0.0  # no time has passed: 0, not a division by zero
    clock.now = 102.0
    p.advance(1, "main", images=8)
    p.advance(2, "main", images=8)
    assert p.images_per_second() == 16 / 2.0
    clock.now = 104.0
    p.advance(3, "main", images=4, losses={"loss.D": 1.0})
    assert p.images_per_second() == 20 / 4.0


def test_the_bar_shows_stage_steps_rate_and_the_first_six_losses(clock):
    console, out = _console()
    losses = {"a": 1.23456, "b": 2e-5, "c": 3, "d": 4, "e": 5, "f": 123456.0, "g": 7}
    with TrainProgress(10, start=2, console=console) as p:
        clock.now = 103.0
        p.advance(3, "stage-two", images=6, losses=losses)
        p.log("a message")
    lines = out.getvalue().splitlines()
    assert lines[0] == "a message"
    words = lines[1].split()  # the bar stays on screen when the run ends
    assert len(lines) == 2 and words[0] == "stage-two" and set(words[1]) == {"━"}
    assert words[2:] == ["3/10", "2.0", "img/s", "-:--:--", "a=1.23", "b=2e-05", "c=3", "d=4", "e=5", "f=1.23e+05"]


def test_the_bar_starts_at_the_resumed_step_and_keeps_the_last_losses(clock):
    for kwargs, shown in (({"start": 5}, "5/8"), ({}, "0/8")):
        console, out = _console()
        with TrainProgress(8, console=console, **kwargs):
            pass
        words = out.getvalue().split()  # (an empty bar is blank)
        assert [words[0], *words[-2:]] == ["train", shown, "-:--:--"]
    console, out = _console()
    with TrainProgress(8, start=5, console=console) as p:
        clock.now = 101.0
        p.advance(6, "main", images=3, losses={"loss.G": 0.5})
        clock.now = 102.0
        p.advance(7, "main", images=1)  # a step without a log flush keeps the losses shown
    words = out.getvalue().split()
    assert words[2:5] == ["7/8", "2.0", "img/s"] and words[-1] == "loss.G=0.5"  # (words[5]: rich's ETA)


def test_without_a_console_the_bar_writes_to_stderr(capsys):
    with TrainProgress(4) as p:
        p.log("to stderr")
    captured = capsys.readouterr()
    assert captured.out == "" and "to stderr" in captured.err


def test_a_disabled_bar_writes_nothing_but_still_counts_images(clock):
    console, out = _console()
    with TrainProgress(4, console=console, enabled=False) as p:
        clock.now = 101.0
        p.advance(1, "main", images=5, losses={"x": 1.0})
        p.log("hidden")
    assert out.getvalue() == ""
    assert p.images_per_second() == 5.0


def test_the_progress_context_returns_itself():
    p = TrainProgress(3, enabled=False)
    with p as inside:
        assert inside is p
    console, _ = _console()
    p = TrainProgress(3, console=console)
    with p as inside:
        assert inside is p
    assert (TrainProgress(3, enabled=False).enabled, p.enabled) == (False, True)


# ------------------------------------------------------------------------------------------- signals

@pytest.fixture
def recorded_handlers():
    """SIGINT and SIGTERM handlers that record what reaches them, restored afterwards."""
    seen: list[int] = []
    record = lambda signum, frame: seen.append(signum)  # noqa: E731
    before = {s: signal.signal(s, record) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield record, seen
    finally:
        for s, h in before.items():
            signal.signal(s, h)


@pytest.mark.parametrize("outside_python", [False, True])
def test_a_second_signal_reinstalls_the_previous_handler_and_raises_again(monkeypatch, outside_python):
    """With ``signal.signal`` and ``signal.raise_signal`` recorded (so a wrong handler cannot end the test
    process). ``signal.getsignal`` answers None for a handler set outside Python: a second signal then takes
    the default action, and leaving restores the default rather than passing None to ``signal.signal``."""
    previous = {s: None if outside_python else (lambda signum, frame: None) for s in (signal.SIGINT, signal.SIGTERM)}
    installed = dict(previous)
    calls: list[tuple] = []

    def fake_signal(s, handler):
        if handler is None:
            raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable object")
        calls.append(("signal", s, handler))
        before, installed[s] = installed[s], handler
        return before

    monkeypatch.setattr(signal, "signal", fake_signal)
    monkeypatch.setattr(signal, "raise_signal", lambda s: calls.append(("raise", s)))
    expected = {s: h if h is not None else signal.SIG_DFL for s, h in previous.items()}
    with StopRequest() as stop:
        assert len(calls) == 2
        installed[signal.SIGINT](signal.SIGINT, None)
        assert calls[2:] == [] and stop.name == "SIGINT"
        installed[signal.SIGTERM](signal.SIGTERM, None)  # another kind: the stop is already under way
        assert calls[2:] == [] and stop.name == "SIGINT"
        installed[signal.SIGINT](signal.SIGINT, None)
        assert calls[2:] == [("signal", signal.SIGINT, expected[signal.SIGINT]), ("raise", signal.SIGINT)]
    assert installed == expected


def test_both_signals_are_caught_while_active_and_the_handlers_put_back(recorded_handlers):
    record, seen = recorded_handlers
    for s in (signal.SIGINT, signal.SIGTERM):
        stop = StopRequest()
        assert (stop.signum, stop.requested, stop.name) == (None, False, "")
        with stop as inside:
            assert inside is stop
            assert signal.getsignal(signal.SIGINT) == stop._handle
            assert signal.getsignal(signal.SIGTERM) == stop._handle
            signal.raise_signal(s)
            assert (stop.signum, stop.requested, stop.name) == (s, True, signal.Signals(s).name)
        assert seen == []  # the first signal stays with the stop request
        assert signal.getsignal(signal.SIGINT) is record and signal.getsignal(signal.SIGTERM) is record


def test_only_the_first_signal_is_announced_as_it_arrives(recorded_handlers):
    record, seen = recorded_handlers
    said: list[int] = []
    with StopRequest(said.append) as stop:
        signal.raise_signal(signal.SIGTERM)
        assert said == [signal.SIGTERM] and stop.name == "SIGTERM"  # at once, not when the step ends
        signal.raise_signal(signal.SIGINT)  # another kind: ignored, and not announced again
        signal.raise_signal(signal.SIGTERM)  # the second of the kind goes through to the previous handler
    assert said == [signal.SIGTERM] and seen == [signal.SIGTERM]


def test_the_same_signal_again_within_same_stop_s_is_the_same_stop(recorded_handlers, monkeypatch):
    """A scheduler's SIGTERM to every process of a job, then the launcher's copy of it: one stop, not two."""
    record, seen = recorded_handlers
    clock = types.SimpleNamespace(now=50.0)
    monkeypatch.setattr(signals_module, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    with StopRequest(same_stop_s=2.0) as stop:
        signal.raise_signal(signal.SIGTERM)
        clock.now = 51.9
        signal.raise_signal(signal.SIGTERM)  # 1.9 s on: the same stop
        assert seen == [] and stop.name == "SIGTERM"
        clock.now = 52.0
        signal.raise_signal(signal.SIGTERM)  # 2 s on: a second stop, at once
        assert seen == [signal.SIGTERM]
    with StopRequest() as stop:  # one process: a second signal goes through however soon
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
    assert seen == [signal.SIGTERM, signal.SIGINT]


def _exit_code_in_a_child(body) -> int:
    """Run ``body`` in a forked child: a signal that reaches the default action ends the child, not the tests."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 1
        try:
            body()
            code = 0
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_second_signal_reaches_the_previous_handler():
    def body():
        seen = []
        record = lambda signum, frame: seen.append(signum)  # noqa: E731
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, record)
        with StopRequest() as stop:
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)
            assert seen == [signal.SIGTERM]
            assert signal.getsignal(signal.SIGTERM) is record  # from now on the previous handler answers
            signal.raise_signal(signal.SIGINT)  # any later signal goes through, whatever its kind
            assert seen == [signal.SIGTERM, signal.SIGINT]
            assert stop.signum == signal.SIGTERM and stop.name == "SIGTERM"  # the first one is kept
            assert signal.getsignal(signal.SIGINT) is record
        assert signal.getsignal(signal.SIGINT) is record and signal.getsignal(signal.SIGTERM) is record

    assert _exit_code_in_a_child(body) == 0


def test_outside_the_main_thread_nothing_is_installed(recorded_handlers):
    record, _ = recorded_handlers
    seen = {}

    def body():
        with StopRequest() as stop:
            seen["inside"] = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), stop.requested)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen["inside"] == (record, record, False)
    assert signal.getsignal(signal.SIGINT) is record and signal.getsignal(signal.SIGTERM) is record


def test_plain_progress_prints_a_line_a_minute_and_at_the_end(clock):
    """Where stderr is no terminal (a log, a pipe, CI) a bar shows nothing until it stops: plain lines instead."""
    console, out = _console()
    with TrainProgress(100, start=10, console=console, plain=True) as p:
        clock.now = 130.0
        p.advance(11, "gram", images=4, losses={"loss.G": 0.5})  # 30 s in: nothing yet
        clock.now = 161.0
        p.advance(12, "gram", images=4)  # 61 s in: a line, with the last losses
        p.log("a message")
        clock.now = 170.0
        p.advance(100, "gram", images=4)  # the last step: a line whatever the time
    lines = out.getvalue().splitlines()
    assert lines[0] == "training from step 10 to 100"
    assert lines[1].startswith("gram step 12/100: ") and "min left" in lines[1] and lines[1].endswith("loss.G=0.5")
    assert lines[2] == "a message" and lines[3].startswith("gram step 100/100: ") and "left" not in lines[3]
    assert len(lines) == 4


def test_stderr_that_is_no_terminal_gets_plain_lines(capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # which CI systems set: rich then calls any stream a terminal
    with TrainProgress(4) as p:
        p.advance(4, "main", images=1)
    err = capsys.readouterr().err
    assert err.startswith("training from step 0 to 4\n") and "main step 4/4: " in err
