"""Running the same way on every device: bf16 where the hardware makes it fast (float32 elsewhere), what the
device is called, and waiting for it.

On CUDA, bf16 autocast is always worth it. On a CPU it is worth it only with bf16 instructions (Intel's AMX or
AVX-512 BF16): without them PyTorch emulates bf16 and runs several times *slower* than float32 (measured on a
2-core AMD EPYC with AVX2: EfficientNet-Lite0 20 img/s in float32, 4 img/s under bf16 autocast), so
:func:`bf16_autocast` checks the CPU instead of assuming.
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

__all__ = ["as_device", "cpu_has_fast_bf16", "uses_bf16", "numerics", "describe", "bf16_autocast",
           "synchronize", "fixed_algorithms"]

#: CPU flags (``/proc/cpuinfo``) whose instructions compute in bf16 natively.
FAST_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def as_device(device: torch.device | str) -> torch.device:
    """``device`` as a ``torch.device``, checked: torch knows its name and, for CUDA, this machine has a GPU.

    Raises:
        ValueError: a name torch does not know (e.g. ``"gpu"``), or CUDA (or Apple's MPS) on a machine without it.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda'; got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} asked for, but this machine has no CUDA GPU: use 'cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r} asked for, but this machine has no Apple MPS GPU: use 'cpu'"
                         f"{' or cuda' if torch.cuda.is_available() else ''}")
    return device


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def cpu_has_fast_bf16() -> bool:
    """True when this CPU computes bf16 natively (a flag of :data:`FAST_BF16_FLAGS`); ``LRLIB_CPU_BF16=0`` or ``1``
    overrides the check (e.g. to measure emulated bf16)."""
    forced = os.environ.get("LRLIB_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    return any(flag in _cpu_flags() for flag in FAST_BF16_FLAGS)


def uses_bf16(device: torch.device | str, enabled: bool = True) -> bool:
    """Whether :func:`bf16_autocast` computes in bf16 on ``device``: asked for, and CUDA or a CPU with bf16
    instructions."""
    kind = as_device(device).type
    return enabled and (kind == "cuda" or (kind == "cpu" and cpu_has_fast_bf16()))


def numerics(device: torch.device | str, enabled: bool = True) -> str:
    """The numeric path a computation takes, for cache keys: ``"cuda-bf16"``, ``"cpu-fp32"``, ``"cpu-bf16"``, ...;
    a result computed in float32 is never served for a bf16 one."""
    return f"{as_device(device).type}-{'bf16' if uses_bf16(device, enabled) else 'fp32'}"


def describe(device: torch.device | str) -> str:
    """What the device is, for set-up lines and results files: the GPU's name, or the CPU's model and the number
    of cores this process may use (``"AMD EPYC, 2 cores"``)."""
    device = as_device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores"


def bf16_autocast(device: torch.device | str, enabled: bool = True, *, cache: bool = True) -> torch.autocast:
    """``torch.autocast`` to bfloat16 where :func:`uses_bf16` says it pays (CUDA, or a CPU with bf16 instructions);
    elsewhere a disabled autocast (plain float32). ``cache=False`` turns off autocast's cache of cast weights,
    which CUDA graph capture requires.

    Raises:
        ValueError: as :func:`as_device`.
    """
    device = as_device(device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(device, enabled),
                          cache_enabled=cache)


def synchronize(device: torch.device | str) -> None:
    """Wait for the GPU's queued work (timings), a no-op on the CPU.

    Raises:
        ValueError: as :func:`as_device`.
    """
    if as_device(device).type == "cuda":
        torch.cuda.synchronize()


@contextmanager
def fixed_algorithms() -> Iterator[None]:
    """cuDNN autotuning off inside the block, as it was after it. Autotuning pays for a training loop of one input
    size; an evaluation over photos of many sizes would tune once per size (about 70 in notebook 05) and lose.

    Raises:
        Nothing of its own: whatever the block raises passes through, with the setting restored.
    """
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before
