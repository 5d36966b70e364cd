"""``train.micro_batch`` and minibatch standard deviation: a chunk smaller than the group of a minibatch-stddev layer
(``zoo3d.nn.discriminators.MinibatchStd``) of a module a stage trains is refused before the run folder exists, naming
the group and the smallest micro-batch whose chunks keep it, as StyleGAN2-ADA's and EG3D's train.py refuse a
``--batch-gpu`` below ``--mbstd-group``. Before, ``--set train.micro_batch=1`` trained the tri-plane model with a
constant stddev map (one image per group: std 0), no longer the whole step in distribution."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import one_line_error, run_in_process
from test_faults_runs import toy  # noqa: F401 (a fixture: the toy plugin, runs under tmp_path, one thread)
from test_triplane_label_scene import MICRO as TP_MICRO
from toy_model import ToyModel
from zoo3d.core.model import OptimizerSpec, Stage
from zoo3d.errors import ConfigError, UserError
from zoo3d.launch import check_launch, train_model
from zoo3d.nn.discriminators import CoordConvDiscriminator, MinibatchStd, StyleGAN2Discriminator, minibatch_stddev
from zoo3d.train.distributed import World
from zoo3d.plugins import get_model_spec
from zoo3d.train.batch_groups import check_micro_batch_groups


def test_the_tri_plane_model_refuses_a_micro_batch_of_one_before_its_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["train", "triplane", "--preset", "tiny", "--steps", "1", "--out", "run", "--quiet", "--device", "cpu",
            "--set", "train.micro_batch=1"]
    for item in TP_MICRO:  # stages.gan.batch_size=2: a batch of 2, grouped whole
        args += ["--set", item]
    code, stdout, err = run_in_process(capsys, *args)
    assert code == 2, stdout + err
    assert one_line_error(err) == (
        "Error: train.micro_batch=1 cuts the batch of 2 of stage 'gan' into chunks of 1, fewer than the 2 images that "
        "'discriminator' groups for its minibatch standard deviation; give train.micro_batch=2 or more (StyleGAN2-ADA "
        "and EG3D refuse a --batch-gpu below --mbstd-group alike).")
    assert not (tmp_path / "run").exists()


class _GroupedToy(ToyModel):
    """The toy whose discriminator holds a minibatch-stddev layer of groups of 4."""

    def build(self, config):
        modules = super().build(config)
        modules["disc"].mbstd = MinibatchStd(4)
        return modules


def test_nproc_refuses_the_micro_batch_of_each_process_before_it_starts_them(toy, monkeypatch):  # noqa: F811
    """``zoo3d train --nproc 2``: the toy's batch of 4 gives each process 2, grouped whole; chunks of 1 break that."""
    monkeypatch.setattr(get_model_spec("toy"), "factory", _GroupedToy)
    with pytest.raises(ConfigError) as err:
        check_launch(2, "toy", device="cpu", overrides=["train.micro_batch=1"])
    assert str(err.value) == (
        "train.micro_batch=1 cuts the per-process batch of 2 of stage 'main' into chunks of 1, fewer than the 2 images "
        "that 'disc' groups for its minibatch standard deviation; give train.micro_batch=2 or more (StyleGAN2-ADA and "
        "EG3D refuse a --batch-gpu below --mbstd-group alike).")
    check_launch(2, "toy", device="cpu", overrides=["train.micro_batch=2"])
    assert not (toy / "runs").exists()


class _Critic(nn.Module):
    def __init__(self, group: int):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, 4, 1), MinibatchStd(group))


def _stage(batch: int) -> Stage:
    optim = {"D": OptimizerSpec(["critic"], 1e-3), "G": OptimizerSpec(["generator"], 1e-3)}
    return Stage("main", 10, [], optim, 16, batch)


MODULES = {"generator": nn.Linear(2, 2), "critic": _Critic(4), "unused": _Critic(8)}


