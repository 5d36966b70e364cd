"""The multi-process pieces of ``zoo3d.train.distributed`` in one process: the environment torchrun sets, the
device of each rank, joining the group, batch shares and stream seeds, the collectives against a stand-in
peer (``torch.distributed``'s functions replaced by ones that combine this process's values with a second
rank's, given by the test), error sentences, and the DDP wrapper on a one-process gloo group.

The real two-process runs are in ``tests/test_train_distributed.py`` (process groups of two, tens of seconds).
"""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import timedelta

import pytest
import torch

from zoo3d.core.model import LossResult
from zoo3d.errors import UserError
from zoo3d.train import distributed as D
from zoo3d.train.distributed import (BufferSync, GradientSync, PeerLost, RankError, World, collective, env_world,
                                     init_world, is_communication_error, peer_lost, process_batch, process_device,
                                     shutdown_world, stop_on_lost_peers, stream_seed, timeout_seconds)

dist = torch.distributed
TWO = World(rank=0, size=2)
SECOND = World(rank=1, size=2, local_rank=1, local_size=2)


# ------------------------------------------------------------------------------------------ the world

def test_where_a_process_sits():
    assert World().is_main and not World().is_distributed
    assert TWO.is_main and TWO.is_distributed
    assert not SECOND.is_main and SECOND.is_distributed
    assert (World().rank, World().size, World().local_rank, World().local_size, World().backend, World().device) == \
        (0, 1, 0, 1, "", torch.device("cpu"))
    assert SECOND.describe() == f"rank 1 of 2 (local rank 1 on {socket.gethostname()}, pid {os.getpid()})"


def test_one_process_collectives_are_identities_and_call_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no collective in a one-process run")

    for name in ("barrier", "all_reduce", "all_gather_object", "gather_object", "broadcast_object_list"):
        monkeypatch.setattr(dist, name, refuse)
    one = World()
    flags = torch.tensor([True, False])
    one.barrier()
    assert one.all_true(flags) is flags
    assert one.agreed_signal(None) is None and one.agreed_signal(15) == 15
    values = {"a": 1.0}
    assert one.mean_over_ranks(values) is values
    assert one.gather_to_main(values) == [values]
    assert one.broadcast_from_main(values) is values


class Peer:
    """Stand-in collectives of a two-process group: the other rank contributes ``other``."""

    def __init__(self, monkeypatch, other=None, rank=0):
        self.other, self.rank, self.calls = other, rank, []
        for name in ("barrier", "all_reduce", "all_gather_object", "gather_object", "broadcast_object_list"):
            monkeypatch.setattr(dist, name, getattr(self, name))

    def barrier(self):
        self.calls.append(("barrier",))

    def all_reduce(self, t, op=dist.ReduceOp.SUM):
        self.calls.append(("all_reduce", op, t.dtype, t.device))
        other = torch.as_tensor(self.other, dtype=t.dtype)
        combined = {dist.ReduceOp.SUM: t + other, dist.ReduceOp.MIN: torch.minimum(t, other),
                    dist.ReduceOp.MAX: torch.maximum(t, other)}[op]
        t.copy_(combined)

    def all_gather_object(self, out, obj):
        self.calls.append(("all_gather_object",))
        out[self.rank], out[1 - self.rank] = obj, self.other

    def gather_object(self, obj, out, dst):
        self.calls.append(("gather_object", dst, out is None))
        if out is not None:
            out[self.rank], out[1 - self.rank] = obj, self.other

    def broadcast_object_list(self, box, src):
        self.calls.append(("broadcast_object_list", src))
        if self.rank != src:
            box[0] = self.other


def test_all_true_is_the_element_wise_and_over_the_processes(monkeypatch):
    peer = Peer(monkeypatch, other=[1.0, 0.0, 1.0, 0.0])
    out = TWO.all_true(torch.tensor([True, True, False, False]))
    assert out.dtype == torch.bool and out.tolist() == [True, False, False, False]
    assert peer.calls == [("all_reduce", dist.ReduceOp.MIN, torch.float32, torch.device("cpu"))]


