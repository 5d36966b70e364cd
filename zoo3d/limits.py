"""Bounds on the counts a user gives (seeds, frames, instances, resolutions), checked before any work.

A command that holds its images in memory (a sample grid, an animation) is refused in one
sentence when what it is asked for cannot fit: more images than :data:`MAX_IMAGES`, a side
above :data:`MAX_RESOLUTION`, or more bytes than :func:`memory_budget` allows. Nothing is
rendered first and killed by the kernel later.
"""

from __future__ import annotations

import os

from zoo3d.errors import UserError

#: Images in one grid or animation (a 100 x 100 grid; an animation of over 6 minutes at 24 fps).
MAX_IMAGES = 10_000
#: The largest seed the viewer's page asks for (its seed box holds 32-bit integers), and ``zoo3d view --seed``.
MAX_VIEWER_SEED = 2**31 - 1
#: Side of a rendered image in pixels.
MAX_RESOLUTION = 4096
#: Bytes held per output pixel while rendering a grid or an animation: float32 RGB and depth from the
#: renderer, the float grid / frame copy and its 8-bit version.
BYTES_PER_PIXEL = 4 * (3 + 1) + 4 * 3 + 3


def available_memory(meminfo: str = "/proc/meminfo") -> int | None:
    """Bytes the system can hand out now without swapping: Linux's MemAvailable (free memory and the page cache
    it can drop; the free pages alone can be a small part of it), else the free pages; None where neither is
    known."""
    try:
        with open(meminfo, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # given in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget() -> int:
    """Bytes a command may hold in images: half the memory available now (8 GiB where that is unknown)."""
    available = available_memory()
    return available // 2 if available is not None else 8 * 2**30


def _over_budget(budget: int) -> str:
    return f"more than the {byte_size(budget)} a command may hold (half the memory available now)"


def byte_size(n: float) -> str:
    """Bytes for a sentence: GiB from 1 GiB on, MiB below, KiB where MiB would read 0.0, and whole bytes below 1 KiB
    (a small budget, a nearly full disk or a tiny model's checkpoint is not '0.0 GiB', '0.0 MiB' or '0.0 KiB')."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    if n >= 0.05 * 2**20:
        return f"{n / 2**20:.1f} MiB"
    if n >= 2**10:
        return f"{n / 2**10:.1f} KiB"
    return "1 byte" if n == 1 else f"{n:.0f} bytes"


def check_count(option: str, value: int, maximum: int, why: str) -> int:
    """Refuse ``value`` above ``maximum`` (``why``: what the bound protects, ending the sentence)."""
    if value > maximum:
        raise UserError(f"{option} asks for {value:,}; at most {maximum:,} {why}.")
    return value


def check_grid(option: str, resolution: int, bytes_per_point: int) -> None:
    """Refuse a dense resolution^3 grid (mesh export) whose values cannot fit in :func:`memory_budget`."""
    need, budget = resolution ** 3 * bytes_per_point, memory_budget()
    if need > budget:
        raise UserError(f"{option} {resolution} asks for a grid of {resolution ** 3:,} points, which needs about "
                        f"{byte_size(need)} of memory, {_over_budget(budget)}; ask for a smaller resolution.")


def check_texels(option: str, resolution: int, maps: int, bytes_per_texel: int) -> None:
    """Refuse baking ``maps`` textures of ``resolution``² texels (a free-view cache's) that cannot fit in
    :func:`memory_budget`."""
    need, budget = maps * resolution ** 2 * bytes_per_texel, memory_budget()
    if need > budget:
        raise UserError(f"{option} {resolution} asks for {maps} maps of {resolution}x{resolution} texels, which need "
                        f"about {byte_size(need)} of memory, {_over_budget(budget)}; ask for a smaller resolution.")


def check_images(option: str, count: int, height: int, width: int, what: str = "images") -> None:
    """Refuse ``count`` images of ``height`` x ``width`` held at once when they exceed the bounds above (``what``:
    what they are, in the plural: ``"frames"``)."""
    check_count(option, count, MAX_IMAGES, f"{what} fit in one output (split the work over several commands)")
    if max(height, width) > MAX_RESOLUTION:
        raise UserError(f"A resolution of {height}x{width} is above the largest zoo3d renders, "
                        f"{MAX_RESOLUTION}x{MAX_RESOLUTION}.")
    need, budget = count * height * width * BYTES_PER_PIXEL, memory_budget()
    if need > budget:
        one = what.removesuffix("s") if count == 1 else what  # "1 frame", "2 frames"
        raise UserError(f"{option} asks for {count:,} {one} of {height}x{width}, which need{'s' * (count == 1)} about "
                        f"{byte_size(need)} of memory, {_over_budget(budget)}; ask for fewer or smaller {what}.")