@pytest.mark.parametrize("batch, micro, size, share, smallest, need", [
    (10, 4, 1, 10, 3, 10),  # chunks 4, 3, 3: the 3s break groups of 4; chunks of 5 are grouped one image at a time
    (12, 4, 2, 6, 3, 6),  # each of two processes takes 6: chunks 3 and 3, and 6 is its whole share
    (10, 1, 1, 10, 1, 10),
], ids=["one-process", "two-processes", "one-image-chunks"])
def test_a_chunk_smaller_than_a_group_is_refused_naming_the_micro_batch_that_keeps_it(batch, micro, size, share,
                                                                                       smallest, need):
    with pytest.raises(ConfigError) as err:
        check_micro_batch_groups([_stage(batch)], [10], MODULES, micro, World(size=size), "global")
    per = "per-process " if size > 1 else ""
    assert str(err.value) == (
        f"train.micro_batch={micro} cuts the {per}batch of {share} of stage 'main' into chunks of {smallest}, fewer "
        f"than the 4 images that 'critic' groups for its minibatch standard deviation; give train.micro_batch={need} "
        f"or more (StyleGAN2-ADA and EG3D refuse a --batch-gpu below --mbstd-group alike).")
    check_micro_batch_groups([_stage(batch)], [10], MODULES, need, World(size=size), "global")  # what it names passes


@pytest.mark.parametrize("batch, micro", [(10, None), (10, 10), (8, 4), (16, 5), (12, 4), (18, 6)])
def test_chunks_that_hold_a_group_pass(batch, micro):
    """Whole batches (10 in groups of 2), and chunks 4 + 4, 4 + 4 + 4 + 4, 4 + 4 + 4, 6 + 6 + 6 (groups of 3); the
    module 'unused' (groups of 8) no stage trains."""
    check_micro_batch_groups([_stage(batch)], [10], MODULES, micro, World(), "global")


def test_the_shared_discriminators_hold_the_layer_at_their_group():
    coord = CoordConvDiscriminator(8, max_channels=8, mbstd_group=2)
    sg2 = StyleGAN2Discriminator(8, channel_base=64, max_channels=8, mbstd_group_size=3)
    assert [m.group_size for m in coord.modules() if isinstance(m, MinibatchStd)] == [2]
    assert [m.group_size for m in sg2.modules() if isinstance(m, MinibatchStd)] == [3]
    assert not any(isinstance(m, MinibatchStd) for m in CoordConvDiscriminator(8, max_channels=8).modules())
    x = torch.randn(4, 2, 3, 3)
    assert torch.equal(MinibatchStd(2)(x), minibatch_stddev(x, 2))


def test_a_stage_the_step_cap_leaves_without_steps_is_not_asked():
    check_micro_batch_groups([_stage(10)], [0], MODULES, 1, World(), "global")


class _GroupedSecondStage(_GroupedToy):
    """The toy's two stages, the first of batch 2 (nothing to cut in chunks of 2), the second of 4 (chunks of 2 break
    it)."""

    def stages(self, config):
        first, second = super().stages(config)
        return [dataclasses.replace(first, batch_size=2), second]


def test_a_run_capped_before_the_stage_a_micro_batch_would_break_trains(toy, monkeypatch, capsys):  # noqa: F811
    """The run's own check (``Trainer.check_new_run``) asks the stages ``--steps`` leaves steps to: ``--steps 1``
    trains the first stage alone, ``--steps 2`` reaches the second and is refused for it."""
    monkeypatch.setattr(get_model_spec("toy"), "factory", _GroupedSecondStage)
    args = ["train", "toy", "--quiet", "--device", "cpu", "--set", "toy.stages=2", "--set", "train.micro_batch=2"]
    code, stdout, err = run_in_process(capsys, *args, "--steps", "2", "--out", "refused")
    assert code == 2, stdout + err
    assert one_line_error(err) == (
        "Error: train.micro_batch=2 cuts the batch of 4 of stage 'second' into chunks of 2, fewer than the 4 images "
        "that 'disc' groups for its minibatch standard deviation; give train.micro_batch=4 or more (StyleGAN2-ADA and "
        "EG3D refuse a --batch-gpu below --mbstd-group alike).")
    assert not (toy / "refused").exists()
    code, stdout, err = run_in_process(capsys, *args, "--steps", "1", "--out", "capped")
    assert code == 0, stdout + err


