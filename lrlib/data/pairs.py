"""Image pairs for matching local features, with their ground-truth homographies: :func:`load_pairs`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .images import _chw, _decode_all, _read_rgb
from .registry import DatasetMissing, Entry, _REGISTRY, _entry, _root

# Image files of the pair sets, in the order they are looked for (graf's original release is PPM).
PAIR_SUFFIXES = (".png", ".ppm", ".jpg", ".jpeg", ".bmp")


@dataclass(repr=False)
class ImagePair:
    """Two photos of one scene, for matching local features (e.g. SIFT).

    Attributes:
        name: e.g. ``"img1-img3"`` (the two file stems).
        a, b: (3, H, W) uint8 RGB images on the CPU (their sizes may differ).
        homography: (3, 3) float64, maps pixel coordinates ``(x, y, 1)`` of ``a`` to those of ``b``
            (up to scale: divide by the third coordinate), or None when the pair has none.
    """

    name: str
    a: torch.Tensor
    b: torch.Tensor
    homography: torch.Tensor | None

    def __repr__(self) -> str:  # the default would print every pixel
        return (f"ImagePair({self.name!r}, a={tuple(self.a.shape)}, b={tuple(self.b.shape)}, "
                f"homography={'yes' if self.homography is not None else 'none'})")


# --- image pairs for matching ------------------------------------------------------------------------


def load_pairs(name: str, *, root: Path | None = None, folder: str | Path | None = None) -> list[ImagePair]:
    """Image pairs for matching local features, with their ground-truth homographies where known.

    ``graf`` (files in ``<root>/pairs/graf/``): Oxford's affine sequence, pairs (img1, imgN) for
    N = 2..6 with the homography of ``H1toNp``; img1..img6 may be .png or the original .ppm. The
    five pairs share one tensor for img1.

    ``pairs`` (``folder=`` required): any folder with a ``pairs.txt``, one pair a line:
    ``a.jpg b.jpg`` or ``a.jpg b.jpg H.txt``, where ``H.txt`` holds the 3x3 homography from a to b in
    the same format as graf's (three lines of three numbers). Paths are relative to the folder;
    empty lines and lines starting with ``#`` are skipped. Pairs naming the same file share its tensor.

    Returns:
        :class:`ImagePair` list in order: a, b (3, H, W) uint8 RGB on the CPU, homography (3, 3)
        float64 mapping pixel coordinates (x, y, 1) of a to b, or None.

    Raises:
        ValueError: unknown name, a set that is not pairs, ``folder`` missing for ``pairs`` or
            given for ``graf``, a data root that is a file, a malformed ``pairs.txt`` line (or one
            naming a folder), a malformed homography file, or an image that cannot be decoded (the
            message names it).
        DatasetMissing: files missing; the message names them and says where they go.
    """
    entry, root = _entry(name), _root(root)
    if entry.kind != "pairs":
        also = f" or photos({name!r}, ...)" if entry.kind in ("photos", "folder", "samples") else ""
        raise ValueError(f"load_pairs reads the sets of image pairs "
                         f"({', '.join(n for n, e in _REGISTRY.items() if e.kind == 'pairs')}); "
                         f"{name} is {entry.kind}: use {entry.reader}({name!r}, ...){also}")
    if entry.folder:
        if folder is not None:
            raise ValueError(f"folder= is only for 'pairs'; {name} lives in {root / entry.folder} "
                             f"(pass root= to use another data root)")
        return _load_graf(entry, root)
    if folder is None:
        raise ValueError(f"{name}: pass the folder holding pairs.txt, e.g. load_pairs({name!r}, folder='path/to/pairs')")
    return _load_pair_list(Path(folder).expanduser())


def _graf_image(folder: Path, i: int) -> Path | None:
    return next((p for s in PAIR_SUFFIXES if (p := folder / f"img{i}{s}").is_file()), None)


def _graf_missing(folder: Path) -> list[str]:
    """The names of graf's files that are not in ``folder`` (empty: all there)."""
    missing = [f"img{i}" for i in range(1, 7) if _graf_image(folder, i) is None]
    return missing + [f"H1to{i}p" for i in range(2, 7) if not (folder / f"H1to{i}p").is_file()]


