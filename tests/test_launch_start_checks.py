"""Starting a run: every mistake is refused in its documented sentence before anything is written.

docs/training.md ("Run folders") and docs/errors.md ("Run folders"): the model, the config, ``--steps`` and
``--out`` are checked before the run folder or its ``config.yaml`` exists; a resume takes the run's stored
config and refuses the flags that would change it. The runs are the test stand-in's (a few ms a step).
"""

from __future__ import annotations

import json
import os
import re

import pytest

from test_faults_runs import toy  # noqa: F401 (a fixture: the toy plugin, runs under tmp_path, one thread)
from zoo3d.errors import UserError
from zoo3d.launch import RunPlan, plan_run, train_model
from zoo3d.train.checkpoint import read_metadata


def _nothing_written(root):
    """The runs root was never made and the working folder holds only what the test put there."""
    return not (root / "runs").exists()


# ------------------------------------------------------------------------------------------- --steps

@pytest.mark.parametrize("steps", [0, -3])
def test_steps_below_one_are_refused_in_their_sentence_before_any_folder(toy, steps):
    out = toy / "run"
    with pytest.raises(UserError) as caught:
        train_model("toy", steps=steps, out=out, progress=False)
    assert str(caught.value) == f"--steps must be at least 1 (got {steps}): such a run trains nothing."
    assert not out.exists() and _nothing_written(toy)


def test_one_step_is_a_run(toy):
    result = train_model("toy", steps=1, out=toy / "run", progress=False)
    assert (result.step, result.status) == (1, "done")
    assert plan_run("toy", steps=1).config is not None  # 1 is the smallest accepted, not refused


# ------------------------------------------------------------------------------------------- a new run

def test_a_new_run_gets_the_config_asked_for_and_no_folder_until_it_starts(toy):
    plan = plan_run("toy", data="spheres #2 (2024)", overrides=["toy.z_dim=5", "train.seed=11"])
    assert isinstance(plan, RunPlan) and plan.resume is False and plan.run_dir is None
    assert plan.spec.name == "toy" and plan.plugin.config_class.__name__ == "ToyConfig"
    # --data is taken as written, not read as YAML; --set is applied over the model's defaults
    assert plan.config.data.spec == "spheres #2 (2024)"
    assert (plan.config.toy.z_dim, plan.config.train.seed) == (5, 11)
    assert plan_run("toy", out=toy / "new").run_dir == toy / "new"
    assert not (toy / "new").exists() and _nothing_written(toy)


def test_a_new_run_writes_its_config_and_leaves_the_folder_unlocked(toy):
    from zoo3d.config import dump_config

    result = train_model("toy", steps=1, overrides=["toy.z_dim=5"], progress=False)
    run = result.run_dir
    assert run.parent == toy / "runs" and re.fullmatch(r"toy-\d{8}-\d{6}", run.name)
    asked = plan_run("toy", overrides=["toy.z_dim=5"]).config
    assert (run / "config.yaml").read_text() == dump_config(asked)
    assert not (run / ".lock").exists()  # released at the end: the next run may take the folder


def test_a_bad_set_or_model_leaves_no_folder(toy):
    with pytest.raises(UserError, match="toy.z_dimm"):
        train_model("toy", overrides=["toy.z_dimm=5"], out=toy / "run", progress=False)
    with pytest.raises(UserError, match="toyy"):
        train_model("toyy", out=toy / "run", progress=False)
    assert not (toy / "run").exists() and _nothing_written(toy)


def test_an_out_that_is_a_file_is_refused(toy):
    (toy / "f").write_text("x")
    with pytest.raises(UserError) as caught:
        train_model("toy", steps=1, out=toy / "f", progress=False)
    assert str(caught.value) == f"--out '{toy / 'f'}' is a file, not a folder."
    assert (toy / "f").read_text() == "x" and _nothing_written(toy)


def test_an_out_below_a_file_is_refused_naming_the_file_before_the_model_is_built(toy, monkeypatch):
    (toy / "notes.txt").write_text("x")

    def never(*args, **kwargs):
        raise AssertionError("the model was built although --out cannot be made")

    monkeypatch.setattr("zoo3d.train.engine.Trainer.__init__", never)
    with pytest.raises(UserError) as caught:  # it was "Cannot create or lock run folder …: not a directory."
        train_model("toy", steps=1, out=toy / "notes.txt" / "run", progress=False)
    assert str(caught.value) == (f"Cannot write run folder '{toy / 'notes.txt' / 'run'}': '{toy / 'notes.txt'}' is a "
                                 f"file, not a folder.")
    assert (toy / "notes.txt").read_text() == "x" and _nothing_written(toy)


