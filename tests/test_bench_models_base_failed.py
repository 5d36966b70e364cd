"""``zoo3d bench models``' ratio rows say what stopped a model's base: a base record that failed with an error
(status ``error``, its exit and message in its own record) is not reported as out of memory."""

from __future__ import annotations

import pytest

from zoo3d.benchmarks import models as bench


def _record(model: str, status: str) -> dict:
    ok = status == "ok"
    return {"model": model, "resolution": 256, "device": "cpu", "mode": "graph", "time_s": 2.0 if ok else None,
            "peak_mem_mb": 8.0 if ok else None, "status": status}


@pytest.mark.parametrize("status", ["OOM", "error"])
def test_the_ratio_row_of_a_failed_base_names_its_status(status):
    rows = bench.ratios([_record("gram", status), _record("gram_hd", "ok")], {"gram_hd": "gram"})
    assert rows == [{"model": "gram_hd_vs_gram", "resolution": 256, "device": "cpu", "mode": "graph",
                     "note": f"gram {status}"}]
