"""Readers of the labelled sets' file formats: CIFAR-10 (pickled batches or a JPEG copy), idx (Fashion-MNIST)
and MATLAB .mat (SVHN); each returns whole splits as NumPy arrays."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..paths import write_atomic
from .archives import _unpacked_tree
from .images import _decode_all, _photo_files, _read_rgb
from .registry import CIFAR10_CLASSES, DatasetMissing, Entry

# Where Debian's package `dataset-fashion-mnist` puts the idx files (searched after <root>/fashion-mnist/).
FASHION_SYSTEM_DIRS = [Path("/usr/share/datasets/fashion-mnist")]


# --- CIFAR-10 --------------------------------------------------------------------------------------

_CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CIFAR_JPEG_FOLDER = "cifar10-jpeg"  # the course's offline JPEG copy, in <root>/cifar10/
CIFAR_JPEG_ARCHIVE = f"{CIFAR_JPEG_FOLDER}.tar.gz"  # ... and its archive, which holds that folder


def _cifar_pickles(root: Path, split: str) -> list[Path] | None:
    """The pickled batches of a split (torchvision's layout), or None when any is missing."""
    folder = root / "cifar10" / "cifar-10-batches-py"
    paths = [folder / name for name in _CIFAR_BATCHES[split]]
    return paths if all(p.is_file() for p in paths) else None


def _cifar_jpeg_tree(root: Path, split: str) -> Path | None:
    tree = root / "cifar10" / CIFAR_JPEG_FOLDER / split
    return tree if tree.is_dir() else None


def _cifar_jpeg_cache(root: Path, split: str) -> Path | None:
    path = root / "cache" / f"cifar10-jpeg-{split}.npz"
    return path if path.is_file() else None


def _cifar_jpeg_archive(root: Path) -> Path | None:
    for path in (root / "cifar10" / CIFAR_JPEG_ARCHIVE, root / CIFAR_JPEG_ARCHIVE):
        if path.is_file():
            return path
    return None


def _cifar_jpeg_copy(entry: Entry, root: Path) -> Path | None:
    """``<root>/cifar10/cifar10-jpeg`` once it is whole (unpacked from its archive if need be), else None.

    See :func:`archives._unpacked_tree`: raises DatasetMissing for a copy that lost files and has no
    archive to restore them from, ValueError for a damaged archive.
    """
    return _unpacked_tree(root / "cifar10", CIFAR_JPEG_FOLDER, CIFAR_JPEG_ARCHIVE, _cifar_jpeg_archive(root),
                          entry.instructions(root))


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles plain data (dicts, lists, strings, numbers) and NumPy arrays and scalars only: a pickle may
    otherwise run any code it names (CIFAR-10's batches and revisitop's ground truth come from the internet)."""

    ALLOWED = {(core, name) for core in ("numpy.core.multiarray", "numpy._core.multiarray")
               for name in ("_reconstruct", "scalar")}
    ALLOWED |= {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
                ("numpy", "ndarray"), ("numpy", "dtype"),
                ("_codecs", "encode")}  # Python 3 writes bytes this way in protocols 0-2

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain data and NumPy arrays may "
                                         f"be unpickled (anything else could run code)")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> images (n, 3, 32, 32) uint8, labels (n,) int64.

    A batch holds b"data": (n, 3072) uint8, each row 1024 red, then 1024 green, then 1024 blue
    values, each a 32 x 32 image in row-major order, so a reshape gives (n, 3, 32, 32) directly.
    """
    try:
        with open(path, "rb") as f:
            batch = _PlainDataUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a readable CIFAR-10 batch ({err!r}); delete it and fetch again") from err
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"{path}: expected data (n, 3072) and n labels, got {data.shape} and {labels.shape}")
    bad = labels[(labels < 0) | (labels >= len(CIFAR10_CLASSES))]
    if len(bad):
        raise ValueError(f"{path}: labels must be 0..9 (the CIFAR-10 classes), found {np.unique(bad)[:10].tolist()}; "
                         f"the file is corrupt or not CIFAR-10, delete it and fetch again")
    return data.reshape(-1, 3, 32, 32), labels


