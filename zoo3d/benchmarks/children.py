"""What a benchmark's measuring process left when it failed: the status and note of its record.

The suites that measure each record in a fresh process (``render`` and ``models`` on a CPU, ``peers``) report a
process that failed as a record of that status, and go on with the next record.
"""

from __future__ import annotations

import subprocess


def failure(done: subprocess.CompletedProcess, width: int = 160) -> dict:
    """``status``: ``OOM`` when the process was killed (SIGKILL, the kernel's out-of-memory killer: exit -9, or 137
    through a shell), else ``error``; ``note``: the exit status and the last line of its stderr, cut at ``width``."""
    status = "OOM" if done.returncode in (-9, 137) else "error"
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:width]
    return {"status": status, "note": f"exit {done.returncode}: {tail}"}
