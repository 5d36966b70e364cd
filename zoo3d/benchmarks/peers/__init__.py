"""``zoo3d bench peers``: zoo3d against the authors' code (GRAM, GRAM-HD, NeuS), side by side in one run.

Needs local checkouts of microsoft/GRAM, JeffreyXiang/GRAM-HD and Totoro97/NeuS, named by
``ZOO3D_UPSTREAM_GRAM``, ``ZOO3D_UPSTREAM_GRAM_HD`` and ``ZOO3D_UPSTREAM_NEUS`` (NeuS also needs ``pyhocon``,
which reads its conf); a model whose variable is unset is skipped with a one-line note naming the repository to
clone, and one that names no checkout (no folder, or one without the files the suite imports) is refused before
anything runs.
The records (:mod:`zoo3d.benchmarks.peers.records`) are measured in turn; each one ``repeats`` times as
an alternating pair, the authors' code then zoo3d, every measurement in a fresh process
(:mod:`zoo3d.benchmarks.peers.worker`), so both see the same machine load.

One row per record: medians and every repeat of time (s) and peak memory (MiB) for both sides, the
ratios zoo3d / authors of the medians, the targets and whether they are met, and for inference the
largest |difference| between the two images (same weights, latents and cameras). Then, per side, the
GRAM-HD / GRAM ratios of the ``graph`` records at one resolution (GRAM-HD's Table 4), where both ran.
The NeuS fit (:mod:`zoo3d.benchmarks.peers.neus`; zoo3d's side first, as it sets the target) times the
training seconds each side needs to reach the PSNR zoo3d reaches at the protocol's iteration count, and
adds the target, seconds per step, steps and the PSNR curves.

Environment: ``ZOO3D_PEERS_REPEATS`` (default 3; 1 with ``--quick``), ``ZOO3D_PEERS_LONG_REPEATS``
(records at 256² and above, default 2), ``ZOO3D_PEERS_ONLY`` (comma-separated record names of the run; any
other is refused before anything runs),
``ZOO3D_BENCH_THREADS`` (intra-op threads of every child, default torch's), ``ZOO3D_BENCH_CPU_MEM_GB``
(the per-child memory cap on CPU, default 14); for the NeuS fit ``ZOO3D_PEERS_NEUS_REPEATS`` (default 1),
``ZOO3D_PEERS_NEUS_ITERATIONS`` (zoo3d's steps, default the protocol's 800), ``ZOO3D_PEERS_NEUS_MAX_ITERS`` and
``ZOO3D_PEERS_NEUS_MAX_S`` (where the authors' loop gives up), ``ZOO3D_PEERS_NEUS_TARGET_DB`` (a fixed target).
The pair counts, the threads and the NeuS fit's numbers are checked before anything runs; a value that is no
such number is refused there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from zoo3d.benchmarks.children import failure
from zoo3d.benchmarks.peers.authors import ENV, REPOSITORY, checkout, checkout_problem, commit
from zoo3d.benchmarks.peers.records import QUICK_RECORDS, RECORDS, Record

SIDES = ("authors", "zoo3d")
NAMES = {"gram": "GRAM", "gram_hd": "GRAM-HD", "neus": "NeuS"}


def _note(text: str) -> None:
    print(f"peers: {text}", file=sys.stderr, flush=True)


def _child(record: Record, side: str, workdir: Path, device: str) -> dict:
    cmd = [sys.executable, "-m", "zoo3d.benchmarks.peers.worker", record.name, side, str(workdir), device]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return json.loads(lines[-1])
    return {"record": record.name, "side": side, **failure(done, width=200)}


def _sides(record: Record) -> tuple[str, ...]:
    """The order of one pair: zoo3d first for the NeuS fit (its PSNR is the authors' side's target)."""
    return tuple(reversed(SIDES)) if record.work == "neus_fit" else SIDES


def _count(var: str, default: int | None, why: str = ": each record is measured in that many pairs") -> int | None:
    """``var`` as a whole number of at least 1 (unset or empty: ``default``); anything else, 0 included (for a
    pair count, a record with nothing measured), is refused."""
    from zoo3d.errors import UserError

    text = os.environ.get(var, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{var} must be a whole number, not '{text}'.") from None
    if value < 1:
        raise UserError(f"{var} must be at least 1, not {value}{why}.")
    return value


def _number(var: str) -> None:
    """Refuse ``var`` unless unset, empty or a finite number (at least 0 for a time)."""
    import math

    from zoo3d.errors import UserError

    text = os.environ.get(var, "").strip()
    if not text:
        return
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{var} must be a number, not '{text}'.") from None
    if not math.isfinite(value) or (var.endswith("_S") and value < 0):
        raise UserError(f"{var} must be a finite number{' of at least 0' if var.endswith('_S') else ''}, "
                        f"not {text}.")


def _check_settings(records: list[Record]) -> None:
    """The settings each measuring process reads, refused here, before the first record, instead of failing every
    record's processes in turn."""
    _count("ZOO3D_BENCH_THREADS", None, ": the threads of each measuring process")
    if any(r.work == "neus_fit" for r in records):
        _count("ZOO3D_PEERS_NEUS_ITERATIONS", None, ": zoo3d's steps in the NeuS fit")
        _count("ZOO3D_PEERS_NEUS_MAX_ITERS", None, ": where the authors' NeuS loop gives up")
        _number("ZOO3D_PEERS_NEUS_MAX_S")
        _number("ZOO3D_PEERS_NEUS_TARGET_DB")