def _describe_missing(folder: Path, missing: list[str]) -> str:
    if not folder.is_dir():
        return "does not exist"
    return f"lacks {', '.join(missing)} (images as .png or .ppm)"


def _load_graf(entry: Entry, root: Path) -> list[ImagePair]:
    folder = root / entry.folder
    missing = _graf_missing(folder)
    if missing:
        raise DatasetMissing(f"{entry.name}: {folder} {_describe_missing(folder, missing)}.\n{entry.instructions(root)}")
    homographies = [_read_homography(folder / f"H1to{i}p") for i in range(2, 7)]  # check these before decoding
    paths = [_graf_image(folder, i) for i in range(1, 7)]
    images = _decode_all(paths, lambda p: _chw(_read_rgb(p)), desc=f"decoding {entry.name}")
    return [ImagePair(f"img1-img{i}", images[0], images[i - 1], h) for i, h in zip(range(2, 7), homographies)]


def _read_homography(path: Path) -> torch.Tensor:
    """A 3x3 homography from a text file of three lines of three numbers (Oxford's format) -> (3, 3) float64."""
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        matrix = np.array([[float(v) for v in row] for row in rows]) if rows else np.zeros((0, 0))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path} is not a homography file ({err}); it must hold three lines of three numbers "
                         f"(the 3x3 matrix mapping (x, y, 1) of the first image to the second)") from err
    if matrix.shape != (3, 3):
        raise ValueError(f"{path}: expected a 3x3 homography (three lines of three numbers), found lines of "
                         f"{[len(r) for r in rows]} numbers")
    if not np.isfinite(matrix).all() or np.linalg.matrix_rank(matrix) < 3:
        raise ValueError(f"{path}: the homography must be finite and invertible, got {matrix.tolist()}")
    return torch.from_numpy(matrix)


def _load_pair_list(folder: Path) -> list[ImagePair]:
    listing = folder / "pairs.txt"
    if not listing.is_file():
        what = "does not exist" if not folder.is_dir() else "has no pairs.txt"
        raise DatasetMissing(f"pairs: the folder {str(folder)!r} {what}; pass a folder holding pairs.txt, one pair "
                             f"a line: 'a.jpg b.jpg', or 'a.jpg b.jpg H.txt' with the 3x3 homography from a to b")
    lines = []
    for number, line in enumerate(listing.read_text().splitlines(), 1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if len(tokens) not in (2, 3):
            raise ValueError(f"{listing}, line {number}: expected 'a.jpg b.jpg' or 'a.jpg b.jpg H.txt', got {line!r}")
        paths = [folder / t for t in tokens]
        for path in paths:
            if path.is_dir():
                raise ValueError(f"{listing}, line {number}: {path} is a folder, not a file; name the image files "
                                 f"(and homography file) of each pair")
            if not path.is_file():
                raise DatasetMissing(f"{listing}, line {number}: {path} does not exist (the names in pairs.txt "
                                     f"are relative to {folder})")
        lines.append((number, paths))
    if not lines:
        raise ValueError(f"{listing} lists no pairs; write one pair a line: 'a.jpg b.jpg' or 'a.jpg b.jpg H.txt'")
    homographies = [_read_homography(paths[2]) if len(paths) == 3 else None for _, paths in lines]
    unique = sorted({p for _, paths in lines for p in paths[:2]})
    decoded = dict(zip(unique, _decode_all(unique, lambda p: _chw(_read_rgb(p)), desc="decoding pairs")))
    return [ImagePair(f"{paths[0].stem}-{paths[1].stem}", decoded[paths[0]], decoded[paths[1]], h)
            for (_, paths), h in zip(lines, homographies)]