@pytest.mark.parametrize("mine,other,agreed", [(None, 0, None), (2, 0, 2), (None, 15, 15), (2, 15, 15), (15, 2, 15)])
def test_the_agreed_signal_is_any_process_signal_sigterm_first(monkeypatch, mine, other, agreed):
    peer = Peer(monkeypatch, other=[other])
    assert TWO.agreed_signal(mine) == agreed
    assert peer.calls == [("all_reduce", dist.ReduceOp.MAX, torch.int64, torch.device("cpu"))]


def test_means_over_ranks_average_each_key_over_the_processes_that_logged_it(monkeypatch):
    Peer(monkeypatch, other={"b": 4.0, "c": 1.0, "a": 3.0})
    means = TWO.mean_over_ranks({"a": 1.0, "b": 2.0})
    assert means == {"a": 2.0, "b": 3.0, "c": 1.0} and list(means) == ["a", "b", "c"]  # rank 0's order first
    Peer(monkeypatch, other={"a": 1.0, "b": 2.0}, rank=1)
    means = SECOND.mean_over_ranks({"z": 6.0, "a": 3.0})
    assert means == {"a": 2.0, "b": 2.0, "z": 6.0} and list(means) == ["a", "b", "z"]


def test_gather_and_broadcast_go_through_rank_zero(monkeypatch):
    peer = Peer(monkeypatch, other="theirs")
    assert TWO.gather_to_main("mine") == ["mine", "theirs"]
    assert TWO.broadcast_from_main("mine") == "mine"
    TWO.barrier()
    assert peer.calls == [("gather_object", 0, False), ("broadcast_object_list", 0), ("barrier",)]
    peer = Peer(monkeypatch, other="rank zero's", rank=1)
    assert SECOND.gather_to_main("mine") is None
    assert SECOND.broadcast_from_main("mine") == "rank zero's"
    assert peer.calls == [("gather_object", 0, True), ("broadcast_object_list", 0)]


@pytest.mark.parametrize("call", ["barrier", "all_true", "agreed_signal", "mean_over_ranks", "gather_to_main",
                                  "broadcast_from_main"])
def test_a_failed_collective_becomes_one_sentence(monkeypatch, call):
    def dead(*args, **kwargs):
        raise RuntimeError("[../gloo/transport/tcp/pair.cc:534] Connection closed by peer [10.0.0.2]:1234. Advice")

    for name in ("barrier", "all_reduce", "all_gather_object", "gather_object", "broadcast_object_list"):
        monkeypatch.setattr(dist, name, dead)
    args = {"barrier": (), "all_true": (torch.tensor([True]),), "agreed_signal": (None,), "mean_over_ranks": ({},),
            "gather_to_main": (1,), "broadcast_from_main": (1,)}[call]
    what = {"barrier": "barrier", "all_true": "all_reduce", "agreed_signal": "all_reduce",
            "mean_over_ranks": "all_gather_object", "gather_to_main": "gather_object",
            "broadcast_from_main": "broadcast_object_list"}[call]
    with pytest.raises(PeerLost) as err:
        getattr(TWO, call)(*args)
    assert str(err.value) == (f"{TWO.describe()}: {what} failed because another process of the run exited or "
                              f"stopped answering (Connection closed by peer [10.0.0.2]:1234); stopping. The "
                              f"launcher's report names the process that failed first.")
    assert err.value.__suppress_context__ and isinstance(err.value, RankError) and isinstance(err.value, UserError)


def test_the_peer_lost_sentence_keeps_the_first_line_without_location_or_advice():
    def reason(exc):
        text = str(peer_lost(TWO, exc, "x"))
        return text[text.index("answering (") + len("answering ("):text.index("); stopping")]

    assert reason(RuntimeError("")) == "RuntimeError"
    assert reason(ValueError("  \n")) == "ValueError"
    assert reason(RuntimeError("first line\nsecond line")) == "first line"
    assert reason(RuntimeError("[a] [b] text. More")) == "[b] text"
    assert reason(RuntimeError("no location here")) == "no location here"
    assert reason(RuntimeError("ends.here. Then advice")) == "ends.here"
    assert reason(RuntimeError("x" * 400)) == "x" * 300
    assert str(peer_lost(TWO, RuntimeError("r"))).startswith(f"{TWO.describe()}: a collective failed because")


