"""Image sets as tensors: :func:`load` (a labelled set, a photo folder as crops, or the bundled samples) and
:func:`concat`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..checks import check_optional_ints
from .formats import _read_cifar10, _read_fashion, _read_svhn
from .images import _decode_all, _open_rgb, _square
from .photo_sets import _photos_or_raise, _sample_photos
from .registry import Entry, _entry, _root


@dataclass(repr=False)
class ImageSet:
    """A batch of images with their labels.

    Attributes:
        images: (N, 3, H, W) uint8, on the requested device.
        labels: (N,) int64 class indices (photo folders: each image's own index 0..N-1).
        classes: class names, ``classes[labels[i]]`` names image i (photo folders: file stems).
        name: e.g. ``"cifar10/test"``; ``[:limit]`` and ``@size`` are appended when used.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:  # the default would print every pixel
        return (f"ImageSet({self.name!r}, images={tuple(self.images.shape)} {self.images.dtype} "
                f"on {self.images.device}, {len(self.classes)} classes)")


# --- load ------------------------------------------------------------------------------------------


def load(name: str, split: str | Path = "test", *, size: int | None = None, limit: int | None = None,
         device: str | torch.device = "cpu", root: Path | None = None) -> ImageSet:
    """Load a data set as uint8 tensors (never downloads; see :func:`fetch`).

    Args:
        name: a registry name (see :func:`datasets`).
        split: ``"train"`` / ``"test"`` for cifar10, fashion-mnist and svhn; the folder itself for
            ``images``; ``"all"`` for the photo sets and ``samples`` (the default ``"test"`` is
            accepted there too).
        size: cifar10 / fashion-mnist / svhn: resize to size x size (bicubic, antialiased; default: keep
            32 x 32). ``images`` and photo sets (required): resize the shorter side to ``size``,
            then centre-crop size x size. ``samples``: the crop size (default 64).
        limit: keep at most ``limit`` images, spread over the classes: class c keeps its first
            ``limit // n_classes`` images in file order (the first ``limit % n_classes`` classes one
            more), so small subsets still hold every class. Photo folders (one class per photo)
            thus keep their first ``limit`` photos.
        device: where the tensors go, e.g. ``"cuda"``.
        root: the data root (default :func:`data_root`).

    Returns:
        :class:`ImageSet`: images (N, 3, H, W) uint8, labels (N,) int64, both on ``device``.

    Raises:
        ValueError: unknown name or split, ``size`` or ``limit`` not a positive integer, a photo
            set without ``size``, a set of image pairs (see :func:`load_pairs`), a multi-label or retrieval
            set (see :func:`load_multilabel`, :func:`load_retrieval`), a data root that is
            a file, or a corrupt file: a photo that cannot be decoded, a CIFAR-10 batch, idx or .mat
            file of the wrong shape or with labels outside the classes, a damaged archive (nothing
            is unpacked). The message names the file and what to do.
        DatasetMissing: the files are not there, or a copy unpacked from an archive has lost files
            and the archive is gone; the message says how to get them (and what to delete).
    """
    entry, root = _entry(name), _root(root)
    check_optional_ints(size=size, limit=limit)
    if entry.kind == "pairs":
        raise ValueError(f"{name} holds image pairs for matching, not an image set: use "
                         f"load_pairs({name!r}{'' if entry.folder else ', folder=FOLDER'})")
    if entry.kind in ("multilabel", "retrieval", "distractors"):
        raise ValueError(f"{name} is a {entry.kind} set, not one class per image: use {entry.reader}({name!r}, ...)")
    if entry.kind in ("photos", "samples") and split == "test":
        split = "all"  # the default split means "everything" for sets without splits
    if entry.kind != "folder" and split not in entry.splits:
        raise ValueError(f"unknown split {split!r} for {name}; choose one of {', '.join(entry.splits)}")

    if entry.kind == "labelled":
        images, labels, classes = _load_labelled(entry, str(split), root, size, limit)
        tag = f"{name}/{split}"
    elif entry.kind == "samples":
        images, labels, classes = _load_samples(size or 64, limit)
        tag = "samples"
    else:
        if entry.kind == "folder":
            folder = Path(split).expanduser()
            tag = f"images/{folder.resolve().name}"
        else:
            folder, tag = root / entry.folder, name
        images, labels, classes = _load_photo_folder(folder, size, limit, entry, root)
    if limit is not None:
        tag += f"[:{limit}]"
    if size is not None:
        tag += f"@{size}"
    return ImageSet(images.contiguous().to(device), labels.to(device), list(classes), tag)


def _stratified(labels: np.ndarray, n_classes: int, limit: int | None) -> np.ndarray:
    """Indices of a class-balanced subset: the first quota[c] images of every class c, in file order.

    quota[c] = limit // n_classes, plus one for the first limit % n_classes classes.
    Returns sorted int64 indices (all of them when ``limit`` is None or >= len(labels)).
    """
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    keep = []
    for c in range(n_classes):
        quota = limit // n_classes + (1 if c < limit % n_classes else 0)
        keep.append(np.flatnonzero(labels == c)[:quota])
    return np.sort(np.concatenate(keep))


def _resize_batch(images: torch.Tensor, size: int, batch: int = 1024) -> torch.Tensor:
    """Resize (N, C, H, W) uint8 to (N, C, size, size) uint8: bicubic, antialiased, in batches."""
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, len(images), batch):
        x = images[start:start + batch].float()
        y = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
        out[start:start + batch] = y.round().clamp(0, 255).to(torch.uint8)
    return out


