"""Device and dtype resolution: nothing in zoo3d hard-codes either."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from zoo3d.errors import UserError


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; anything else, a name or a ``torch.device``, must name an
    available device."""
    if isinstance(spec, torch.device):  # checked as its name is: torch.device("cuda") on a machine without CUDA
        spec = str(spec)
    if spec in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise UserError(f"Unknown device '{spec}'; use cpu, cuda, cuda:N, mps or auto.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"Device '{spec}' was asked for but CUDA is not available on this machine.")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"Device '{spec}' was asked for but Apple's MPS is not available on this machine.")
    if dev.type == "xpu" and not (hasattr(torch, "xpu") and torch.xpu.is_available()):
        raise UserError(f"Device '{spec}' was asked for but no Intel GPU (XPU) is available on this machine.")
    if dev.type not in ("cpu", "cuda", "mps", "xpu", "meta"):  # meta: shapes only, for checks
        raise UserError(f"Device '{spec}' is not one zoo3d runs on; use cpu, cuda, cuda:N, mps or auto.")
    return dev


def device_index(device: torch.device) -> int:
    """The index of ``device`` among its kind: ``cuda`` with no index is torch's current GPU, another device with none
    (``cpu``) is its first."""
    if device.index is None and device.type == "cuda":
        return torch.cuda.current_device()
    return device.index or 0


def device_label(device: torch.device) -> str:
    """The device a run trained on, as its checkpoints record it: ``cpu``, ``mps``, or for a GPU its index and
    model, ``cuda:0 (NVIDIA H100 80GB HBM3)``, so two runs on different hardware tell apart."""
    if device.type != "cuda":
        return str(device)
    index = device_index(device)
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when it is narrower (bf16 or fp16 under autocast, or an integer tensor), otherwise as it
    is: a loss or a resize that must not run in half precision keeps a float64 model's float64 (a gradient
    check) instead of rounding it to float32."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (for honest timings)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak allocated memory in MiB on CUDA; None on CPU (use tracemalloc-free RSS estimates there)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def flushing_denormals() -> bool:
    """Whether the CPU now treats float32 values below 2^-126 (~1.2e-38) as zero (see :func:`flush_denormals`)."""
    return float(torch.tensor([2e-38]) / 4) == 0.0


@contextmanager
def flush_denormals(device: torch.device) -> Iterator[None]:
    """On a CPU, treat subnormal floats as zero while the block runs, then restore the previous mode.

    x86 CPUs compute with subnormals in microcode, tens of times slower than with normal numbers. A Softplus
    with beta 100 or a sigmoid of a large negative input makes many of them (exp(-90) ~ 1e-39), though they are
    far too small to change a float32 sum or product they enter. No-op elsewhere: GPUs handle them at full speed.
    """
    if device.type != "cpu":
        yield
        return
    before = flushing_denormals()
    supported = torch.set_flush_denormal(True)  # False where the CPU has no such mode; then nothing changed
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(before)


@contextmanager
def float32_default() -> Iterator[None]:
    """torch's default dtype float32 while the block runs, then the caller's again.

    zoo3d builds, trains and scores its modules in float32 (its data, latents and checkpoints are float32; a float64
    model is asked for with ``.double()``). A notebook that set ``torch.set_default_dtype(torch.float64)`` for work of
    its own would otherwise build float64 modules that the float32 data then fails in (``Input type (float) and bias
    type (double) should be the same``) and load every checkpoint as float64.
    """
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(before)
