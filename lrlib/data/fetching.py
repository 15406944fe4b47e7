"""Making a data set ready on disk: :func:`status` (a quick look) and :func:`fetch` (download where the source
allows, check the MD5, unpack); offline, :class:`DatasetMissing` says which files to put where."""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from tqdm import tqdm

from ..paths import atomic_file
from . import formats
from .archives import _safe_extract, _unpack_flat, _unpacked_tree
from .formats import (_cifar_jpeg_archive, _cifar_jpeg_cache, _cifar_jpeg_copy, _cifar_jpeg_tree, _cifar_pickles,
                      _fashion_files, _svhn_file)
from .images import PHOTO_SUFFIXES, _photo_files
from .pairs import _describe_missing, _graf_missing
from .photo_sets import _photo_set_files
from .registry import DatasetMissing, Download, Entry, _entry, _root, md5sum
from .retrieval import _distractors_incomplete, _images_incomplete, _retrieval_ready, _unpacked_whole
from .voc import VOC_ARCHIVES, _split_ready, _voc_status


# --- status ----------------------------------------------------------------------------------------


def status(name: str, *, root: Path | None = None) -> str:
    """``"ready"``, ``"grey copy only"`` (a photo set), ``"trainval only"`` / ``"test only"`` (voc2007),
    ``"missing"`` or ``"ships with packages"``: a quick look, nothing is read or decoded.

    Used by ``lrlib data list``. ``images`` and ``pairs`` (any folder you name) count as ready.

    Raises:
        ValueError: unknown name, or a data root that is a file.
    """
    entry, root = _entry(name), _root(root)
    if entry.kind == "samples":
        return "ships with packages"
    if not entry.folder:  # images, pairs: any folder you name
        return "ready"
    if entry.kind == "multilabel":
        return _voc_status(entry, root)
    if entry.kind == "retrieval":
        ready = _retrieval_ready(entry, root)
    elif entry.kind == "distractors":
        ready = not _distractors_incomplete(entry, root)
    elif entry.kind == "photos":
        ready = bool(_photo_files(root / entry.folder))
        if not ready and entry.grey_folder and _photo_files(root / entry.grey_folder):
            return "grey copy only"
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
    Oxford5k, Paris6k, Holidays and revisitop1m publish no checksums: their files are saved unverified (a warning
    says so, with the MD5 of the copy), and a file already in place is reused as it is.

    Args:
        name: a registry name (see :func:`datasets`).
        root: the data root (default :func:`data_root`).
        progress: show a progress bar while downloading.

    Returns:
        The data set's folder.

    Raises:
        ValueError: unknown name, ``images`` or ``pairs`` (nothing to fetch), a data root that is a
            file, a download whose MD5 is wrong (the file is deleted), a damaged or unsafe archive
            (nothing is unpacked: delete it and get it again), or a damaged or unsafe ground-truth pickle.
        DatasetMissing: it cannot be downloaded (offline, unreachable, or no download exists): the
            message says which files to put where, and names a file already there with the wrong MD5;
            or a copy unpacked from an archive has lost files and the archive is gone (the message
            says how many, and what to delete), or the archives unpacked lack photos of the set.
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
        if entry.downloads:
            return _fetch_photo_archive(entry, root, progress)
        if not _photo_files(folder):
            raise DatasetMissing(f"{name}: no photos in {folder}.\n{entry.instructions(root)}")
        return folder
    if entry.kind == "pairs":
        missing = _graf_missing(folder)
        if missing:
            raise DatasetMissing(f"{name}: {folder} {_describe_missing(folder, missing)}.\n{entry.instructions(root)}")
        return folder
    if entry.kind == "multilabel":
        return _fetch_voc(entry, root, progress)
    if entry.kind == "retrieval":
        return _fetch_retrieval(entry, root, progress)
    if entry.kind == "distractors":
        return _fetch_distractors(entry, root, progress)
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
    """div2k: download the archive into the folder's parent and unpack it there (it holds the folder itself).

    Photos placed by hand, without the archive, are used as they are; the archive, when there, is checked
    (MD5) and unpacked again unless the marker of its unpack vouches for the photos.
    """
    folder = root / entry.folder
    download = entry.downloads[0]
    target = folder.parent / download.filename
    if target.is_file() or not _photo_files(folder):
        _ensure_download(download, target, entry, root, progress)
    if not _photo_set_files(entry, root):
        raise DatasetMissing(f"{target} was unpacked into {folder.parent}, but {folder} holds no photos: the archive "
                             f"is not laid out as expected ({folder.name}/0001.png ...).\n{entry.instructions(root)}")
    return folder


def _fetch_cifar10(entry: Entry, root: Path, progress: bool) -> Path:
    folder = root / entry.folder
    if all(_cifar_pickles(root, split) for split in entry.splits):
        return folder
    # The offline JPEG copy (placed by hand, or unpacked from its archive) counts as ready; it is lossy:
    # see the course's data README.
    copy = _cifar_jpeg_copy(entry, root)
    if copy is not None and all((copy / split).is_dir() for split in entry.splits):
        return folder
    download = entry.downloads[0]
    target = _ensure_download(download, folder / download.filename, entry, root, progress)
    _safe_extract(target, folder)
    if not all(_cifar_pickles(root, split) for split in entry.splits):
        raise DatasetMissing(f"{target} was unpacked but {folder / 'cifar-10-batches-py'} is still incomplete.\n"
                             f"{entry.instructions(root)}")
    return folder


