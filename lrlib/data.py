"""One registry of data sets: names -> files, checksums, downloads, offline messages, tensors.

Every data set the course uses has one entry in a registry (:func:`datasets`), and one call
turns it into tensors::

    from lrlib import data
    cifar = data.load("cifar10", "test", limit=1000)   # ImageSet: images (N, 3, 32, 32) uint8
    crops = data.load("b100", size=256)                 # 256 x 256 centre crops of every photo
    full = data.photos("set14", grey=True)              # [(stem, (1, H, W) uint8)], full size
    pairs = data.load_pairs("graf")                     # [ImagePair(name, a, b, homography)]

Whatever the source (pickles, JPEG folders, idx files, .mat files, photos), :func:`load` returns an
:class:`ImageSet` of ``uint8`` images shaped ``(N, 3, H, W)`` with ``int64`` labels, on the device
you ask for. Grey images are repeated into three channels, so every later step sees RGB.
:func:`photos` gives the photos of a photo set at full size (sizes differ: one tensor each), and
:func:`load_pairs` the image pairs of the matching sets with their ground-truth homographies.

Where the files live
    Under :func:`data_root`: ``$LRLIB_DATA`` if set, else the repository's ``data/`` folder
    (every function also takes ``root=`` to look elsewhere). Each entry names its own sub-folder.

How the files get there
    :func:`fetch` downloads a data set where its source allows, checks the file's MD5 against
    the registry and unpacks it. Files already in place whose MD5 matches are reused, never
    downloaded again. Offline, or for sets with no download, :class:`DatasetMissing` says which
    files to put where. :func:`load` never downloads: it raises :class:`DatasetMissing` instead.

The entries
    ``cifar10``          CIFAR-10, train/test, 10 classes (pickled batches or a JPEG copy).
    ``fashion-mnist``    Fashion-MNIST, train/test, 10 classes, padded to 32 x 32 and made RGB.
    ``svhn``             SVHN cropped digits, train/test, 10 classes "0".."9" (torchvision's .mat files).
    ``images``           any folder of photos: ``load("images", split="path/to/folder", size=S)``
                         or ``photos("images", folder="path/to/folder")``.
    ``b100``, ``urban100``, ``set5``, ``set14``, ``t91``: photo folders under ``<root>/sr/``.
    ``div2k``            DIV2K's 800 training photos (2K), in ``<root>/div2k/DIV2K_train_HR/``.
    ``samples``          photos that ship inside scikit-image and scikit-learn (no files needed).
    ``graf``             Oxford's affine sequence "graf": img1 against img2..img6 with homographies
                         (``load_pairs("graf")``; files in ``<root>/pairs/graf/``, no download).
    ``pairs``            any folder of image pairs listed in a ``pairs.txt``:
                         ``load_pairs("pairs", folder="path/to/folder")``.

Caches
    Decoding 60,000 JPEGs takes a while, so decoded pixels are cached as uint8 arrays in
    ``<root>/cache/`` (delete that folder to decode again). They belong to the files of that data
    root, so they stay there even when ``$LRLIB_CACHE`` is set. :func:`cache_dir` (``$LRLIB_CACHE``,
    else ``<data root>/cache``) is where the other modules keep what they compute: deep features
    (``features/``) and finished trainings (``runs/``).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import stat
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from tqdm import tqdm

__all__ = ["DatasetMissing", "ImageSet", "ImagePair", "Download", "Entry", "data_root", "cache_dir", "datasets",
           "status", "fetch", "load", "photos", "load_pairs", "concat", "md5sum", "CIFAR10_CLASSES",
           "FASHION_CLASSES", "SVHN_CLASSES"]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]
SVHN_CLASSES = [str(digit) for digit in range(10)]  # the digit 0 is label 0 (SVHN's own files say 10)

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
# Image files of the pair sets, in the order they are looked for (graf's original release is PPM).
PAIR_SUFFIXES = (".png", ".ppm", ".jpg", ".jpeg", ".bmp")

# Where Debian's package `dataset-fashion-mnist` puts the idx files (searched after <root>/fashion-mnist/).
FASHION_SYSTEM_DIRS = [Path("/usr/share/datasets/fashion-mnist")]

# Colour photos bundled inside scikit-image (no download needed), in this order; then scikit-learn's two.
SKIMAGE_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina",
                  "immunohistochemistry", "motorcycle"]


class DatasetMissing(FileNotFoundError):
    """A data set's files are not where they should be; the message says what to put where."""


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