def test_collective_turns_runtime_errors_only():
    with pytest.raises(PeerLost):
        with collective(TWO, "w"):
            raise RuntimeError("anything")
    with pytest.raises(KeyError):
        with collective(TWO, "w"):
            raise KeyError("k")
    with collective(TWO, "w"):
        pass


@pytest.mark.parametrize("text", ["gloo: x", "Gloo x", "NCCL error", "nccl x", "Connection closed by peer",
                                  "Connection reset by peer", "Broken pipe", "ProcessGroup wrapper"])
def test_communication_errors_are_told_by_their_text(text):  # each text holds one marker only
    assert is_communication_error(RuntimeError(f"a {text} b"))
    assert not is_communication_error(ValueError(text))  # only runtime errors carry these


def test_dist_errors_are_communication_errors():
    assert is_communication_error(dist.DistError("anything"))
    assert not is_communication_error(RuntimeError("CUDA out of memory"))


def test_a_communication_failure_in_a_step_stops_with_the_sentence():
    with pytest.raises(PeerLost) as err:
        with stop_on_lost_peers(TWO):
            raise RuntimeError("NCCL communicator was aborted")
    assert str(err.value).startswith(f"{TWO.describe()}: a training step failed because another process")
    assert "(NCCL communicator was aborted)" in str(err.value)
    original = PeerLost("already said")
    with pytest.raises(PeerLost) as err:
        with stop_on_lost_peers(TWO):
            raise original
    assert err.value is original
    for world, exc in ((TWO, RuntimeError("shape mismatch")), (World(), RuntimeError("gloo")),
                       (TWO, KeyError("gloo"))):
        with pytest.raises(type(exc)) as err:
            with stop_on_lost_peers(world):
                raise exc
        assert err.value is exc
    with stop_on_lost_peers(TWO):
        pass


# ------------------------------------------------------------------------------------------ set-up

