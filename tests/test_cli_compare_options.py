"""``zoo3d compare``'s options, defaults, table and refusals: each option checked where it lands (the protocol, the
options, the checkpoint handed to the loader, the report's folder), the printed table against the JSON's numbers
formatted by hand, and each refusal word for word with exit status 2. The models are the textured-sphere
calibration generators (fast metrics only) or, where only the wiring is checked, a recording stand-in of the
harness."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from conftest import run_in_process as zoo3d
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.metric import EvalModel
from zoo3d.eval.protocol import NeusSettings


def _spheres(monkeypatch, loads: list | None = None):
    """``oracle`` / ``oracle_inconsistent`` as the consistent and the jittered textured sphere; every
    ``load_eval_model`` call is recorded in ``loads``."""
    import zoo3d.eval.harness as harness

    gens = {"oracle": TexturedSphereGenerator(True), "oracle_inconsistent": TexturedSphereGenerator(False)}

    def load(name, ckpt, device):
        if loads is not None:
            loads.append((name, ckpt, device))
        from zoo3d.plugins import model_key

        return EvalModel(model_key(name), gens[model_key(name)], ckpt)

    monkeypatch.setattr(harness, "load_eval_model", load)
    monkeypatch.setenv("COLUMNS", "200")


def _recording_harness(monkeypatch, result: dict) -> dict:
    """``compare_models`` replaced by one that records its arguments and returns ``result``."""
    import zoo3d.eval.harness as harness

    seen: dict = {}

    def compare_models(models, metrics, protocol, device, out_dir=None, options=None, progress=None, on_model=None):
        seen.update(models=[m.name for m in models], metrics=list(metrics), protocol=protocol, device=device,
                    out_dir=out_dir, options=options)
        return result

    monkeypatch.setattr(harness, "compare_models", compare_models)
    return seen


def _table(out: str) -> tuple[list[str], list[list[str]]]:
    """The header and the body rows of the one rich table in ``out``, cell by cell."""
    cells = lambda line, bar: [c.strip() for c in line.split(bar)[1:-1]]  # noqa: E731
    header = next(cells(line, "┃") for line in out.splitlines() if line.startswith("┃"))
    rows = [cells(line, "│") for line in out.splitlines() if line.startswith("│")]
    return header, rows


def _significant(value: float, digits: int) -> str:
    """``value`` rounded to ``digits`` significant figures, in plain digits without trailing zeros."""
    if value == 0:
        return "0"
    places = digits - 1 - math.floor(math.log10(abs(value)))
    text = f"{round(value, places):.{max(places, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _by_hand(entry: dict) -> str:
    """mean to 4 significant figures, ± std to 2 when there is more than one value, then (n=N)."""
    mean, std = _significant(entry["mean"], 4), _significant(entry["std"], 2)
    return (mean if entry["n"] == 1 else f"{mean} ± {std}") + f" (n={entry['n']})"


def test_the_printed_table_is_the_jsons_numbers_each_formatted_by_hand(tmp_path, monkeypatch, capsys):
    _spheres(monkeypatch)
    out = tmp_path / "res.json"
    code, stdout, err = zoo3d(capsys, "compare", "--models", " oracle , oracle_inconsistent ,", "--metric",
                              "epi, depth", "--instances", "2", "--resolution", "16", "--set", "epi_frames=12",
                              "--set", "depth_views=3", "--device", "cpu", "--json", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["protocol"]["instances"] == 2 and result["protocol"]["seeds"] == [0, 1]
    assert result["protocol"]["resolution"] == 16 and result["protocol"]["epi_frames"] == 12
    # the settings --resolution and --set changed are in the title: the protocol's name alone claimed its numbers
    assert "zoo3d compare (small protocol changed to resolution=16, epi_frames=12, depth_views=3; 2 instances)" \
        in " ".join(stdout.split())
    header, rows = _table(stdout)
    arrow = {True: " ↑", False: " ↓"}
    assert header == ["model"] + [m + arrow[result["higher_is_better"][m]] for m in ("epi", "depth")]
    assert header[1:] == ["epi ↓", "depth ↓"]  # lower is better for both (docs/metrics.md)
    assert rows == [[name, _by_hand(result["models"][name]["epi"]), _by_hand(result["models"][name]["depth"])]
                    for name in ("oracle", "oracle_inconsistent")]
    assert f"wrote {out}" in err.splitlines()


def test_the_defaults_are_neus_on_the_small_protocol_with_the_synthetic_heads_and_no_report(tmp_path, monkeypatch,
                                                                                               capsys):
    loads = []
    _spheres(monkeypatch, loads)
    result = {"models": {"oracle": {"neus_psnr": {"mean": 31.25, "std": 0.125, "n": 4}, "neus_ssim": {
        "mean": None, "n": 0, "not_applicable": "no surface"}}}, "higher_is_better": {"neus_psnr": True},
        "notes": ["the first note", "the second note"]}
    seen = _recording_harness(monkeypatch, result)
    monkeypatch.chdir(tmp_path)
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle")
    assert code == 0, err
    assert seen["metrics"] == ["neus"] and seen["models"] == ["oracle"]
    protocol = seen["protocol"]
    assert (protocol.name, protocol.instances, protocol.resolution) == ("small", 4, 64)
    assert protocol.neus == NeusSettings()  # no --neus-iterations, no --set
    expected_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # --device auto
    assert seen["device"] == expected_device and loads == [("oracle", None, expected_device)]
    assert seen["options"] == {"data": "synthetic:heads", "inception": None}
    assert seen["out_dir"] is None and list(tmp_path.iterdir()) == []
    assert "zoo3d compare (small protocol, 4 instances)" in stdout
    header, rows = _table(stdout)
    assert header == ["model", "neus_psnr ↑", "neus_ssim"]  # no direction recorded: no arrow
    assert rows == [["oracle", "31.25 ± 0.12 (n=4)", "n/a"]]
    lines = err.splitlines()
    assert lines.index("note: the first note") + 1 == lines.index("note: the second note")
    assert not any(line.startswith("wrote") for line in lines)


def test_every_option_lands_in_the_protocol_the_options_the_loader_and_the_reports(tmp_path, monkeypatch, capsys):
    loads = []
    _spheres(monkeypatch, loads)
    result = {"models": {"oracle": {"epi": {"mean": 2.5, "std": 0.0, "n": 1}},
                         "oracle_inconsistent": {"depth": {"mean": 12345.6, "std": 1.0, "n": 3, "comparable": False}}},
              "higher_is_better": {"epi": False, "depth": False}, "notes": [], "protocol": {}, "provenance": {}}
    seen = _recording_harness(monkeypatch, result)
    inception = tmp_path / "inception.pt"
    report, data = tmp_path / "my report.md", tmp_path / "res.json"
    argv = ["zoo3d", "compare", "--models", "oracle,ORACLE-inconsistent", "--metric", "epi,depth",
            "--protocol", "paper", "--instances", "3", "--neus-iterations", "7", "--set", "epi_frames=20",
            "--data", "synthetic:heads?count=8", "--inception", str(inception), "--device", "cpu",
            "--ckpt", "Oracle=runs/lr=0.1", "--ckpt", "oracle_inconsistent=runs/b c",
            "--json", str(data), "--markdown", str(report)]
    monkeypatch.setattr("sys.argv", argv)
    code, stdout, err = zoo3d(capsys, *argv[1:])
    assert code == 0, err
    protocol = seen["protocol"]
    assert (protocol.name, protocol.instances, protocol.resolution) == ("paper", 3, None)
    assert protocol.neus.iterations == 7 and protocol.epi_frames == 20
    assert protocol.neus.batch_rays == 512 * 4  # the rest of the paper protocol's NeuS block stays
    assert seen["options"] == {"data": "synthetic:heads?count=8", "inception": str(inception)}
    cpu = torch.device("cpu")
    assert loads == [("oracle", "runs/lr=0.1", cpu), ("ORACLE-inconsistent", "runs/b c", cpu)]  # split at the first =
    from zoo3d.fileio import temp_path

    # the metrics write into a hidden folder beside the report's images folder, moved there with the report
    assert seen["out_dir"] == temp_path(tmp_path / "my report_images")
    assert "zoo3d compare (paper protocol changed to neus.iterations=7, epi_frames=20; 3 instances)" \
        in " ".join(stdout.split())
    header, rows = _table(stdout)
    assert header == ["model", "epi ↓", "depth ↓"]
    # 12345.6 to 4 significant figures is 12350, written without an exponent
    assert rows == [["oracle", "2.5 (n=1)", "-"], ["oracle_inconsistent", "-", "12350 ± 1 (not comparable) (n=3)"]]
    assert json.loads(data.read_text())["models"] == result["models"]
    lines = err.splitlines()
    assert lines.index(f"wrote {data}") < lines.index(f"wrote {report}")
    text = report.read_text()
    plain = re.compile(r"[\w@%+=:,./-]+")  # what a shell reads as one word unquoted
    command = "zoo3d " + " ".join(a if plain.fullmatch(a) else f"'{a}'" for a in argv[1:])
    assert "'oracle_inconsistent=runs/b c'" in command and f"'{report}'" in command
    assert command in text.splitlines(), text


@pytest.mark.parametrize("args, sentence", [
    (["--models", " , "], "--models needs at least one model name."),
    (["--models", "oracle", "--metric", " ,"], "--metric needs at least one metric name."),
    (["--models", "oracle", "--ckpt", "oracle"], "--ckpt 'oracle' must look like NAME=PATH."),
    (["--models", "oracle", "--ckpt", "=runs/a"], "--ckpt '=runs/a' must look like NAME=PATH."),
    (["--models", "oracle", "--ckpt", "oracle="], "--ckpt 'oracle=' must look like NAME=PATH."),
    (["--models", "oracle", "--ckpt", "oracle=a", "--ckpt", "ORACLE=b"],
     "--ckpt names model 'ORACLE' twice (a and b); a comparison scores one run per model."),
    (["--models", "oracle", "--ckpt", "zz=a", "--ckpt", "gram=b"],
     "--ckpt names model 'gram', which is not in --models."),
])
def test_refusals_are_the_documented_sentence_with_exit_status_2_before_any_model_loads(args, sentence, monkeypatch,
                                                                                        capsys):
    loads = []
    _spheres(monkeypatch, loads)
    code, stdout, err = zoo3d(capsys, "compare", *args, "--metric", "epi") if "--metric" not in args else \
        zoo3d(capsys, "compare", *args)
    assert code == 2 and err.strip() == f"Error: {sentence}", err
    assert loads == [] and stdout == ""


def test_the_progress_bar_counts_every_models_instances_of_every_metric_and_stays_on_stderr(monkeypatch, capsys):
    _spheres(monkeypatch)
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle,oracle_inconsistent", "--metric", "epi,depth",
                              "--instances", "2", "--resolution", "16", "--set", "epi_frames=12", "--set",
                              "depth_views=3", "--device", "cpu")
    assert code == 0, err
    total = 2 * 2 * 2  # models x metrics x instances: epi and depth count one unit an instance
    lines = err.splitlines()  # what each model is scored from, then the bar
    assert lines[:2] == ["scoring oracle: no checkpoint (it needs none)",
                         "scoring oracle_inconsistent: no checkpoint (it needs none)"]
    bar = lines[2]  # left in place when done (not transient), the model and metric last worked on
    assert re.fullmatch(rf"oracle_inconsistent · depth ━+ {total}/{total} \d+:\d\d:\d\d \d+:\d\d:\d\d", bar), bar
    assert f"{total}/{total}" not in stdout and " · " not in stdout


def test_a_metrics_own_check_of_the_protocol_refuses_before_any_model_loads(monkeypatch, capsys):
    loads = []
    _spheres(monkeypatch, loads)
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "diversity", "--resolution", "8")
    assert code == 2 and loads == [] and stdout == ""
    assert err.strip() == ("Error: diversity needs images of at least 16 px (its texture group's finest band); the "
                           "protocol's resolution is 8."), err


def test_a_metrics_own_setting_given_with_set_reaches_it_through_compare(tmp_path, monkeypatch, capsys):
    from conftest import FIXTURES

    monkeypatch.syspath_prepend(str(FIXTURES / "plugins"))
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_reference_metric")  # a metric with settings (reference, yaw)
    result = {"models": {"oracle": {}}, "higher_is_better": {}, "notes": []}
    seen = _recording_harness(monkeypatch, result)
    _spheres(monkeypatch)
    ref = tmp_path / "front.pt"
    ref.write_bytes(b"")
    code, _, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "reference_l1", "--set",
                         f"reference_l1.reference={ref}", "--set", "reference_l1.yaw=0.25")
    assert code == 0, err
    assert seen["protocol"].metric_settings == {"reference_l1": {"reference": str(ref), "yaw": 0.25}}


def test_a_metric_that_does_not_apply_to_a_model_still_counts_all_its_instances_on_the_bar(monkeypatch, capsys):
    import dataclasses

    import zoo3d.eval.harness as harness

    class NoDepth(TexturedSphereGenerator):
        def render(self, representation, cameras, resolution=None):
            return dataclasses.replace(super().render(representation, cameras, resolution), depth=None)

    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel("flat", NoDepth(), ckpt))
    monkeypatch.setenv("COLUMNS", "200")
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi,depth", "--instances", "3",
                              "--resolution", "16", "--set", "epi_frames=12", "--device", "cpu")
    assert code == 0, err
    [(name, epi, depth)] = _table(stdout)[1]
    assert (name, depth) == ("flat", "n/a") and epi.endswith("(n=3)")  # epi scored, depth not applicable
    assert err.splitlines()[0] == "scoring flat: no checkpoint (it needs none)"
    assert re.fullmatch(r"flat · depth ━+ 6/6 \d+:\d\d:\d\d \d+:\d\d:\d\d", err.splitlines()[1]), err


def test_a_device_zoo3d_does_not_run_on_is_refused_before_any_model_loads(monkeypatch, capsys):
    loads: list = []
    _spheres(monkeypatch, loads)
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--device", "tpu")
    assert (code, out, loads) == (2, "", [])
    assert err.strip() == "Error: Unknown device 'tpu'; use cpu, cuda, cuda:N, mps or auto."