def _check_checkouts(records: list[Record]) -> None:
    """Refuse a ``ZOO3D_UPSTREAM_*`` of a model this run measures that names no checkout of the authors' code (a
    typo, or the folder above the clone): set, it asks for those records, which would fail or be skipped."""
    from zoo3d.errors import UserError

    for model in dict.fromkeys(r.model for r in records):
        problem = checkout_problem(model)
        if problem:
            raise UserError(problem)


def _repeats(record: Record, quick: bool) -> int:
    if record.work == "neus_fit":
        return _count("ZOO3D_PEERS_NEUS_REPEATS", 1)
    if quick:
        return _count("ZOO3D_PEERS_REPEATS", 1)
    if record.resolution >= 256:
        return _count("ZOO3D_PEERS_LONG_REPEATS", 2)
    return _count("ZOO3D_PEERS_REPEATS", 3)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarise(record: Record, runs: dict[str, list[dict]], device: str) -> dict:
    """The record's row: medians, ratios zoo3d / authors, targets; every repeat under ``detail``."""
    row: dict = {"record": record.name}
    detail: dict = {"work": record.title or record.work, "device": device, "batch": record.batch,
                    "split": record.split}
    if record.work == "train_step" and device.startswith("cuda"):
        # the authors' loop trains under fp16 autocast with a GradScaler; zoo3d's engine takes bf16 where the GPU
        # has it: the two sides' steps are not in one precision, said with the ratio
        detail["precision"] = {"authors": "fp16 autocast + GradScaler", "zoo3d": "train.amp: bf16 autocast where "
                               "supported, else fp16 + GradScaler"}
    medians = {}
    for side in SIDES:
        ok = [r for r in runs[side] if r.get("status") == "ok"]
        times, peaks = [r["time_s"] for r in ok], [r["peak_mb"] for r in ok]
        medians[side] = (_median(times), _median(peaks))
        detail[side] = {"time_s": times, "peak_mb": peaks,
                        "load_avg_1min": [r["load_avg_1min"] for r in ok if "load_avg_1min" in r]}
        bad = [r for r in runs[side] if r.get("status") != "ok"]
        if bad:
            detail[side]["failed"] = [f"{r.get('status')}: {r.get('note', '')}" for r in bad]
    (ta, ma), (tz, mz) = medians["authors"], medians["zoo3d"]
    row.update({"authors_s": ta, "zoo3d_s": tz})
    row["time_ratio"] = round(tz / ta, 3) if ta and tz else None
    row["time_target"] = record.time_target
    row.update({"authors_mib": ma, "zoo3d_mib": mz})
    row["memory_ratio"] = round(mz / ma, 3) if ma and mz else None
    row["memory_target"] = record.memory_target
    verdicts = []
    for ratio, target in ((row["time_ratio"], record.time_target), (row["memory_ratio"], record.memory_target)):
        if target is not None:
            verdicts.append(None if ratio is None else ratio <= target)
    row["met"] = None if not verdicts or None in verdicts else all(verdicts)
    diffs = [r["image_max_abs_diff"] for r in runs["zoo3d"] if "image_max_abs_diff" in r]
    row["image_max_abs_diff"] = max(diffs) if diffs else None
    row["detail"] = detail
    if record.work == "neus_fit":
        _neus_fields(row, runs)
    elif record.work == "neus_steps":
        for side in SIDES:
            per_iter = [r["s_per_iter"] for r in runs[side] if r.get("status") == "ok" and "s_per_iter" in r]
            row[f"{side}_s_per_iter"] = _median(per_iter) if per_iter else None
    return row


