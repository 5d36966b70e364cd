"""Where stderr is a terminal that cannot move its cursor (``TERM=dumb``: Emacs' shell, some IDE consoles), training
shows the plain progress lines: a bar there showed nothing but a cut-off last frame when the run ended."""

from __future__ import annotations

import io

import pytest

from zoo3d.train.progress import TrainProgress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("term,plain", [("dumb", True), ("unknown", True), ("xterm-256color", False)])
def test_a_dumb_terminal_gets_the_plain_lines_and_a_real_one_the_bar(monkeypatch, term, plain):
    stderr = FakeTerminal()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setenv("TERM", term)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    with TrainProgress(4) as p:
        p.advance(4, "main", images=1, losses={"loss.G": 0.5})
    lines = stderr.getvalue().splitlines()
    if plain:
        assert lines[0] == "training from step 0 to 4"
        assert lines[1].startswith("main step 4/4: ") and lines[1].endswith(" loss.G=0.5") and len(lines) == 2
    else:
        assert "training from step" not in stderr.getvalue() and "━" in stderr.getvalue()  # the bar