def _fetch_fashion(entry: Entry, root: Path, progress: bool) -> Path:
    for folder in formats.FASHION_SYSTEM_DIRS:  # e.g. Debian's package: nothing to download
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


def _fetch_voc(entry: Entry, root: Path, progress: bool) -> Path:
    """voc2007: download both tars (each holds ``VOCdevkit/VOC2007/``) and unpack them into ``<root>/voc2007``.

    A split placed by hand, without its tar, is used as it is; a tar that is there is checked (MD5) and unpacked
    again unless the marker of its unpack vouches for the tree.
    """
    folder = root / entry.folder
    for download in entry.downloads:
        archive = folder / download.filename
        if archive.is_file() or not _split_ready(entry, root, VOC_ARCHIVES[download.filename]):
            _ensure_download(download, archive, entry, root, progress)
            _unpacked_tree(folder, "VOCdevkit", download.filename, archive, entry.instructions(root))
    missing = [split for split in VOC_ARCHIVES.values() if not _split_ready(entry, root, split)]
    if missing:
        raise DatasetMissing(f"{entry.name}: the tars were unpacked into {folder}, but the class files of "
                             f"{' and '.join(missing)} are not in {folder / 'VOCdevkit/VOC2007/ImageSets/Main'}: the "
                             f"tars are not laid out as expected.\n{entry.instructions(root)}")
    return folder


def _fetch_retrieval(entry: Entry, root: Path, progress: bool) -> Path:
    """oxford5k, paris6k, holidays: download the ground truth (used as it is), then, unless every photo is
    already there, the photo archives, whose photos are unpacked into one flat folder ``<root>/<set>/jpg``."""
    folder = root / entry.folder
    truth = [d for d in entry.downloads if d.filename.endswith(".pkl")]
    archives = [d for d in entry.downloads if d not in truth]
    for download in truth:
        _ensure_download(download, folder / download.filename, entry, root, progress)
    if not _images_incomplete(entry, root):
        return folder
    for download in archives:
        _unpack_flat(_ensure_download(download, folder / download.filename, entry, root, progress), folder / "jpg",
                     PHOTO_SUFFIXES)
    gap = _images_incomplete(entry, root)
    if gap:
        raise DatasetMissing(f"{entry.name}: {', '.join(d.filename for d in archives)} were unpacked, but {gap}: "
                             f"an archive is damaged or another version; delete it and fetch again.\n"
                             f"{entry.instructions(root)}")
    return folder


def _fetch_distractors(entry: Entry, root: Path, progress: bool) -> Path:
    """revisitop1m-100k: download, and unpack as it is into ``<root>/<set>/jpg``, each archive whose photos are not
    all there (the marker of each unpack vouches for them; an archive already downloaded is reused). A copy placed
    by hand (photos, and no marker of an unpack) is used as it is."""
    folder = root / entry.folder
    photos = folder / "jpg"
    if not _distractors_incomplete(entry, root):
        return folder
    for download in entry.downloads:
        if not _unpacked_whole(photos, download.filename):
            _safe_extract(_ensure_download(download, folder / download.filename, entry, root, progress), photos)
    gap = _distractors_incomplete(entry, root)
    if gap:
        raise DatasetMissing(f"{entry.name}: the archives were unpacked, but {gap}: an archive is damaged or another "
                             f"version; delete it and fetch again.\n{entry.instructions(root)}")
    return folder


def _ensure_download(download: Download, target: Path, entry: Entry, root: Path, progress: bool) -> Path:
    """``target`` with the right MD5: reused when already there, else downloaded (and verified).

    A file already there with another MD5 is named in the errors of the download that replaces it; with no
    published MD5 (``download.md5`` None) a file already there is reused as it is.
    """
    found = ""
    if target.exists():
        if download.md5 is None:
            return target
        got = md5sum(target)
        if got == download.md5:
            return target
        found = (f"{target} is there, but its MD5 is {got}, not {download.md5}: it is damaged or another version "
                 f"of the file. Replace it with the right file, or delete it.\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    _download(download, target, entry, root, progress, found)
    return target


def _download(download: Download, target: Path, entry: Entry, root: Path, progress: bool, found: str) -> None:
    """Download into a temporary file next to ``target``; it replaces ``target`` only when its MD5 matches.

    ``found`` (a sentence about the file already at ``target``, or "") opens both error messages.
    """
    digest = hashlib.md5()
    with atomic_file(target) as out:
        try:
            request = urllib.request.Request(download.url, headers={"User-Agent": "lrlib"})
            with urllib.request.urlopen(request, timeout=60) as response:
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
                f"{found}could not download {download.url} ({reason}).\n"
                f"By hand: get that file ({download.checksum()}) and save it as {target},\n"
                f"then run `lrlib data fetch {entry.name}` again: it {'checks' if download.md5 else 'uses'} that file "
                f"instead of downloading it.\n"
                f"{entry.instructions(root)}") from None
        got = digest.hexdigest()
        if download.md5 is None:
            warnings.warn(f"{download.url} publishes no checksum, so {target.name} was saved unverified (the MD5 of "
                          f"this copy is {got}). If it fails to unpack or load, delete {target} and fetch again.",
                          stacklevel=2)
        elif got != download.md5:
            raise ValueError(f"{found}checksum mismatch for {download.url}: MD5 {got}, expected {download.md5}. "
                             f"The download was deleted (not saved as {target}); try again later.")
