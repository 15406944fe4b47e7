"""Running on the GPU the same way everywhere: bf16 autocast on CUDA (float32 elsewhere), and waiting for it."""

from __future__ import annotations

import torch

__all__ = ["bf16_autocast", "synchronize"]


def bf16_autocast(device: torch.device | str, enabled: bool = True) -> torch.autocast:
    """``torch.autocast`` to bfloat16 on CUDA when ``enabled``; a disabled autocast (plain float32) on the CPU."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def synchronize(device: torch.device | str) -> None:
    """Wait for the GPU's queued work (timings), a no-op on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