def test_nproc_asks_only_the_stages_the_step_cap_leaves_steps_to(toy, monkeypatch):  # noqa: F811
    monkeypatch.setattr(get_model_spec("toy"), "factory", _GroupedSecondStage)
    later = ["toy.stages=2", "train.micro_batch=2", "train.batch_scope=per_process"]  # batches of 2 and 4 a process
    check_launch(2, "toy", device="cpu", steps=1, overrides=later)
    with pytest.raises(ConfigError, match=r"^train.micro_batch=2 cuts the per-process batch of 4 of stage 'second' "):
        check_launch(2, "toy", device="cpu", steps=2, overrides=later)


def test_a_resume_into_the_stage_its_step_cap_left_unchecked_is_refused_before_it_trains(toy, monkeypatch,  # noqa: F811
                                                                                           capsys):
    """A run of ``--steps 1`` (stage 'first', 2 images a process, grouped whole) resumed with ``--steps 3`` (2 steps
    in 'second', 4 a process in chunks of 2), by one process and by ``--nproc 2``'s check of a run two processes
    wrote. Before, the resume trained 'second' in chunks of 2, which a new run of ``--steps 3`` is refused for."""
    import zoo3d.train.checkpoint as checkpoint

    monkeypatch.setattr(get_model_spec("toy"), "factory", _GroupedSecondStage)
    args = ["train", "toy", "--quiet", "--device", "cpu", "--out", "run"]
    code, stdout, err = run_in_process(capsys, *args, "--steps", "1", "--set", "toy.stages=2", "--set",
                                       "train.micro_batch=2", "--set", "train.batch_scope=per_process")
    assert code == 0, stdout + err
    written = Path("run") / "checkpoints" / "step_000000001.safetensors"
    code, stdout, err = run_in_process(capsys, *args, "--steps", "3", "--resume")
    assert code == 2, stdout + err
    assert one_line_error(err) == (
        f"Error: '{written.resolve()}' trains on with train.micro_batch=2, which cuts the batch of 4 of stage 'second' "
        f"with 1 process into chunks of 2, fewer than the 4 images that 'disc' groups for its minibatch standard "
        f"deviation; a resume keeps the run's train.micro_batch, so start a new run with a larger train.micro_batch.")
    assert [p.name for p in written.parent.iterdir()] == [written.name]
    read = checkpoint.read_metadata  # as if two processes had written it
    monkeypatch.setattr(checkpoint, "read_metadata", lambda path: {**read(path), "zoo3d.world_size": "2"})
    with pytest.raises(UserError) as err:
        check_launch(2, "toy", device="cpu", steps=3, out="run", resume=True)
    assert str(err.value).endswith(
        "cuts the per-process batch of 4 of stage 'second' with 2 processes into chunks of 2, fewer than the 4 images "
        "that 'disc' groups for its minibatch standard deviation; a resume keeps the run's train.micro_batch, so no "
        "count of processes up to 2 keeps the groups: start a new run with a larger train.micro_batch.")


@pytest.mark.slow
def test_stylesdf_capped_before_its_decoder_stage_trains_with_one_image_chunks(tmp_path, monkeypatch, capsys):
    """StyleSDF's decoder discriminator groups 4 images; ``--steps 2`` trains its first two stages alone (the toy's
    test above checks the same cap in CI)."""
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_in_process(capsys, "train", "stylesdf", "--preset", "tiny", "--steps", "2", "--out", "run",
                                       "--quiet", "--device", "cpu", "--set", "train.micro_batch=1", "--set",
                                       "train.sample_every=0", "--set", "train.sample_seeds=[0]")
    assert code == 0, stdout + err


def _one_process_run(toy, monkeypatch):  # noqa: F811
    """A one-step run of the toy with groups of 4 and a batch of 12 in chunks of 5 (4, 4, 4); its checkpoint."""
    monkeypatch.setattr(get_model_spec("toy"), "factory", _GroupedToy)
    train_model("toy", steps=1, out=toy / "run", overrides=["stages.main.batch_size=12", "train.micro_batch=5"],
                device="cpu", progress=False)
    return toy / "run" / "checkpoints" / "step_000000001.safetensors"


