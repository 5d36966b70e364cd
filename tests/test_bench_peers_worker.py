"""``python -m zoo3d.benchmarks.peers.worker``: one record, one side, measured in this process with stand-in sides.

What its docstring and docs/testing.md ("Benchmarks") promise: one JSON line per measurement with ``time_s`` (the
work's wall time, which a watched record may replace with its own and keeps as ``wall_s``), ``peak_mb`` (on CPU the
rise of peak RSS over the RSS just before the work, read from a scripted /proc/self/status: a real allocation's
RSS depends on what the allocator kept from earlier tests), the load average before and after, the threads; on CPU the
address space capped at the set-up's plus ``ZOO3D_BENCH_CPU_MEM_GB`` (default 14) GiB, and work that runs out of
memory reported as ``OOM`` with the error's first line. The answers come from the stand-in work (a scripted
clock, scripted memory readings) and from /proc/self/status read here, not from the worker.
"""

from __future__ import annotations

import json
import os
import sys
import types

import pytest
import torch

from zoo3d.benchmarks.peers import authors, ours, worker

# on a CPU the worker reads its memory from /proc/self/status, and these tests read it too
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status (Linux)")


def _proc_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture
def sides(monkeypatch):
    """Stand-in sides: ``prepare`` of each returns the work set in ``plan`` and records what it was handed; the
    address-space cap is recorded, never applied to the test process."""
    plan = {"work": lambda: "result", "finish": lambda result: {"finished_with": result}}
    calls: list[tuple] = []

    def prepare_for(side):
        def prepare(record, workdir, dev):
            calls.append((side, record.name, workdir, dev))
            return plan["work"], plan["finish"]
        return prepare

    monkeypatch.setattr(authors, "prepare", prepare_for("authors"))
    monkeypatch.setattr(ours, "prepare", prepare_for("zoo3d"))
    caps: list[float] = []
    monkeypatch.setattr(worker, "cap_address_space", caps.append)
    monkeypatch.delenv("ZOO3D_BENCH_THREADS", raising=False)
    monkeypatch.delenv("ZOO3D_BENCH_CPU_MEM_GB", raising=False)
    return types.SimpleNamespace(plan=plan, calls=calls, caps=caps)


def _clock(monkeypatch, *readings):
    """The worker's ``time.perf_counter`` returns ``readings`` in turn."""
    monkeypatch.setattr(worker, "time", types.SimpleNamespace(perf_counter=iter(readings).__next__))


def test_each_side_is_prepared_by_its_own_code_and_the_row_is_what_its_work_and_finish_give(
        sides, monkeypatch, tmp_path):
    loads = iter([(3.14159, 1.0, 1.0), (4.56789, 1.0, 1.0)] + [(1.0, 1.0, 1.0)] * 2)
    monkeypatch.setattr(os, "getloadavg", lambda: next(loads))
    _clock(monkeypatch, 10.0, 12.3456789)
    out = worker.measure("gram.inference.32", "authors", tmp_path, "cpu")
    assert sides.calls == [("authors", "gram.inference.32", tmp_path, torch.device("cpu"))]
    assert out["record"] == "gram.inference.32" and out["side"] == "authors" and out["device"] == "cpu"
    assert out["status"] == "ok" and out["finished_with"] == "result"
    assert out["time_s"] == out["wall_s"] == 2.346  # 12.3456789 - 10, to the millisecond
    assert (out["load_avg_1min"], out["load_avg_1min_after"]) == (3.14, 4.57)  # before the work, and after it
    assert out["threads"] == torch.get_num_threads()
    assert sides.caps == [14.0]  # the documented default
    # the other side runs zoo3d's code; a watched record's own time_s replaces the wall time, which stays as wall_s
    sides.plan["finish"] = lambda result: {"time_s": 0.5}
    _clock(monkeypatch, 1.0, 4.0)
    monkeypatch.setenv("ZOO3D_BENCH_CPU_MEM_GB", "2.5")
    out = worker.measure("gram.inference.32", "zoo3d", tmp_path, "cpu")
    assert sides.calls[-1][0] == "zoo3d" and (out["time_s"], out["wall_s"]) == (0.5, 3.0)
    assert sides.caps[-1] == 2.5


def test_threads_come_from_the_environment(sides, monkeypatch, tmp_path):
    before = torch.get_num_threads()
    monkeypatch.setenv("ZOO3D_BENCH_THREADS", "2" if before == 1 else "1")
    try:
        out = worker.measure("gram.graph.64", "zoo3d", tmp_path, "cpu")
        assert out["threads"] == (2 if before == 1 else 1) == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


class _Status:
    """/proc/self/status with chosen VmRSS and VmHWM (kB), changed by the work."""

    def __init__(self, rss_kb, hwm_kb):
        self.kb = {"VmRSS": rss_kb, "VmHWM": hwm_kb, "VmSize": 10 ** 7}

    def open(self, path, mode="r"):
        import io

        if path == "/proc/self/clear_refs":
            raise OSError("read-only")
        assert path == "/proc/self/status"
        return io.StringIO("Name:\tpython\n" + "".join(f"{k}:\t  {v} kB\n" for k, v in self.kb.items()))


