"""Unpacking tar and zip archives safely: nothing may land outside the target folder, a damaged tar is refused,
and a marker left by each complete unpack tells a whole tree from one that lost files."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable

from ..paths import write_atomic
from .registry import DatasetMissing


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a tar (.tar, .tar.gz) or zip archive into ``dest``, refusing anything that could escape it.

    Members with absolute paths, drive letters, ``..`` components, links or device files are refused
    before anything is written, and so is a damaged tar (see :func:`_check_tar_end`). The archive is
    unpacked into a temporary folder inside ``dest`` first and then moved into place, so an interrupted
    unpack never leaves a half-filled folder behind. Files that already exist in ``dest`` are kept.
    Once everything is in place, :func:`_marker` records how many files each top-level folder received.
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
                files = [info.filename for info in infos if not info.is_dir()]
        else:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                _check_tar_end(archive, tar, members)
                for member in members:
                    _check_member(archive, dest, member.name, plain=member.isfile() or member.isdir())
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                _unpack_via_tmp(dest, lambda tmp: tar.extractall(tmp, members=members, **kwargs))
                files = [member.name for member in members if member.isfile()]
    except (tarfile.TarError, EOFError, zipfile.BadZipFile, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{archive} is not a readable tar or zip archive ({err}); delete it and get it again") from err
    write_atomic(_marker(dest, archive.name), json.dumps(_count_by_top(files), indent=1, sort_keys=True))


def _unpack_flat(archive: Path, dest: Path, suffixes: tuple[str, ...]) -> int:
    """Unpack ``archive`` safely (see :func:`_safe_extract`) and move every file it holds whose suffix is in
    ``suffixes`` (any case), at any depth, straight into ``dest``: one flat folder, whatever the archive's layout.

    The archive is unpacked into a hidden folder next to ``dest``, removed afterwards. Files already in ``dest``
    are kept (so of two files with one name, the first stays); hidden files (``._x.jpg``, left by macOS) are
    skipped. Returns how many files were moved.
    """
    staging = dest.parent / f".unpacking-{archive.name}"
    dest.mkdir(parents=True, exist_ok=True)
    moved = 0
    try:
        _safe_extract(archive, staging)
        for path in sorted(staging.rglob("*")):
            wanted = path.suffix.lower() in suffixes and not path.name.startswith(".")
            if wanted and path.is_file() and not (dest / path.name).exists():
                os.replace(path, dest / path.name)
                moved += 1
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return moved


def _check_tar_end(archive: Path, tar: tarfile.TarFile, members: list[tarfile.TarInfo]) -> None:
    """Refuse a tar whose (decompressed) stream holds anything but zeros after the last member's data.

    Python's tarfile takes a damaged member header for the end of the archive, so ``members`` would
    silently be only the members before the damage; a whole archive ends in zero blocks only.
    """
    tar.fileobj.seek(tar.offset)  # just past the last member's data
    while chunk := tar.fileobj.read(1 << 20):
        if chunk.count(0) != len(chunk):
            last = repr(members[-1].name) if members else "(none)"
            raise ValueError(f"{archive} is damaged: after the member {last} ({len(members)} members read) comes a "
                             f"block that is not a tar header, so the rest of the archive cannot be read. Nothing "
                             f"was unpacked; delete {archive} and get it again.")


def _count_by_top(names: list[str]) -> dict[str, int]:
    """The number of files per top-level folder (or top-level file) of archive member names."""
    return dict(Counter(_parts(name)[0] for name in names))


def _parts(name: str) -> tuple[str, ...]:
    """The components of an archive member's name ("/" or "\\" separated)."""
    return PurePosixPath(name.replace("\\", "/")).parts


def _check_member(archive: Path, dest: Path, name: str, plain: bool) -> None:
    """Refuse an archive member that would land outside ``dest``, or that is a link or a special file."""
    parts = _parts(name)
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


# --- markers: was a tree unpacked whole? -------------------------------------------------------------


def _marker(dest: Path, archive_name: str) -> Path:
    """The marker of a complete unpack of ``archive_name`` into ``dest``: JSON, top-level folder -> file count."""
    return dest / f".unpacked-{archive_name}.json"


def _count_files(folder: Path) -> int:
    """The number of files below ``folder``, at any depth (0 when it does not exist)."""
    return sum(len(files) for _, _, files in os.walk(folder))


def _unpacked_counts(dest: Path, top: str, archive_name: str) -> tuple[int, int | None]:
    """(files in ``dest/top``, files the marker says ``archive_name`` put there; None without a readable marker)."""
    try:
        expected = json.loads(_marker(dest, archive_name).read_text()).get(top, 0)
    except (OSError, ValueError, AttributeError):
        expected = None
    return _count_files(dest / top), expected


def _unpacked_tree(dest: Path, top: str, archive_name: str, archive: Path | None, how_to_get: str) -> Path | None:
    """``dest/top`` once it holds every file the archive ``archive_name`` put there; None when it does not exist.

    A tree is whole when the marker of its unpack is there and the tree still holds at least as many
    files as the marker counted. Otherwise, when the archive is at hand (``archive``), it is unpacked
    (again: files already there are kept, missing ones come back). Without the archive, a tree with no
    marker counts as placed by hand (there is nothing to compare it with); a tree with fewer files than
    its marker says raises :class:`DatasetMissing`, naming what to delete (``how_to_get``: how to get
    the files again).
    """
    tree = dest / top
    found, expected = _unpacked_counts(dest, top, archive_name)
    if archive is not None and (expected is None or found < expected):
        _safe_extract(archive, dest)
        found, expected = _unpacked_counts(dest, top, archive_name)
    if tree.is_dir() and expected is not None and found < expected:
        raise DatasetMissing(f"{tree} is incomplete: it holds {found} of {expected} files, as unpacked there from "
                             f"{archive_name} (files were deleted, or an unpack was cut short). Delete {tree} and "
                             f"{_marker(dest, archive_name)}, then get it again.\n{how_to_get}")
    return tree if tree.is_dir() else None
