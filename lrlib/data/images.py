"""Decoding photo files: the suffixes lrlib reads, RGB or grey decoding in a thread pool, crops and shrinking."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm import tqdm

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


# --- photos ----------------------------------------------------------------------------------------


def _photo_files(folder: Path) -> list[Path]:
    """The photos (.png .jpg .jpeg .bmp, any case) directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def _open_rgb(path: Path) -> Image.Image:
    """A photo as an RGB PIL image (grey, palette or 16-bit converted; EXIF rotation applied), fully decoded.

    Raises ValueError naming the file when it cannot be decoded: truncated, damaged, or not an image.
    """
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return _eight_bit(im).convert("RGB")
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as err:
        raise ValueError(f"{path} cannot be decoded ({type(err).__name__}: {err}): it is truncated, damaged or not "
                         f"an image. Replace it with a good copy, or delete it.") from err


def _eight_bit(im: Image.Image) -> Image.Image:
    """16-bit grey (PIL modes I;16*, I) as 8-bit grey, keeping the high byte as PIL does for 16-bit RGB.

    Other modes are returned as they are. (PIL's own convert would clip every value above 255 to white.)
    """
    if not im.mode.startswith("I"):
        return im
    return Image.fromarray((np.asarray(im).astype(np.int64).clip(0, 65535) >> 8).astype(np.uint8))


def _read_rgb(path: Path) -> np.ndarray:
    """A photo as (H, W, 3) uint8."""
    return np.asarray(_open_rgb(path))


def _square(im: Image.Image, size: int) -> np.ndarray:
    """The centre square of ``im``, resized to (size, size, 3) uint8 with PIL's bicubic filter.

    Same as resizing the shorter side to ``size`` and then cropping the centre size x size.
    """
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    box = (left, top, left + side, top + side)
    return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC, box=box))


def _whole(im: Image.Image, size: int, box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """All of ``im`` (or of its ``box``, (x1, y1, x2, y2) in pixels, fractions allowed) resized to (size, size, 3)
    uint8 with PIL's bicubic filter: not cropped to a square, so the aspect ratio is not kept."""
    return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC, box=box))


_S = TypeVar("_S")
_T = TypeVar("_T")


def _decode_all(items: list[_S], decode: Callable[[_S], _T], desc: str) -> list[_T]:
    """``decode`` every item (a path, or a path with what to do with it) in a pool of threads (PIL decodes without
    holding the GIL); keeps the order."""
    workers = min(16, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(decode, items), total=len(items), desc=desc, unit="img", leave=False,
                         disable=len(items) < 1000))


def _fit(im: Image.Image, max_side: int) -> Image.Image:
    """``im`` shrunk (bicubic, antialiased) so its longer side is ``max_side``; unchanged if already small enough."""
    w, h = im.size
    if max(w, h) <= max_side:
        return im
    scale = max_side / max(w, h)
    size = (max_side, max(1, round(h * scale))) if w >= h else (max(1, round(w * scale)), max_side)
    return im.resize(size, Image.Resampling.BICUBIC)


def _chw(array: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) uint8 -> a new, contiguous (C, H, W) uint8 tensor (C = 1 for grey)."""
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.array(array.transpose(2, 0, 1), order="C"))
