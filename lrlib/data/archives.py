"""Unpacking tar and zip archives safely: nothing may land outside the target folder."""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable


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