def test_without_a_peak_reset_the_rise_is_counted_over_the_old_peak(sides, monkeypatch, tmp_path):
    status = _Status(rss_kb=100 * 1024, hwm_kb=150 * 1024)
    monkeypatch.setattr(worker, "open", status.open, raising=False)
    assert worker._reset_peak_rss() is False  # clear_refs refused
    assert worker._status_mb("VmHWM") == 150.0 and worker._status_mb("VmRSS") == 100.0

    def work():
        status.kb["VmHWM"] = int(450.0625 * 1024)

    sides.plan["work"] = work
    sides.plan["finish"] = lambda result: {}
    out = worker.measure("gram.inference.32", "zoo3d", tmp_path, "cpu")
    assert out["peak_mb"] == 300.1  # 450.0625 - 150 (the high-water mark before), to 0.1 MiB


def test_with_a_peak_reset_the_rise_is_counted_over_the_rss_before_the_work(sides, monkeypatch, tmp_path):
    status = _Status(rss_kb=100 * 1024, hwm_kb=150 * 1024)
    monkeypatch.setattr(worker, "open", status.open, raising=False)
    monkeypatch.setattr(worker, "_reset_peak_rss", lambda: True)

    def work():
        status.kb["VmHWM"] = int(450.0625 * 1024)

    sides.plan["work"] = work
    sides.plan["finish"] = lambda result: {}
    assert worker.measure("gram.inference.32", "zoo3d", tmp_path, "cpu")["peak_mb"] == 350.1


def test_on_cuda_the_device_is_synchronised_around_the_work_and_its_peak_is_the_allocators(
        sides, monkeypatch, tmp_path):
    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev: events.append(("sync", dev)))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda dev: events.append(("reset", dev)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda dev: events.append(("peak", dev)) or 7 * 2**19)
    sides.plan["work"] = lambda: events.append("work")
    out = worker.measure("neus.fit.32", "zoo3d", tmp_path, "cuda:1")
    dev = torch.device("cuda:1")
    # the NeuS fit is not warmed: one call, timed between two synchronisations
    assert events == [("sync", dev), ("reset", dev), "work", ("sync", dev), ("peak", dev)]
    assert out["peak_mb"] == 3.5 and out["device"] == "cuda" and sides.caps == []
    events.clear()
    worker.measure("gram.inference.32", "zoo3d", tmp_path, "cuda:1")
    assert events == ["work", ("sync", dev), ("reset", dev), "work", ("sync", dev), ("peak", dev)]


def _kernel_resets_the_peak() -> bool:
    """Whether this kernel lets a process reset its own high-water mark (Linux 4.0 on; not in every sandbox)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def test_the_peak_rss_is_reset_to_the_current_rss():
    if not _kernel_resets_the_peak():
        pytest.skip("/proc/self/clear_refs cannot be written here")
    block = torch.ones(32 * 2**20, dtype=torch.float32)  # a 128 MiB high-water mark above what stays
    block.add_(1)
    del block
    assert worker._reset_peak_rss() is True
    assert _proc_kb("VmHWM") - _proc_kb("VmRSS") < 16 * 1024


def test_status_fields_are_read_in_mib():
    assert abs(worker._status_mb("VmHWM") - _proc_kb("VmHWM") / 1024.0) < 4.0
    assert abs(worker._status_mb("VmSize") - _proc_kb("VmSize") / 1024.0) < 16.0


@pytest.mark.parametrize("error", [MemoryError("cannot allocate 2 GiB\nsecond line"),
                                   RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried")])
def test_work_that_runs_out_of_memory_is_reported_as_oom_with_the_errors_first_line(sides, tmp_path, error):
    """Which errors are an allocation that failed, and the note's cut: test_bench_cpu_memory_cap.py."""

    def work():
        raise error

    sides.plan["work"] = work
    out = worker.measure("gram.train_step.16", "zoo3d", tmp_path, "cpu")
    assert out["status"] == "OOM" and out["note"] == str(error).strip().splitlines()[0]
    assert out["record"] == "gram.train_step.16" and "time_s" not in out and "peak_mb" not in out


def test_a_runtime_error_that_is_not_about_memory_is_raised(sides, tmp_path):
    def work():
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    sides.plan["work"] = work
    with pytest.raises(RuntimeError, match="shapes"):
        worker.measure("gram.train_step.16", "zoo3d", tmp_path, "cpu")


def test_main_prints_the_measurement_as_one_json_line(sides, capsys, monkeypatch, tmp_path):
    _clock(monkeypatch, 0.0, 1.5)
    worker.main(["gram.graph.64", "authors", str(tmp_path), "cpu"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert (row["record"], row["side"], row["time_s"], row["status"]) == ("gram.graph.64", "authors", 1.5, "ok")
    assert sides.calls == [("authors", "gram.graph.64", tmp_path, torch.device("cpu"))]
