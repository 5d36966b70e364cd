"""``zoo3d bench data``'s records (docs/testing.md: synthetic-heads rendering throughput per resolution, in one process
and in one worker per core, and a training stream's first batches) with a stand-in renderer and clock:
``images_per_s`` = images / wall seconds and ``images_per_cpu_s`` = images / process CPU seconds, computed here by hand,
the warm-up untimed, the sizes each device measures, the worker jobs' seeds and counts."""

from __future__ import annotations

import dataclasses
import types

import pytest
import torch

from zoo3d.benchmarks import data as bench
from zoo3d.cameras import CameraPrior
from zoo3d.data.head_model import sample_head_params


def _same_heads(a, b):
    return all(torch.equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))


@pytest.fixture
def clocks(monkeypatch):
    clock = types.SimpleNamespace(wall=0.0, cpu=0.0)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clock.wall,
                                                              process_time=lambda: clock.cpu))
    return clock


@pytest.fixture
def renders(monkeypatch, clocks):
    """render_heads stand-in: each call costs 100 s (wall and CPU) when it renders 2 heads (the warm-up), otherwise
    3 s wall and 1.5 s CPU per call."""
    import zoo3d.data.synthetic as synthetic

    calls = []

    def render_heads(params, cams, resolution):
        calls.append((params, cams, resolution))
        cost = (100.0, 100.0) if len(cams) == 2 else (3.0, 1.5)
        clocks.wall += cost[0]
        clocks.cpu += cost[1]
        return {"rgb": torch.zeros(len(cams), 3, 2, 2)}

    monkeypatch.setattr(synthetic, "render_heads", render_heads)
    return calls


def test_a_throughput_record_counts_its_timed_renders(renders):
    rec = bench._measure(32, 8, 4, torch.device("cpu"))
    assert rec == {"dataset": "synthetic:heads", "resolution": 32, "device": "cpu", "batch": 8, "images": 32,
                   "images_per_s": 32 / 12.0, "images_per_cpu_s": 32 / 6.0, "render_threads": 1}
    assert [(len(c), r) for _, c, r in renders] == [(2, 32)] + [(8, 32)] * 4
    heads, cams = renders[1][0], renders[1][1]
    assert _same_heads(heads, sample_head_params(8, seed=1))  # the heads of seed 1
    expected = CameraPrior().sample(8, generator=torch.Generator().manual_seed(2))  # the prior's cameras, seed 2
    torch.testing.assert_close(cams.to_angles()["yaw"], expected.to_angles()["yaw"])
    assert _same_heads(renders[0][0], sample_head_params(8, seed=1)[:2])  # the warm-up: the first two


def test_no_cpu_throughput_when_no_cpu_time_was_counted(renders, clocks, monkeypatch):
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clocks.wall,
                                                              process_time=lambda: 0.0))
    assert bench._measure(16, 4, 1, torch.device("cpu"))["images_per_cpu_s"] is None


def test_a_worker_job_renders_its_seeds_heads_and_returns_their_count(renders):
    assert bench._render_job((48, 5, 207)) == 5
    (params, cams, res), = renders
    assert res == 48 and _same_heads(params, sample_head_params(5, seed=207))
    expected = CameraPrior().sample(5, generator=torch.Generator().manual_seed(207))
    torch.testing.assert_close(cams.to_angles()["pitch"], expected.to_angles()["pitch"])


def test_the_workers_record_counts_every_batch_after_one_warm_up_batch_each(monkeypatch, clocks):
    """``workers`` spawned processes; each renders a warm-up batch of 4 (seeds 100..), then workers x repeats batches
    (seeds 200..) are timed."""
    import multiprocessing

    jobs, pools = [], []

    class Pool:
        def __init__(self, workers, method):
            pools.append((workers, method))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, items, chunksize=None):
            return list(map(fn, list(items)))

    def job(item):
        jobs.append(item)
        clocks.wall += 1000.0 if item[1] == 4 and item[2] < 200 else 0.5
        return item[1]

    monkeypatch.setattr(multiprocessing, "get_context",
                        lambda method: types.SimpleNamespace(Pool=lambda workers: Pool(workers, method)))
    monkeypatch.setattr(bench, "_render_job", job)
    rec = bench._measure_workers(64, 6, 2, 3)
    assert pools == [(3, "spawn")]
    assert jobs == [(64, 4, 100), (64, 4, 101), (64, 4, 102)] + [(64, 6, 200 + i) for i in range(6)]
    assert rec == {"dataset": "synthetic:heads", "resolution": 64, "device": "cpu", "batch": 6, "images": 36,
                   "images_per_s": 36 / 3.0, "images_per_cpu_s": None, "render_threads": 1, "workers": 3}


