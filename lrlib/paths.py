"""Where things live, and the one way lrlib writes a file.

* :func:`repo_root`: the course repository (the folder that holds the ``lrlib`` package).
* :func:`data_root`: the data sets, ``$LRLIB_DATA`` or ``<repo>/data``.
* :func:`cache_dir`: what lrlib computes and keeps (deep features, finished trainings),
  ``$LRLIB_CACHE`` or ``<data root>/cache``.
* :func:`atomic_file` / :func:`write_atomic`: a file appears whole or not at all (a temporary file in
  the same folder, flushed to disk, then ``os.replace``), so a crash never leaves half a file behind;
  the temporary files of writers that were killed are removed by the next write of the same file.
* :func:`set_aside`: a damaged cache or results file is moved aside (never deleted) and named in a warning.
"""

from __future__ import annotations

import glob
import os
import socket
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["repo_root", "data_root", "cache_dir", "make_folder", "atomic_file", "write_atomic", "set_aside"]

STALE_SECONDS = 24 * 3600
"""A temporary file this old is stale even when its writer's process id is in use again, or lives on another machine."""

_HOST = socket.gethostname().replace(".", "_")  # the pid follows its last "-", so a "-" in the name is kept


def repo_root() -> Path:
    """The course repository: the folder that holds the ``lrlib`` package."""
    return Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """``$LRLIB_DATA`` if set, else ``<repository>/data``."""
    env = os.environ.get("LRLIB_DATA")
    return Path(env).expanduser() if env else repo_root() / "data"


def cache_dir() -> Path:
    """Where lrlib keeps what it computes: ``$LRLIB_CACHE`` if set (and not empty), else ``data_root() / "cache"``.

    Deep features (``features/``, :mod:`lrlib.backbones`) and finished trainings (``runs/``,
    :class:`lrlib.results.RunCache`) live here. Decoded pixels do not: they belong to the files of
    one data root and stay in ``<root>/cache/`` whatever ``$LRLIB_CACHE`` says.
    """
    return Path(os.environ.get("LRLIB_CACHE") or data_root() / "cache")


@contextmanager
def atomic_file(path: str | Path, *, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing; on success it replaces ``path``.

    The data are flushed to disk (fsync) before the rename, and the file gets ``mode`` (mkstemp's
    files are private; results and caches may be shared). If the ``with`` block raises, the
    temporary file is deleted and ``path`` is left as it was.
    """
    path = Path(path)
    make_folder(path.parent)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_HOST}-{os.getpid()}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_folder(folder: Path) -> None:
    """``mkdir -p folder``, or a ValueError naming the file that stands where a folder must be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in [folder, *folder.parents] if p.exists() and not p.is_dir())
        raise ValueError(f"cannot write into {folder}: {blocker} is a file, not a folder; move it away or choose "
                         f"another folder (e.g. set LRLIB_CACHE or LRLIB_RESULTS, or pass another --out)") from None


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files that killed writers of ``path`` left (``.<name>.<host>-<pid>.<random>.tmp``): a
    writer on this machine whose process is gone, and any writer's file older than :data:`STALE_SECONDS` (a
    folder shared between machines: another machine's process ids say nothing here). A live writer's file stays."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        host, _, pid = tmp.name[len(path.name) + 2:].split(".", 1)[0].rpartition("-")
        try:
            old = time.time() - tmp.stat().st_mtime > STALE_SECONDS
            if old or (host == _HOST and pid.isdigit() and not _alive(int(pid))):
                tmp.unlink(missing_ok=True)
        except OSError:  # another writer removed it first, or it is not ours to remove
            continue


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` through :func:`atomic_file`; returns ``path``."""
    with atomic_file(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def set_aside(path: str | Path, reason: str) -> Path:
    """Move a damaged file out of the way (``<name>.damaged-<time>``, never deleted) and warn, naming both paths and
    ``reason``; the caller then computes what the file held again. Returns the new path."""
    path = Path(path)
    stamp, n = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}", 0
    while (aside := path.with_name(f"{path.name}.damaged-{stamp}-{n}")).exists():
        n += 1
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another process set it aside first
        return aside
    warnings.warn(f"{path} is damaged ({reason}); moved it to {aside.name} and computing it again", stacklevel=3)
    return aside
