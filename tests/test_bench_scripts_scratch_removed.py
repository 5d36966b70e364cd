"""The A/B scripts leave no scratch behind: benchmarks/train_step_ab.py removes the tree it exports of ``--before``
(zoo3d/ and plugins/, some 8 MB a run) when it ends, and benchmarks/data_stream_ab.py the copy of the earlier
``synthetic.py`` it loads, where each run left them in the temporary folder."""

from __future__ import annotations

import tempfile
import types

from conftest import benchmark_script as _script


def test_train_step_ab_removes_the_exported_tree_when_it_ends(monkeypatch, tmp_path, capsys):
    script = _script("train_step_ab")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    exported = []

    def export(rev, into):
        (into / "zoo3d").mkdir()
        (into / "zoo3d" / "__init__.py").write_text("")
        exported.append((rev, into))
        return into

    monkeypatch.setattr(script, "export_revision", export)
    monkeypatch.setattr(script, "start", lambda model, steps, source, stage=0: (model, source))
    timings = {"sys_per_step": 0.0, "faults_per_step": 0, "cpu_per_step": 0.5}
    monkeypatch.setattr(script, "finish", lambda proc, expect: {  # this tree twice as fast as the one exported
        **timings, "s_per_step": 0.5 if expect == script.ROOT else 1.0})
    assert script.main(["--before", "abc1234", "--models", "gram", "--repeats", "1"]) == 0
    ((rev, folder),) = exported
    assert rev == "abc1234" and folder.parent == tmp_path and folder.name.startswith("zoo3d_before_")
    assert "| gram | 1 | 1.000 (0.000, 0) | 0.500 (0.000, 0) | **0.50** |" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_data_stream_ab_loads_the_earlier_module_and_keeps_no_copy(monkeypatch, tmp_path):
    script = _script("data_stream_ab")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shown = []
    monkeypatch.setattr(script.subprocess, "run", lambda args, **kw: shown.append(args) or types.SimpleNamespace(
        stdout="class SyntheticHeads:\n    rendered = 'before'\n"))
    module = script.load_revision("eb569f5^")
    assert shown == [["git", "show", "eb569f5^:zoo3d/data/synthetic.py"]]
    assert module.SyntheticHeads.rendered == "before"
    assert list(tmp_path.iterdir()) == []
