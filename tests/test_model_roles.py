"""zoo3d's own commands name no model: the demo and the benchmark suites find theirs by role in the registry."""

from __future__ import annotations

import pytest

from zoo3d.errors import UserError
from zoo3d.plugins import get_model_spec, model_with_role, models_with_role


def test_the_built_in_roles():
    assert [s.name for s in models_with_role("demo")] == ["gram_hd"]
    assert [s.name for s in models_with_role("bench:models")] == ["gram", "gram_hd"]
    assert [s.name for s in models_with_role("bench:freeview")] == ["gram_hd"]
    assert [s.name for s in models_with_role("bench:invert")] == ["gram_inverter"]
    with pytest.raises(UserError, match="needs a model with the role 'nobody'"):
        model_with_role("nobody", "this check")


def test_bench_models_plans_every_model_with_the_role_and_compares_each_with_its_base(monkeypatch):
    from zoo3d.benchmarks import models as bench

    assert bench.bases() == {"gram_hd": "gram"}
    monkeypatch.setenv("ZOO3D_BENCH_CPU_HIGHRES", "1")
    jobs = bench.plan("cpu", quick=False)
    assert {m for m, _, _ in jobs} == {"gram", "gram_hd"}
    assert {(m, r) for m, r, _ in jobs if r > 256} == {("gram_hd", 512), ("gram_hd", 1024)}
    rec = lambda m, t, mem, status="ok": {"model": m, "resolution": 128, "device": "cpu", "mode": "nograd",  # noqa: E731
                                          "time_s": t, "peak_mem_mb": mem, "status": status}
    (row,) = bench.ratios([rec("gram", 4.0, 100.0), rec("gram_hd", 1.0, 25.0)])
    assert row["model"] == "gram_hd_vs_gram" and row["time_saved"] == 0.75 and row["memory_saved"] == 0.75
    (oom,) = bench.ratios([rec("gram", None, None, "OOM"), rec("gram_hd", 1.0, 25.0)])
    assert oom["note"] == "gram OOM"


@pytest.mark.usefixtures("single_thread")
def test_benchmark_generators_render_at_the_asked_resolution_and_train_what_the_last_stage_trains():
    for name, stage_trainables in (("gram", None), ("gram_hd", {"lowres.radiance_net.feature_heads",
                                                                "foreground_sr", "background_sr"})):
        plugin = get_model_spec(name).load()
        config = plugin.config_class()
        gen = plugin.benchmark_generator(config, 128)  # the smallest size the suite measures
        assert gen.resolution == (128, 128)
        trains = {n for n, p in gen.named_parameters() if p.requires_grad}
        if stage_trainables is None:
            assert trains == {n for n, _ in gen.named_parameters()}
        else:
            assert trains and all(any(n.startswith(t) for t in stage_trainables) for n in trains)
            assert bool(gen.super_resolve)