def _read_cifar10(entry: Entry, split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """A whole split as (N, 3, 32, 32) uint8 and (N,) int64, from the first source found:

    1. torchvision's pickles (lossless), 2. the JPEG copy (unpacking ``cifar10-jpeg.tar.gz`` first when
    the copy is not whole), decoded once and then read from its cache while the copy holds as many
    files as when it was decoded, 3. the cache alone, once the copy is gone.
    """
    pickles = _cifar_pickles(root, split)
    if pickles:
        parts = [_read_cifar_batch(p) for p in pickles]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    cache = root / "cache" / f"cifar10-jpeg-{split}.npz"
    if not (root / "cifar10" / CIFAR_JPEG_FOLDER).exists() and (cached := _read_cache(cache)) is not None:
        return cached  # the copy was removed; nothing to compare its decode with
    _cifar_jpeg_copy(entry, root)
    tree = _cifar_jpeg_tree(root, split)
    if tree is None:
        raise DatasetMissing(f"CIFAR-10 ({split}) is not in {root / 'cifar10'}.\n{entry.instructions(root)}")

    paths, labels = [], []
    for label, name in enumerate(CIFAR10_CLASSES):
        files = _photo_files(tree / name)
        if not files:
            raise DatasetMissing(f"CIFAR-10 ({split}): no images in {tree / name}; the class-per-folder copy "
                                 f"needs one folder per class ({', '.join(CIFAR10_CLASSES)}).\n"
                                 f"{entry.instructions(root)}")
        paths += files
        labels += [label] * len(files)
    cached = _read_cache(cache, files=len(paths))
    if cached is not None:
        return cached
    arrays = _decode_all(paths, _read_rgb, desc=f"decoding cifar10/{split}")
    shapes = {a.shape for a in arrays}
    if shapes != {(32, 32, 3)}:
        bad = next(p for p, a in zip(paths, arrays) if a.shape != (32, 32, 3))
        raise ValueError(f"CIFAR-10 images must be 32x32 RGB; {bad} is not (shapes found: {sorted(shapes)})")
    images = np.stack(arrays).transpose(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
    labels_array = np.asarray(labels, dtype=np.int64)
    _write_cache(cache, images, labels_array)
    return np.ascontiguousarray(images), labels_array


def _read_cache(path: Path, files: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(images, labels) from a cache file, or None when it is missing or unreadable, or when ``files`` is given
    and the cache was not decoded from that many files (caches written before the count was kept included)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            images, labels = z["images"], z["labels"]
            decoded_from = int(z["files"]) if "files" in z else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        warnings.warn(f"ignoring the unreadable cache {path} ({err}); decoding again", stacklevel=3)
        return None
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32) or len(images) != len(labels):
        warnings.warn(f"ignoring the malformed cache {path}; decoding again", stacklevel=3)
        return None
    if files is not None and decoded_from != files:
        return None
    return images, labels.astype(np.int64)


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Save (images, labels) as .npz atomically, with the number of files they were decoded from (one image
    each); a read-only data folder only costs the cache (a warning)."""
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels, files=len(images))
    try:
        write_atomic(path, buffer.getvalue())
    except OSError as err:
        warnings.warn(f"cannot write the cache {path} ({err}); images will be decoded again next time",
                      stacklevel=3)


# --- Fashion-MNIST ---------------------------------------------------------------------------------


def _fashion_files(root: Path, split: str, dirs: list[Path] | None = None) -> tuple[Path, Path] | None:
    """(images file, labels file) of a split, from the first folder holding both (gzipped or not)."""
    prefix = "train" if split == "train" else "t10k"
    for folder in dirs if dirs is not None else [root / "fashion-mnist", *FASHION_SYSTEM_DIRS]:
        found = []
        for stem in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"):
            candidates = [folder / stem, folder / f"{stem}.gz"]
            found.append(next((p for p in candidates if p.is_file()), None))
        if found[0] is not None and found[1] is not None:
            return found[0], found[1]
    return None


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an idx file of unsigned bytes (gzipped or not) into an ``ndim``-D uint8 array.

    Format: magic number 0x00 0x00 0x08 ndim, then ndim big-endian uint32 sizes, then the bytes.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is corrupt: it cannot be un-gzipped ({err}); delete it and fetch again") from err
    expected = bytes([0, 0, 0x08, ndim])
    if raw[:4] != expected:
        raise ValueError(f"{path} is not an idx file of {ndim}-D unsigned bytes: bad magic number "
                         f"0x{raw[:4].hex()} (expected 0x{expected.hex()}); the file is corrupt or not "
                         f"Fashion-MNIST, delete it and fetch again")
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header]) if len(raw) >= header else None
    if shape is None or len(raw) - header != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated or corrupt: the header says shape {shape}, "
                         f"but {len(raw) - header} bytes of data follow")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_fashion(entry: Entry, split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """A whole split as images (N, 28, 28) uint8 and labels (N,) int64."""
    files = _fashion_files(root, split)
    if files is None:
        searched = ", ".join(str(d) for d in [root / "fashion-mnist", *FASHION_SYSTEM_DIRS])
        raise DatasetMissing(f"Fashion-MNIST ({split}) not found (searched {searched}).\n"
                             f"{entry.instructions(root)}")
    images, labels = _read_idx(files[0], 3), _read_idx(files[1], 1)
    if len(images) != len(labels) or images.shape[1:] != (28, 28) or labels.max(initial=0) >= 10:
        raise ValueError(f"{files[0]} and {files[1]} do not match: {images.shape} images, "
                         f"{labels.shape} labels (largest {labels.max(initial=0)}), expected (N, 28, 28), "
                         f"N labels 0..9")
    return images, labels.astype(np.int64)


# --- SVHN ----------------------------------------------------------------------------------------


def _svhn_file(entry: Entry, root: Path, split: str) -> Path:
    return root / entry.folder / f"{split}_32x32.mat"


def _read_svhn(entry: Entry, split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """A whole split as images (N, 3, 32, 32) uint8 and labels (N,) int64 (the digit 0 is label 0).

    ``<split>_32x32.mat`` (MATLAB v5, read with scipy.io.loadmat) holds ``X``: (32, 32, 3, N) uint8,
    indexed (row, column, channel, image), and ``y``: (N, 1) with 1..9 for the digits 1..9 and 10
    for the digit 0.
    """
    path = _svhn_file(entry, root, split)
    if not path.is_file():
        raise DatasetMissing(f"SVHN ({split}): {path.name} is not in {path.parent}.\n{entry.instructions(root)}")
    from scipy.io import loadmat  # lazily: scipy comes with scikit-learn, and only SVHN needs it here
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(path, variable_names=["X", "y"])
        x, y = mat["X"], np.asarray(mat["y"])
    except (OSError, ValueError, KeyError, TypeError, NotImplementedError, MatReadError) as err:
        raise ValueError(f"{path} is not a readable SVHN .mat file with X and y ({type(err).__name__}: {err}); "
                         f"delete it and fetch again") from err
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise ValueError(f"{path}: X must be (32, 32, 3, N) uint8, got {x.shape} {x.dtype}; "
                         f"this is not SVHN's cropped-digit format, delete it and fetch again")
    labels = y.reshape(-1)
    if y.size != x.shape[3] or not np.isin(labels, np.arange(11)).all():
        raise ValueError(f"{path}: y must hold {x.shape[3]} labels 1..10 (10 for the digit 0), got shape {y.shape} "
                         f"with values {np.unique(labels)[:12].tolist()}; delete it and fetch again")
    return x.transpose(3, 2, 0, 1), labels.astype(np.int64) % 10  # (H, W, C, N) -> (N, C, H, W); 10 -> 0
