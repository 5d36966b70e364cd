"""``--steps`` on a recipe of several stages, as ``zoo3d train --nproc`` checks it, and the preset a model gets
when none is named.

docs/training.md (``--steps N``): below the recipe's total every stage keeps at least one step, in stage order
while N allows, and the rest is shared in proportion to the stages' lengths (in ``split_steps``, each length less
the step the stage keeps; largest remainders first); on ``--resume`` a stage whose new end the checkpoint passed
is done. So a cap decides which stages run at all, and a stage that does not run cannot make ``--nproc`` refuse its
batch. docs/plugins.md: ``default_preset`` is "the preset used without ``--preset``". The expected splits below
are worked out by hand from that rule.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from test_faults_runs import toy  # noqa: F401 (a fixture: the toy plugin, runs under tmp_path, one thread)
from toy_model import ToyModel
from zoo3d.errors import UserError
from zoo3d.launch import check_launch, plan_run, train_model
from zoo3d.plugins import get_model_spec

LENGTHS = (2, 5, 3)  # steps of the stages s0, s1, s2 (10 in all)
BATCHES = (4, 3, 4)  # s1's batch of 3 is the one two processes cannot share
#: the stage of every generator step the stand-in trained, in order
TRAINED: list[str] = []


class ThreeBatches(ToyModel):
    """The toy's phases as three stages of LENGTHS steps and BATCHES images, recording each step's stage."""

    def stages(self, config):
        (one,) = super().stages(config)

        def counted(stage: str, phase):
            def loss(ctx):
                if phase.name == "G":
                    TRAINED.append(stage)
                return phase.loss(ctx)
            return dataclasses.replace(phase, loss=loss)

        return [dataclasses.replace(one, name=f"s{i}", steps=n, batch_size=b,
                                    phases=[counted(f"s{i}", p) for p in one.phases])
                for i, (n, b) in enumerate(zip(LENGTHS, BATCHES))]


@pytest.fixture
def three(toy, monkeypatch):  # noqa: F811 (the fixture imported above)
    monkeypatch.setattr(get_model_spec("toy"), "factory", ThreeBatches)
    TRAINED.clear()
    return toy


S1_REFUSED = r"^Stage 's1' has a global batch of 3, which 2 processes cannot share evenly"


def test_a_cap_that_leaves_the_odd_batch_stage_out_is_not_refused_for_it(three):
    # --steps 1: s0 alone gets its one step (stage order while N allows); s1 never runs
    check_launch(2, "toy", device="cpu", steps=1)
    train_model("toy", steps=1, out=three / "run", progress=False)
    assert TRAINED == ["s0"]


@pytest.mark.parametrize("steps, split", [(2, {"s0": 1, "s1": 1}), (3, {"s0": 1, "s1": 1, "s2": 1}),
                                          (6, {"s0": 1, "s1": 3, "s2": 2}), (None, {"s0": 2, "s1": 5, "s2": 3})])
def test_a_cap_that_reaches_the_odd_batch_stage_is_refused_before_any_folder(three, steps, split):
    # 6: one step each, 3 spare shared by the lengths less that step, 3 * (2-1, 5-1, 3-1) / 7 = 0.43, 1.71, 0.86
    # -> 0, 1, 0, then the two largest remainders (s2's 0.86, s1's 0.71) one more each: 1, 3, 2 (by the whole
    # lengths it would be 3 * (2, 5, 3) / 10 = 0.6, 1.5, 0.9 -> 2, 2, 2)
    with pytest.raises(UserError, match=S1_REFUSED):
        check_launch(2, "toy", device="cpu", steps=steps, out=str(three / "run"))
    assert not (three / "run").exists()
    check_launch(3, "toy", device="cpu", steps=steps, overrides=["train.batch_scope=per_process"])
    train_model("toy", steps=steps, out=three / "run", progress=False)  # one process trains what the rule says
    assert Counter(TRAINED) == split and TRAINED == sorted(TRAINED)  # in stage order, never back


@pytest.mark.parametrize("steps, refused", [(None, True), (4, False), (5, False), (6, True), (10, True)])
def test_a_resume_under_a_new_cap_checks_only_the_stages_whose_new_end_is_ahead(three, monkeypatch, steps, refused):
    import zoo3d.train.checkpoint as checkpoint

    out = three / "run"
    train_model("toy", steps=1, out=out, progress=False)
    read = checkpoint.read_metadata  # the checkpoint says it stopped in s1 at global step 3
    monkeypatch.setattr(checkpoint, "read_metadata",
                        lambda path: {**read(path), "zoo3d.stage_index": "1", "zoo3d.step": "3"})
    # s1 ends at step 2 + 5 = 7 uncapped; under --steps 4 the split is (1, 2, 1) and under 5 (1, 2, 2): s1 ends at
    # step 3, which the checkpoint reached, so only s2 is ahead; under 6 it is (1, 3, 2) and s1 ends at step 4
    if refused:
        with pytest.raises(UserError, match=S1_REFUSED):
            check_launch(2, "toy", device="cpu", steps=steps, out=str(out), resume=True)
    else:
        check_launch(2, "toy", device="cpu", steps=steps, out=str(out), resume=True)


# ------------------------------------------------------------------------------------------- the default preset

def test_a_run_without_preset_takes_the_models_default_preset_not_tiny(toy, monkeypatch):  # noqa: F811
    presets = toy / "presets"
    presets.mkdir()
    (presets / "tiny.yaml").write_text("toy: {z_dim: 3}\n")
    (presets / "short.yaml").write_text("toy: {z_dim: 5}\ntrain: {seed: 7}\n")
    spec = get_model_spec("toy")
    monkeypatch.setattr(spec, "presets_dir", presets)
    monkeypatch.setattr(spec, "default_preset", "short")
    config = plan_run("toy").config
    assert (config.toy.z_dim, config.train.seed) == (5, 7)
    assert plan_run("toy", preset="tiny").config.toy.z_dim == 3  # a preset named wins over the default
    result = train_model("toy", steps=1, out=toy / "run", progress=False)
    assert "z_dim: 5" in (result.run_dir / "config.yaml").read_text()
