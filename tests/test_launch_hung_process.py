"""A process that stops answering (hung, or stopped with SIGSTOP): its peers give up after ``$ZOO3D_DIST_TIMEOUT``
and each says that "the launcher's report names the process that failed first"; torchrun's agent then sends the
hung one SIGTERM, which it cannot act on, and kills it with SIGKILL. ``zoo3d train --nproc`` names that process
(docs/training.md, "Stopping"), where it used to end silently with status 2 behind the peers' sentences."""

from __future__ import annotations

import pytest
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

from zoo3d import launch
from zoo3d.errors import UserError


def _failure(rank: int, exitcode: int, at: int) -> ProcessFailure:
    failure = ProcessFailure(local_rank=rank, pid=5000 + rank, exitcode=exitcode, error_file="/absent")
    failure.timestamp = at
    return failure


def _failed(*failures: ProcessFailure) -> ChildFailedError:
    return ChildFailedError("zoo3d", {f.local_rank: f for f in failures})


@pytest.mark.parametrize("failures, nproc, named", [
    ((_failure(0, 2, at=10), _failure(1, -9, at=40)), 2, 1),  # rank 0 timed out waiting for rank 1
    ((_failure(1, 2, at=10), _failure(2, 2, at=11), _failure(0, -9, at=40)), 3, 0),
    ((_failure(0, 2, at=10), _failure(2, -9, at=41), _failure(3, -9, at=40), _failure(1, 2, at=12)), 4, 3),
])
def test_the_process_that_stopped_answering_is_named(failures, nproc, named):
    with pytest.raises(launch.LaunchFailed) as caught:
        launch._failed(_failed(*failures), nproc)
    assert str(caught.value) == (f"Training process rank {named} (local rank {named}, pid {5000 + named}) did not "
                                 f"end on the launcher's SIGTERM and was killed by SIGKILL.")
    assert isinstance(caught.value, UserError)


@pytest.mark.parametrize("failures", [
    (_failure(0, 2, at=10), _failure(1, -15, at=11)),  # a user error: the others end on SIGTERM
    (_failure(0, 2, at=10), _failure(1, 2, at=11)),
    (_failure(1, 2, at=10),),
])
def test_a_user_error_said_by_a_process_still_leaves_the_status_two(failures):
    assert launch._failed(_failed(*failures), 2) == 2
