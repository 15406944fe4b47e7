"""Where things live, and the one way lrlib writes a file.

* :func:`repo_root`: the course repository (the folder that holds the ``lrlib`` package).
* :func:`data_root`: the data sets, ``$LRLIB_DATA`` or ``<repo>/data``.
* :func:`cache_dir`: what lrlib computes and keeps (deep features, finished trainings),
  ``$LRLIB_CACHE`` or ``<data root>/cache``.
* :func:`atomic_file` / :func:`write_atomic`: a file appears whole or not at all (a temporary file in
  the same folder, flushed to disk, then ``os.replace``), so a crash never leaves half a file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["repo_root", "data_root", "cache_dir", "atomic_file", "write_atomic"]


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` through :func:`atomic_file`; returns ``path``."""
    with atomic_file(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return Path(path)
