"""One registry of data sets: names -> files, checksums, downloads, offline messages, tensors.

Every loader returns an :class:`ImageSet` of uint8 images (N, 3, H, W) with int64 labels,
on the device you ask for. Files live under :func:`data_root` (``$LRLIB_DATA``, else the
repository's ``data/``). :func:`fetch` downloads a data set where its source allows and checks
its MD5; when that cannot happen (offline), :class:`DatasetMissing` says which files to put where.
Decoded images are cached as uint8 arrays in ``<data>/cache/`` so decoding happens once.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

__all__ = ["DatasetMissing", "ImageSet", "Entry", "data_root", "datasets", "status", "fetch", "load",
           "concat", "md5sum"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff"}


class DatasetMissing(FileNotFoundError):
    """A data set's files are not where they should be; the message says what to put where."""


@dataclass
class ImageSet:
    """A labelled batch of images.

    Attributes:
        images: (N, 3, H, W) uint8.
        labels: (N,) int64 class indices (photo folders: each image's own index).
        classes: class names (photo folders: file stems).
        name: e.g. ``"cifar10/test"``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Download:
    url: str
    md5: str
    filename: str


@dataclass
class Entry:
    """One data set: where it lands, how to get it, how to read it."""

    name: str
    description: str
    folder: str                      # below data_root()
    splits: tuple[str, ...]
    manual: str                      # what to place where, when it cannot be downloaded
    downloads: list[Download] = field(default_factory=list)
    reader: Callable[..., ImageSet] | None = None


def data_root() -> Path:
    """``$LRLIB_DATA`` if set, else ``<repository>/data``."""
    env = os.environ.get("LRLIB_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --- readers ---------------------------------------------------------------------------------

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]


def _decode(paths: list[Path], size: int | None = None) -> np.ndarray:
    """Decode image files into one (N, H, W, 3) uint8 array, in parallel threads (PIL frees the GIL)."""
    def one(p: Path) -> np.ndarray:
        with Image.open(p) as im:
            im = im.convert("RGB")
            if size is not None:
                im = _square(im, size)
            return np.asarray(im)
    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 1) * 2)) as pool:
        arrays = list(tqdm(pool.map(one, paths, chunksize=64), total=len(paths), desc="decoding",
                           leave=False, unit="img"))
    return np.stack(arrays)


def _square(im: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is ``size`` (bicubic), then centre-crop ``size`` x ``size``."""
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def _cached(key: str, make: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) from ``<data>/cache/<key>.npz``, made once by ``make`` and written atomically."""
    from .results import write_atomic

    path = data_root() / "cache" / f"{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return z["images"], z["labels"]
    images, labels = make()
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels)
    write_atomic(path, buffer.getvalue())
    return images, labels


def _safe_extract(archive: Path, target: Path) -> None:
    """Unpack a tar archive, refusing members that would land outside ``target``."""
    target = target.resolve()
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            dest = (target / member.name).resolve()
            if member.issym() or member.islnk() or not str(dest).startswith(str(target) + os.sep):
                raise ValueError(f"refusing to unpack {archive.name}: member {member.name!r} "
                                 f"would land outside {target} (or is a link)")
        tar.extractall(target)


def _read_cifar10(split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    folder = root / "cifar10"
    pickles = folder / "cifar-10-batches-py"
    if pickles.is_dir():
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        images, labels = [], []
        for name in names:
            with open(pickles / name, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
        return np.concatenate(images), np.concatenate(labels)
    jpeg = folder / "cifar10-jpeg"
    if not (jpeg / split).is_dir():
        for archive in (root / "cifar10-jpeg.tar.gz", folder / "cifar10-jpeg.tar.gz"):
            if archive.exists():
                folder.mkdir(parents=True, exist_ok=True)
                _safe_extract(archive, folder)
                break
    if not (jpeg / split).is_dir():
        raise DatasetMissing(datasets()["cifar10"].manual.format(root=root, split=split))

    def make() -> tuple[np.ndarray, np.ndarray]:
        paths, labels = [], []
        for c, name in enumerate(CIFAR10_CLASSES):
            files = sorted(p for p in (jpeg / split / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            paths += files
            labels += [c] * len(files)
        return _decode(paths), np.asarray(labels, dtype=np.int64)
    return _cached(f"cifar10-jpeg-{split}", make)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: header says {shape}, found {body.size} bytes")
    return body.reshape(shape)


def _read_fashion(split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    for folder in (root / "fashion-mnist", Path("/usr/share/datasets/fashion-mnist")):
        found = {}
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            found[kind] = next((p for p in (folder / f"{prefix}-{kind}", folder / f"{prefix}-{kind}.gz")
                                if p.exists()), None)
        if all(found.values()):
            images = _read_idx(found["images-idx3-ubyte"])
            padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # 28x28 -> 32x32, zeros
            return np.repeat(padded[..., None], 3, axis=3), _read_idx(found["labels-idx1-ubyte"]).astype(np.int64)
    raise DatasetMissing(datasets()["fashion-mnist"].manual.format(root=root, split=split))


def _read_folder(folder: Path, size: int | None, what: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if size is None:
        raise ValueError(f"{what}: photos differ in size; pass size=S to get S x S centre crops")
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise DatasetMissing(f"{what}: no photos (.png, .jpg, ...) in {folder}. Put the image files there "
                             f"(the course's offline copies live in ../shared/data/sr/).")
    return _decode(files, size), np.arange(len(files), dtype=np.int64), [p.stem for p in files]


def _read_samples(size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Photos shipped with scikit-image and scikit-learn; four crops each, labelled by photo."""
    from skimage import data as skdata
    from sklearn.datasets import load_sample_images

    photos = {name: getattr(skdata, name)() for name in ("astronaut", "coffee", "chelsea", "rocket")}
    sk = load_sample_images()
    photos.update({Path(f).stem: img for f, img in zip(sk.filenames, sk.images)})
    images, labels = [], []
    for c, (name, array) in enumerate(photos.items()):
        im = Image.fromarray(np.ascontiguousarray(array)).convert("RGB")
        side = min(im.size)
        im = _square(im, side)  # centre square at full resolution
        half = side // 2
        for left, top in ((0, 0), (half, 0), (0, half), (half, half)):
            images.append(np.asarray(im.crop((left, top, left + half, top + half)).resize((size, size), Image.BICUBIC)))
            labels.append(c)
    return np.stack(images), np.asarray(labels, dtype=np.int64), list(photos)


