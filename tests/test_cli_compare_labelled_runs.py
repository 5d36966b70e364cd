"""Two runs of one model in one comparison: ``--models gram@a,gram@b`` with a ``--ckpt`` each scores both, rows,
JSON and provenance under their labels, where a model named twice was refused and the JSON of two commands could
not be merged (both score the model)."""

from __future__ import annotations

import json

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.metric import EvalModel


@pytest.fixture
def loads(monkeypatch) -> list:
    """Each load as (model, checkpoint); a run named 'jittered' is the inconsistent textured sphere."""
    import zoo3d.eval.harness as harness

    seen: list = []

    def load(name, ckpt, device):  # named as the registered model, as load_eval_model names it
        from zoo3d.plugins import model_key

        seen.append((name, ckpt))
        return EvalModel(model_key(name), TexturedSphereGenerator(consistent=ckpt != "jittered"), ckpt)

    monkeypatch.setattr(harness, "load_eval_model", load)
    monkeypatch.setenv("COLUMNS", "200")
    return seen


def test_two_labelled_runs_of_one_model_are_scored_side_by_side(loads, tmp_path, capsys):
    out, report = tmp_path / "r.json", tmp_path / "r.md"
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle@sharp,ORACLE@Jit", "--ckpt", "oracle@SHARP=sharp",
                              "--ckpt", "oracle@jit=jittered", "--metric", "epi", "--instances", "1",
                              "--resolution", "16", "--set", "epi_frames=6", "--device", "cpu", "--json", out,
                              "--markdown", report)
    assert code == 0, err
    assert loads == [("oracle", "sharp"), ("ORACLE", "jittered")]  # the model, with each label's own run
    result = json.loads(out.read_text())
    assert list(result["models"]) == list(result["provenance"]) == ["oracle@sharp", "oracle@Jit"]
    assert result["provenance"]["oracle@Jit"]["checkpoint"] == "jittered"
    sharp, jittered = (result["models"][m]["epi"]["mean"] for m in result["models"])
    assert sharp < jittered  # two runs, two numbers
    assert err.splitlines()[:2] == ["scoring oracle@sharp: checkpoint sharp", "scoring oracle@Jit: checkpoint jittered"]
    assert [line.split("│")[1].strip() for line in stdout.splitlines() if line.startswith("│")] == [
        "oracle@sharp", "oracle@Jit"]
    # each label's evidence in a folder of its own, where one run's images would have overwritten the other's
    assert sorted(p.name for p in (tmp_path / "r_images").iterdir()) == ["oracle@Jit", "oracle@sharp"]
    assert "- **oracle@Jit**: checkpoint `jittered`" in report.read_text()


@pytest.mark.parametrize("args, sentence", [
    (["--models", "oracle,Oracle"], "--models names 'oracle' twice; a comparison scores one run per model (label two "
                                    "runs of one model, each with its --ckpt: --models oracle@a,oracle@b --ckpt "
                                    "oracle@a=RUN ...)."),
    (["--models", "oracle@a,oracle@A", "--ckpt", "oracle@a=x"], "--models names 'oracle@a' twice; a comparison scores "
     "one run per model (label two runs of one model, each with its --ckpt: --models oracle@a,oracle@b --ckpt "
     "oracle@a=RUN ...)."),
    (["--models", "oracle@a,oracle@b", "--ckpt", "oracle@a=x"],
     "--models 'oracle@b' labels a run of oracle; name it with --ckpt oracle@b=RUN."),
    (["--models", "oracle@a", "--ckpt", "oracle=x"], "--ckpt names model 'oracle', which is not in --models."),
    (["--models", "oracle@a", "--ckpt", "oracle@a=x", "--ckpt", "ORACLE@A=y"],
     "--ckpt names model 'ORACLE@A' twice (x and y); a comparison scores one run per model."),
    (["--models", "oracle@"], "'oracle@' is no MODEL@LABEL; a label is letters, digits, '-' and '_' after the model's "
                              "name, as in gram@lr2."),
    (["--models", "oracle@a/b"], "'oracle@a/b' is no MODEL@LABEL; a label is letters, digits, '-' and '_' after the "
                                 "model's name, as in gram@lr2."),
    (["--models", "@a", "--ckpt", "@a=x"], "'@a' is no MODEL@LABEL; a label is letters, digits, '-' and '_' after "
                                           "the model's name, as in gram@lr2."),  # a label of no model
])
def test_a_label_without_its_run_or_given_twice_is_refused_before_any_model_loads(loads, capsys, args, sentence):
    code, stdout, err = zoo3d(capsys, "compare", *args, "--metric", "depth", "--device", "cpu")
    assert (code, stdout, loads) == (2, "", [])
    assert err.strip() == f"Error: {sentence}"