@pytest.fixture
def torchrun_env(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", D.TIMEOUT_ENV):
        monkeypatch.delenv(name, raising=False)

    def set_env(**values):
        if "WORLD_SIZE" in values:  # torchrun sets the rendezvous address with the world
            values = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": 29500, **values}
        for k, v in values.items():
            monkeypatch.setenv(k, str(v))

    return set_env


def test_env_world_reads_what_torchrun_sets(torchrun_env):
    assert env_world() == World()
    torchrun_env(RANK=" ", WORLD_SIZE="")
    assert env_world() == World()
    torchrun_env(RANK=3, WORLD_SIZE=4)
    assert env_world() == World(rank=3, size=4, local_rank=3, local_size=4)
    torchrun_env(LOCAL_RANK=1, LOCAL_WORLD_SIZE=2)
    assert env_world() == World(rank=3, size=4, local_rank=1, local_size=2)


def test_env_world_refuses_what_no_process_of_a_run_can_be(torchrun_env):
    torchrun_env(RANK=0, WORLD_SIZE=1, LOCAL_RANK=0)
    assert env_world() == World()
    for rank, size in ((5, 1), (2, 2), (-1, 2), (0, 0)):
        torchrun_env(RANK=rank, WORLD_SIZE=size)
        with pytest.raises(RankError) as err:
            env_world()
        assert str(err.value) == f"RANK={rank} and WORLD_SIZE={size} do not describe a process of a run."
    torchrun_env(RANK=1, WORLD_SIZE="two")
    with pytest.raises(RankError) as err:
        env_world()
    assert str(err.value) == "Environment variable WORLD_SIZE='two' must be an integer."


def test_one_process_without_torchrun_has_local_rank_zero(torchrun_env):
    torchrun_env(RANK=0)
    assert env_world().local_rank == 0
    torchrun_env(WORLD_SIZE=1, LOCAL_WORLD_SIZE=1)
    assert env_world() == World()


def test_the_collective_timeout_comes_from_the_environment(torchrun_env):
    assert timeout_seconds() == D.DEFAULT_TIMEOUT_S == 600
    torchrun_env(ZOO3D_DIST_TIMEOUT=30)
    assert timeout_seconds() == 30
    torchrun_env(ZOO3D_DIST_TIMEOUT=0)
    assert timeout_seconds() == 1
    torchrun_env(ZOO3D_DIST_TIMEOUT=-5)
    assert timeout_seconds() == 1


def test_each_local_rank_takes_its_own_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a torch.device is checked as its name is
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    cuda = torch.device("cuda")
    assert process_device(SECOND, cuda) == torch.device("cuda", 1)
    assert process_device(World(rank=3, size=4, local_rank=0, local_size=2), cuda) == torch.device("cuda", 0)
    assert process_device(World(rank=0, size=2, local_rank=0, local_size=1), torch.device("cuda", 1)) == \
        torch.device("cuda", 0)  # one process per node: an index is allowed (and the local rank decides)
    assert process_device(World(), torch.device("cuda", 1)) == torch.device("cuda", 1)  # one process: as asked
    assert process_device(SECOND, "cpu") == torch.device("cpu")
    assert process_device(World(), "cpu") == torch.device("cpu")
    with pytest.raises(RankError) as err:
        process_device(SECOND, torch.device("cuda", 1))
    assert str(err.value) == ("With 2 processes per node each one takes the GPU of its local rank; give --device "
                              "cuda, not cuda:1 (CUDA_VISIBLE_DEVICES chooses the GPUs).")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert process_device(World(rank=0, size=2, local_rank=0, local_size=2), cuda) == torch.device("cuda", 0)
    with pytest.raises(RankError) as err:
        process_device(SECOND, cuda)
    assert str(err.value) == (f"{SECOND.describe()} has no GPU: this node shows 1 GPU(s) to 2 processes; start at "
                              f"most 1 processes per node (--nproc-per-node / --nproc).")


@pytest.fixture
def fake_group(monkeypatch):
    """``torch.distributed``'s group functions recorded instead of run."""
    calls = []
    state = {"initialized": False, "available": True, "fail": None}

    def init_process_group(backend, timeout=None, device_id=None):
        calls.append(("init", backend, timeout, device_id))
        if state["fail"] is not None:
            raise state["fail"]
        state["initialized"] = True

    monkeypatch.setattr(dist, "is_available", lambda: state["available"])
    monkeypatch.setattr(dist, "is_initialized", lambda: state["initialized"])
    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    monkeypatch.setattr(dist, "get_backend", lambda: calls.append(("get_backend",)) or "fancy")
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append(("destroy",)))
    return calls, state


def test_init_world_joins_a_gloo_group_on_the_cpu_with_the_timeout(torchrun_env, fake_group):
    calls, state = fake_group
    assert init_world("cpu") == (World(), torch.device("cpu"))
    assert calls == []  # one process joins nothing
    torchrun_env(RANK=1, WORLD_SIZE=2, ZOO3D_DIST_TIMEOUT=7)
    world, device = init_world("cpu")
    assert world == World(rank=1, size=2, local_rank=1, local_size=2, backend="gloo", device=torch.device("cpu"))
    assert device == torch.device("cpu")
    assert calls == [("init", "gloo", timedelta(seconds=7), None)]
    world, _ = init_world(None if torch.cuda.is_available() else "cpu")  # already joined: the group's backend
    assert world.backend == "fancy" and calls[1:] == [("get_backend",)] and world.device == torch.device("cpu")
    shutdown_world(world)
    assert calls[-1] == ("destroy",)
    state["initialized"] = False
    shutdown_world(world)
    shutdown_world(World())
    assert calls.count(("destroy",)) == 1


def test_init_world_says_which_process_could_not_join(torchrun_env, fake_group):
    calls, state = fake_group
    torchrun_env(RANK=1, WORLD_SIZE=2)
    state["fail"] = ValueError("Error initializing torch.distributed using env:// rendezvous. More text")
    with pytest.raises(PeerLost) as err:
        init_world("cpu")
    assert str(err.value).startswith(f"{env_world().describe()}: joining the process group failed because")
    assert "(Error initializing torch.distributed using env:// rendezvous)" in str(err.value)
    assert calls == [("init", "gloo", timedelta(seconds=600), None)]
    state["fail"] = RuntimeError("connect() timed out")
    with pytest.raises(PeerLost):
        init_world("cpu")
    state["fail"], state["available"] = None, False
    with pytest.raises(RankError) as err:
        init_world("cpu")
    assert str(err.value) == "This PyTorch build has no torch.distributed; multi-process training needs it."