def _neus_fields(row: dict, runs: dict[str, list[dict]]) -> None:
    """The NeuS fit's target, seconds per step, steps, full-image PSNR and curves; a target the authors' code did
    not reach makes its time a lower bound, so the ratio an upper bound (the target is met only if that is)."""
    keys = ("target_db", "s_per_iter", "iterations", "iterations_to_target", "reached", "psnr_db", "psnr_full_db",
            "train_s", "wall_s", "curve")
    for side in SIDES:
        ok = [r for r in runs[side] if r.get("status") == "ok"]
        for key in keys:
            row["detail"][side][key] = [r.get(key) for r in ok]
        per_iter = [r["s_per_iter"] for r in ok if r.get("s_per_iter") is not None]
        row[f"{side}_s_per_iter"] = _median(per_iter) if per_iter else None
    targets = [r["target_db"] for r in runs["zoo3d"] if r.get("status") == "ok" and r.get("target_db") is not None]
    row["target_db"] = _median(targets) if targets else None
    authors_ok = [r for r in runs["authors"] if r.get("status") == "ok"]
    row["authors_reached"] = all(r.get("reached") for r in authors_ok) if authors_ok else None
    if row["authors_reached"] is False:
        row["note"] = "the authors' fit stopped before the target: its time is a lower bound, the ratio an upper one"
        if row["met"] is False:
            row["met"] = None


def table4(rows: list[dict]) -> list[dict]:
    """Per side, GRAM-HD / GRAM time and memory of the ``graph`` records at the same resolution."""
    out = []
    by_name = {r["record"]: r for r in rows}
    for name, hd in by_name.items():
        if not name.startswith("gram_hd.graph."):
            continue
        gram = by_name.get(name.replace("gram_hd.", "gram.", 1))
        if gram is None:
            continue
        for side in SIDES:
            row = {"record": name.replace("gram_hd.graph", f"gram_hd_over_gram.graph.{side}")}
            th, mh, tg, mg = (hd[f"{side}_s"], hd[f"{side}_mib"], gram[f"{side}_s"], gram[f"{side}_mib"])
            row["time_ratio"] = round(th / tg, 3) if th and tg else None
            row["memory_ratio"] = round(mh / mg, 3) if mh and mg else None
            if row["time_ratio"] is None:
                failed = gram["detail"][side].get("failed") or hd["detail"][side].get("failed") or ["not measured"]
                row["detail"] = {"note": failed[0]}
            out.append(row)
    return out


def _check_only(only: list[str], names: list[str], quick: bool) -> None:
    """Refuse a ``ZOO3D_PEERS_ONLY`` name that is no record of this run (a typo, or a full-size record with
    ``--quick``): it would measure nothing and say nothing."""
    from zoo3d.errors import UserError, closest

    for name in only:
        if name not in names:
            hint = closest(name, names, n=1)
            did = f" Did you mean '{hint[0]}'?" if hint else ""
            raise UserError(f"ZOO3D_PEERS_ONLY names record '{name}', which `zoo3d bench peers"
                            f"{' --quick' if quick else ''}` does not measure (its records: {', '.join(names)}).{did}")


def run(device: str, quick: bool) -> list[dict]:
    records = QUICK_RECORDS if quick else RECORDS
    only = [n.strip() for n in os.environ.get("ZOO3D_PEERS_ONLY", "").split(",") if n.strip()]
    if only:
        _check_only(only, [r.name for r in records], quick)
        records = [r for r in records if r.name in only]
    repeats = {r.name: _repeats(r, quick) for r in records}  # a bad count is refused now, not hours in
    _check_settings(records)
    if not device.startswith("cuda"):
        from zoo3d.benchmarks.children import memory_cap_gb

        memory_cap_gb(14)  # likewise the cap, which each measuring process reads
    _check_checkouts(records)
    rows: list[dict] = []
    commits = {}
    for model, env in ENV.items():
        path = checkout(model)
        if path is None:  # unset, or (for a model this run does not measure) naming no folder
            _note(checkout_problem(model) or f"{env} is unset: the authors' {NAMES[model]} records are skipped (set "
                  f"it to a clone of {REPOSITORY[model]}).")
            records = [r for r in records if r.model != model]
        elif model == "neus" and importlib.util.find_spec("pyhocon") is None:
            _note("the authors' NeuS reads its conf with pyhocon, which is not installed (pip install pyhocon): "
                  "its records are skipped.")
            records = [r for r in records if r.model != model]
        else:
            commits[model] = commit(path)
    with tempfile.TemporaryDirectory(prefix="zoo3d-peers-") as tmp:
        for record in records:
            workdir = Path(tmp) / record.name
            runs: dict[str, list[dict]] = {side: [] for side in SIDES}
            for i in range(repeats[record.name]):
                for side in _sides(record):
                    result = _child(record, side, workdir, device)
                    runs[side].append(result)
                    _note(f"{record.name} {side} #{i + 1}: {result.get('status')} "
                          f"{result.get('time_s', '')} s {result.get('peak_mb', '')} MiB {result.get('note', '')}")
            row = summarise(record, runs, device)
            row["detail"]["authors_commit"] = commits[record.model]
            rows.append(row)
    return rows + table4(rows)