def _resume_refused(checkpoint, processes: int, remedy: str) -> str:
    return (f"'{checkpoint}' trains on with train.micro_batch=5, which cuts the per-process batch of {12 // processes} "
            f"of stage 'main' with {processes} processes into chunks of 3, fewer than the 4 images that 'disc' groups "
            f"for its minibatch standard deviation; a resume keeps the run's train.micro_batch, so resume it with "
            f"{remedy}.")


def test_nproc_refuses_a_resume_whose_shares_the_run_s_micro_batch_cuts_below_a_group(toy, monkeypatch):  # noqa: F811
    """Two processes take 6 images each, cut into 3 + 3; three (4 each) and four (3 each) keep their shares whole.
    Before, the resume trained on with chunks of 3 (a new run with two processes is refused for them)."""
    import zoo3d.train.checkpoint as checkpoint

    written = _one_process_run(toy, monkeypatch)
    with pytest.raises(UserError) as err:
        check_launch(2, "toy", device="cpu", steps=2, out=str(toy / "run"), resume=True)
    assert str(err.value) == _resume_refused(written, 2, "1 process")
    for processes in (3, 4):
        check_launch(processes, "toy", device="cpu", steps=2, out=str(toy / "run"), resume=True)
    read = checkpoint.read_metadata  # as if four processes had written it: the counts up to four that keep the groups
    monkeypatch.setattr(checkpoint, "read_metadata", lambda path: {**read(path), "zoo3d.world_size": "4"})
    with pytest.raises(UserError) as err:
        check_launch(2, "toy", device="cpu", steps=2, out=str(toy / "run"), resume=True)
    assert str(err.value) == _resume_refused(written, 2, "1, 3 or 4 processes")


def test_a_resumed_process_refuses_such_shares_before_its_first_step(toy, monkeypatch):  # noqa: F811
    """Under torchrun, without ``--nproc``'s check: each process refuses as it resumes, before it trains."""
    from zoo3d.launch import _resume_point
    from zoo3d.train.engine import Trainer

    written = _one_process_run(toy, monkeypatch)
    plugin = get_model_spec("toy").load()
    _, config, _ = _resume_point(plugin, "toy", toy / "run", lead=False)
    trainer = Trainer(plugin, config, toy / "run", model_name="toy", device="cpu", max_steps=2, progress=False,
                      world=World(size=2, local_size=2), resume_at=(0, 1))
    with pytest.raises(UserError) as err:
        trainer.run(resume_from=written)
    assert str(err.value) == _resume_refused(written, 2, "1 process")
    assert trainer.step == 1 and [p.name for p in written.parent.iterdir()] == [written.name]


def _resumed(micro: int, size: int, written_by: int, at: tuple[int, int], batches=(12, 8)) -> None:
    """check_resumed_micro_batch for stages 'main' (global batch 12) then 'second' (8), 10 steps each."""
    from types import SimpleNamespace

    from zoo3d.train.batch_groups import check_resumed_micro_batch

    stages = [_stage(batches[0]), dataclasses.replace(_stage(batches[1]), name="second")]
    config = SimpleNamespace(train=SimpleNamespace(micro_batch=micro, batch_scope="global"))
    check_resumed_micro_batch(stages, [10, 10], MODULES, config, World(size=size, local_size=size), at, "c.st",
                              written_by)


def test_a_resume_asks_only_the_stages_ahead_of_its_checkpoint():
    """Two processes cut stage 'main''s 6 each into 3 + 3; 'second' gives them 4, grouped whole. A checkpoint in
    'second', or at the last step of 'main', is not asked about 'main'; one a step before that is."""
    _resumed(5, 2, 1, (1, 10))
    _resumed(5, 2, 1, (0, 10))
    with pytest.raises(UserError, match=r"^'c.st' trains on with train.micro_batch=5, which cuts the per-process batch "
                                        r"of 6 of stage 'main' with 2 processes into chunks of 3, .* resume it with "
                                        r"1 process\.$"):
        _resumed(5, 2, 1, (0, 9))
    _resumed(5, 2, 2, (0, 9))  # the checkpoint's own count: trained so, nothing asked


