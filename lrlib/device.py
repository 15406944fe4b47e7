"""Running on the GPU the same way everywhere: bf16 autocast on CUDA (float32 elsewhere), and waiting for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["as_device", "bf16_autocast", "synchronize", "fixed_algorithms"]


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


def bf16_autocast(device: torch.device | str, enabled: bool = True, *, cache: bool = True) -> torch.autocast:
    """``torch.autocast`` to bfloat16 on CUDA when ``enabled``; a disabled autocast (plain float32) on the CPU.
    ``cache=False`` turns off autocast's cache of cast weights, which CUDA graph capture requires.

    Raises:
        ValueError: as :func:`as_device`.
    """
    device = as_device(device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda",
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