@dataclass
class Download:
    """One file to download: saved as ``<root>/<entry.folder>/<filename>`` once its MD5 matches.

    An archive that holds the entry's folder itself (DIV2K's ``DIV2K_train_HR.zip`` holds
    ``DIV2K_train_HR/``) is saved in, and unpacked into, that folder's parent instead.
    """

    url: str
    md5: str
    filename: str


@dataclass
class Entry:
    """One data set of the registry.

    Attributes:
        name: the registry key, e.g. ``"cifar10"``.
        description: one line for ``lrlib data list``.
        kind: ``"labelled"`` (train/test splits, fixed classes), ``"photos"`` (a named folder of
            photos), ``"folder"`` (any folder, given as the split), ``"samples"`` (ships with packages)
            or ``"pairs"`` (image pairs for matching, read by :func:`load_pairs`; with folder "" any
            folder holding a ``pairs.txt``, given as ``folder=``).
        folder: where its files live, below the data root ("" when it has none: any folder you name).
        splits: the accepted ``split`` values.
        classes: class names of labelled sets (None otherwise).
        downloads: the files :func:`fetch` may download, with their MD5s (empty: no download).
        manual: how to get the files by hand; ``{root}`` stands for the data root.
    """

    name: str
    description: str
    kind: str
    folder: str
    splits: tuple[str, ...]
    manual: str
    classes: list[str] | None = None
    downloads: list[Download] = field(default_factory=list)

    def instructions(self, root: Path) -> str:
        """The manual instructions with the actual data root filled in."""
        return self.manual.format(root=root)


# --- the registry ----------------------------------------------------------------------------------

SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip"
GRAF_URL = "https://www.robots.ox.ac.uk/~vgg/research/affine/det_eval_files/graf.tar.gz"