def test_a_resume_with_its_own_count_is_asked_about_the_stages_it_has_not_begun():
    """A run stopped by --steps in 'main' was asked about 'main' alone; resumed with a larger --steps, its 'second'
    (12: 6 a process, cut 3 + 3 under groups of 4) is asked, while 'main', trained so, goes on as it was."""
    with pytest.raises(UserError, match=r"^'c.st' trains on with train.micro_batch=5, which cuts the per-process batch "
                                        r"of 6 of stage 'second' with 2 processes into chunks of 3, "):
        _resumed(5, 2, 2, (0, 9), batches=(12, 12))
    _resumed(5, 2, 2, (0, 9), batches=(12, 8))  # 'second' keeps its groups: 'main', begun, is not asked
    with pytest.raises(UserError, match="stage 'main'"):
        _resumed(5, 2, 2, (0, 0), batches=(12, 8))  # a checkpoint at the start of 'main' has not begun it


def test_a_resume_with_one_process_names_the_count_that_keeps_the_groups():
    """A run of 4 processes, 3 images each in one chunk of 3 (a share of 3 is grouped whole), resumed with one: its 12
    in chunks of 3 break groups of 4, as 6 (3 + 3) and 4 (2 + 2) a process would."""
    with pytest.raises(UserError) as err:
        _resumed(3, 1, 4, (0, 5))
    assert str(err.value) == (
        "'c.st' trains on with train.micro_batch=3, which cuts the batch of 12 of stage 'main' with 1 process into "
        "chunks of 3, fewer than the 4 images that 'critic' groups for its minibatch standard deviation; a resume "
        "keeps the run's train.micro_batch, so resume it with 4 processes.")


def test_a_resume_leaving_one_process_a_prime_batch_says_to_start_a_new_run_with_another_batch():
    """Stage 'second' takes 5 images: one process groups them one at a time, two cannot share them."""
    with pytest.raises(UserError) as err:
        _resumed(None, 1, 2, (0, 5), batches=(12, 5))
    assert str(err.value) == (
        f"'c.st' trains on with 1 process, and stage 'second' trains on a batch of 5 images, {_ONES}; no count of "
        f"processes up to 2 keeps the groups: start a new run with another batch {_ALIKE}")


def test_a_resume_no_count_of_processes_keeps_says_to_start_a_new_run():
    """Chunks of 1 break every group at every count up to 4 (three do not divide the batch of 8)."""
    with pytest.raises(UserError) as err:
        _resumed(1, 4, 2, (0, 0), batches=(8, 8))
    assert str(err.value).endswith("a resume keeps the run's train.micro_batch, so no count of processes up to 4 "
                                   "keeps the groups: start a new run with a larger train.micro_batch.")


# ------------------------------------------------------------------------------------------ a share of one image

_LONE = "alone in the group of 4 that 'critic' takes its minibatch standard deviation over (0 for one image)"
_ALIKE = "(StyleGAN2-ADA and EG3D refuse a --batch-gpu below --mbstd-group alike)."
_ONES = ("which 'critic' takes its minibatch standard deviation over in groups of 1 (a group divides the images and "
         "holds at most 4; 0 for one image)")


def test_chunks_grouped_one_image_at_a_time_are_refused_naming_the_micro_batch_that_groups_them():
    """16 in chunks of at most 6 are 6 + 5 + 5, and 5 images in groups of up to 4 are five groups of 1 (a group
    divides the pass); chunks of at most 4 or 5 (4 + 4 + 4 + 4) keep groups of 4, 6 does not, so no 'or more'."""
    with pytest.raises(ConfigError) as err:
        check_micro_batch_groups([_stage(16)], [10], MODULES, 6, World(), "global")
    assert str(err.value) == f"train.micro_batch=6 cuts the batch of 16 of stage 'main' into chunks of 5, {_ONES}; " \
                             f"give train.micro_batch=4 {_ALIKE}"