# ------------------------------------------------------------------------------------------ batches and seeds

def test_batch_shares_per_scope():
    four = World(rank=2, size=4)
    assert process_batch(8, four, "global", "x") == (2, 8)
    assert all(type(n) is int for n in process_batch(8, four, "global", "x"))
    assert process_batch(8, four, "per_process", "x") == (8, 32)
    assert process_batch(6, four, "per_process", "x") == (6, 24)
    assert process_batch(5, World(), "global", "x") == (5, 5)
    with pytest.raises(UserError) as err:
        process_batch(6, four, "global", "Stage 'main'")
    assert str(err.value) == ("Stage 'main' has a global batch of 6, which 4 processes cannot share evenly; use a "
                              "batch size divisible by 4 or a process count that divides 6 (or "
                              "train.batch_scope=per_process).")


def _reference_seed(*key: int) -> int:
    """The documented stream seed: the first 8 bytes of sha256(repr of the int tuple), little-endian, >> 1."""
    return int.from_bytes(hashlib.sha256(repr(tuple(key)).encode()).digest()[:8], "little") >> 1


def test_stream_seeds_are_the_seed_for_rank_zero_and_a_63_bit_hash_otherwise():
    assert stream_seed(7, 0) == 7 and stream_seed(0, 0) == 0
    seeds = {stream_seed(7, 1), stream_seed(7, 2), stream_seed(8, 1), stream_seed(7, 0, 3), stream_seed(7, 1, 3),
             stream_seed(7, 1, 3, 1)}
    assert len(seeds) == 6 and all(0 <= s < 2**63 for s in seeds)
    assert stream_seed(7, 1) == _reference_seed(7, 1)
    assert stream_seed(7, 0, 3) == _reference_seed(7, 0, 3)
    assert stream_seed(7, 1, 3, 1) == _reference_seed(7, 1, 3, 1)
    assert stream_seed(7.0, True, 3.0) == _reference_seed(7, 1, 3)  # numbers are read as ints
    assert max(stream_seed(s, 1) for s in range(64)) >= 2**62  # all 63 bits are used


# ------------------------------------------------------------------------------------------ gradients and buffers

def test_one_process_runs_the_loss_directly():
    sync = GradientSync(World())
    p = torch.nn.Parameter(torch.ones(2))
    sync.prepare({"G": [p]})
    assert sync._wrappers == {}
    result = LossResult(p.sum(), {"x": 1.0})
    assert sync.loss("G", lambda ctx: result if ctx == "ctx" else None, "ctx") is result


