"""PASCAL VOC2007 classification: :func:`load_multilabel` reads the devkit's photos with their 20 labels each.

The devkit lays a split out as ``VOCdevkit/VOC2007/ImageSets/Main/<class>_<split>.txt``, one file per class,
each line ``<image id> <label>`` with label 1 (the class is present), -1 (absent) or 0 (present, but only as
"difficult" objects, which the benchmark ignores); the photos are ``VOCdevkit/VOC2007/JPEGImages/<id>.jpg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checks import check_int, check_optional_ints
from .images import _decode_all, _open_rgb, _whole
from .registry import DatasetMissing, Entry, _entry, _root

VOC_DEVKIT = "VOCdevkit/VOC2007"  # below <root>/voc2007/
VOC_ARCHIVES = {"VOCtrainval_06-Nov-2007.tar": "trainval", "VOCtest_06-Nov-2007.tar": "test"}  # the split each holds
VOC_LABELS = {"1": 1, "0": 0, "-1": -1}


@dataclass(repr=False)
class MultiLabelSet:
    """Photos with several labels each (PASCAL VOC).

    Attributes:
        images: (N, 3, S, S) uint8, each whole photo resized to S x S (not cropped), on the requested device.
        targets: (N, C) int8, one column per class: 1 present, -1 absent, 0 difficult (ignore it when scoring).
        classes: the C class names, in the devkit's order.
        ids: the N image ids (file stems), in the order of the class files.
        name: e.g. ``"voc2007/test@224"``; ``[:limit]`` is appended when used.
    """

    images: torch.Tensor
    targets: torch.Tensor
    classes: list[str]
    ids: list[str]
    name: str

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:  # the default would print every pixel
        return (f"MultiLabelSet({self.name!r}, images={tuple(self.images.shape)} on {self.images.device}, "
                f"targets={tuple(self.targets.shape)})")


def load_multilabel(name: str, split: str = "trainval", *, size: int, limit: int | None = None,
                    device: str | torch.device = "cpu", root: Path | None = None) -> MultiLabelSet:
    """Photos with several labels each, as uint8 tensors (never downloads; see :func:`fetch`).

    A function of its own, not :func:`load`: :class:`ImageSet` promises one class per image (int64 labels
    (N,)), which k-NN, training and :func:`concat` rely on; a photo of VOC holds up to 20 classes at once.

    Args:
        name: ``"voc2007"``.
        split: ``"trainval"`` or ``"test"`` (the benchmark's pair), or ``"train"`` / ``"val"``.
        size: every whole photo is resized to size x size (bicubic, antialiased; the aspect ratio is not
            kept, nothing is cropped), as the off-the-shelf CNN features paper feeds VOC to its network.
        limit: keep the first ``limit`` photos, in the order of the class files.
        device: where the tensors go, e.g. ``"cuda"``.
        root: the data root (default :func:`data_root`).

    Returns:
        :class:`MultiLabelSet`: images (N, 3, size, size) uint8 and targets (N, 20) int8 in {1, 0, -1},
        both on ``device``, the class names and the image ids.

    Raises:
        ValueError: unknown name or split, a set that is not multi-label, ``size`` or ``limit`` not a positive
            integer, a data root that is a file, a malformed class file (a line that is not ``<id> <label>``
            with label 1, 0 or -1, an id listed twice), class files that list different ids, or a photo that
            cannot be decoded. The message names the file and what to do.
        DatasetMissing: a class file or a photo is not there; the message names it and says how to get it.
    """
    entry, root = _entry(name), _root(root)
    check_int("size", size)
    check_optional_ints(limit=limit)
    if entry.kind != "multilabel":
        raise ValueError(f"load_multilabel reads the multi-label sets (voc2007); {name} is {entry.kind}: "
                         f"use {entry.reader}({name!r}, ...)")
    if split not in entry.splits:
        raise ValueError(f"unknown split {split!r} for {name}; choose one of {', '.join(entry.splits)}")
    ids, targets = _read_targets(entry, split, root)
    ids, targets = ids[:limit], targets[:limit]
    paths = _photos(entry, root, ids)
    arrays = _decode_all(paths, lambda p: _whole(_open_rgb(p), size), desc=f"decoding {name}/{split}")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    tag = f"{name}/{split}" + (f"[:{limit}]" if limit is not None else "") + f"@{size}"
    return MultiLabelSet(images.to(device), torch.from_numpy(targets).to(device), list(entry.classes or []), ids, tag)


def _devkit(root: Path) -> Path:
    return root / "voc2007" / VOC_DEVKIT


def _class_file(root: Path, name: str, split: str) -> Path:
    return _devkit(root) / "ImageSets" / "Main" / f"{name}_{split}.txt"


def _split_ready(entry: Entry, root: Path, split: str) -> bool:
    """Whether every class file of ``split`` and the photo folder are there (a quick look: nothing is read)."""
    assert entry.classes is not None
    return (_devkit(root) / "JPEGImages").is_dir() and all(_class_file(root, c, split).is_file()
                                                          for c in entry.classes)


def _voc_status(entry: Entry, root: Path) -> str:
    """``"ready"``, ``"trainval only"``, ``"test only"`` or ``"missing"``."""
    ready = [split for split in VOC_ARCHIVES.values() if _split_ready(entry, root, split)]
    return "ready" if len(ready) == len(VOC_ARCHIVES) else f"{ready[0]} only" if ready else "missing"


def _read_class_file(path: Path) -> dict[str, int]:
    """One class file -> {image id: label}, in file order."""
    labels: dict[str, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2 or tokens[1] not in VOC_LABELS:
            raise ValueError(f"{path}, line {number}: expected '<image id> <label>' with label 1 (present), -1 "
                             f"(absent) or 0 (difficult); got {line!r}. The file is damaged: unpack the devkit again")
        if tokens[0] in labels:
            raise ValueError(f"{path}, line {number}: the image id {tokens[0]!r} is listed twice; the file is "
                             f"damaged: unpack the devkit again")
        labels[tokens[0]] = VOC_LABELS[tokens[1]]
    return labels


def _read_targets(entry: Entry, split: str, root: Path) -> tuple[list[str], np.ndarray]:
    """The ids of a split (in the first class file's order) and their (N, C) int8 targets, checked across files."""
    assert entry.classes is not None
    tables = {}
    for name in entry.classes:
        path = _class_file(root, name, split)
        if not path.is_file():
            raise DatasetMissing(f"{entry.name} ({split}): the class file {path} is missing.\n"
                                 f"{entry.instructions(root)}")
        tables[path] = _read_class_file(path)
    first, ids = next(iter(tables)), list(next(iter(tables.values())))
    if not ids:
        raise ValueError(f"{first} lists no photos; the file is damaged: unpack the devkit again")
    for path, labels in tables.items():
        if set(labels) != set(ids):
            extra, lacking = sorted(set(labels) - set(ids)), sorted(set(ids) - set(labels))
            raise ValueError(f"{path} and {first} list different image ids (only in {path.name}: {extra[:5]}, "
                             f"only in {first.name}: {lacking[:5]}); every class file of a split lists the same "
                             f"photos: unpack the devkit again")
    targets = np.array([[labels[i] for i in ids] for labels in tables.values()], dtype=np.int8)
    return ids, np.ascontiguousarray(targets.T)


def _photos(entry: Entry, root: Path, ids: list[str]) -> list[Path]:
    """The JPEG of every id, or DatasetMissing naming the first one missing (and how many are)."""
    paths = [_devkit(root) / "JPEGImages" / f"{i}.jpg" for i in ids]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetMissing(f"{entry.name}: {missing[0]} is missing ({len(missing)} of the {len(paths)} photos the "
                             f"class files list are not there).\n{entry.instructions(root)}")
    return paths