@pytest.mark.parametrize("names, shown", [
    (["0.png", "1.png", "2.png"], "0.png, 1.png, 2.png"),
    (["0.png", "1.png", "2.png", "3.png", "4.png"], "0.png, 1.png, 2.png, … (5 entries)"),
    (["0.png", "1.png", "2.png", "3.png"], "0.png, 1.png, 2.png, … (4 entries)"),
    (["b.png", "a.png", ".hidden"], "a.png, b.png"),
])
def test_an_out_holding_other_files_is_refused_naming_up_to_three(toy, names, shown):
    out = toy / "data"
    out.mkdir()
    for name in names:
        (out / name).write_text("x")
    with pytest.raises(UserError) as caught:
        train_model("toy", steps=1, out=out, progress=False)
    assert str(caught.value) == (f"--out '{out}' holds files that are not a run ({shown}); a run gets a folder of "
                                 f"its own: choose a new or empty --out.")
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # nothing added, not even config.yaml


def test_an_out_holding_only_hidden_files_or_nothing_is_used(toy):
    out = toy / "empty"
    out.mkdir()
    (out / ".keep").write_text("")
    assert train_model("toy", steps=1, out=out, progress=False).run_dir == out
    assert (out / "config.yaml").is_file()


def test_an_out_holding_a_run_is_refused_naming_what_it_holds(toy):
    out = toy / "run"
    train_model("toy", steps=1, out=out, progress=False)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(UserError) as caught:
        train_model("toy", steps=1, out=out, progress=False)
    assert re.fullmatch(re.escape(f"'{out}' already holds a run (config.yaml, checkpoints/ (1 file")
                        + r"s?\)" + re.escape(", metrics.jsonl, latest") + r".*"
                        + re.escape("); add --resume to continue it or choose another --out."), str(caught.value))
    assert sorted(p.name for p in out.rglob("*")) == before


# ------------------------------------------------------------------------------------------- resume

@pytest.mark.parametrize("given", [{"data": "toy:spheres"}, {"preset": "tiny"}, {"config_file": "c.yaml"}])
def test_a_resume_refuses_each_flag_that_would_change_its_config(toy, given):
    with pytest.raises(UserError) as caught:
        plan_run("toy", resume=True, out=toy, **given)
    assert str(caught.value) == ("--resume continues a run with its stored config; drop --data, --preset and "
                                 "--config (or start a new run).")


def test_a_resume_of_a_missing_folder_or_of_no_run_says_so(toy):
    with pytest.raises(UserError) as caught:
        plan_run("toy", resume=True, out=toy / "gone")
    assert str(caught.value) == f"Cannot resume '{toy / 'gone'}': there is no such run folder."
    (toy / "file").write_text("")
    with pytest.raises(UserError, match="there is no such run folder"):
        plan_run("toy", resume=True, out=toy / "file")
    with pytest.raises(UserError) as caught:
        plan_run("toy", resume=True)
    assert str(caught.value) == (f"No run of model 'toy' to resume under {toy / 'runs'}/; start one with "
                                 f"`zoo3d train toy`.")
    assert not (toy / "gone").exists() and _nothing_written(toy)


def test_a_resume_continues_the_stored_config_not_the_defaults(toy):
    out = toy / "run"
    train_model("toy", steps=1, out=out, overrides=["toy.z_dim=5", "train.seed=11"], progress=False)
    plan = plan_run("toy", resume=True, out=out)
    assert (plan.config, plan.run_dir, plan.resume) == (None, out, True)  # read from the checkpoint, not here
    result = train_model("toy", resume=True, out=out, steps=2, progress=False)
    assert (result.start_step, result.step) == (1, 2)
    stored = json.loads(read_metadata(result.checkpoint)["zoo3d.config"])
    assert (stored["toy"]["z_dim"], stored["train"]["seed"]) == (5, 11)
    assert not (out / ".lock").exists()


def test_a_resume_without_out_takes_the_models_newest_run(toy):
    older = train_model("toy", steps=1, progress=False).run_dir
    newer = train_model("toy", steps=1, progress=False).run_dir
    os.utime(older / "latest", (1, 1))
    for ckpt in (older / "checkpoints").iterdir():
        os.utime(ckpt, (1, 1))
    assert plan_run("toy", resume=True).run_dir == newer


def test_a_resume_of_another_models_run_or_a_run_without_checkpoint_is_refused(toy):
    from zoo3d.launch import _resume_point
    from zoo3d.plugins import get_model_spec

    out = toy / "run"
    train_model("toy", steps=1, out=out, progress=False)
    plugin = get_model_spec("toy").load()
    with pytest.raises(UserError) as caught:
        _resume_point(plugin, "toy_other", out)
    assert str(caught.value) == f"'{out}' is a run of model 'toy', not 'toy_other'."
    empty = toy / "empty"
    empty.mkdir()
    with pytest.raises(UserError) as caught:
        train_model("toy", resume=True, out=empty, progress=False)
    assert str(caught.value) == (f"Cannot resume '{empty}': it has no loadable checkpoint (it holds: nothing); start "
                                 f"a new run in another folder.")
    assert list(empty.iterdir()) == []  # its lock, taken for the check, is gone again