@pytest.fixture
def one_process_group():
    """A real gloo group of one process (DDP needs a group; averaging over one process is the identity)."""
    assert not dist.is_initialized()
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_each_optimizer_gets_a_ddp_wrapper_whose_forward_is_the_loss(one_process_group):
    torch.manual_seed(0)
    g, d = torch.nn.Linear(3, 2), torch.nn.Linear(2, 1)
    sync = GradientSync(TWO)
    sync.prepare({"G": list(g.parameters()), "D": list(d.parameters())})
    wrappers = dict(sync._wrappers)
    assert set(wrappers) == {"G", "D"}
    assert all(isinstance(w, torch.nn.parallel.DistributedDataParallel) for w in wrappers.values())
    assert list(wrappers["G"].module.parameters()) == list(g.parameters())
    assert wrappers["G"].find_unused_parameters
    x = torch.randn(4, 3)

    inside = []

    def loss_fn(ctx):
        inside.append(wrappers["G"].module.run_loss is not None)  # called by the wrapper's forward
        out = d(g(x) * ctx)
        return LossResult(out.square().mean(), {"mean": out.mean().detach()})

    result = sync.loss("G", loss_fn, 2.0)
    assert inside == [True]
    assert wrappers["G"].module.run_loss is None  # the closure does not outlive the call
    expected = loss_fn(2.0)
    torch.testing.assert_close(result.loss, expected.loss, rtol=0, atol=0)
    torch.testing.assert_close(result.logs["mean"], expected.logs["mean"], rtol=0, atol=0)
    result.loss.backward()
    got = [p.grad.clone() for p in g.parameters()]
    for p in [*g.parameters(), *d.parameters()]:
        p.grad = None
    expected.loss.backward()
    for a, p in zip(got, g.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=0, atol=0)  # the mean over one process: the same gradient
    sync.prepare({"G": list(g.parameters()), "D": list(d.parameters())})  # the same parameters: kept
    assert sync._wrappers["G"] is wrappers["G"] and sync._wrappers["D"] is wrappers["D"]
    sync.prepare({"G": list(d.parameters()), "D": list(g.parameters())})  # as many parameters, other ones
    assert sync._wrappers["G"] is not wrappers["G"]
    assert list(sync._wrappers["G"].module.parameters()) == list(d.parameters())
    sync.prepare({"G": list(g.parameters())[:1]})
    assert set(sync._wrappers) == {"G"} and sync._wrappers["G"] is not wrappers["G"]
    assert list(sync._wrappers["G"].module.parameters()) == [g.weight]

    def failing(ctx):
        raise KeyError("in the loss")

    with pytest.raises(KeyError):
        sync.loss("G", failing, None)
    assert sync._wrappers["G"].module.run_loss is None
    assert sync.loss("other", lambda ctx: "direct", None) == "direct"  # an optimiser without a wrapper


def test_buffers_move_by_the_mean_of_the_processes_updates(monkeypatch):
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("avg", torch.tensor([1.0, 2.0]))
            self.register_buffer("avg64", torch.tensor([[0.5]], dtype=torch.float64))
            self.register_buffer("count", torch.tensor([3]))
            self.register_buffer("fixed", torch.tensor([7.0]))

    m = M()
    sync = BufferSync(TWO, {"m": m})
    assert [b is x for b, x in zip(sync.buffers, (m.avg, m.avg64, m.fixed))] == [True] * 3  # floating point only
    peer = Peer(monkeypatch, other=[1.0, -4.0, 0.25, 0.0])  # the other process's changes, flattened
    sync.begin()
    m.avg += torch.tensor([3.0, 0.0])
    m.avg64 += 0.75
    m.count += 5
    sync.end()
    torch.testing.assert_close(m.avg, torch.tensor([1.0 + (3.0 + 1.0) / 2, 2.0 + (0.0 - 4.0) / 2]), rtol=0, atol=0)
    assert m.avg64.dtype == torch.float64 and m.avg64.item() == 0.5 + (0.75 + 0.25) / 2
    assert m.fixed.item() == 7.0 and m.count.item() == 8
    assert peer.calls == [("all_reduce", dist.ReduceOp.SUM, torch.float32, torch.device("cpu"))]
    sync.end()  # without a begin: nothing to average
    assert len(peer.calls) == 1
    assert BufferSync(World(), {"m": m}).buffers == []


def test_buffers_without_a_change_stay_bit_identical(monkeypatch):
    m = torch.nn.Module()
    m.register_buffer("w", torch.tensor([0.1, 1e-8, 123.456]))
    before = m.w.clone()
    sync = BufferSync(TWO, {"m": m})
    Peer(monkeypatch, other=[0.0, 0.0, 0.0])
    sync.begin()
    sync.end()
    assert torch.equal(m.w, before)