def test_the_chunk_named_is_the_one_grouped_one_image_at_a_time_not_the_smallest():
    """9 in chunks of at most 5 are 5 + 4: the 4 keep a group of 4, the 5 are grouped one image at a time; only the
    whole batch (groups of 3) keeps them."""
    with pytest.raises(ConfigError) as err:
        check_micro_batch_groups([_stage(9)], [10], MODULES, 5, World(), "global")
    assert str(err.value) == f"train.micro_batch=5 cuts the batch of 9 of stage 'main' into chunks of 5, {_ONES}; " \
                             f"give train.micro_batch=9 or more {_ALIKE}"


def test_every_module_a_stage_trains_is_asked_and_a_group_of_two_is_kept():
    """'low' groups 2 and 'critic' 4, trained by one optimiser: chunks of 2 keep 'low' and break 'critic', chunks of 1
    break 'low' first."""
    modules = {"generator": nn.Linear(2, 2), "low": _Critic(2), "critic": _Critic(4)}
    stage = dataclasses.replace(_stage(8), optimizers={"D": OptimizerSpec(["low", "critic"], 1e-3),
                                                       "G": OptimizerSpec(["generator"], 1e-3)})
    with pytest.raises(ConfigError, match=r"^train.micro_batch=2 cuts the batch of 8 of stage 'main' into chunks of "
                                          r"2, fewer than the 4 images that 'critic' groups .* give "
                                          r"train.micro_batch=4 or more "):
        check_micro_batch_groups([stage], [10], modules, 2, World(), "global")
    with pytest.raises(ConfigError, match=r"^train.micro_batch=1 cuts the batch of 8 of stage 'main' into chunks of "
                                          r"1, fewer than the 2 images that 'low' groups .* give "
                                          r"train.micro_batch=2 \("):  # chunks of 3 (3 + 3 + 2) group 'low' one by one
        check_micro_batch_groups([stage], [10], modules, 1, World(), "global")
    check_micro_batch_groups([stage], [10], modules, 4, World(), "global")


@pytest.mark.parametrize("batch, size, scope, micro, said", [
    (4, 4, "global", None, f"Stage 'main' gives each of its 4 processes 1 image, {_LONE}; train it with 1 or 2 "
                           f"processes, or give a stages.main.batch_size that is a multiple of 8 {_ALIKE}"),
    (3, 3, "global", 1, f"Stage 'main' gives each of its 3 processes 1 image, {_LONE}; give stages.main.batch_size=6 "
                        f"with train.micro_batch=2 or more {_ALIKE}"),  # one process would cut its 3 into chunks of 1
    (1, 2, "per_process", None, f"Stage 'main' gives each of its 2 processes 1 image, {_LONE}; give an even "
                                f"stages.main.batch_size {_ALIKE}"),
    (1, 1, "global", None, f"Stage 'main' trains on a batch of 1 image, {_LONE}; give an even stages.main.batch_size "
                           f"{_ALIKE}"),
    (10, 2, "global", None, f"Stage 'main' gives each of its 2 processes 5 images, {_ONES}; train it with 1 process, "
                            f"or give a stages.main.batch_size that is a multiple of 4 {_ALIKE}"),
    (20, 4, "global", None, f"Stage 'main' gives each of its 4 processes 5 images, {_ONES}; train it with 1 or 2 "
                            f"processes, or give a stages.main.batch_size that is a multiple of 8 {_ALIKE}"),  # not 5
    (7, 1, "global", None, f"Stage 'main' trains on a batch of 7 images, {_ONES}; give an even stages.main.batch_size "
                           f"{_ALIKE}"),
], ids=["four-processes", "split-anyway", "per-process", "one-process", "prime-shares", "prime-shares-fewer",
        "prime-batch"])
