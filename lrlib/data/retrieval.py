"""Image retrieval benchmarks: :func:`load_retrieval` reads Oxford5k, Paris6k (revisitop's ground truth) and INRIA
Holidays (ground truth from the file names) as queries, a database and (Q, M) relevance masks.

Oxford5k and Paris6k: photos ``<root>/<set>/jpg/<name>.jpg`` and ``<root>/<set>/gnd_<set>.pkl``, a pickled dict
``imlist`` (the database, names without extension), ``qimlist`` (the query photos) and ``gnd``: per query a
dict with ``bbx`` [x1, y1, x2, y2] (the query is that box of its photo), ``ok`` and ``good`` (relevant) and
``junk`` (ignored): lists of indices into ``imlist``.

Holidays: photos ``<root>/holidays/jpg/<group><nn>.jpg`` (six digits, e.g. 100000.jpg, 100001.jpg): the first
of each group (``<group>00``) is its query, the others of the group are relevant to it, and the query's own
copy in the database is ignored (the benchmark leaves it out of its own ranking).

Distractors (revisitop1m-100k): photos never relevant to any query, ``<root>/<set>/jpg/<folder>/<name>.jpg`` as
revisitop's archives unpack; :func:`load_distractors` lists them and decodes one chunk (folder) at a time.
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, NamedTuple

import numpy as np
import torch

from ..checks import check_int
from .archives import _count_files, _marker
from .formats import _PlainDataUnpickler
from .images import PHOTO_SUFFIXES, _decode_all, _open_rgb, _photo_files, _whole
from .registry import DatasetMissing, Entry, _entry, _root

HOLIDAYS_IMAGES = 1491  # INRIA Holidays: 500 queries and 991 relevant photos
HOLIDAYS_NAME = re.compile(r"\d{6}")
CHUNK_PHOTOS = 4096  # the most photos in one distractor chunk (at 224 x 224: 0.6 GB of uint8 pixels)


@dataclass(repr=False)
class RetrievalSet:
    """Queries, a database and which database photos answer each query.

    Attributes:
        queries: (Q, 3, S, S) uint8: each query (Oxford, Paris: its box only) resized to S x S.
        database: (M, 3, S, S) uint8: each whole database photo resized to S x S.
        relevant: (Q, M) bool, True where database photo m answers query q.
        junk: (Q, M) bool, True where database photo m is left out of query q's ranking: pass it as
            ``lrlib.metrics.retrieval_map(..., ignore=junk)``.
        query_names, names: the file stems of the queries and of the database photos.
        name: e.g. ``"oxford5k@224"``.
    """

    queries: torch.Tensor
    database: torch.Tensor
    relevant: torch.Tensor
    junk: torch.Tensor
    query_names: list[str]
    names: list[str]
    name: str

    def __repr__(self) -> str:  # the default would print every pixel
        return (f"RetrievalSet({self.name!r}, queries={tuple(self.queries.shape)}, "
                f"database={tuple(self.database.shape)} on {self.database.device})")


class _Truth(NamedTuple):
    """A benchmark's ground truth: database names (M), query names (Q), query boxes (None: the whole photo)
    and (Q, M) boolean relevant and junk masks."""

    names: list[str]
    query_names: list[str]
    boxes: list[tuple[float, float, float, float] | None]
    relevant: np.ndarray
    junk: np.ndarray


def load_retrieval(name: str, *, size: int, device: str | torch.device = "cpu",
                   root: Path | None = None) -> RetrievalSet:
    """A retrieval benchmark as uint8 tensors with its ground truth (never downloads; see :func:`fetch`).

    Args:
        name: ``"oxford5k"``, ``"paris6k"`` or ``"holidays"``.
        size: every photo (and every query box) is resized to size x size: bicubic, antialiased, the aspect
            ratio not kept, nothing cropped (Oxford5k's 5,063 photos at 224 take 0.8 GB).
        device: where the tensors go, e.g. ``"cuda"``.
        root: the data root (default :func:`data_root`).

    Returns:
        :class:`RetrievalSet`; its mean average precision is
        ``retrieval_map(f(s.queries), f(s.database), s.relevant, ignore=s.junk)`` for features ``f``.

    Raises:
        ValueError: unknown name, a set that is not for retrieval, ``size`` not a positive integer, a data root
            that is a file, a ground-truth pickle that is damaged, malformed (a photo name that is absolute or
            climbs out of the set's folder with ``..`` included), or names anything but plain data (it is refused
            before anything in it runs), a query box outside its photo, a Holidays photo not
            named ``<6 digits>.jpg``, or a photo that cannot be decoded. The message names the file.
        DatasetMissing: the ground truth or photos are not there; the message names them and says how to
            get them.
    """
    entry, root = _checked(name, root, size, "retrieval", "load_retrieval",
                           "retrieval sets (oxford5k, paris6k, holidays)")
    truth = _read_truth(entry, root)
    folder = _folder(entry, root)
    missing = _missing_photos(folder, truth.names + truth.query_names)
    if missing:
        raise DatasetMissing(f"{name}: {folder} lacks {len(missing)} of the {len(truth.names)} photos of its ground "
                             f"truth, e.g. {', '.join(missing[:3])}.\n{entry.instructions(root)}")
    database = _decode_all([folder / f"{n}.jpg" for n in truth.names], lambda p: _whole(_open_rgb(p), size),
                           desc=f"decoding {name}")
    queries = _decode_all(list(zip(truth.query_names, truth.boxes)),
                          lambda query: _query(folder / f"{query[0]}.jpg", query[1], size), desc=f"{name} queries")
    return RetrievalSet(_batch(queries).to(device), _batch(database).to(device),
                        torch.from_numpy(truth.relevant).to(device), torch.from_numpy(truth.junk).to(device),
                        truth.query_names, truth.names, f"{name}@{size}")


def _checked(name: str, root: Path | None, size: int, kind: str, reader: str, sets: str) -> tuple[Entry, Path]:
    """The entry and data root of ``name`` for ``reader``, which reads the sets of ``kind`` (``sets``: which, in
    words); ValueError for an unknown name, a set of another kind, ``size`` not a positive integer, a root that is a
    file."""
    entry, root = _entry(name), _root(root)
    check_int("size", size)
    if entry.kind != kind:
        raise ValueError(f"{reader} reads the {sets}; {name} is {entry.kind}: use {entry.reader}({name!r}, ...)")
    return entry, root


def _batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) arrays of one size -> (N, 3, H, W) uint8."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _query(path: Path, box: tuple[float, float, float, float] | None, size: int) -> np.ndarray:
    """A query photo's box (the whole photo when None), clipped to the photo, resized to (size, size, 3)."""
    im = _open_rgb(path)
    if box is None:
        return _whole(im, size)
    w, h = im.size
    x1, y1, x2, y2 = box
    clipped = (max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h)))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise ValueError(f"the query box {list(box)} lies outside its photo {path} ({w} x {h}); the ground truth "
                         f"does not belong to these photos: get both again")
    return _whole(im, size, clipped)


