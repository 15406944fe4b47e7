"""Full-size photos of the photo sets (:func:`photos`), and the photos that ship inside scikit-image and
scikit-learn (the ``samples`` set of the smoke profile)."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..checks import check_optional_ints
from .archives import _unpacked_tree
from .images import _chw, _decode_all, _fit, _open_rgb, _photo_files
from .registry import DatasetMissing, Entry, _entry, _root

# Colour photos bundled inside scikit-image (no download needed), in this order; then scikit-learn's two.
SKIMAGE_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina",
                  "immunohistochemistry", "motorcycle"]


def _photo_set_files(entry: Entry, root: Path, *, grey: bool = False) -> list[Path]:
    """The photos of a named photo set: its colour files, or with ``grey`` and none of those, its grey copy
    (``entry.grey_folder``). One unpacked from its download (div2k) is first checked against the marker of
    that unpack, and unpacked again when its archive is there (see :func:`archives._unpacked_tree`)."""
    folder = root / entry.folder
    if entry.downloads:
        name = entry.downloads[0].filename
        archive = folder.parent / name
        _unpacked_tree(folder.parent, folder.name, name, archive if archive.is_file() else None,
                       entry.instructions(root))
    files = _photo_files(folder)
    if not files and grey and entry.grey_folder:
        files = _photo_files(root / entry.grey_folder)
    return files


def _photos_or_raise(folder: Path, entry: Entry, root: Path, how: str, *, grey: bool = False) -> list[Path]:
    """The photos in ``folder`` (for a named set, its own folder or, with ``grey``, its grey copy), or
    :class:`DatasetMissing` saying what to put where (``how``: how to pass a folder of one's own, for the
    ``images`` kind)."""
    files = _photo_set_files(entry, root, grey=grey) if entry.kind == "photos" else _photo_files(folder)
    if not files and entry.grey_folder and _photo_files(root / entry.grey_folder):
        raise DatasetMissing(f"{entry.name}: only its grey copy is there ({root / entry.grey_folder}), which serves "
                             f"grey photos only (photos({entry.name!r}, grey=True)); this use needs the colour "
                             f"photos in {folder}.\n{entry.instructions(root)}")
    if not files:
        if entry.kind == "folder":
            what = ("does not exist" if not folder.exists() else "is a file, not a folder" if folder.is_file()
                    else "holds no .png/.jpg/.jpeg/.bmp photos")
            raise DatasetMissing(f"images: the folder {str(folder)!r} {what}; pass a folder of photos {how}")
        raise DatasetMissing(f"{entry.name}: no photos in {folder}.\n{entry.instructions(root)}")
    return files


# --- samples: photos inside installed packages ------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _sample_photos() -> tuple[tuple[str, np.ndarray], ...]:
    """(name, (H, W, 3) uint8) of the bundled colour photos; ones this install lacks are skipped."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = []
    for name in SKIMAGE_PHOTOS:
        try:
            if name == "motorcycle":
                array = skimage.data.stereo_motorcycle()[0]  # the left view
            else:
                array = getattr(skimage.data, name)()
        except Exception as err:  # an image that would need a download (pooch) in this version
            warnings.warn(f"samples: skipping skimage.data.{name} ({type(err).__name__})", stacklevel=2)
            continue
        photos.append((name, np.ascontiguousarray(array)))
    bunch = load_sample_images()
    photos += [(Path(f).stem, np.ascontiguousarray(img)) for f, img in zip(bunch.filenames, bunch.images)]
    return tuple(photos)


# --- full-size photos ------------------------------------------------------------------------------


def photos(name: str, *, folder: str | Path | None = None, grey: bool = False, limit: int | None = None,
           max_side: int | None = None, device: str | torch.device = "cpu",
           root: Path | None = None) -> list[tuple[str, torch.Tensor]]:
    """The photos of a photo set at full size, one tensor each (never downloads; see :func:`fetch`).

    Unlike :func:`load`, nothing is cropped: sizes differ, so the result is a list, not a batch.

    Args:
        name: a photo set (``b100``, ``urban100``, ``set5``, ``set14``, ``t91``, ``div2k``),
            ``"images"`` (with ``folder=``) or ``"samples"`` (the bundled photos, uncropped).
        folder: the folder of photos for ``"images"`` (required there, refused for the others:
            pass ``root=`` to read a named set from another data root).
        grey: one channel of ITU-R 601-2 luma, L = 0.299 R + 0.587 G + 0.114 B, computed exactly as
            PIL's ``convert("L")`` (OpenCV's ``COLOR_RGB2GRAY`` uses the same weights and rounds to
            within 1 of it). Taken before any shrinking. A photo set whose colour files are absent is
            then read from its grey copy (``<root>/sr-grey/<set>``, the same pixels at a third of the size).
        limit: keep the first ``limit`` photos (file order; samples: their usual order).
        max_side: shrink every photo whose longer side exceeds ``max_side`` so that the longer side
            is exactly ``max_side``, keeping the aspect ratio (the shorter side is rounded); PIL's
            bicubic filter, antialiased. Smaller photos are kept as they are, never enlarged.
            (All of DIV2K at full size is about 7 GB of pixels: use ``limit`` or ``max_side``.)
        device: where the tensors go, e.g. ``"cuda"``.
        root: the data root (default :func:`data_root`).

    Returns:
        ``[(stem, image)]`` in file order: the file name without its suffix (samples: the photo's
        name) and a (C, H, W) uint8 tensor on ``device``, C = 1 when ``grey`` else 3 (RGB).

    Raises:
        ValueError: unknown name, a set that is not photos (the message names the function that reads
            it), ``folder`` missing for ``images`` or given for another set,
            ``limit`` or ``max_side`` not a positive integer, a data root that is a file, a photo
            that cannot be decoded (truncated, damaged, not an image: the message names it), or a
            damaged archive (div2k's, when it is unpacked again).
        DatasetMissing: no photos where they should be, or div2k's unpacked photos lost files and
            the archive is gone; the message says how to get them (and what to delete).
    """
    entry, root = _entry(name), _root(root)
    check_optional_ints(limit=limit, max_side=max_side)
    if entry.kind not in ("photos", "folder", "samples"):
        raise ValueError(f"photos() reads the photo sets, 'images' and 'samples'; {name} is {entry.kind}: "
                         f"use {entry.reader}({name!r}, ...)")
    if entry.kind == "folder":
        if folder is None:
            raise ValueError(f"{name}: pass the folder of photos, e.g. photos({name!r}, folder='path/to/photos')")
    elif folder is not None:
        where = f"lives in {root / entry.folder}" if entry.folder else "needs no files"
        raise ValueError(f"folder= is only for 'images'; {name} {where} (pass root= to use another data root)")

    def finish(im: Image.Image) -> torch.Tensor:
        if grey:
            im = im.convert("L")
        if max_side is not None:
            im = _fit(im, max_side)
        return _chw(np.asarray(im))

    if entry.kind == "samples":
        named = [(n, Image.fromarray(a).convert("RGB")) for n, a in _sample_photos()[:limit]]
        return [(n, finish(im).to(device)) for n, im in named]
    path = Path(folder).expanduser() if entry.kind == "folder" else root / entry.folder
    files = _photos_or_raise(path, entry, root, "as folder=: photos('images', folder='path/to/photos')", grey=grey)
    files = files[:limit]
    images = _decode_all(files, lambda p: finish(_open_rgb(p)), desc=f"decoding {name}")
    return [(p.stem, image.to(device)) for p, image in zip(files, images)]
