"""The data benchmark renders what it says it renders, in this process and in worker processes."""

from __future__ import annotations

from zoo3d.benchmarks.data import _measure_workers, run


def test_quick_suite_counts_images_and_adds_worker_and_stream_records():
    records = run("cpu", quick=True)
    single, parallel, stream = records[0], records[-2], records[-1]
    assert single["resolution"] == 64 and single["images"] == 16 and single["images_per_s"] > 0
    assert single["images_per_cpu_s"] is not None and single["render_threads"] == 1
    assert parallel["workers"] >= 1 and parallel["images"] == 16 * parallel["workers"]
    # a cold training stream renders the heads it gives and the rest of the 8 batches it named ahead (32
    # heads, in one call), no others: 20 shuffled items of 10000, then 12 more
    assert stream["images"] == 20 and stream["heads_rendered_ahead"] == 12 and stream["heads_rendered_unnamed"] == 0
    assert stream["heads_rendered_per_image"] == 32 / 20


def test_worker_throughput_counts_every_batch():
    rec = _measure_workers(16, 3, 2, 2)
    assert rec["images"] == 3 * 2 * 2 and rec["workers"] == 2 and rec["images_per_s"] > 0
