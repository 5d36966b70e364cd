"""``zoo3d bench zoo`` with stand-ins for its child processes: what it asks each command for, against the commands
docs/zoo.md documents, and the table and records it makes of their answers, formatted here by hand.

docs/zoo.md, steps 1-4: ``zoo3d train MODEL --preset P --data D --out OUT/runs/MODEL`` (stopped by SIGINT at the
budget, or at the step cap), ``zoo3d sample`` twice (seeds 0-7 at psi 1, ``--yaw 0``; seeds 0-3 at yaws -0.5 ...
0.5), ``zoo3d compare --models oracle,oracle_inconsistent,MODELS --ckpt MODEL=OUT/runs/MODEL ...``, then
``OUT/zoo.md``; ``--json`` records carry the training record, ``reused``, ``strictly_3d_consistent`` and per metric
``KEY``, ``KEY_std``, ``KEY_n`` (and ``KEY_comparable: false``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo3d.benchmarks import zoo
from zoo3d.errors import UserError

DOCUMENTED_METRICS = ["neus", "epi", "depth", "swd", "diversity", "detail", "speed"]  # docs/zoo.md's default
DOCUMENTED_YAWS = ["-0.5", "-0.25", "0.0", "0.25", "0.5"]  # "yaw -0.5 ... 0.5 rad as rows", five of them


@pytest.fixture(autouse=True)
def _no_zoo_environment(monkeypatch):
    """The suite reads ZOO3D_ZOO_* from the process environment: none of the caller's may leak in."""
    for key in [k for k in os.environ if k.startswith("ZOO3D_ZOO_")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


# ---- settings: the documented defaults, and what the variables' text becomes


def test_the_settings_default_to_the_documented_table():
    s = zoo.settings_from_env(False, {})
    assert (s.minutes, s.steps, s.data, s.protocol, s.instances) == (30.0, None, "synthetic:heads", "small", None)
    assert s.metrics == DOCUMENTED_METRICS and s.compare_sets == [] and s.overrides == []
    assert (s.jobs, s.resume, s.neus_iterations) == (1, False, None)
    assert [s.preset(m) for m in s.models] == ["tiny"] * 5
    assert s.out.parent == Path("runs") and s.out.name.startswith("zoo-")  # runs/zoo-<time>
    stamp = s.out.name[len("zoo-"):]
    assert time.strptime(stamp, "%Y%m%d-%H%M%S")  # a time of day, parsed back
    quick = zoo.settings_from_env(True, {})
    assert quick.neus_iterations == 20 and zoo._protocol_sets(quick) == ["neus.iterations=20"]
    assert zoo._protocol_sets(s) == []


def test_a_set_item_is_one_models_only_when_a_colon_comes_before_its_equals_sign():
    s = zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": "gram,pigan",
                                      "ZOO3D_ZOO_SET": "data.path=a:b ; gram : train.seed=3;pigan:train.seed=4"})
    assert s.overrides == [(None, "data.path=a:b"), ("gram", "train.seed=3"), ("pigan", "train.seed=4")]
    assert s.set_items("gram") == ["data.path=a:b", "train.seed=3"] and s.set_items("pigan")[-1] == "train.seed=4"


