"""Keep freed host memory inside the process (glibc), so CPU training stops paying the kernel for every step.

A training step on the CPU allocates and frees the same large activations every step. glibc hands blocks
above its mmap threshold back to the kernel on ``free`` and trims the top of its heap above the trim
threshold, so the next step maps the pages again and the kernel zero-fills them: for GRAM's tiny
preset, about 135 000 page faults a step and a sixth of the step's time in the kernel. Raising both
thresholds (``mallopt``) lets glibc reuse those pages; the step gives the same numbers. The price is
that the process keeps its peak resident memory instead of returning it between steps.

Applied by the ``zoo3d`` command for every subcommand and by the trainer on the CPU; it changes glibc's
settings only (elsewhere it does nothing). ``ZOO3D_HOST_MEMORY=release`` leaves glibc's defaults.
"""

from __future__ import annotations

import ctypes
import os
import platform

ENV = "ZOO3D_HOST_MEMORY"
M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap and are reused; larger ones are still mapped and unmapped
MMAP_THRESHOLD_BYTES = 256 << 20
#: free memory at the top of the heap is handed back only above this
TRIM_THRESHOLD_BYTES = 1 << 30

_applied: bool | None = None


def keep_freed_host_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True when they are raised (now or before).

    False without glibc, when ``ZOO3D_HOST_MEMORY=release`` or when glibc refuses a value.
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if os.environ.get(ENV, "keep").strip().lower() == "release":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # both: setting either one switches off glibc's adaptive thresholds, which would otherwise raise them
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