# --- the registry ----------------------------------------------------------------------------

def datasets() -> dict[str, Entry]:
    """The registry: name -> :class:`Entry`."""
    cifar_url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    fmnist = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    photo_sets = {"b100": ("sr/b100", "BSD100 photos (480x320)"),
                  "urban100": ("sr/urban100-subset", "Urban100 subset: buildings, about 1024 px"),
                  "set5": ("sr/set5", "Set5 SR benchmark"), "set14": ("sr/set14", "Set14 SR benchmark"),
                  "t91": ("sr/t91", "T91, SRCNN's training photos")}
    entries = [
        Entry("cifar10", "CIFAR-10, 60,000 32x32 images, 10 classes", "cifar10", ("train", "test"),
              manual=("CIFAR-10 ({split}) not found. Either run `lrlib data fetch cifar10` (online), or put "
                      "torchvision's pickles in {root}/cifar10/cifar-10-batches-py/, or a class-per-folder copy "
                      "in {root}/cifar10/cifar10-jpeg/{{train,test}}/<class>/*.jpg, or the archive "
                      "cifar10-jpeg.tar.gz in {root}/ (course machines: ../shared/data/cifar10-jpeg.tar.gz)."),
              downloads=[Download(cifar_url, "c58f30108f718f92721af3b95e74349a", "cifar-10-python.tar.gz")]),
        Entry("fashion-mnist", "Fashion-MNIST, 70,000 28x28 grey images (padded to 32x32 RGB)", "fashion-mnist",
              ("train", "test"),
              manual=("Fashion-MNIST ({split}) not found. Run `lrlib data fetch fashion-mnist` (online), or "
                      "`apt-get install dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist/), or "
                      "put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
                      "and t10k-labels-idx1-ubyte.gz in {root}/fashion-mnist/."),
              downloads=[Download(fmnist + f, md5, f) for f, md5 in [
                  ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                  ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                  ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                  ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]]),
        Entry("images", "any folder of photos: load('images', split=<folder>, size=S)", "", ("<folder>",),
              manual="give the folder as the split"),
        Entry("samples", "photos that ship with scikit-image and scikit-learn (smoke profile)", "", ("all",),
              manual="installed with scikit-image and scikit-learn"),
    ]
    entries += [Entry(name, desc, folder, ("all",),
                      manual=f"copy the photos into {{root}}/{folder}/ (course machines: ../shared/data/{folder}/)")
                for name, (folder, desc) in photo_sets.items()]
    return {e.name: e for e in entries}


def _entry(name: str) -> Entry:
    registry = datasets()
    if name not in registry:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(registry)}")
    return registry[name]


def status(name: str) -> str:
    """``"ready"``, ``"missing"`` or ``"ships with packages"``, for ``lrlib data list``."""
    entry, root = _entry(name), data_root()
    if name in ("samples", "images"):
        return "ships with packages" if name == "samples" else "any folder"
    try:
        if name == "cifar10":
            ok = (root / "cifar10" / "cifar-10-batches-py").is_dir() or (root / "cifar10" / "cifar10-jpeg").is_dir() \
                or (root / "cifar10-jpeg.tar.gz").exists() or (root / "cifar10" / "cifar10-jpeg.tar.gz").exists()
        elif name == "fashion-mnist":
            _read_fashion("test", root)
            ok = True
        else:
            ok = any(p.suffix.lower() in IMAGE_SUFFIXES for p in (root / entry.folder).glob("*"))
    except DatasetMissing:
        ok = False
    return "ready" if ok else "missing"


