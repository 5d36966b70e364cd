"""The render benchmark's bookkeeping: network time is a part of the total, records carry the agreed keys."""

from __future__ import annotations

from zoo3d.benchmarks.render import measure


def test_measure_splits_total_into_network_and_overhead():
    rec = measure("manifold", 4, "cpu", 1)
    assert {"renderer", "resolution", "device", "total_s", "network_s", "overhead_fraction", "peak_mem_mb"} <= set(rec)
    assert 0 < rec["network_s"] < rec["total_s"]
    assert abs(rec["overhead_fraction"] - (1 - rec["network_s"] / rec["total_s"])) < 1e-12
    vol = measure("volume", 4, "cpu", 1)
    assert vol["renderer"] == "volume" and 0 < vol["network_s"] < vol["total_s"]