def _folder(entry: Entry, root: Path) -> Path:
    return root / entry.folder / "jpg"


def _truth_file(entry: Entry, root: Path) -> Path | None:
    """``<root>/<set>/gnd_<set>.pkl`` for Oxford5k and Paris6k; None for Holidays (its names are its truth)."""
    return root / entry.folder / f"gnd_{entry.name}.pkl" if entry.name != "holidays" else None


def _missing_photos(folder: Path, names: list[str]) -> list[str]:
    return [f"{n}.jpg" for n in names if not (folder / f"{n}.jpg").is_file()]


def _retrieval_ready(entry: Entry, root: Path) -> bool:
    """Whether the photo folder holds photos and the ground truth is there (a quick look: nothing is read)."""
    truth = _truth_file(entry, root)
    return bool(_photo_files(_folder(entry, root))) and (truth is None or truth.is_file())


def _images_incomplete(entry: Entry, root: Path) -> str:
    """"" when every photo of the set is there, else a sentence saying what is missing (reads the ground truth).

    Holidays has no list of names: it is complete with all its 1,491 photos.
    """
    folder = _folder(entry, root)
    if _truth_file(entry, root) is None:
        found = len(_photo_files(folder))
        return "" if found >= HOLIDAYS_IMAGES else f"{folder} holds {found} of Holidays' {HOLIDAYS_IMAGES} photos"
    names = _read_truth(entry, root).names
    missing = _missing_photos(folder, names)
    return f"{folder} lacks {len(missing)} of its {len(names)} photos, e.g. {missing[0]}" if missing else ""


