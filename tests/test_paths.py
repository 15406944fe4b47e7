"""lrlib.paths: where things live, and the atomic writer."""

from pathlib import Path

import pytest

from lrlib import paths
from lrlib.paths import write_atomic


def test_data_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LRLIB_DATA", str(tmp_path))
    assert paths.data_root() == tmp_path
    monkeypatch.delenv("LRLIB_DATA")
    assert paths.data_root() == Path(paths.__file__).resolve().parent.parent / "data"


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LRLIB_DATA", str(tmp_path / "d"))
    monkeypatch.delenv("LRLIB_CACHE", raising=False)
    assert paths.cache_dir() == tmp_path / "d" / "cache"
    monkeypatch.setenv("LRLIB_CACHE", "")  # empty counts as unset
    assert paths.cache_dir() == tmp_path / "d" / "cache"
    monkeypatch.setenv("LRLIB_CACHE", str(tmp_path / "c"))
    assert paths.cache_dir() == tmp_path / "c"


def test_write_atomic_leaves_old_file_on_failure(tmp_path):
    target = write_atomic(tmp_path / "f.txt", "old")

    class Boom:  # not bytes: the write into the temporary file fails
        pass

    with pytest.raises(TypeError):
        write_atomic(target, Boom())
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1