def test_a_share_of_one_image_under_a_group_is_refused_naming_what_gives_each_process_two(batch, size, scope, micro,
                                                                                          said):
    """EG3D's train.py refuses --batch-gpu 1 under --mbstd-group 4; a share of one grouped whole has std 0."""
    with pytest.raises(ConfigError) as err:
        check_micro_batch_groups([_stage(batch)], [10], MODULES, micro, World(size=size), scope)
    assert str(err.value) == said


@pytest.mark.parametrize("batch, size, scope, micro, advice", [
    (3, 3, "global", 1, "stages.main.batch_size=6 with train.micro_batch=2 or more"),  # chunks of 1 break any batch
    (1, 1, "global", 1, "stages.main.batch_size=2 with train.micro_batch=2 or more"),
    (1, 2, "per_process", 1, "stages.main.batch_size=2 with train.micro_batch=2 or more"),
    (7, 1, "global", 3, "stages.main.batch_size=8 with train.micro_batch=4 or more"),  # 8 in 3 + 3 + 2: groups of 4 cut
    (7, 1, "global", 6, "stages.main.batch_size=8"),  # 4 + 4
    (10, 2, "global", 3, "stages.main.batch_size=12 with train.micro_batch=6 or more"),  # 6 a process: 3 + 3 cut
    (10, 2, "global", 6, "stages.main.batch_size=12"),  # 6 a process, grouped whole
    (10, 2, "global", 4, "stages.main.batch_size=16"),  # 6 and 7 a process are 3 + 3 and 4 + 3; 8 is 4 + 4
], ids=["three-processes", "one-image", "per-process", "micro-too", "chunks-of-4", "two-processes-micro-too",
        "whole-shares", "next-batches-cut"])
def test_the_batch_a_share_of_one_image_is_told_to_take_passes_under_the_runs_micro_batch(batch, size, scope, micro,
                                                                                          advice):
    """Under train.micro_batch the batch named is the smallest above the stage's whose chunks keep the groups, and
    where no batch does, the one grouped whole with the micro-batch that keeps it. Before, 3 processes under
    train.micro_batch=1 were told a multiple of 6, whose shares of 2 the micro-batch then cut into chunks of 1."""
    world = World(size=size, local_size=size)
    with pytest.raises(ConfigError) as err:
        check_micro_batch_groups([_stage(batch)], [10], MODULES, micro, world, scope)
    said = str(err.value)
    assert f"; give {advice} (" in said or f", or give {advice} (" in said, said
    new_batch, _, new_micro = advice.removeprefix("stages.main.batch_size=").partition(" with train.micro_batch=")
    micro = int(new_micro.removesuffix(" or more")) if new_micro else micro
    check_micro_batch_groups([_stage(int(new_batch))], [10], MODULES, micro, world, scope)  # the advice passes


def test_shares_of_two_images_or_a_module_without_groups_pass():
    check_micro_batch_groups([_stage(4)], [10], MODULES, None, World(size=2), "global")  # 2 each, grouped whole
    plain = {"generator": nn.Linear(2, 2), "critic": nn.Conv2d(3, 4, 1)}
    check_micro_batch_groups([_stage(4)], [10], plain, None, World(size=4), "global")


def test_nproc_refuses_a_resume_that_leaves_each_process_one_image(toy, monkeypatch):  # noqa: F811
    """A one-process run of the toy's batch of 4 under groups of 4, resumed with four processes: 1 image each."""
    monkeypatch.setattr(get_model_spec("toy"), "factory", _GroupedToy)
    train_model("toy", steps=1, out=toy / "run", device="cpu", progress=False)
    written = toy / "run" / "checkpoints" / "step_000000001.safetensors"
    with pytest.raises(UserError) as err:
        check_launch(4, "toy", device="cpu", steps=2, out=str(toy / "run"), resume=True)
    assert str(err.value) == (
        f"'{written}' trains on with 4 processes, and stage 'main' gives each of its 4 processes 1 image, alone in the "
        f"group of 4 that 'disc' takes its minibatch standard deviation over (0 for one image); resume it with 1 or 2 "
        f"processes {_ALIKE}")
    check_launch(2, "toy", device="cpu", steps=2, out=str(toy / "run"), resume=True)