# --- ground truth ------------------------------------------------------------------------------------


def _read_truth(entry: Entry, root: Path) -> _Truth:
    path = _truth_file(entry, root)
    if path is None:
        return _holidays_truth(entry, root)
    if not path.is_file():
        raise DatasetMissing(f"{entry.name}: its ground truth {path} is missing.\n{entry.instructions(root)}")
    try:
        with open(path, "rb") as f:
            gnd = _PlainDataUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise ValueError(f"{path} is not a readable ground truth ({type(err).__name__}: {err}); delete it and "
                         f"fetch it again") from err
    return _check_gnd(path, gnd)


def _check_gnd(path: Path, gnd: object) -> _Truth:
    """revisitop's dict (imlist, qimlist, gnd) -> :class:`_Truth`, or ValueError naming what is malformed."""
    if not isinstance(gnd, dict) or not {"imlist", "qimlist", "gnd"} <= set(gnd):
        keys = sorted(map(str, gnd)) if isinstance(gnd, dict) else ""
        raise _malformed(path, f"expected a dict with imlist, qimlist and gnd, got {type(gnd).__name__} {keys}")
    names, query_names, per_query = gnd["imlist"], gnd["qimlist"], gnd["gnd"]
    if not all(isinstance(x, list) and all(isinstance(n, str) for n in x) for x in (names, query_names)):
        raise _malformed(path, "imlist and qimlist must be lists of image names")
    for key, listed in (("imlist", names), ("qimlist", query_names)):
        for i, n in enumerate(listed):
            if not _inside_folder(n):
                raise _malformed(path, f"{key}[{i}] = {n!r} is not a photo name inside the set's folder (it is "
                                       f"empty, absolute or climbs out with '..'), so it could read any photo")
    if not isinstance(per_query, list) or len(per_query) != len(query_names):
        raise _malformed(path, f"gnd must be a list of one dict per query ({len(query_names)})")
    shape = (len(query_names), len(names))
    relevant, junk = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    boxes = []
    for q, query in enumerate(per_query):
        if not isinstance(query, dict) or not {"bbx", "ok", "junk"} <= set(query):
            raise _malformed(path, f"gnd[{q}] must be a dict with bbx, ok (good optional) and junk")
        boxes.append(_box(path, query["bbx"], f"gnd[{q}]['bbx']"))
        for key, mask in (("ok", relevant), ("good", relevant), ("junk", junk)):
            mask[q, _indices(path, query.get(key, []), len(names), f"gnd[{q}][{key!r}]")] = True
    return _Truth(names, query_names, boxes, relevant, junk)


def _inside_folder(name: str) -> bool:
    """Whether ``<folder>/<name>.jpg`` lies inside ``<folder>`` for any folder: a non-empty relative name whose
    parts never climb out with ``..`` (checked on the text alone, so hand-placed symbolic links still work)."""
    path = PurePosixPath(name.replace("\\", "/"))  # a backslash is a separator on Windows
    return bool(path.parts) and not path.is_absolute() and ".." not in path.parts and "\0" not in name


def _malformed(path: Path, what: str) -> ValueError:
    return ValueError(f"{path} is not revisitop's ground truth: {what}. Delete it and fetch it again")