def test_a_resume_of_a_folder_with_a_run_but_no_checkpoint_names_what_it_holds(toy):
    out = toy / "run"
    out.mkdir()
    (out / "config.yaml").write_text("{}\n")
    (out / "metrics.jsonl").write_text("")
    with pytest.raises(UserError) as caught:
        train_model("toy", resume=True, out=out, progress=False)
    assert str(caught.value) == (f"Cannot resume '{out}': it has no loadable checkpoint (it holds: config.yaml, "
                                 f"metrics.jsonl); start a new run in another folder.")


def test_a_resume_says_which_checkpoint_holds_a_config_the_model_no_longer_accepts(toy, monkeypatch):
    from zoo3d.plugins import get_model_spec

    out = toy / "run"
    result = train_model("toy", steps=1, out=out, progress=False)
    config_class = get_model_spec("toy").load().config_class
    monkeypatch.setattr(config_class, "upgrade_stored", classmethod(lambda cls, data: {**data, "bogus": 1}))
    with pytest.raises(UserError) as caught:
        train_model("toy", resume=True, out=out, steps=2, progress=False)
    assert str(caught.value).startswith(f"Checkpoint '{result.checkpoint}' has a config that model 'toy' no longer "
                                        f"accepts (")
    assert "bogus" in str(caught.value)


def test_the_resume_point_of_a_dangling_latest_is_said_and_repointed_by_default(toy, capsys):
    from zoo3d.launch import _resume_point
    from zoo3d.plugins import get_model_spec

    out = toy / "run"
    result = train_model("toy", steps=1, out=out, progress=False)
    (out / "latest").write_text("checkpoints/step_000000009.safetensors\n")
    capsys.readouterr()
    resume_from, config, meta = _resume_point(get_model_spec("toy").load(), "toy", out)
    assert resume_from == result.checkpoint and (meta["zoo3d.model"], meta["zoo3d.step"]) == ("toy", "1")
    assert config.toy.z_dim == 8
    assert f"note: {out}: 'latest' names 'checkpoints/step_000000009.safetensors'" in capsys.readouterr().err
    assert (out / "latest").read_text().strip() == f"checkpoints/{result.checkpoint.name}"


def test_a_new_run_takes_its_config_file_and_preset_as_given(toy):
    (toy / "c.yaml").write_text("toy:\n  z_dim: 6\n")
    result = train_model("toy", steps=1, config_file=str(toy / "c.yaml"), out=toy / "run", progress=False)
    assert json.loads(read_metadata(result.checkpoint)["zoo3d.config"])["toy"]["z_dim"] == 6
    with pytest.raises(UserError) as caught:  # the stand-in has no presets: naming one is refused, not ignored
        train_model("toy", steps=1, preset="tiny", out=toy / "other", progress=False)
    assert str(caught.value) == "Unknown preset 'tiny' for model 'toy'. Available presets: none."
    assert not (toy / "other").exists()


def test_a_full_disk_mid_run_names_the_intact_checkpoint_and_the_command_that_continues(toy, monkeypatch):
    import zoo3d.train.engine as engine
    from zoo3d.fileio import WriteError

    def run(self, resume_from=None):
        self.last_checkpoint = self.run_dir / "checkpoints" / "step_000000001.safetensors"
        raise WriteError("Cannot write checkpoint 'c': the disk is full; nothing was half-written.", "the disk is full")

    monkeypatch.setattr(engine.Trainer, "run", run)
    out = toy / "my run"
    with pytest.raises(WriteError) as caught:
        train_model("toy", out=out, steps=2, device="cpu", progress=False)
    assert str(caught.value) == (
        f"Training stopped at step 0: cannot write checkpoint 'c': the disk is full; nothing was half-written (the "
        f"last checkpoint, '{out}/checkpoints/step_000000001.safetensors', is intact; free some space and continue "
        f"with `zoo3d train toy --out '{out}' --resume --steps 2 --device cpu`).")
    assert caught.value.reason == "the disk is full" and not (out / ".lock").exists()

    def run_before_any_checkpoint(self, resume_from=None):
        raise WriteError("Cannot write checkpoint 'c': the disk is full.", "the disk is full")

    monkeypatch.setattr(engine.Trainer, "run", run_before_any_checkpoint)
    with pytest.raises(WriteError) as caught:
        train_model("toy", out=toy / "other", steps=2, progress=False)
    assert str(caught.value) == ("Training stopped at step 0: cannot write checkpoint 'c': the disk is full (no "
                                 f"checkpoint had been written: free some space, then delete '{toy / 'other'}' and "
                                 f"start the run again).")  # --resume cannot continue it, and a new run refuses it


def test_stale_temp_files_of_a_killed_run_are_removed_when_it_resumes(toy):
    out = toy / "run"
    train_model("toy", steps=1, out=out, progress=False)
    stale = [out / ".config.yaml.tmp-999999999", out / "checkpoints" / ".step_000000099.safetensors.tmp-999999999",
             out / "samples" / ".step_000000099.png.tmp-999999999"]
    for path in stale:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
    train_model("toy", resume=True, out=out, steps=2, progress=False)
    assert not any(path.exists() for path in stale)
