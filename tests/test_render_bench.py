"""The render benchmark's bookkeeping: the network timer counts the networks' time, records carry the agreed keys."""

from __future__ import annotations

import time

import pytest

from zoo3d.benchmarks import render as bench
from zoo3d.benchmarks.render import measure


@pytest.mark.parametrize("renderer", ["manifold", "volume"])
def test_network_time_counts_a_known_delay_in_the_network_and_nothing_outside_it(renderer, monkeypatch):
    """Every radiance-network call is slowed by a fixed sleep: network_s must include all of it, and the
    overhead (total - network) must not (it stays far below the added delay)."""
    delay, calls = 0.02, []
    original = bench.RadianceMLP.forward

    def slow(self, *args):
        calls.append(1)
        time.sleep(delay)
        return original(self, *args)

    monkeypatch.setattr(bench.RadianceMLP, "forward", slow)
    rec = measure(renderer, 4, "cpu", 1)
    added = delay * len(calls) / 2  # the warm-up run at the same resolution makes as many calls
    assert len(calls) >= 2 and len(calls) % 2 == 0
    assert {"renderer", "resolution", "device", "total_s", "network_s", "overhead_fraction", "peak_mem_mb"} <= set(rec)
    assert rec["renderer"] == renderer and rec["resolution"] == 4 and rec["device"] == "cpu"
    assert rec["network_s"] >= added
    assert rec["total_s"] - rec["network_s"] < 0.5 * added + 0.2  # the delay is not counted as overhead
    assert rec["overhead_fraction"] == pytest.approx(1 - rec["network_s"] / rec["total_s"], abs=1e-12)