def _box(path: Path, value: object, where: str) -> tuple[float, float, float, float]:
    """A query box [x1, y1, x2, y2] of finite numbers with x1 < x2 and y1 < y2."""
    try:
        box = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        box = np.zeros(0)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
        raise _malformed(path, f"{where} must be [x1, y1, x2, y2] with x1 < x2 and y1 < y2, got {value!r}")
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1, y1, x2, y2


def _indices(path: Path, value: object, count: int, where: str) -> np.ndarray:
    """A list (or array) of indices into the database, checked to be integers in 0..count-1."""
    indices = np.asarray(value).reshape(-1)
    if indices.size and (indices.dtype.kind not in "iu" or indices.min() < 0 or indices.max() >= count):
        raise _malformed(path, f"{where} must hold indices 0..{count - 1} into imlist, got {indices[:5].tolist()}")
    return indices.astype(np.int64)


def _holidays_truth(entry: Entry, root: Path) -> _Truth:
    """The benchmark's rule: ``<group>00`` is the query of its group, the group's other photos are relevant."""
    files = _photo_files(_folder(entry, root))
    if not files:
        raise DatasetMissing(f"{entry.name}: no photos in {_folder(entry, root)}.\n{entry.instructions(root)}")
    odd = [p for p in files if not HOLIDAYS_NAME.fullmatch(p.stem) or p.suffix != ".jpg"]
    if odd:
        raise ValueError(f"{odd[0]}: Holidays photos are named <4-digit group><2-digit number>.jpg (100000.jpg, "
                         f"100001.jpg, ...); rename or remove it")
    names = [p.stem for p in files]
    groups = np.array([n[:4] for n in names])
    queries = np.array([i for i, n in enumerate(names) if n.endswith("00")], dtype=np.int64)
    relevant = groups[queries][:, None] == groups[None, :]
    junk = np.zeros_like(relevant)
    junk[np.arange(len(queries)), queries] = True  # the query itself: not counted for or against it
    relevant &= ~junk
    return _Truth(names, [names[i] for i in queries], [None] * len(queries), relevant, junk)


# --- distractors -------------------------------------------------------------------------------------