def _load_labelled(entry: Entry, split: str, root: Path, size: int | None,
                   limit: int | None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """cifar10 / fashion-mnist / svhn: read the whole split, take the subset, then make it 3 x size x size."""
    assert entry.classes is not None
    if entry.name == "cifar10":
        images, labels = _read_cifar10(entry, split, root)
    elif entry.name == "svhn":
        images, labels = _read_svhn(entry, split, root)
    else:
        images, labels = _read_fashion(entry, split, root)
    keep = _stratified(labels, len(entry.classes), limit)
    images, labels = images[keep], labels[keep]
    if entry.name == "fashion-mnist":
        # (N, 28, 28) -> (N, 3, 32, 32): 2 black pixels on every side, grey repeated into R, G and B.
        images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
        images = np.repeat(images[:, None], 3, axis=1)
    x = torch.from_numpy(np.ascontiguousarray(images))
    if size is not None:
        x = _resize_batch(x, size)
    return x, torch.from_numpy(labels.astype(np.int64)), entry.classes


def _load_photo_folder(folder: Path, size: int | None, limit: int | None, entry: Entry,
                       root: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Every photo of a folder as size x size centre crops; labels 0..N-1, classes = file stems."""
    if size is None:
        raise ValueError(f"{entry.name}: photos differ in size, so size=S is required "
                         f"(each photo becomes an S x S centre crop)")
    files = _photos_or_raise(folder, entry, root, f"as the split: load('images', split='path/to/photos', size={size})")
    files = files[:limit]
    arrays = _decode_all(files, lambda p: _square(_open_rgb(p), size), desc=f"decoding {entry.name}")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return images, torch.arange(len(files), dtype=torch.int64), [p.stem for p in files]


# --- combining sets --------------------------------------------------------------------------------


def _load_samples(size: int, limit: int | None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Four crops per bundled photo: the quadrants of its centre square, each resized to size x size.

    Label = the photo's index, so every "class" has four members (enough for retrieval and k-NN).
    """
    crops, labels, classes = [], [], []
    for label, (name, array) in enumerate(_sample_photos()):
        im = Image.fromarray(array).convert("RGB")
        w, h = im.size
        half = min(w, h) // 2
        left, top = (w - 2 * half) // 2, (h - 2 * half) // 2
        for dx, dy in ((0, 0), (half, 0), (0, half), (half, half)):
            box = (left + dx, top + dy, left + dx + half, top + dy + half)
            crops.append(np.asarray(im.resize((size, size), Image.Resampling.BICUBIC, box=box)))
            labels.append(label)
        classes.append(name)
    labels_array = np.asarray(labels, dtype=np.int64)
    keep = _stratified(labels_array, len(classes), limit)
    images = torch.from_numpy(np.stack(crops)[keep]).permute(0, 3, 1, 2)
    return images, torch.from_numpy(labels_array[keep]), classes


def concat(sets: list[ImageSet]) -> ImageSet:
    """Join image sets of the same image size; labels are offset so classes stay distinct.

    Returns:
        images (sum N, 3, H, W), labels shifted by the number of classes of the sets before,
        classes concatenated, name ``"a+b"``.

    Raises:
        ValueError: no sets, or sets of different image shapes.
    """
    if not sets:
        raise ValueError("concat needs at least one ImageSet")
    shapes = sorted({tuple(s.images.shape[1:]) for s in sets})
    if len(shapes) > 1:
        raise ValueError(f"the image sets differ in image shape {shapes}; load them with the same size=")
    offsets = np.cumsum([0] + [len(s.classes) for s in sets[:-1]])
    return ImageSet(torch.cat([s.images for s in sets]),
                    torch.cat([s.labels + int(offset) for s, offset in zip(sets, offsets)]),
                    [c for s in sets for c in s.classes], "+".join(s.name for s in sets))
