"""Argument checks shared by the building blocks: each raises a ValueError that names the argument,
the value it got and what it needs, so bad input never reaches deep into torch."""

from __future__ import annotations

import math

__all__ = ["check_int", "check_optional_ints", "check_positive"]


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return value


def check_optional_ints(**values: object) -> None:
    """ValueError naming the first argument that is neither None nor an int >= 1."""
    for name, value in values.items():
        if value is not None:
            check_int(name, value, 1)


def check_positive(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number > 0 (not a bool), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    return float(value)
