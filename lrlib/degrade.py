"""Synthesise low-resolution images the way the papers do.

Vocabulary: a *factor* ``s`` is the side down-scaling factor (an image of side
H becomes H // s). The FSR-GAN paper speaks of *area ratios*: "1/16" means
1/s**2 of the pixels, i.e. factor 4. :func:`factor_of_ratio` and
:func:`ratio_label` convert between the two.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .checks import check_images, check_int

__all__ = ["DEGRADE_VERSION", "low_resolution", "low_resolution_uint8", "factor_of_ratio", "ratio_label",
           "effective_ratio"]

DEGRADE_VERSION = 1
"""Bumped whenever :func:`low_resolution`'s pixels change: the keys of cached features and trainings made from
degraded images include it, so a changed degradation never serves them stale."""


def _check_factor(factor: object) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int):
        raise ValueError(
            f"factor must be an int >= 1 (the side down-scaling factor, e.g. 4 for the "
            f"area ratio 1/16); got {factor!r} of type {type(factor).__name__}"
        )
    if factor < 1:
        raise ValueError(f"factor must be >= 1 (1 keeps the image as it is); got {factor}")
    return factor


def low_resolution(images: torch.Tensor, factor: int, *, keep_size: bool = True) -> torch.Tensor:
    """Make low-resolution copies of a batch of images.

    Bicubic, antialiased down-sampling to ``(H // factor, W // factor)``; with
    ``keep_size`` the result is bicubically up-sampled back to ``(H, W)``, as the
    papers do before feeding a network. The output is clamped to [0, 1].

    Args:
        images: float tensor (N, C, H, W) with values in [0, 1], on any device.
        factor: int >= 1, the side down-scaling factor (area ratio 1 / factor**2).
        keep_size: up-sample back to (H, W) when True; else return the small image.

    Returns:
        float tensor (N, C, H, W) if ``keep_size`` else (N, C, H // factor, W // factor),
        same dtype and device as ``images``.

    Raises:
        ValueError: for a factor that is not an int >= 1, a tensor that is not a
            4-d floating-point batch, an image smaller than ``factor`` pixels, NaN or
            infinite values, or values outside [0, 1] beyond a tolerance of 1e-3 (0..255
            floats, a forgotten ``/ 255``, would otherwise come back all white).
    """
    factor = _check_factor(factor)
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor (N, C, H, W); got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(
            f"images must have shape (N, C, H, W); got {tuple(images.shape)} "
            f"(add a batch axis with images[None] for a single image)"
        )
    if not images.is_floating_point():
        raise ValueError(
            f"images must be a float tensor in [0, 1]; got dtype {images.dtype} "
            f"(convert uint8 with images.float() / 255)"
        )
    check_images("images", images)  # finite, within [0, 1]: a forgotten / 255 would come back all white
    h, w = images.shape[-2:]
    if h < factor or w < factor:
        raise ValueError(
            f"image of size {h}x{w} is smaller than the factor {factor}: "
            f"down-scaling would leave no pixel; use a factor <= {min(h, w)}"
        )
    if factor == 1:
        return images.clamp(0, 1)
    small = F.interpolate(images, size=(h // factor, w // factor), mode="bicubic",
                          antialias=True, align_corners=False)
    if keep_size:
        small = F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)
    return small.clamp_(0, 1)


def factor_of_ratio(ratio: str | float) -> int:
    """The side factor of an area ratio: ``"1/16"`` or ``1/16`` -> 4.

    Raises:
        ValueError: when the ratio is not 1 / (an integer square) (``"1/0"``, NaN and infinities included).
    """
    value = ratio
    if isinstance(ratio, str):
        num, _, den = ratio.partition("/")
        try:
            value = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"ratio must look like '1/16' (a positive denominator); got {ratio!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"an area ratio must lie in (0, 1]; got {ratio!r}")
    factor = round(math.sqrt(1 / value))
    if abs(1 / factor**2 - value) > 1e-9:
        raise ValueError(f"area ratio {ratio!r} is not 1/k**2 for an integer k (e.g. 1/4, 1/9, 1/16)")
    return factor


def ratio_label(factor: int) -> str:
    """The paper's name of a factor: 4 -> ``"1/16"``."""
    return f"1/{_check_factor(factor) ** 2}"


def effective_ratio(size: int, factor: int) -> float:
    """The area ratio really applied to a ``size`` x ``size`` image: ``(size // factor / size) ** 2``.

    On 32x32 CIFAR images, factors 7 and 8 both leave 4x4 pixels: the nominal
    ratios 1/49 and 1/64 become the same 1/64.
    """
    return (size // _check_factor(factor) / size) ** 2


def low_resolution_uint8(images: torch.Tensor, factor: int, *, keep_size: bool = True,
                         batch_size: int = 4096) -> torch.Tensor:
    """:func:`low_resolution` for a whole uint8 data set (N, C, H, W), batch by batch on its device.

    Returns the LR copies as uint8 (rounded), the way an LR data set is stored: at the original size, or
    with ``keep_size=False`` at the small size (N, C, H // factor, W // factor).

    Raises:
        ValueError: ``images`` not uint8, ``batch_size`` not an int >= 1; as :func:`low_resolution` for the factor
            and the shape.
    """
    check_int("batch_size", batch_size)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be uint8 (N, C, H, W); got {got}")
    parts = [(low_resolution(images[start:start + batch_size].float() / 255, factor, keep_size=keep_size) * 255)
             .round_().to(torch.uint8) for start in range(0, len(images), batch_size)]
    if not parts:
        raise ValueError("images is empty: give at least one image (N >= 1)")
    return torch.cat(parts)