@dataclass(repr=False)
class DistractorSet:
    """Photos never relevant to any query, listed but not decoded: iterating decodes one chunk at a time, so the
    whole set (revisitop1m-100k: about 100,000 photos) never sits in memory.

    Attributes:
        chunks: [(chunk name, photo paths)], one per top-level folder of ``<root>/<set>/jpg/`` (by name; its photos
            at any depth, sorted), a folder of more than :data:`CHUNK_PHOTOS` photos split into ``<folder>:<i>``;
            photos lying directly in ``jpg/`` form the chunk ``"."``.
        size: every photo is resized to size x size as it is decoded (bicubic, antialiased, the aspect ratio not
            kept, nothing cropped: as :func:`load_retrieval`'s database).
        name: e.g. ``"revisitop1m-100k@224"``.
    """

    chunks: list[tuple[str, list[Path]]]
    size: int
    name: str

    def __len__(self) -> int:
        return sum(len(files) for _, files in self.chunks)

    def __repr__(self) -> str:
        return f"DistractorSet({self.name!r}, {len(self)} photos in {len(self.chunks)} chunks)"

    def __iter__(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(chunk name, (n, 3, size, size) uint8 on the CPU), one chunk after the other.

        A photo that cannot be decoded (truncated, damaged) is left out with a warning naming it, so n may be
        smaller than the chunk's list; a chunk with no photo left is skipped.
        """
        for chunk, files in self.chunks:
            decoded = _decode_all(files, lambda path: _try_whole(path, self.size), desc=f"{self.name} {chunk}")
            bad = [err for err in decoded if isinstance(err, str)]
            if bad:
                warnings.warn(f"{self.name}: left out {len(bad)} of the {len(files)} photos of chunk {chunk}, which "
                              f"cannot be decoded; first: {bad[0]}", stacklevel=2)
            good = [array for array in decoded if not isinstance(array, str)]
            if good:
                yield chunk, _batch(good)


def load_distractors(name: str, *, size: int, root: Path | None = None) -> DistractorSet:
    """A set of retrieval distractors (``"revisitop1m-100k"``), listed chunk by chunk; nothing is decoded until it
    is iterated (see :class:`DistractorSet`), and nothing is downloaded (see :func:`fetch`).

    Args:
        name: a registry entry of kind ``"distractors"``.
        size: every photo is resized to size x size as it is decoded.
        root: the data root (default :func:`data_root`).

    Returns:
        :class:`DistractorSet`.

    Raises:
        ValueError: unknown name, a set that is not of distractors, ``size`` not a positive integer, a data root that
            is a file.
        DatasetMissing: no photos, or an archive that :func:`fetch` unpacked has lost photos since (or was not
            unpacked yet); the message names the archives and says how to get them.
    """
    entry, root = _checked(name, root, size, "distractors", "load_distractors", "distractor sets (revisitop1m-100k)")
    gap = _distractors_incomplete(entry, root)
    if gap:
        raise DatasetMissing(f"{name}: {gap}.\n{entry.instructions(root)}")
    return DistractorSet(_chunks(_folder(entry, root)), size, f"{name}@{size}")


def _try_whole(path: Path, size: int) -> np.ndarray | str:
    """:func:`_whole` of the photo at ``path``, or the reason it cannot be decoded."""
    try:
        return _whole(_open_rgb(path), size)
    except ValueError as err:
        return str(err)


def _chunks(folder: Path) -> list[tuple[str, list[Path]]]:
    """The photos below ``folder`` grouped by top-level folder (see :class:`DistractorSet`); hidden files and
    folders (markers, unpacks under way) are left out."""
    groups: dict[str, list[Path]] = {}
    for path in sorted(_distractor_photos(folder)):
        parts = path.relative_to(folder).parts
        groups.setdefault(parts[0] if len(parts) > 1 else ".", []).append(path)
    return [(chunk if len(files) <= CHUNK_PHOTOS else f"{chunk}:{start // CHUNK_PHOTOS}",
             files[start:start + CHUNK_PHOTOS])
            for chunk, files in sorted(groups.items()) for start in range(0, len(files), CHUNK_PHOTOS)]


def _distractor_photos(folder: Path) -> Iterator[Path]:
    """The photos at any depth below ``folder``, in no particular order, but for hidden files and folders."""
    for path in folder.rglob("*"):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if path.suffix.lower() in PHOTO_SUFFIXES and not hidden and path.is_file():
            yield path


def _unpacked_whole(folder: Path, archive_name: str) -> bool:
    """Whether the marker of an unpack of ``archive_name`` into ``folder`` is there and every folder (or file) it
    counted still holds at least as many files."""
    try:
        counts = json.loads(_marker(folder, archive_name).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(counts, dict) and all(
        isinstance(n, int) and (1 if (folder / top).is_file() else _count_files(folder / top)) >= n
        for top, n in counts.items())


def _distractors_incomplete(entry: Entry, root: Path) -> str:
    """"" when every archive of a distractor set is wholly unpacked, else a sentence saying what is missing.

    With no marker of an unpack at all, the photos were placed by hand: any photo will do.
    """
    folder = _folder(entry, root)
    archives = [download.filename for download in entry.downloads]
    if not any(_marker(folder, archive).is_file() for archive in archives):
        return "" if next(_distractor_photos(folder), None) else f"{folder} holds no photos"
    gaps = [archive for archive in archives if not _unpacked_whole(folder, archive)]
    if not gaps:
        return ""
    return (f"{folder} lacks photos of {len(gaps)} of its {len(archives)} archives ({', '.join(gaps[:3])}"
            f"{', ...' if len(gaps) > 3 else ''}): not unpacked yet, or photos were deleted since")