@pytest.mark.parametrize("item", ["=celeba", "gram=", "gram"])
def test_a_preset_item_without_a_model_or_a_preset_is_refused(item):
    with pytest.raises(UserError, match=f"^ZOO3D_ZOO_PRESETS entry '{item}' must look like MODEL=PRESET.$"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": "gram", "ZOO3D_ZOO_PRESETS": item})


def test_metrics_that_name_nothing_are_refused_before_any_training():
    for empty in ("", " , "):
        with pytest.raises(UserError, match="^ZOO3D_ZOO_METRICS names no metric.$"):
            zoo.settings_from_env(False, {"ZOO3D_ZOO_METRICS": empty})


# ---- step 1: the training command, its environment, its end and its record


CHILD = """
import json, os, pathlib, signal, sys, time
argv = sys.argv[1:]; run_dir = pathlib.Path(argv[argv.index('--out') + 1]); mode = os.environ['ZOO_STAND_IN_EXIT']
signal.signal(signal.SIGINT, lambda *a: (print('stopped', flush=True), sys.exit(130)))
run_dir.mkdir(parents=True, exist_ok=True)
(run_dir.parent / 'argv.json').write_text(json.dumps(argv))
(run_dir / 'ckpt').write_text(json.dumps({'zoo3d.step': '7', 'zoo3d.stage': 'stage2'}))
(run_dir.parent / 'env.txt').write_text(os.environ.get('OMP_NUM_THREADS', 'unset'))
print('stepping', flush=True); print('to stderr', file=sys.stderr, flush=True)
(run_dir.parent / 'ready').touch()
if mode == 'wait':
    time.sleep(60)
sys.exit(int(mode))
"""


class StandIn:
    """What the stand-in ``zoo3d train`` was asked (its arguments, as it read them) and how it is to end."""

    def __init__(self, runs: Path, monkeypatch):
        self.runs, self.monkeypatch = runs, monkeypatch
        self.exit("0")

    def exit(self, mode: str) -> None:
        self.monkeypatch.setenv("ZOO_STAND_IN_EXIT", mode)

    @property
    def argv(self) -> list[str]:
        return json.loads((self.runs / "argv.json").read_text())


@pytest.fixture
def stand_in_trainer(monkeypatch, tmp_path):
    """``zoo3d train`` replaced by CHILD; the checkpoint's metadata is the JSON it writes."""
    import zoo3d.runs
    import zoo3d.train.checkpoint

    monkeypatch.setattr(zoo, "_zoo3d", lambda *args: [sys.executable, "-c", CHILD, *args])
    monkeypatch.setattr(zoo3d.runs, "run_checkpoint", lambda run_dir: Path(run_dir) / "ckpt")
    monkeypatch.setattr(zoo3d.train.checkpoint, "read_metadata", lambda path: json.loads(Path(path).read_text()))
    monkeypatch.setattr(zoo, "usable_cores", lambda: 4)
    (tmp_path / "runs").mkdir()
    return StandIn(tmp_path / "runs", monkeypatch)


def test_the_training_is_the_documented_command_and_its_record_is_what_it_reached(tmp_path, stand_in_trainer):
    s = zoo.ZooSettings(models=["pigan"], out=tmp_path, minutes=0, steps=3, presets={"pigan": "celeba"},
                        overrides=[(None, "train.seed=1"), ("gram", "train.seed=2"), ("pigan", "train.log_every=1")])
    run_dir = tmp_path / "runs" / "pigan"
    t0 = time.monotonic()
    got = zoo.train_for_budget("pigan", run_dir, s, "cpu")
    took = time.monotonic() - t0
    assert stand_in_trainer.argv == ["train", "pigan", "--preset", "celeba", "--data", "synthetic:heads", "--out",
                                     str(run_dir), "--device", "cpu", "--quiet", "--set", "train.seed=1", "--set",
                                     "train.log_every=1", "--steps", "3"]
    assert set(got) == {"model", "preset", "data", "ended", "train_s", "step", "stage", "device", "threads", "settings"}
    assert (got["model"], got["preset"], got["data"]) == ("pigan", "celeba", "synthetic:heads")
    assert got["ended"] == "finished"
    assert (got["step"], got["stage"], got["device"]) == (7, "stage2", "cpu")  # the checkpoint's step, as a number
    assert got["settings"] == {"minutes": 0, "steps": 3, "set": ["train.seed=1", "train.log_every=1"]}
    assert 0 <= got["train_s"] <= took + 0.05 and got["train_s"] == round(got["train_s"], 1)
    # one job: the child keeps OpenMP's default, and the record says how many cores that is
    assert (tmp_path / "runs" / "env.txt").read_text() == "unset" and got["threads"] == "4"
    assert (tmp_path / "runs" / "pigan.log").read_text().split() == ["stepping", "to", "stderr"]  # both streams
    assert json.loads((tmp_path / "runs" / "pigan.json").read_text()) == got


def test_side_by_side_trainings_get_their_share_of_the_cores_and_no_step_cap_without_one(tmp_path, stand_in_trainer):
    s = zoo.ZooSettings(models=["gram", "pigan"], out=tmp_path, minutes=5, steps=None, jobs=2)
    got = zoo.train_for_budget("gram", tmp_path / "runs" / "gram", s, "cuda:1")
    assert "--steps" not in stand_in_trainer.argv and stand_in_trainer.argv[-2:] == ["cuda:1", "--quiet"]
    assert (tmp_path / "runs" / "env.txt").read_text() == "2" and got["threads"] == "2"  # 4 cores / 2 jobs
    assert got["ended"] == "finished" and got["device"] == "cuda:1"


def test_a_training_stopped_by_its_budget_exits_130_and_is_recorded_as_the_budgets(tmp_path, stand_in_trainer,
                                                                                   monkeypatch):
    stand_in_trainer.exit("wait")
    budget_s = 1.2
    popen = subprocess.Popen

    def start(*args, **kwargs):  # the budget's clock starts once the child takes SIGINT, however slow its start
        proc = popen(*args, **kwargs)
        deadline = time.monotonic() + 30
        while not (tmp_path / "runs" / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc

    monkeypatch.setattr(zoo.subprocess, "Popen", start)
    s = zoo.ZooSettings(models=["pigan"], out=tmp_path, minutes=budget_s / 60, steps=None)
    got = zoo.train_for_budget("pigan", tmp_path / "runs" / "pigan", s, "cpu")
    assert got["ended"] == "budget" and budget_s - 0.05 <= got["train_s"] < budget_s + 10
    assert (tmp_path / "runs" / "pigan.log").read_text().split()[-1] == "stopped"  # it got the SIGINT
    assert got["step"] == 7


def test_a_clean_exit_counts_as_ended(tmp_path, stand_in_trainer):
    stand_in_trainer.exit("0")
    s = zoo.ZooSettings(models=["pigan"], out=tmp_path, minutes=0, steps=2)
    assert zoo.train_for_budget("pigan", tmp_path / "runs" / "pigan", s, "cpu")["ended"] == "finished"


def test_a_sigint_the_suite_did_not_send_leaves_no_record(tmp_path, stand_in_trainer):
    # exit 130 before any budget ran out: someone else's SIGINT (a background job's process group, kill -INT) cut
    # the training off at an unknown step; recorded as finished, a resume would reuse it and the table be built on it
    stand_in_trainer.exit("130")
    s = zoo.ZooSettings(models=["pigan"], out=tmp_path, minutes=0, steps=2)
    run = tmp_path / "runs" / "pigan"
    with pytest.raises(UserError, match=r"^zoo3d train pigan was stopped by a SIGINT the suite did not send \(exit "
                                        r"130\); .* has no record \(remove it to train pigan again\)"):
        zoo.train_for_budget("pigan", run, s, "cpu")
    assert not zoo.training_record_path(run).exists()


def test_a_failed_training_is_refused_with_its_exit_code_and_log_and_leaves_no_record(tmp_path, stand_in_trainer):
    stand_in_trainer.exit("3")
    s = zoo.ZooSettings(models=["pigan"], out=tmp_path, minutes=0, steps=2)
    log = tmp_path / "runs" / "pigan.log"
    with pytest.raises(UserError, match=f"^zoo3d train pigan failed \\(exit 3\\); see {re.escape(str(log))}.$"):
        zoo.train_for_budget("pigan", tmp_path / "runs" / "pigan", s, "cpu")
    assert not (tmp_path / "runs" / "pigan.json").exists()


def test_the_child_command_is_this_python_running_zoo3d():
    assert zoo._zoo3d("train", "gram") == [sys.executable, "-m", "zoo3d", "train", "gram"]


def test_a_failed_child_is_reported_with_its_last_line_on_stderr():
    fail = [sys.executable, "-c", "import sys; print('out'); sys.stderr.write('first\\nlast words\\n'); sys.exit(4)"]
    with pytest.raises(UserError, match=r"^zoo3d sample x failed \(exit 4\): last words$"):
        zoo._run(fail, "zoo3d sample x")
    with pytest.raises(UserError, match=r"^quiet failed \(exit 2\): no output$"):
        zoo._run([sys.executable, "-c", "raise SystemExit(2)"], "quiet")
    seen = [sys.executable, "-c", "import os, sys; sys.exit(0 if os.environ.get('ZOO_T') == 'yes' else 5)"]
    zoo._run(seen, "env", {**os.environ, "ZOO_T": "yes"})  # the environment given is the child's
    with pytest.raises(UserError, match=r"exit 5"):
        zoo._run(seen, "env", {**os.environ, "ZOO_T": "no"})


# ---- step 2: the two sample commands


def test_the_samples_are_the_documented_row_and_yaw_sweep(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(zoo, "_run", lambda cmd, what, env=None: ran.append((cmd, what, env)))
    monkeypatch.setattr(zoo, "usable_cores", lambda: 6)
    run_dir, images = tmp_path / "runs" / "gram", tmp_path / "images"
    got = zoo.draw_samples("gram", run_dir, images, "cpu", jobs=3)
    assert got == {"samples": "gram_samples.png", "yaw_sweep": "gram_yaw_sweep.png"}
    head = [sys.executable, "-m", "zoo3d", "sample", str(run_dir)]
    row = head + ["--seeds", "0-7", "--psi", "1", "--yaw", "0", "--device", "cpu", "--out",
                  str(images / "gram_samples.png")]
    yaws = [a for y in DOCUMENTED_YAWS for a in ("--yaw", y)]
    sweep = head + ["--seeds", "0-3", "--psi", "1", *yaws, "--device", "cpu", "--out",
                    str(images / "gram_yaw_sweep.png")]
    assert [(cmd, what) for cmd, what, _ in ran] == [(row, "zoo3d sample gram"),
                                                    (sweep, "zoo3d sample gram (yaw sweep)")]
    assert [env["OMP_NUM_THREADS"] for _, _, env in ran] == ["2", "2"]  # 6 cores / 3 jobs


# ---- step 3: the comparison


def _part(names: list[str], protocol: dict) -> dict:
    """A ``zoo3d compare`` JSON of ``names``: each model's epi is its name's length."""
    return {"models": {n: {"epi": {"mean": float(len(n)), "std": 0.5, "n": 2}} for n in names},
            "protocol": protocol, "higher_is_better": {"epi": False}, "notes": [f"note of {names[0]}"],
            "provenance": {n: {"strictly_3d_consistent": True, "checkpoint": f"{n}.ckpt", "sha256": "0" * 8,
                               "resolution": 64, "seeds": [0, 1]} for n in names}, "evidence": {}}


@pytest.fixture
def stand_in_compare(monkeypatch):
    """``zoo3d compare`` replaced: records each command and writes the JSON its ``--json`` asks for."""
    asked = []

    def run(cmd, what, env=None):
        asked.append((cmd, what))
        names = cmd[cmd.index("--models") + 1].split(",")
        Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(_part(names, {"name": "small"})))

    monkeypatch.setattr(zoo, "_run", run)
    monkeypatch.setattr(zoo, "controls", lambda: ["oracle", "oracle_inconsistent"])
    return asked


def test_one_comparison_is_the_documented_command_over_controls_then_trained_models(tmp_path, stand_in_compare):
    runs = {"gram": tmp_path / "runs" / "gram", "pigan": tmp_path / "runs" / "pigan"}
    s = zoo.ZooSettings(models=list(runs), out=tmp_path, metrics=["epi", "depth"], protocol="paper", instances=3,
                        neus_iterations=20, compare_sets=["epi_frames=12"], data="synthetic:heads")
    result = zoo.compare_all(runs, s, "cpu")
    names = ["oracle", "oracle_inconsistent", "gram", "pigan"]
    assert stand_in_compare == [([sys.executable, "-m", "zoo3d", "compare", "--models", ",".join(names),
                                  "--metric", "epi,depth", "--protocol", "paper", "--data", "synthetic:heads",
                                  "--device", "cpu", "--json", str(tmp_path / "compare.json"),
                                  "--markdown", str(tmp_path / "compare.md"),
                                  "--ckpt", f"gram={runs['gram']}", "--ckpt", f"pigan={runs['pigan']}",
                                  "--instances", "3", "--set", "neus.iterations=20", "--set", "epi_frames=12"],
                                 "zoo3d compare")]
    assert result == _part(names, {"name": "small"})
    s.instances, s.neus_iterations, s.compare_sets = None, None, []  # the protocol's count, no --set
    stand_in_compare.clear()
    zoo.compare_all({}, s, "cpu")
    cmd = stand_in_compare[0][0]
    assert "--instances" not in cmd and "--set" not in cmd and "--ckpt" not in cmd
    assert cmd[cmd.index("--models") + 1] == "oracle,oracle_inconsistent"


def test_a_split_comparison_deals_the_models_round_robin_and_merges_the_parts(tmp_path, stand_in_compare):
    runs = {m: tmp_path / "runs" / m for m in ("gram", "gram_hd", "pigan")}
    s = zoo.ZooSettings(models=list(runs), out=tmp_path, metrics=["epi"], jobs=2)
    result = zoo.compare_all(runs, s, "cpu")
    parts = {what: cmd for cmd, what in stand_in_compare}
    assert set(parts) == {"zoo3d compare (compare-part0)", "zoo3d compare (compare-part1)"}
    first, second = parts["zoo3d compare (compare-part0)"], parts["zoo3d compare (compare-part1)"]
    assert first[first.index("--models") + 1] == "oracle,gram,pigan"
    assert second[second.index("--models") + 1] == "oracle_inconsistent,gram_hd"
    assert first[first.index("--json") + 1] == str(tmp_path / "compare-part0.json")
    assert first[first.index("--markdown") + 1] == str(tmp_path / "compare-part0.md")
    assert [a for a in second if a.startswith("gram")] == [f"gram_hd={runs['gram_hd']}"]  # each part its own ckpts
    order = ["oracle", "oracle_inconsistent", "gram", "gram_hd", "pigan"]
    assert list(result["models"]) == order and list(result["provenance"]) == order
    assert {n: result["models"][n]["epi"]["mean"] for n in order} == {n: float(len(n)) for n in order}
    assert result["notes"] == ["note of oracle", "note of oracle_inconsistent"]
    assert json.loads((tmp_path / "compare.json").read_text()) == result
    report = (tmp_path / "compare.md").read_text()
    assert "merged from compare-part0.md, compare-part1.md" in report and "| gram_hd | 7 ± 0.5 (n=2) |" in report


# ---- step 4: the table, written here from the numbers by hand


def _entry(mean, std, n, **more):
    return {"mean": mean, "std": std, "n": n, **more}


RESULT = {
    "models": {
        "oracle_inconsistent": {"neus_detail_gain": _entry(0.0356, 0.009, 4), "swd": _entry(108.0, 0.0, 1),
                                "neus_seconds": _entry(120.0, 3.0, 4)},
        "gram": {"neus_detail_gain": _entry(0.919, 0.1234, 4), "swd": _entry(45.3, 0.0, 1),
                 "depth": _entry(3.7, 0.15, 4, comparable=False)},
        "oracle": {"neus_detail_gain": _entry(1.34, 0.42, 4), "swd": _entry(19.9, 0.0, 1)},
        "stylesdf": {"neus_detail_gain": _entry(None, None, 0), "swd": _entry(63.1, 0.0, 1),
                     "depth": {"mean": None, "std": None, "n": 0, "not_applicable": "no depth"}},
    },
    "provenance": {"oracle": {"strictly_3d_consistent": True}, "oracle_inconsistent": {"strictly_3d_consistent": False},
                   "gram": {"strictly_3d_consistent": True}, "stylesdf": {"strictly_3d_consistent": False}},
    "higher_is_better": {"neus_detail_gain": True, "swd": False},
    "notes": ["stylesdf: depth n/a"],
}
TRAINED = {"gram": {"preset": "tiny", "step": 2000, "train_s": 870.0, "device": "cpu", "threads": "2"},
           "stylesdf": {"preset": "ffhq1024", "step": 13000, "train_s": 1074.0, "device": "cpu", "threads": "2"}}
IMAGES = {m: {"samples": f"{m}_samples.png", "yaw_sweep": f"{m}_yaw_sweep.png"} for m in ("gram", "stylesdf")}


def test_the_table_is_the_numbers_formatted_by_hand(tmp_path):
    s = zoo.ZooSettings(models=["gram", "stylesdf"], out=tmp_path, minutes=30, steps=5000)
    text = zoo.zoo_table(RESULT, TRAINED, IMAGES, s, 150.0, "cpu", "ZOO3D_ZOO_STEPS=5000 zoo3d bench zoo --device cpu")
    lines = text.splitlines()
    assert lines[:9] == [
        "# The zoo on one protocol", "", "```", "ZOO3D_ZOO_STEPS=5000 zoo3d bench zoo --device cpu", "```", "",
        "Device `cpu`, data `synthetic:heads`, protocol `small`, training budget 30 min or 5000 steps per model; "
        "whole run 2.5 min.", "",
        "| model | 3D-consistent | preset | steps | train min | neus_detail_gain ↑ | swd ↓ | depth |"]
    assert lines[9] == "|---|---|---|---|---|---|---|---|"
    # neus_detail_gain highest first, the model without a value last; "_seconds" keys are no column
    assert lines[10:14] == [
        "| oracle | yes | - | - | - | 1.34 ± 0.42 (4) | 19.9 (1) | - |",
        "| gram | yes | tiny | 2000 | 14.5 | 0.919 ± 0.12 (4) | 45.3 (1) | 3.7 ± 0.15 (not comparable) (4) |",
        "| oracle_inconsistent | no (2D upsampler) | - | - | - | 0.0356 ± 0.009 (4) | 108 (1) | - |",
        "| stylesdf | no (2D upsampler) | ffhq1024 | 13000 | 17.9 | - | 63.1 (1) | n/a |"]
    assert lines[14] == "" and lines[15].startswith("Rows sorted by `neus_detail_gain` (highest first).")
    assert "Trainings ran on" not in text  # every training on one device with one thread count
    assert lines[16:] == [
        "", "## gram", "", "Samples (seeds 0-7, ψ = 1): ![gram samples](images/gram_samples.png)", "",
        "Yaw sweep (-0.5, -0.25, 0, 0.25, 0.5 rad, one row each; seeds 0-3): "
        "![gram yaw sweep](images/gram_yaw_sweep.png)", "",
        "## stylesdf", "", "Samples (seeds 0-7, ψ = 1): ![stylesdf samples](images/stylesdf_samples.png)", "",
        "Yaw sweep (-0.5, -0.25, 0, 0.25, 0.5 rad, one row each; seeds 0-3): "
        "![stylesdf yaw sweep](images/stylesdf_yaw_sweep.png)", "",
        "## Notes", "", "- stylesdf: depth n/a"]


def test_the_header_states_the_budget_there_was_and_which_trainings_were_reused(tmp_path):
    def header(s, reused=None, trained=TRAINED):
        text = zoo.zoo_table(RESULT, trained, IMAGES, s, 4242.0, "cuda", "c", reused=reused)
        return text.splitlines()[6]

    assert header(zoo.ZooSettings(models=[], out=tmp_path, minutes=0, steps=2)) == (
        "Device `cuda`, data `synthetic:heads`, protocol `small`, training budget 2 steps per model; whole run "
        "70.7 min.")
    assert "training budget 1 step per model;" in header(zoo.ZooSettings(models=[], out=tmp_path, minutes=0, steps=1))
    assert "budget 9.5 min or 1 step per model;" in header(zoo.ZooSettings(models=[], out=tmp_path, minutes=9.5,
                                                                           steps=1))
    assert header(zoo.ZooSettings(models=[], out=tmp_path, minutes=12.5, steps=None, data="ffhq",
                                  protocol="paper"), reused=["gram", "stylesdf"]) == (
        "Device `cuda`, data `ffhq`, protocol `paper`, training budget 12.5 min per model; whole run 70.7 min "
        "(without the trainings of gram, stylesdf, done by an earlier invocation in this folder; their minutes "
        "are in the table).")
    mixed = {**TRAINED, "stylesdf": {**TRAINED["stylesdf"], "threads": "1"}}
    text = zoo.zoo_table(RESULT, mixed, IMAGES, zoo.ZooSettings(models=[], out=tmp_path), 60.0, "cpu", "c")
    lines = text.splitlines()
    at = lines.index("Trainings ran on: gram cpu, 2 threads; stylesdf cpu, 1 thread.")
    assert lines[0] == "# The zoo on one protocol" and lines[at - 1] == "" and lines[at - 2].startswith("Rows sorted")
    assert header(zoo.ZooSettings(models=[], out=tmp_path, minutes=0.5, steps=None)).startswith(
        "Device `cuda`, data `synthetic:heads`, protocol `small`, training budget 0.5 min per model;")


# ---- the whole run with every child replaced: the records --json gets, and the command zoo.md shows


def test_the_records_carry_the_training_the_flags_and_every_metric_with_its_spread(tmp_path, monkeypatch, capsys):
    out = tmp_path / "new" / "zoo run"  # made with its parents; quoted in the command zoo.md shows
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", "gram,stylesdf")
    monkeypatch.setenv("ZOO3D_ZOO_OUT", str(out))
    monkeypatch.setenv("ZOO3D_ZOO_METRICS", "epi")
    monkeypatch.setenv("ZOO3D_INCEPTION", "unused")  # not a ZOO3D_ZOO_ variable: not in the command line
    trainings = []

    def train(model, run_dir, s, device):
        trainings.append((model, run_dir, s.steps, device))
        run_dir.mkdir()
        return {"model": model, **TRAINED[model], "data": s.data, "ended": "finished", "stage": "x",
                "settings": zoo.training_settings(model, s)}

    drawn = []
    runs = {m: out / "runs" / m for m in ("gram", "stylesdf")}
    monkeypatch.setattr(zoo, "train_for_budget", train)
    monkeypatch.setattr(zoo, "draw_samples",
                        lambda m, run_dir, images, device, jobs=1: drawn.append((m, run_dir, images, device, jobs))
                        or IMAGES[m])
    monkeypatch.setattr(zoo, "compare_all", lambda r, s, device: RESULT if (r, s.models, device) == (
        runs, ["gram", "stylesdf"], "cpu") else None)
    capsys.readouterr()
    records = zoo.run("cpu", quick=True)
    assert trainings == [("gram", runs["gram"], 2, "cpu"), ("stylesdf", runs["stylesdf"], 2, "cpu")]
    assert drawn == [(m, runs[m], out / "images", "cpu", 1) for m in ("gram", "stylesdf")]
    by_model = {r["model"]: r for r in records}
    assert list(by_model) == list(RESULT["models"])  # the comparison's order
    assert by_model["gram"] == {
        "model": "gram", "preset": "tiny", "step": 2000, "train_s": 870.0, "device": "cpu", "threads": "2",
        "data": "synthetic:heads", "ended": "finished", "stage": "x",
        "settings": {"minutes": 0, "steps": 2, "set": []}, "reused": False, "strictly_3d_consistent": True,
        "neus_detail_gain": 0.919, "neus_detail_gain_std": 0.1234, "neus_detail_gain_n": 4,
        "swd": 45.3, "swd_std": 0.0, "swd_n": 1, "depth": 3.7, "depth_std": 0.15, "depth_n": 4,
        "depth_comparable": False}
    assert by_model["oracle_inconsistent"] == {
        "model": "oracle_inconsistent", "reused": False, "strictly_3d_consistent": False,
        "neus_detail_gain": 0.0356, "neus_detail_gain_std": 0.009, "neus_detail_gain_n": 4,
        "swd": 108.0, "swd_std": 0.0, "swd_n": 1, "neus_seconds": 120.0, "neus_seconds_std": 3.0, "neus_seconds_n": 4}
    assert "neus_detail_gain" not in by_model["stylesdf"] and "depth" not in by_model["stylesdf"]  # no value: no key
    assert by_model["stylesdf"]["swd"] == 63.1
    lines = (out / "zoo.md").read_text().splitlines()
    assert lines[3] == (f"ZOO3D_ZOO_METRICS=epi ZOO3D_ZOO_MODELS=gram,stylesdf ZOO3D_ZOO_OUT='{out}' "
                        "zoo3d bench zoo --quick --device cpu")
    assert lines[6] == ("Device `cpu`, data `synthetic:heads`, protocol `small`, training budget 2 steps per model; "
                        "whole run 0.0 min. `--quick`: a smoke run of the harness, not a record.")  # stand-ins: no time
    assert f"zoo: wrote {out / 'zoo.md'} (0.0 min)\n" in capsys.readouterr().err
    with pytest.raises(UserError, match=f"^{re.escape(str(out))} already holds a zoo table; set ZOO3D_ZOO_OUT to a "
                                        "new folder, or ZOO3D_ZOO_RESUME=1"):
        zoo.run("cpu", quick=True)


def test_a_resumed_run_records_which_trainings_it_reused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", "gram,stylesdf")
    monkeypatch.setenv("ZOO3D_ZOO_OUT", str(tmp_path))
    monkeypatch.setenv("ZOO3D_ZOO_STEPS", "5")
    monkeypatch.setenv("ZOO3D_ZOO_RESUME", "1")
    monkeypatch.setenv("ZOO3D_ZOO_PRESETS", "stylesdf=ffhq1024")
    s = zoo.settings_from_env(False)
    run_dir = tmp_path / "runs" / "gram"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("model: gram\n")
    record = {"model": "gram", **TRAINED["gram"], "data": "synthetic:heads",
              "settings": zoo.training_settings("gram", s)}
    zoo.training_record_path(run_dir).write_text(json.dumps(record))
    trained_now = []

    def train(model, run_dir, s, device):
        trained_now.append(model)
        run_dir.mkdir(parents=True)
        return {"model": model, **TRAINED[model]}

    monkeypatch.setattr(zoo, "train_for_budget", train)
    monkeypatch.setattr(zoo, "draw_samples", lambda m, *a, **k: IMAGES[m])
    monkeypatch.setattr(zoo, "compare_all", lambda runs, s, device: RESULT)
    capsys.readouterr()
    by_model = {r["model"]: r for r in zoo.run("cpu", quick=False)}
    assert trained_now == ["stylesdf"]
    assert (by_model["gram"]["reused"], by_model["stylesdf"]["reused"], by_model["oracle"]["reused"]) == \
        (True, False, False)
    err = capsys.readouterr().err
    assert "zoo: gram trained before (2000 steps), not again\n" in err
    assert "zoo: training stylesdf (ffhq1024)\n" in err and "zoo: comparing\n" in err
    assert f"zoo: wrote {tmp_path / 'zoo.md'} (" in err
    text = (tmp_path / "zoo.md").read_text()
    assert "(without the trainings of gram, done by an earlier invocation" in text
    assert text.splitlines()[3] == (f"ZOO3D_ZOO_MODELS=gram,stylesdf ZOO3D_ZOO_OUT={tmp_path} "
                                    "ZOO3D_ZOO_PRESETS=stylesdf=ffhq1024 ZOO3D_ZOO_RESUME=1 ZOO3D_ZOO_STEPS=5 "
                                    "zoo3d bench zoo --device cpu")


# ---- resume: which records are reused, and the refusals in the words docs/zoo.md gives


def test_finished_training_refuses_what_would_mislead_and_reuses_the_rest(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "gram"
    path = tmp_path / "runs" / "gram.json"
    at, there = re.escape(str(run_dir)), re.escape(str(path))
    s = zoo.ZooSettings(models=["gram"], out=tmp_path, minutes=30, steps=None, resume=False)
    run_dir.mkdir(parents=True)
    assert zoo.finished_training("gram", run_dir, s) is None  # nothing there: train it
    (run_dir / "config.yaml").write_text("model: gram\n")
    with pytest.raises(UserError, match=f"^{at} holds a training without a record of how it ended"):
        zoo.finished_training("gram", run_dir, s)
    record = {"model": "gram", "preset": "tiny", "step": 9, "settings": zoo.training_settings("gram", s)}
    path.write_text(json.dumps(record))  # no "data", no "device": records from before they were kept
    with pytest.raises(UserError, match=f"^{at} holds a finished training of gram; set ZOO3D_ZOO_RESUME=1"):
        zoo.finished_training("gram", run_dir, s)
    s.resume = True
    assert zoo.finished_training("gram", run_dir, s, "cuda") == record
    assert zoo.finished_training("gram", run_dir, s) == record
    assert capsys.readouterr().err == ""  # settings were recorded: no note
    path.write_text(json.dumps({**record, "data": "ffhq", "device": "cpu"}))
    with pytest.raises(UserError, match=f"^{there} was trained with preset tiny on ffhq, not tiny on synthetic:heads; "
                                        f"use another ZOO3D_ZOO_OUT or remove {at} and gram.json.$"):
        zoo.finished_training("gram", run_dir, s, "cpu")
    path.write_text(json.dumps({**record, "device": "cpu"}))
    assert zoo.finished_training("gram", run_dir, s) == {**record, "device": "cpu"}  # no device asked: not checked
    with pytest.raises(UserError, match=f"^{there} was trained with --device cpu, not cuda; use another "
                                        f"ZOO3D_ZOO_OUT or remove {at} and gram.json.$"):
        zoo.finished_training("gram", run_dir, s, "cuda")
    path.write_text(json.dumps({**record, "settings": {"minutes": 10, "steps": 4, "set": []}}))
    with pytest.raises(UserError, match=f"^{there} was trained under other settings: ZOO3D_ZOO_MINUTES 10 min there, "
                                        "30 min now; ZOO3D_ZOO_STEPS 4 there, no cap now; set them back, use another "
                                        f"ZOO3D_ZOO_OUT, or remove {at} and gram.json.$"):
        zoo.finished_training("gram", run_dir, s)
    path.write_text(json.dumps({**record, "device": "cpu"}))
    (run_dir / "config.yaml").unlink()
    with pytest.raises(UserError, match=f"^{there} records a training of gram, but {at} holds no run; "
                                        f"remove gram.json to train gram again.$"):
        zoo.finished_training("gram", run_dir, s, "cpu")


def test_the_settings_a_record_differs_in_are_each_named_in_their_variables_words():
    wanted = {"minutes": 30.0, "steps": None, "set": []}
    assert zoo._settings_differ(None, wanted) is None and zoo._settings_differ(dict(wanted), wanted) == []
    assert zoo._settings_differ({"minutes": 30, "steps": None, "set": []}, wanted) == []  # 30 and 30.0 read alike
    assert zoo._settings_differ({"minutes": 0, "steps": 4, "set": ["a=1", "b=2"]}, wanted) == [
        "ZOO3D_ZOO_MINUTES no budget there, 30 min now", "ZOO3D_ZOO_STEPS 4 there, no cap now",
        "ZOO3D_ZOO_SET 'a=1; b=2' there, none now"]
    assert zoo._settings_differ({"minutes": 0.5, "steps": None, "set": []}, {"minutes": 0, "steps": 1, "set": []}) == [
        "ZOO3D_ZOO_MINUTES 0.5 min there, no budget now", "ZOO3D_ZOO_STEPS no cap there, 1 now"]
    assert zoo._settings_differ({"minutes": 2.5, "steps": None}, {"minutes": 0, "steps": 1, "set": ["c=3"]}) == [
        "ZOO3D_ZOO_MINUTES 2.5 min there, no budget now", "ZOO3D_ZOO_STEPS no cap there, 1 now",
        "ZOO3D_ZOO_SET none there, 'c=3' now"]


# ---- the cores


def test_the_cores_fall_back_to_the_machines_count_where_there_is_no_affinity(monkeypatch):
    monkeypatch.delattr(zoo.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(zoo.os, "cpu_count", lambda: 6)
    assert zoo.usable_cores() == 6
    monkeypatch.setattr(zoo.os, "cpu_count", lambda: None)  # "undetermined"
    assert zoo.usable_cores() == 1
    monkeypatch.setattr(zoo.os, "sched_getaffinity", lambda pid: set(), raising=False)
    assert zoo.usable_cores() == 1


# ---- refusals before any training, word for word


def test_the_refusals_before_training_are_whole_sentences(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="^ZOO3D_ZOO_MINUTES is 0 and ZOO3D_ZOO_STEPS is unset: the training would "
                                        "never stop.$"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MINUTES": "0"})
    with pytest.raises(UserError, match="^ZOO3D_ZOO_SET entry 'pigan:micro' must look like key=value or "
                                        "MODEL:key=value.$"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_SET": "pigan:micro"})
    # a run of no models: the message says so, and has no model to suggest
    with pytest.raises(UserError, match=r"^ZOO3D_ZOO_PRESETS entry 'gram=tiny' names model 'gram', which is not a "
                                        r"model of this run \(none; see ZOO3D_ZOO_MODELS\).$"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": ",", "ZOO3D_ZOO_PRESETS": "gram=tiny"})
    # a metric's own --set items are told apart from protocol keys: the comparison's metrics are checked with them
    with pytest.raises(UserError, match=r"--set 'epi.frames=3': metric 'epi' has no settings of its own"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_METRICS": "epi", "ZOO3D_ZOO_COMPARE_SET": "epi.frames=3"})
    # the Inception file is the one the variables given name (the comparison's environment), not this process's
    monkeypatch.delenv("ZOO3D_INCEPTION", raising=False)
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(UserError, match=f"'{re.escape(str(missing))}' does not exist"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_METRICS": "epi,fid", "ZOO3D_INCEPTION": str(missing)})


def test_the_instance_count_is_given_once_to_the_comparison():
    from zoo3d.errors import ConfigError

    with pytest.raises(ConfigError, match="--instances 3 and --set 'instances=2' both set the instances; give it once"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_INSTANCES": "3", "ZOO3D_ZOO_COMPARE_SET": "instances=2"})


def test_a_set_items_model_is_what_comes_before_its_first_colon():
    s = zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": "gram,pigan", "ZOO3D_ZOO_SET": "gram:data.path=a:b"})
    assert s.overrides == [("gram", "data.path=a:b")]
