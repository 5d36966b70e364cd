"""A peer that stops answering in the middle of a step (a hung or SIGSTOPped process): gloo times DDP's
all-reduce out inside ``backward`` after ``$ZOO3D_DIST_TIMEOUT`` seconds, and the waiting process stops with
the one sentence docs/training.md promises ("gives up ... instead of hanging, with one sentence saying so"),
not a traceback. Which of gloo's two timeout messages a step meets depends on where the peer stopped; neither
names gloo. No process group is started here: the errors are RuntimeErrors carrying gloo's two messages, written
out below, raised inside ``stop_on_lost_peers`` as DDP's backward raises them."""

from __future__ import annotations

import pytest

from zoo3d.train.distributed import PeerLost, World, is_communication_error, stop_on_lost_peers

TWO = World(rank=0, size=2, local_size=2, backend="gloo")

#: What gloo raises (as plain RuntimeErrors) when a peer does not answer within the group's timeout: the wait
#: for its data, and any operation on a connection that an earlier timeout closed.
GLOO_TIMEOUTS = ["Timed out waiting 2000ms for recv operation to complete",
                 "Application timeout caused pair closure"]


@pytest.mark.parametrize("text", GLOO_TIMEOUTS)
def test_gloos_timeouts_are_communication_errors(text):
    assert is_communication_error(RuntimeError(text))


@pytest.mark.parametrize("text", GLOO_TIMEOUTS)
def test_a_timeout_inside_a_step_stops_with_the_sentence(text):
    with pytest.raises(PeerLost) as err:
        with stop_on_lost_peers(TWO):
            raise RuntimeError(text)
    said = str(err.value)
    assert said.startswith(f"{TWO.describe()}: a training step failed because another process of the run exited "
                           f"or stopped answering ({text}); stopping.")


def test_a_timeout_in_a_one_process_run_is_left_as_it_is():
    exc = RuntimeError(GLOO_TIMEOUTS[1])
    with pytest.raises(RuntimeError) as err:
        with stop_on_lost_peers(World()):
            raise exc
    assert err.value is exc