def _build_registry() -> dict[str, Entry]:
    fmnist = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    svhn_files = [("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),  # MD5s as in torchvision's svhn.py
                  ("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")]
    div2k_md5 = "bdc2d9338d4e574fe81bf7d158758658"  # 3,530,603,713 bytes; as in torchsr's div2k.py
    entries = [
        Entry("cifar10", "CIFAR-10: 50,000 train + 10,000 test images, 32x32, 10 classes", "labelled",
              "cifar10", ("train", "test"), classes=CIFAR10_CLASSES,
              downloads=[Download("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                                  "c58f30108f718f92721af3b95e74349a", "cifar-10-python.tar.gz")],
              manual=("Run `lrlib data fetch cifar10` (online: downloads and unpacks it), or place by hand "
                      "ONE of:\n"
                      "  - torchvision's pickles data_batch_1 ... data_batch_5, test_batch, batches.meta in\n"
                      "    {root}/cifar10/cifar-10-batches-py/ (unpack cifar-10-python.tar.gz from\n"
                      "    https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, "
                      "MD5 c58f30108f718f92721af3b95e74349a, into {root}/cifar10/);\n"
                      "  - a class-per-folder copy {root}/cifar10/cifar10-jpeg/{{train,test}}/<class>/*.jpg;\n"
                      "  - its archive cifar10-jpeg.tar.gz in {root}/ or {root}/cifar10/ (unpacked on first use;\n"
                      "    the course's offline copy is ../shared/data/cifar10-jpeg.tar.gz).")),
        Entry("fashion-mnist", "Fashion-MNIST: 60,000 train + 10,000 test, 28x28 grey (given as 32x32 RGB)",
              "labelled", "fashion-mnist", ("train", "test"), classes=FASHION_CLASSES,
              downloads=[Download(fmnist + f, md5, f) for f, md5 in [
                  ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                  ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                  ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                  ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]],
              manual=("Run `lrlib data fetch fashion-mnist` (online), or `apt-get install dataset-fashion-mnist`\n"
                      "(files in /usr/share/datasets/fashion-mnist/), or place train-images-idx3-ubyte.gz,\n"
                      "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz\n"
                      "(gzipped or not) in {root}/fashion-mnist/ (from " + fmnist + ").")),
        Entry("svhn", "SVHN: 73,257 train + 26,032 test house-number digits, 32x32, 10 classes '0'..'9'",
              "labelled", "svhn", ("train", "test"), classes=SVHN_CLASSES,
              downloads=[Download(SVHN_URL + f, md5, f) for f, md5 in svhn_files],
              manual=("Run `lrlib data fetch svhn` (online), or place the cropped-digit files (format 2) by hand in\n"
                      "{root}/svhn/: " + " and ".join(f"{f} (MD5 {md5})" for f, md5 in svhn_files) + ",\n"
                      "from " + SVHN_URL + " (the course's offline copy has no SVHN).")),
        Entry("images", "any folder of photos: load('images', split='<folder>', size=S)", "folder", "",
              ("<folder>",), manual="Pass an existing folder of .png/.jpg/.jpeg/.bmp photos as the split."),
        Entry("samples", "photos shipped inside scikit-image and scikit-learn, 4 crops each (smoke runs)",
              "samples", "", ("all",), manual="Install scikit-image and scikit-learn."),
    ]
    photo_sets = [("b100", "sr/b100", "BSD100 (B100): 100 photos, 480x320"),
                  ("urban100", "sr/urban100-subset", "Urban100 subset: 20 building photos, about 1024 px"),
                  ("set5", "sr/set5", "Set5: 5 photos, super-resolution benchmark"),
                  ("set14", "sr/set14", "Set14: 14 photos, super-resolution benchmark"),
                  ("t91", "sr/t91", "T91: 91 small photos, SRCNN's training set")]
    for name, folder, description in photo_sets:
        entries.append(Entry(
            name, description, "photos", folder, ("all",),
            manual=(f"There is no download for {name}: copy its photos (.png/.jpg/.jpeg/.bmp) into "
                    f"{{root}}/{folder}/.\nThe course's offline copy lives in ../shared/data/{folder}/ "
                    f"(e.g. `mkdir -p {{root}}/sr && ln -s $PWD/../shared/data/{folder} {{root}}/{folder}`).")))
    entries += [
        Entry("div2k", "DIV2K: 800 training photos, 2K resolution (about 2040 px wide), super-resolution",
              "photos", "div2k/DIV2K_train_HR", ("all",),
              downloads=[Download(DIV2K_URL, div2k_md5, "DIV2K_train_HR.zip")],
              manual=("Run `lrlib data fetch div2k` (online: downloads DIV2K_train_HR.zip, 3.5 GB, into {root}/div2k/\n"
                      "and unpacks it there), or unzip that file (from " + DIV2K_URL + ",\n"
                      "MD5 " + div2k_md5 + ") into {root}/div2k/ yourself, so that the photos 0001.png ... 0800.png\n"
                      "lie in {root}/div2k/DIV2K_train_HR/. The course's offline copy has no DIV2K (t91 and b100 in\n"
                      "../shared/data/sr/ stand in for it).")),
        Entry("graf", "Oxford affine 'graf': img1 against img2..img6 (viewpoint 20-60 deg), with homographies",
              "pairs", "pairs/graf", ("all",),
              manual=("There is no checked download for graf: place img1 ... img6 (.png, or the original .ppm) and\n"
                      "the homographies H1to2p ... H1to6p in {root}/pairs/graf/ (unpack " + GRAF_URL + "\n"
                      "there). The course's offline copy lives in ../shared/data/pairs/graf/\n"
                      "(e.g. `mkdir -p {root}/pairs && ln -s $PWD/../shared/data/pairs/graf {root}/pairs/graf`).")),
        Entry("pairs", "any folder of image pairs listed in pairs.txt: load_pairs('pairs', folder='<folder>')",
              "pairs", "", ("<folder>",),
              manual=("Pass a folder holding a pairs.txt as folder=: one pair a line, 'a.jpg b.jpg', optionally with a\n"
                      "third name, a text file holding the 3x3 homography from a to b (paths relative to the folder).")),
    ]
    return {entry.name: entry for entry in entries}


_REGISTRY = _build_registry()


def datasets() -> dict[str, Entry]:
    """The registry: name -> :class:`Entry` (a new dict; the entries themselves are shared)."""
    return dict(_REGISTRY)


def _entry(name: str) -> Entry:
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def data_root() -> Path:
    """``$LRLIB_DATA`` if set, else ``<repository>/data`` (the repository holds the ``lrlib`` package)."""
    env = os.environ.get("LRLIB_DATA")
    return Path(env).expanduser() if env else Path(__file__).resolve().parent.parent / "data"


def cache_dir() -> Path:
    """Where lrlib keeps what it computes: ``$LRLIB_CACHE`` if set (and not empty), else ``data_root() / "cache"``.

    Deep features (``features/``, :mod:`lrlib.backbones`) and finished trainings (``runs/``,
    :mod:`lrlib.distill`) live here. Decoded pixels do not: they belong to the files of one data
    root and stay in ``<root>/cache/`` whatever ``$LRLIB_CACHE`` says.
    """
    return Path(os.environ.get("LRLIB_CACHE") or data_root() / "cache")


def _root(root: str | Path | None) -> Path:
    return Path(root).expanduser() if root is not None else data_root()


def md5sum(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """MD5 hex digest of a file, read in chunks of ``chunk_size`` bytes (large files never sit in memory)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# --- status ----------------------------------------------------------------------------------------

def status(name: str, *, root: Path | None = None) -> str:
    """``"ready"``, ``"missing"`` or ``"ships with packages"``: a quick look, nothing is read or decoded.

    Used by ``lrlib data list``. ``images`` and ``pairs`` (any folder you name) count as ready.
    """
    entry, root = _entry(name), _root(root)
    if entry.kind == "samples":
        return "ships with packages"
    if not entry.folder:  # images, pairs: any folder you name
        return "ready"
    if entry.kind == "photos":
        ready = bool(_photo_files(root / entry.folder))
    elif entry.kind == "pairs":
        ready = not _graf_missing(root / entry.folder)
    elif name == "cifar10":
        ready = all(_cifar_pickles(root, split) or _cifar_jpeg_tree(root, split) or _cifar_jpeg_cache(root, split)
                    for split in entry.splits) or _cifar_jpeg_archive(root) is not None
    elif name == "svhn":
        ready = all(_svhn_file(entry, root, split).is_file() for split in entry.splits)
    else:
        ready = all(_fashion_files(root, split) for split in entry.splits)
    return "ready" if ready else "missing"


# --- fetch: download, verify, unpack ---------------------------------------------------------------

def fetch(name: str, *, root: Path | None = None, progress: bool = True) -> Path:
    """Make a data set ready on disk: download (where the source allows), check MD5, unpack.

    Files already in place are reused: a downloaded file whose MD5 matches is never downloaded
    again, and a usable copy placed by hand (e.g. the CIFAR-10 JPEG archive) means no download.

    Args:
        name: a registry name (see :func:`datasets`).
        root: the data root (default :func:`data_root`).
        progress: show a progress bar while downloading.

    Returns:
        The data set's folder.

    Raises:
        ValueError: unknown name, ``images`` or ``pairs`` (nothing to fetch), or a download whose
            MD5 is wrong (the file is deleted).
        DatasetMissing: it cannot be downloaded (offline, unreachable, or no download exists);
            the message says which files to put where.
    """
    entry, root = _entry(name), _root(root)
    if entry.kind == "samples":
        import skimage.data
        return Path(skimage.data.__file__).parent
    if not entry.folder:
        usage = entry.description.split(": ", 1)[-1]
        raise ValueError(f"there is nothing to fetch for {name!r}: it reads any folder you name ({usage})")
    folder = root / entry.folder
    if entry.kind == "photos":
        if _photo_files(folder):
            return folder
        if not entry.downloads:
            raise DatasetMissing(f"{name}: no photos in {folder}.\n{entry.instructions(root)}")
        return _fetch_photo_archive(entry, root, progress)
    if entry.kind == "pairs":
        missing = _graf_missing(folder)
        if missing:
            raise DatasetMissing(f"{name}: {folder} {_describe_missing(folder, missing)}.\n{entry.instructions(root)}")
        return folder
    if name == "cifar10":
        return _fetch_cifar10(entry, root, progress)
    if name == "svhn":
        return _fetch_svhn(entry, root, progress)
    return _fetch_fashion(entry, root, progress)


def _fetch_svhn(entry: Entry, root: Path, progress: bool) -> Path:
    """Download both .mat files (used as they are: there is nothing to unpack)."""
    folder = root / entry.folder
    for download in entry.downloads:
        _ensure_download(download, folder / download.filename, entry, root, progress)
    return folder


def _fetch_photo_archive(entry: Entry, root: Path, progress: bool) -> Path:
    """div2k: download the archive into the folder's parent and unpack it there (it holds the folder itself)."""
    folder = root / entry.folder
    download = entry.downloads[0]
    target = _ensure_download(download, folder.parent / download.filename, entry, root, progress)
    _safe_extract(target, folder.parent)
    if not _photo_files(folder):
        raise DatasetMissing(f"{target} was unpacked into {folder.parent}, but {folder} holds no photos: the archive "
                             f"is not laid out as expected ({folder.name}/0001.png ...).\n{entry.instructions(root)}")
    return folder


def _fetch_cifar10(entry: Entry, root: Path, progress: bool) -> Path:
    folder = root / entry.folder
    if all(_cifar_pickles(root, split) for split in entry.splits):
        return folder
    # An offline JPEG copy placed by hand counts as ready (it is lossy: see the course's data README).
    if all(_cifar_jpeg_tree(root, split) for split in entry.splits):
        return folder
    archive = _cifar_jpeg_archive(root)
    if archive is not None:
        _safe_extract(archive, folder)
        return folder
    download = entry.downloads[0]
    target = _ensure_download(download, folder / download.filename, entry, root, progress)
    _safe_extract(target, folder)
    if not all(_cifar_pickles(root, split) for split in entry.splits):
        raise DatasetMissing(f"{target} was unpacked but {folder / 'cifar-10-batches-py'} is still incomplete.\n"
                             f"{entry.instructions(root)}")
    return folder


def _fetch_fashion(entry: Entry, root: Path, progress: bool) -> Path:
    for folder in FASHION_SYSTEM_DIRS:  # e.g. Debian's package: nothing to download
        if all(_fashion_files(root, split, dirs=[folder]) for split in entry.splits):
            return folder
    folder = root / entry.folder
    for download in entry.downloads:
        target = folder / download.filename
        unpacked = folder / download.filename.removesuffix(".gz")
        if unpacked.exists() and not target.exists():
            continue  # an un-gzipped copy placed by hand
        _ensure_download(download, target, entry, root, progress)
    return folder


def _ensure_download(download: Download, target: Path, entry: Entry, root: Path, progress: bool) -> Path:
    """``target`` with the right MD5: reused when already there, else downloaded (and verified)."""
    if target.exists() and md5sum(target) == download.md5:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _download(download, target, entry, root, progress)
    return target


def _download(download: Download, target: Path, entry: Entry, root: Path, progress: bool) -> None:
    """Download to a temporary file next to ``target``, check its MD5, then move it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.md5()
    try:
        try:
            request = urllib.request.Request(download.url, headers={"User-Agent": "lrlib"})
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=download.filename,
                          disable=not progress) as bar:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", None) or err
            raise DatasetMissing(
                f"could not download {download.url} ({reason}).\n"
                f"By hand: get that file (MD5 {download.md5}) and save it as {target},\n"
                f"then run `lrlib data fetch {entry.name}` again: it checks that file instead of downloading it.\n"
                f"{entry.instructions(root)}") from None
        got = digest.hexdigest()
        if got != download.md5:
            raise ValueError(f"checksum mismatch for {download.url}: MD5 {got}, expected {download.md5}. "
                             f"The download was deleted (not saved as {target}); try again later.")
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a tar (.tar, .tar.gz) or zip archive into ``dest``, refusing anything that could escape it.

    Members with absolute paths, drive letters, ``..`` components, links or device files are refused
    before anything is written. The archive is unpacked into a temporary folder inside ``dest`` first
    and then moved into place, so an interrupted unpack never leaves a half-filled folder behind.
    Files that already exist in ``dest`` are kept.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                for info in infos:
                    mode = info.external_attr >> 16  # Unix mode bits; 0 when written elsewhere
                    _check_member(archive, dest, info.filename,
                                  plain=stat.S_IFMT(mode) in (0, stat.S_IFREG, stat.S_IFDIR))
                _unpack_via_tmp(dest, lambda tmp: zf.extractall(tmp, members=infos))
        else:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(archive, dest, member.name, plain=member.isfile() or member.isdir())
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                _unpack_via_tmp(dest, lambda tmp: tar.extractall(tmp, members=members, **kwargs))
    except (tarfile.TarError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"{archive} is not a readable tar or zip archive ({err}); delete it and get it again") from err


def _check_member(archive: Path, dest: Path, name: str, plain: bool) -> None:
    """Refuse an archive member that would land outside ``dest``, or that is a link or a special file."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or PureWindowsPath(name).drive:
        raise ValueError(f"refusing to unpack {archive}: member {name!r} would land outside {dest} "
                         f"(absolute path or '..')")
    if not plain:
        raise ValueError(f"refusing to unpack {archive}: member {name!r} is a link or a special file")


def _unpack_via_tmp(dest: Path, extract: Callable[[Path], object]) -> None:
    """Run ``extract(tmp)`` into a fresh temporary folder inside ``dest``, then merge it into ``dest``."""
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".unpacking-"))
    try:
        extract(tmp)
        _merge_into(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _merge_into(src: Path, dest: Path) -> None:
    """Move everything in ``src`` into ``dest``; what already exists in ``dest`` stays as it is."""
    for item in src.iterdir():
        target = dest / item.name
        if not target.exists():
            os.replace(item, target)
        elif item.is_dir() and target.is_dir():
            _merge_into(item, target)


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
            set without ``size``, a set of image pairs (see :func:`load_pairs`), or a corrupt file.
        DatasetMissing: the files are not there; the message says how to get them.
    """
    entry, root = _entry(name), _root(root)
    _check_positive(size=size, limit=limit)
    if entry.kind == "pairs":
        raise ValueError(f"{name} holds image pairs for matching, not an image set: use "
                         f"load_pairs({name!r}{'' if entry.folder else ', folder=FOLDER'})")
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


def _check_positive(**values: int | None) -> None:
    """Raise ValueError naming the first argument that is neither None nor a positive integer."""
    for arg, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ValueError(f"{arg} must be a positive integer or None, got {value!r}")


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


# --- CIFAR-10 --------------------------------------------------------------------------------------

_CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _cifar_pickles(root: Path, split: str) -> list[Path] | None:
    """The pickled batches of a split (torchvision's layout), or None when any is missing."""
    folder = root / "cifar10" / "cifar-10-batches-py"
    paths = [folder / name for name in _CIFAR_BATCHES[split]]
    return paths if all(p.is_file() for p in paths) else None


def _cifar_jpeg_tree(root: Path, split: str) -> Path | None:
    tree = root / "cifar10" / "cifar10-jpeg" / split
    return tree if tree.is_dir() else None


def _cifar_jpeg_cache(root: Path, split: str) -> Path | None:
    path = root / "cache" / f"cifar10-jpeg-{split}.npz"
    return path if path.is_file() else None


def _cifar_jpeg_archive(root: Path) -> Path | None:
    for path in (root / "cifar10" / "cifar10-jpeg.tar.gz", root / "cifar10-jpeg.tar.gz"):
        if path.is_file():
            return path
    return None


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain data and NumPy arrays only: a pickle may otherwise run any code it names."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # Python 3 writes bytes this way in protocols 0-2

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 pickle")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> images (n, 3, 32, 32) uint8, labels (n,) int64.

    A batch holds b"data": (n, 3072) uint8, each row 1024 red, then 1024 green, then 1024 blue
    values, each a 32 x 32 image in row-major order, so a reshape gives (n, 3, 32, 32) directly.
    """
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnlyUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a readable CIFAR-10 batch ({err!r}); delete it and fetch again") from err
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"{path}: expected data (n, 3072) and n labels, got {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _read_cifar10(entry: Entry, split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """A whole split as (N, 3, 32, 32) uint8 and (N,) int64, from the first source found:

    1. torchvision's pickles (lossless), 2. the cached decode of the JPEG copy,
    3. the JPEG tree (unpacking ``cifar10-jpeg.tar.gz`` first if only the archive is there).
    """
    pickles = _cifar_pickles(root, split)
    if pickles:
        parts = [_read_cifar_batch(p) for p in pickles]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    cache = root / "cache" / f"cifar10-jpeg-{split}.npz"
    cached = _read_cache(cache)
    if cached is not None:
        return cached

    if _cifar_jpeg_tree(root, split) is None and (archive := _cifar_jpeg_archive(root)) is not None:
        _safe_extract(archive, root / "cifar10")
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
    arrays = _decode_all(paths, _read_rgb, desc=f"decoding cifar10/{split}")
    shapes = {a.shape for a in arrays}
    if shapes != {(32, 32, 3)}:
        bad = next(p for p, a in zip(paths, arrays) if a.shape != (32, 32, 3))
        raise ValueError(f"CIFAR-10 images must be 32x32 RGB; {bad} is not (shapes found: {sorted(shapes)})")
    images = np.stack(arrays).transpose(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
    labels_array = np.asarray(labels, dtype=np.int64)
    _write_cache(cache, images, labels_array)
    return np.ascontiguousarray(images), labels_array


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(images, labels) from a cache file, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        warnings.warn(f"ignoring the unreadable cache {path} ({err}); decoding again", stacklevel=3)
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(labels):
        warnings.warn(f"ignoring the malformed cache {path}; decoding again", stacklevel=3)
        return None
    return images, labels.astype(np.int64)


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Save (images, labels) as .npz atomically: a temporary file in the same folder, then os.replace."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # a read-only data folder: work without a cache
        warnings.warn(f"cannot write the cache {path} ({err}); images will be decoded again next time",
                      stacklevel=3)
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, images=images, labels=labels)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache may be shared
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


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


# --- photos ----------------------------------------------------------------------------------------

def _photo_files(folder: Path) -> list[Path]:
    """The photos (.png .jpg .jpeg .bmp, any case) directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def _open_rgb(path: Path) -> Image.Image:
    """A photo as an RGB PIL image (grey or palette converted; EXIF rotation applied)."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return im.convert("RGB")


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


_T = TypeVar("_T")


def _decode_all(paths: list[Path], decode: Callable[[Path], _T], desc: str) -> list[_T]:
    """``decode`` every path in a pool of threads (PIL decodes without holding the GIL); keeps the order."""
    workers = min(16, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(decode, paths), total=len(paths), desc=desc, unit="img", leave=False,
                         disable=len(paths) < 1000))


def _photos_or_raise(folder: Path, entry: Entry, root: Path, how: str) -> list[Path]:
    """The photos in ``folder``, or :class:`DatasetMissing` saying what to put where (``how``: how to
    pass a folder of one's own, for the ``images`` kind)."""
    files = _photo_files(folder)
    if not files:
        if entry.kind == "folder":
            what = "does not exist" if not folder.exists() else "holds no .png/.jpg/.jpeg/.bmp photos"
            raise DatasetMissing(f"images: the folder {str(folder)!r} {what}; pass a folder of photos {how}")
        raise DatasetMissing(f"{entry.name}: no photos in {folder}.\n{entry.instructions(root)}")
    return files


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
            within 1 of it). Taken before any shrinking.
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
        ValueError: unknown name, a set that is not photos (labelled sets: :func:`load`; pairs:
            :func:`load_pairs`), ``folder`` missing for ``images`` or given for another set,
            ``limit`` or ``max_side`` not a positive integer.
        DatasetMissing: no photos where they should be; the message says how to get them.
    """
    entry, root = _entry(name), _root(root)
    _check_positive(limit=limit, max_side=max_side)
    if entry.kind not in ("photos", "folder", "samples"):
        use = "load_pairs" if entry.kind == "pairs" else "load"
        raise ValueError(f"photos() reads the photo sets, 'images' and 'samples'; {name} is {entry.kind}: "
                         f"use {use}({name!r}, ...)")
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
    files = _photos_or_raise(path, entry, root, "as folder=: photos('images', folder='path/to/photos')")
    files = files[:limit]
    images = _decode_all(files, lambda p: finish(_open_rgb(p)), desc=f"decoding {name}")
    return [(p.stem, image.to(device)) for p, image in zip(files, images)]


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
            given for ``graf``, a malformed ``pairs.txt`` line or homography file.
        DatasetMissing: files missing; the message names them and says where they go.
    """
    entry, root = _entry(name), _root(root)
    if entry.kind != "pairs":
        raise ValueError(f"load_pairs reads the sets of image pairs "
                         f"({', '.join(n for n, e in _REGISTRY.items() if e.kind == 'pairs')}); "
                         f"{name} is {entry.kind}: use load({name!r}, ...) or photos({name!r}, ...)")
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


# --- combining sets --------------------------------------------------------------------------------

def concat(sets: list[ImageSet]) -> ImageSet:
    """Join image sets of the same image size; labels are offset so classes stay distinct.

    Returns:
        images (sum N, 3, H, W), labels shifted by the number of classes of the sets before,
        classes concatenated, name ``"a+b"``.
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