def test_a_failure_while_wrapping_or_averaging_buffers_names_the_step(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Connection reset by peer")

    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", broken)
    with pytest.raises(PeerLost) as err:
        GradientSync(TWO).prepare({"G": [torch.nn.Parameter(torch.ones(1))]})
    assert str(err.value).startswith(f"{TWO.describe()}: wrapping the optimisers' parameters in "
                                     f"DistributedDataParallel failed because another process")
    m = torch.nn.Module()
    m.register_buffer("w", torch.ones(1))
    sync = BufferSync(TWO, {"m": m})
    monkeypatch.setattr(dist, "all_reduce", broken)
    sync.begin()
    with pytest.raises(PeerLost) as err:
        sync.end()
    assert str(err.value).startswith(f"{TWO.describe()}: all_reduce failed because another process")


def test_a_half_precision_buffer_takes_the_mean_update_rounded_once(monkeypatch):
    """The mean change, 2^-11 + 2^-23, is rounded to the buffer's float16 first (to 2^-11), then added:
    1 + 2^-11 is a tie that float16 rounds to even, 1.0."""
    m = torch.nn.Module()
    m.register_buffer("w", torch.ones(1, dtype=torch.float16))
    sync = BufferSync(TWO, {"m": m})
    Peer(monkeypatch, other=[2 * (2.0 ** -11 + 2.0 ** -23)])
    sync.begin()
    sync.end()
    assert m.w.dtype == torch.float16 and m.w.item() == 1.0


def test_each_local_rank_joins_nccl_on_its_own_gpu(torchrun_env, fake_group, monkeypatch):
    calls, _ = fake_group
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", device)))
    torchrun_env(RANK=1, WORLD_SIZE=2)
    world, device = init_world(torch.device("cuda"))
    gpu = torch.device("cuda", 1)
    assert device == gpu and world.backend == "nccl" and world.device == gpu  # NCCL's collectives use the GPU
    assert calls == [("set_device", gpu), ("init", "nccl", timedelta(seconds=600), gpu)]


def test_init_world_resolves_the_requested_device(torchrun_env, fake_group):
    assert init_world("meta") == (World(), torch.device("meta"))
    torchrun_env(RANK=0, WORLD_SIZE=2)
    world, device = init_world("meta")
    assert device == torch.device("meta") and world.device == torch.device("cpu") and world.backend == "gloo"


def test_ddp_takes_a_one_output_weight_s_gradient_in_its_own_strides_without_a_warning(one_process_group):
    """R1 through a conv of one output (GRAM-HD's PatchGAN) gives its weight a gradient laid out (16, 16, 4, 1) for a
    weight of (2048, 16, 4, 1): the same memory order, but DDP compared the strides and warned once a process."""
    import warnings

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(128, 1, 4)
    x = torch.randn(2, 128, 8, 8)

    def r1(ctx):
        reals = x.clone().requires_grad_(True)
        grad, = torch.autograd.grad(conv(reals).sum(), reals, create_graph=True)
        return LossResult(grad.square().sum())

    r1(None).loss.backward()
    expected, conv.weight.grad, conv.bias.grad = conv.weight.grad, None, None
    assert expected.stride() == (16, 16, 4, 1) != conv.weight.stride()  # what the kernels give
    sync = GradientSync(TWO)
    sync.prepare({"D": list(conv.parameters())})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sync.loss("D", r1, None).loss.backward()
    assert [str(w.message) for w in caught if "strides" in str(w.message)] == []
    assert conv.weight.grad.stride() == conv.weight.stride()
    torch.testing.assert_close(conv.weight.grad, expected, rtol=0, atol=0)
    sync.prepare({"D": [conv.bias]})  # another stage's wrapper: the weight's hook goes with the old one
    conv.weight.grad = None
    r1(None).loss.backward()
    assert conv.weight.grad.stride() == (16, 16, 4, 1)


def test_a_gradient_is_viewed_in_its_parameter_s_strides_only_where_they_differ_on_dimensions_of_size_1():
    weight = torch.empty(2, 3, 1, 1)  # strides (3, 1, 1, 1)
    grad = torch.arange(6.0).reshape(2, 3, 1, 1).as_strided((2, 3, 1, 1), (3, 1, 6, 1))  # differs on a size-1 dim
    viewed = D._in_parameter_strides(grad, weight.stride())
    assert viewed.stride() == weight.stride() and viewed.data_ptr() == grad.data_ptr()  # a view, not a copy
    assert viewed.tolist() == grad.tolist()
    channels_last = torch.arange(6.0).reshape(1, 3, 1, 2).permute(0, 1, 3, 2).contiguous()
    channels_last = channels_last.to(memory_format=torch.channels_last)  # strides differ on the 3 channels
    assert D._in_parameter_strides(channels_last, torch.empty(1, 3, 2, 1).stride()) is channels_last