def _download(d: Download, target: Path, progress: bool) -> None:
    """Download ``d`` to ``target`` through a temporary file; keep it only if the MD5 matches."""
    tmp = target.with_name(f".{target.name}.part")
    try:
        with urllib.request.urlopen(d.url, timeout=30) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=d.filename, disable=not progress) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
        got = md5sum(tmp)
        if got != d.md5:
            raise ValueError(f"checksum mismatch for {d.filename} from {d.url}: MD5 {got}, expected {d.md5}; "
                             f"the file was discarded")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(name: str, *, root: Path | None = None, progress: bool = True) -> Path:
    """Make a data set ready: download (when online and the source allows), check MD5s, unpack.

    Verified files already in place are reused, never downloaded again.

    Returns:
        The data set's folder.

    Raises:
        DatasetMissing: the files cannot be downloaded (offline); the message says what to put where.
        ValueError: unknown name, or a downloaded file failed its checksum.
    """
    entry, root = _entry(name), Path(root or data_root())
    folder = root / entry.folder
    if not entry.downloads:
        if name == "samples" or status(name) == "ready":
            return folder
        raise DatasetMissing(f"{name} cannot be downloaded by lrlib: " + entry.manual.format(root=root, split="all"))
    folder.mkdir(parents=True, exist_ok=True)
    for d in entry.downloads:
        target = folder / d.filename
        if target.exists() and md5sum(target) == d.md5:
            continue
        try:
            _download(d, target, progress)
        except (urllib.error.URLError, OSError) as err:
            raise DatasetMissing(f"could not download {d.url} ({err}) to {target} (MD5 {d.md5}). "
                                 + entry.manual.format(root=root, split="all")) from None
        if d.filename.endswith((".tar.gz", ".tgz", ".tar")):
            _safe_extract(target, folder)
    return folder


def load(name: str, split: str = "test", *, size: int | None = None, limit: int | None = None,
         device: str | torch.device = "cpu", root: Path | None = None) -> ImageSet:
    """Load a data set as uint8 tensors.

    Args:
        name: a registry name (see :func:`datasets`).
        split: ``train`` / ``test`` for CIFAR-10 and Fashion-MNIST, ``all`` for photo sets,
            the folder itself for ``images``.
        size: photo sets and ``images``: S x S centre crops after resizing the shorter side to S
            (required); labelled sets: resize to S x S (optional); ``samples``: crop size (default 64).
        limit: keep at most ``limit`` images; for labelled sets the first ``limit // classes`` of
            every class, in file order, so a subset still holds every class.
        device: where the tensors go (``"cuda"`` keeps the whole set on the GPU).

    Returns:
        :class:`ImageSet` with images (N, 3, H, W) uint8.
    """
    entry, root = _entry(name), Path(root or data_root())
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise ValueError(f"size must be a positive int (pixels); got {size!r}")
    if limit is not None and (not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive int; got {limit!r}")
    if name == "images":
        images, labels, classes = _read_folder(Path(split), size, f"images from {split}")
        tag = f"images/{Path(split).name}"
    elif name == "samples":
        images, labels, classes = _read_samples(size or 64)
        tag = f"samples@{size or 64}"
    elif entry.splits == ("all",):
        images, labels, classes = _read_folder(root / entry.folder, size, name)
        tag = name
    else:
        if split not in entry.splits:
            raise ValueError(f"{name} has splits {entry.splits}; got {split!r}")
        reader = _read_cifar10 if name == "cifar10" else _read_fashion
        images, labels = reader(split, root)
        classes = CIFAR10_CLASSES if name == "cifar10" else FASHION_CLASSES
        tag = f"{name}/{split}"
    if limit is not None and limit < len(labels):
        per_class = max(1, limit // len(classes))
        keep = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(classes))])
        images, labels = images[np.sort(keep)], labels[np.sort(keep)]
        tag += f"[:{limit}]"
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device)
    if size is not None and x.shape[-1] != size and name in ("cifar10", "fashion-mnist"):
        x = torch.nn.functional.interpolate(x.float(), size=(size, size), mode="bicubic", antialias=True,
                                            align_corners=False).round().clamp(0, 255).to(torch.uint8)
        tag += f"@{size}"
    return ImageSet(x.contiguous(), torch.from_numpy(labels).to(device), list(classes), tag)


def concat(sets: list[ImageSet]) -> ImageSet:
    """Join image sets of the same image size into one; labels stay distinct (offset per set)."""
    if not sets:
        raise ValueError("concat needs at least one ImageSet")
    shapes = {tuple(s.images.shape[1:]) for s in sets}
    if len(shapes) > 1:
        raise ValueError(f"image sets differ in image shape {sorted(shapes)}; load them with the same size")
    offsets = np.cumsum([0] + [len(s.classes) for s in sets[:-1]])
    return ImageSet(torch.cat([s.images for s in sets]),
                    torch.cat([s.labels + int(o) for s, o in zip(sets, offsets)]),
                    [c for s in sets for c in s.classes], "+".join(s.name for s in sets))
