"""What each process of a multi-process run reports, and which stages a resume with more processes must split.

In one process: the ``zoo3d train`` command as rank 1 of 2 (``env_world`` replaced), the set-up errors every
process raises alike, and the launcher's pre-flight on a StyleSDF run whose small-batch first stage is done.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.errors import ConfigError, UserError
from zoo3d.train.distributed import RankError, World, same_on_every_rank


def _as_rank_one(monkeypatch, error: Exception):
    import zoo3d.launch
    import zoo3d.train.distributed as distributed

    monkeypatch.setattr(distributed, "env_world", lambda: World(rank=1, size=2, local_rank=1, local_size=2))

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(zoo3d.launch, "train_model", fail)


def test_a_process_reports_its_own_error_and_leaves_shared_ones_to_rank_zero(monkeypatch, capsys):
    _as_rank_one(monkeypatch, UserError("Stopped: 16 images in a row could not be decoded."))
    code, _, err = zoo3d(capsys, "train", "gram")
    assert code == 2 and "rank 1 of 2" in err and "16 images in a row could not be decoded" in err, err
    shared = UserError("Unknown config key 'x'.")
    shared.every_rank = True
    _as_rank_one(monkeypatch, shared)
    code, _, err = zoo3d(capsys, "train", "gram")
    assert code == 2 and err == ""  # rank 0 says it once


def test_set_up_errors_are_marked_as_every_processs_and_rank_errors_are_not():
    with pytest.raises(ConfigError) as caught, same_on_every_rank():
        raise ConfigError("bad key")
    assert caught.value.every_rank
    with pytest.raises(RankError) as caught, same_on_every_rank():
        raise RankError("rank 1 of 2 has no GPU")
    assert not getattr(caught.value, "every_rank", False)


def test_train_model_marks_a_config_mistake_as_every_processs(tmp_path):
    from zoo3d.launch import train_model

    with pytest.raises(UserError) as caught:
        train_model("gram", overrides=["train.sed=1"], out=str(tmp_path / "run"))
    assert caught.value.every_rank and not (tmp_path / "run").exists()


def test_the_stages_ahead_skip_what_the_checkpoint_finished():
    from zoo3d.train.engine import Trainer
    from zoo3d.train.schedule import stages_ahead

    stages = [SimpleNamespace(name=n, batch_size=b) for n, b in (("sphere_init", 2), ("volume", 4), ("decoder", 4))]
    assert [s.name for s, _ in stages_ahead(stages, [1, 3, 0])] == ["sphere_init", "volume"]
    assert [s.name for s, _ in stages_ahead(stages, [1, 3, 2], 0, 1)] == ["volume", "decoder"]  # stage 0 done
    assert [s.name for s, _ in stages_ahead(stages, [1, 3, 2], 1, 3)] == ["volume", "decoder"]
    assert [s.name for s, _ in stages_ahead(stages, [1, 3, 2], 0, 4)] == ["decoder"]  # past stage 1's end (step 4)
    assert stages_ahead(stages, [1, 3, 2], 2, 6) == []
    trainer = SimpleNamespace(stages=stages, lengths=[1, 3, 2], stage_index=0, step=1, world=World(size=4),
                              config=SimpleNamespace(train=SimpleNamespace(batch_scope="global")))
    Trainer.check_batches(trainer)  # 4 processes share the batches still ahead
    trainer.step = 0
    with pytest.raises(UserError, match="Stage 'sphere_init' has a global batch of 2, which 4 processes"):
        Trainer.check_batches(trainer)


def test_the_lengths_ahead_of_a_run_not_resumed_are_its_lengths():
    from zoo3d.train.schedule import lengths_ahead

    assert lengths_ahead([1, 3, 0, 2]) == [1, 3, 0, 2]  # from step 0 of stage 0 every stage is still to train
    assert lengths_ahead([1, 3, 2], 1) == [0, 3, 2]
    assert lengths_ahead([1, 3, 2], step=1) == [0, 3, 2]  # stage 0 ends at step 1
    assert lengths_ahead([1, 3, 2], 1, 4) == [0, 0, 2]


def test_more_processes_may_resume_a_run_whose_small_batch_stage_is_done(tmp_path, capsys):
    from zoo3d.launch import check_launch

    run = tmp_path / "sd"
    code, _, err = zoo3d(capsys, "train", "stylesdf", "--device", "cpu", "--steps", "1", "--out", str(run),
                         "--quiet", "--set", "stages.sphere_init.steps=1", "--set", "stages.decoder.batch_size=8")
    assert code == 0, err  # a decoder batch of 8: 2 images a process, where 4 left one alone in its stddev group
    check_launch(4, "stylesdf", device="cpu", steps=3, out=str(run), resume=True)  # sphere_init (batch 2) is done
    with pytest.raises(UserError, match="Stage 'sphere_init' has a global batch of 2, which 4 processes"):
        check_launch(4, "stylesdf", device="cpu", steps=3, out=str(tmp_path / "fresh"))
