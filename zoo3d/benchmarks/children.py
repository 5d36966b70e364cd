"""The measuring processes of the suites that take each record in a fresh process (``render`` and ``models`` on a CPU,
``peers``): the memory cap each one runs under on a CPU, and the status and note of a record whose process failed.

A suite reports a process that failed as a record of that status, and goes on with the next record. On a CPU each
process caps its address space at its set-up's plus ``ZOO3D_BENCH_CPU_MEM_GB`` GB (:func:`memory_cap_gb`), so work
that would exhaust the machine fails with an allocation error (:func:`out_of_memory`) and its record reads ``OOM``.
"""

from __future__ import annotations

import os
import resource
import subprocess

ENV_MEM_GB = "ZOO3D_BENCH_CPU_MEM_GB"


def failure(done: subprocess.CompletedProcess, width: int = 160) -> dict:
    """``status``: ``OOM`` when the process was killed (SIGKILL, the kernel's out-of-memory killer: exit -9, or 137
    through a shell), else ``error``; ``note``: the exit status and the last line of its stderr, cut at ``width``."""
    status = "OOM" if done.returncode in (-9, 137) else "error"
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:width]
    return {"status": status, "note": f"exit {done.returncode}: {tail}"}


def memory_cap_gb(default: float) -> float:
    """``ZOO3D_BENCH_CPU_MEM_GB`` (unset or empty: ``default``), the GB a measuring process on a CPU may add after
    its set-up. Anything but a positive number is refused: read in each child, it would fail every record (or,
    at 0, cap every one below what it already holds and report it as OOM)."""
    from zoo3d.errors import UserError

    text = os.environ.get(ENV_MEM_GB, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{ENV_MEM_GB} must be a number of GB, not '{text}'.") from None
    if not 0 < value < float("inf"):
        raise UserError(f"{ENV_MEM_GB} must be a positive number of GB, not {text}.")
    return value


def cap_address_space(gigabytes: float) -> None:
    """Cap this process's address space (soft and hard) at what it holds now plus ``gigabytes`` GB."""
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    limit = vm + int(gigabytes * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed (torch's out-of-memory error, MemoryError, or the RuntimeError
    torch's CPU allocator raises under the cap), not some other error."""
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("alloc" in text or "memory" in text)


def oom_note(exc: BaseException, width: int = 160) -> str:
    """The first line of an out-of-memory error, cut at ``width``: a record's ``note``."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:width]
