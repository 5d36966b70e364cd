"""``zoo3d compare``'s table title, the JSON's ``protocol.changed`` and the Markdown report name every setting
``--set``, ``--resolution`` or ``--neus-iterations`` changed from the protocol: its name alone claimed its numbers for a
run under other settings."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import FIXTURES
from conftest import run_in_process as zoo3d
from zoo3d.config import Config
from zoo3d.eval.harness import compare_models, load_metrics, write_markdown
from zoo3d.eval.metric import EvalModel, Metric
from zoo3d.eval.protocol import Protocol, build_protocol, departures


def _title(capsys, monkeypatch, *args: str) -> str:
    """The title of the table ``zoo3d compare`` prints (the harness a stand-in; rich wraps it to the table's width,
    splitting a long word, so it is read where it is handed to the table)."""
    import zoo3d.cli.tables as tables
    import zoo3d.eval.harness as harness

    titles = []
    printed = tables.print_fitting_table
    monkeypatch.setattr(tables, "print_fitting_table", lambda *a, title=None, **k: (
        titles.append(title), printed(*a, title=title, **k)))
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, object()))
    monkeypatch.setattr(harness, "compare_models", lambda *a, **k: {
        "models": {"oracle": {"epi": {"mean": 1.0, "std": 0.0, "n": 1}}}, "higher_is_better": {}, "notes": []})
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle", "--device", "cpu", *args)
    assert code == 0, err
    [title] = titles
    return title


def test_the_title_names_the_settings_the_command_changed(capsys, monkeypatch):
    assert _title(capsys, monkeypatch, "--metric", "epi", "--set", "epi_frames=10", "--set",
                  "speed_resolutions=[32]", "--neus-iterations", "50", "--instances", "2") == (
        "zoo3d compare (small protocol changed to neus.iterations=50, epi_frames=10, speed_resolutions=[32]; "
        "2 instances)")


def test_a_set_to_the_protocols_own_value_and_another_instance_count_leave_the_title_plain(capsys, monkeypatch):
    assert _title(capsys, monkeypatch, "--metric", "epi", "--set", "epi_frames=60", "--instances", "3",
                  "--protocol", "small") == "zoo3d compare (small protocol, 3 instances)"
    assert _title(capsys, monkeypatch, "--metric", "epi", "--protocol", "paper", "--set", "epi_frames=120") == (
        "zoo3d compare (paper protocol, 50 instances)")


def test_a_metrics_own_setting_is_named_as_set_spells_it_and_its_protocol_default_is_no_change(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES / "plugins"))
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_reference_metric")  # settings reference="" and yaw (paper: 0.25)
    metrics = load_metrics(["reference_l1"])

    def changed(name, *sets, resolution=None):
        return departures(build_protocol(name, resolution=resolution, sets=sets, metrics=metrics), metrics)

    assert changed("small", "reference_l1.yaw=0.5", "pitch=0.1") == ["pitch=0.1", "reference_l1.yaw=0.5"]
    assert changed("paper", "reference_l1.yaw=0.25") == []  # the paper protocol's own departure for the metric
    assert changed("paper", resolution=128) == ["resolution=128"]  # the paper protocol's is each model's own
    assert changed("small", "reference_l1.reference=a b") == ["reference_l1.reference=a b"]


@pytest.mark.parametrize("name", ["small", "paper"])
def test_the_named_protocols_depart_from_nothing(name):
    assert departures(build_protocol(name)) == []


class _OneSettings(Config):
    gain: float = 1.0


class _One(Metric):
    name, higher_is_better, settings = "one", True, _OneSettings

    def evaluate(self, model, ctx):
        return {"one": [1.0] * len(ctx.seeds)}


@pytest.mark.parametrize("sets, changed", [(["epi_frames=10", "one.gain=2", "neus.iterations=50"],
                                            ["neus.iterations=50", "epi_frames=10", "one.gain=2.0"]), ([], [])])
def test_the_json_and_the_report_record_what_departs_from_the_named_protocol(tmp_path, sets, changed):
    """A metric's settings at their defaults are no departure; one given with --set is."""
    metrics = {"one": _One()}
    protocol = build_protocol("small", instances=1, sets=sets, metrics=metrics)
    result = compare_models([EvalModel("m", SimpleNamespace())], metrics, protocol, "cpu")
    assert result["protocol"]["changed"] == changed and result["protocol"]["name"] == "small"
    lines = write_markdown(result, tmp_path / "r.md").read_text().splitlines()
    said = lines[lines.index("## Protocol") + 2]
    if changed:
        assert said == ("The `small` protocol changed to `neus.iterations=50`, `epi_frames=10`, `one.gain=2.0`; all "
                        "of it:")
    else:
        assert said == "```json"


def test_a_protocol_under_a_name_of_its_own_departs_from_none(tmp_path):
    """A Protocol built in Python and named otherwise than small or paper: changed is None, the report its block."""
    result = compare_models([EvalModel("m", SimpleNamespace())], {"one": _One()}, Protocol(name="mine", instances=1),
                            "cpu")
    assert result["protocol"]["changed"] is None and result["protocol"]["name"] == "mine"
    lines = write_markdown(result, tmp_path / "r.md").read_text().splitlines()
    assert lines[lines.index("## Protocol") + 2] == "```json"
