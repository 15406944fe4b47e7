"""Argument checks shared by the building blocks: each raises a ValueError (a TypeError for a wrong type) that
names the argument, the value it got and what it needs, so bad input never reaches deep into torch."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["TrainingDiverged", "check_int", "check_optional_ints", "check_positive", "check_number", "check_finite",
           "check_features", "check_images", "check_losses", "check_weights",
           "LOSS_CHECK_EVERY"]


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``.

    Raises:
        ValueError: anything else, naming ``name`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return value


def check_optional_ints(**values: object) -> None:
    """Check keyword arguments that may be None.

    Raises:
        ValueError: naming the first argument that is neither None nor an int >= 1.
    """
    for name, value in values.items():
        if value is not None:
            check_int(name, value, 1)


def check_positive(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number > 0 (not a bool).

    Raises:
        ValueError: anything else, naming ``name`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    return float(value)


def check_number(name: str, value: object, minimum: float = 0.0) -> float:
    """``value`` as a float if it is a finite number >= ``minimum`` (not a bool).

    Raises:
        ValueError: anything else (NaN and infinities included), naming ``name`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum:g}; got {value!r}")
    return float(value)


def check_finite(name: str, values: torch.Tensor) -> torch.Tensor:
    """``values`` if none of them is NaN or infinite (one reduction; integer tensors pass).

    Raises:
        ValueError: NaN or infinite values, with their count.
    """
    if values.is_floating_point() and not torch.isfinite(values).all():
        bad = int((~torch.isfinite(values)).sum())
        raise ValueError(f"{name} holds {bad} NaN or infinite value(s) of {values.numel()}; the result would be "
                         f"garbage: find where they come from (a failed computation, a division by zero)")
    return values


def check_features(name: str, x: object, dim: int | None = None) -> torch.Tensor:
    """``x`` as a non-empty, finite float (N, D) tensor (with ``dim`` columns when given).

    Raises:
        ValueError: another shape, dtype or width, no rows, NaN or infinite values.
    """
    t = torch.as_tensor(x)
    if t.ndim != 2 or not t.is_floating_point() or len(t) == 0 or (dim is not None and t.shape[1] != dim):
        want = f"(N, {dim})" if dim is not None else "(N, D)"
        raise ValueError(f"{name} must be non-empty float features {want}; got {t.dtype} {tuple(t.shape)}")
    return check_finite(name, t)


def check_images(name: str, images: object, *, uint8: bool = False, ndim: int = 4,
                 channels: int | None = None) -> torch.Tensor:
    """``images`` if it is an ``ndim``-d tensor ((N, C, H, W) by default; ``channels`` on axis -3 when given)
    of uint8, or, unless ``uint8``, of finite floats in [0, 1] (give or take 1e-3).

    Raises:
        TypeError: ``images`` is not a tensor at all.
        ValueError: the wrong number of dimensions or channels, another dtype, NaN or infinite values, values
            outside [0, 1] (with a hint to divide by 255 when they look like 0..255).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(images).__name__}")
    layout = {2: "(H, W)", 3: "(C, H, W)", 4: "(N, C, H, W)"}.get(ndim, f"{ndim}-d")
    if images.ndim != ndim or (channels is not None and images.shape[-3] != channels):
        want = f" with C = {channels}" if channels is not None else ""
        raise ValueError(f"{name} must have shape {layout}{want}; got {tuple(images.shape)}")
    kinds = "uint8" if uint8 else "uint8, or float in [0, 1]"
    if images.dtype != torch.uint8 and (uint8 or not images.is_floating_point()):
        hint = " (convert [0, 1] floats with (x * 255).round().to(torch.uint8))" if images.is_floating_point() else ""
        raise ValueError(f"{name} must be {kinds}; got dtype {images.dtype}{hint}")
    if images.is_floating_point() and images.numel():
        check_finite(name, images)
        low, high = (float(v) for v in torch.aminmax(images))
        if low < -1e-3 or high > 1 + 1e-3:
            hint = " (they look like 0..255 values: divide by 255)" if high > 2 else ""
            raise ValueError(f"{name} must lie in [0, 1]; got values in [{low:g}, {high:g}]{hint}")
    return images


LOSS_CHECK_EVERY = 250
"""Steps between a long training's checks that its loss is finite (:func:`check_losses`; each waits for the GPU)."""


class TrainingDiverged(ValueError):
    """A training whose loss or weights became NaN or infinite: it stops rather than return (or cache) garbage."""


def check_losses(what: str, losses: Sequence[torch.Tensor], fix: str, *, since: int = 0) -> int:
    """Stop a training whose step losses ``losses[since:]`` (0-d tensors, ``losses[i]`` of step i + 1, on any device)
    hold a NaN or an infinity. One reduction, so one GPU sync: call it once an epoch or every
    :data:`LOSS_CHECK_EVERY` steps, not every step. Returns ``len(losses)``, the ``since`` of the next check.

    Raises:
        TrainingDiverged: naming ``what``, the first bad step, its loss and ``fix`` (the setting to change).
    """
    if len(losses) > since:
        new = torch.stack(list(losses[since:])).detach()
        bad = ~torch.isfinite(new)
        if bad.any():
            i = int(bad.nonzero()[0])
            raise TrainingDiverged(f"{what} diverged: the loss of step {since + i + 1} is {float(new[i])}; {fix}")
    return len(losses)


def check_weights(what: str, model: torch.nn.Module, fix: str) -> None:
    """Stop a training that leaves a NaN or infinite parameter or buffer in ``model`` (its last step may break the
    weights although every loss was finite).

    Raises:
        TrainingDiverged: naming ``what``, the first bad tensor and ``fix``.
    """
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise TrainingDiverged(f"{what} diverged: its weights {name!r} hold NaN or infinite values; {fix}")