def test_the_suites_sizes_per_device_and_its_worker_and_stream_records(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "_measure", lambda r, b, n, d: calls.append(("one", r, b, n, d.type)) or {"r": r})
    monkeypatch.setattr(bench, "_measure_workers", lambda r, b, n, w: calls.append(("workers", r, b, n, w)) or "w")
    monkeypatch.setattr(bench, "_measure_stream", lambda r, n, d: calls.append(("stream", r, n, d.type)) or "s")
    monkeypatch.setattr(bench, "usable_cores", lambda: 7)
    assert bench.run("cpu", quick=True) == [{"r": 64}, "w", "s"]
    assert calls == [("one", 64, 16, 1, "cpu"), ("workers", 64, 16, 1, 7), ("stream", 64, 5, "cpu")]
    calls.clear()
    assert len(bench.run("cpu", quick=False)) == 5
    assert calls == [("one", 64, 64, 3, "cpu"), ("one", 128, 32, 2, "cpu"), ("one", 256, 8, 2, "cpu"),
                     ("workers", 64, 64, 3, 7), ("stream", 64, 60, "cpu")]
    calls.clear()
    bench.run("cuda", quick=False)  # no worker record on a GPU; larger batches and sizes up to 1024²
    assert calls == [("one", 64, 256, 5, "cuda"), ("one", 128, 128, 5, "cuda"), ("one", 256, 64, 5, "cuda"),
                     ("one", 512, 16, 3, "cuda"), ("one", 1024, 4, 3, "cuda"), ("stream", 64, 60, "cuda")]
    calls.clear()
    bench.run("cuda", quick=True)
    assert calls == [("one", 64, 16, 1, "cuda"), ("stream", 64, 5, "cuda")]


def test_a_stream_is_timed_over_its_first_batches_of_four(monkeypatch, clocks):
    """time_stream reads ``batches`` batches of 4 from a BatchStream (seed 0) and times only them."""
    import zoo3d.train.data as train_data

    made = []

    class Stream:
        def __init__(self, dataset, batch, seed):
            made.append((dataset, batch, seed))
            clocks.wall += 50.0  # building the stream is not timed

        def next(self, device):
            clocks.wall += 0.25
            return types.SimpleNamespace(images=torch.full((4, 1), float(len(made))))

    monkeypatch.setattr(train_data, "BatchStream", Stream)
    seconds, images = bench.time_stream("the dataset", 6)
    assert made == [("the dataset", 4, 0)] and len(images) == 6
    assert seconds == pytest.approx(1.5)


def test_the_stream_record_counts_the_heads_rendered_named_ahead_and_never_asked_for(monkeypatch, clocks):
    """A stand-in dataset and stream: 3 batches of 4 (12 images) in 6 s; the stream names 20 items, which the dataset
    renders, and 5 more items are rendered that it never named: 25 rendered, 8 named ahead of the 12 given,
    5 unnamed."""
    import zoo3d.data.synthetic as synthetic

    made = []

    class Heads:
        def __init__(self, resolution, mirror, device):
            made.append((resolution, mirror, device))
            self._items = {}

        def prefetch(self, indices):
            self._items.update({i: None for i in indices})

    def time_stream(dataset, batches):
        dataset.prefetch(range(20))
        dataset._items.update({100 + i: None for i in range(5)})
        return 6.0, [None] * batches

    monkeypatch.setattr(synthetic, "SyntheticHeads", Heads)
    monkeypatch.setattr(bench, "time_stream", time_stream)
    rec = bench._measure_stream(32, 3, torch.device("cpu"))
    assert made == [(32, True, torch.device("cpu"))]
    assert rec == {"dataset": "synthetic:heads", "resolution": 32, "device": "cpu", "batch": 4, "images": 12,
                   "images_per_s": 2.0, "images_per_cpu_s": None, "render_threads": 1, "stream_batches": 3,
                   "heads_rendered_per_image": 25 / 12, "heads_rendered_ahead": 8, "heads_rendered_unnamed": 5}
    assert bench._measure_stream(32, 3, torch.device("meta"))["render_threads"] is None  # off the CPU


def test_off_the_cpu_no_cpu_throughput_and_no_thread_count(renders, monkeypatch):
    """On another device (here torch's ``meta``, which stands in for a GPU) process CPU time says nothing of the
    renders: no ``images_per_cpu_s``, no ``render_threads``."""
    monkeypatch.setattr(bench, "synchronize", lambda device: None)
    rec = bench._measure(16, 2, 1, torch.device("meta"))
    assert rec["device"] == "meta" and rec["images_per_cpu_s"] is None and rec["render_threads"] is None


def test_under_a_cpu_second_of_work_still_gives_a_cpu_throughput(monkeypatch, clocks):
    """4 images in 0.5 CPU seconds: 8 per CPU second (only zero CPU time has none)."""
    import zoo3d.data.synthetic as synthetic

    def render_heads(params, cams, resolution):
        clocks.wall += 1.0
        clocks.cpu += 0.5 if len(cams) == 4 else 100.0

    monkeypatch.setattr(synthetic, "render_heads", render_heads)
    assert bench._measure(16, 4, 1, torch.device("cpu"))["images_per_cpu_s"] == 8.0
