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


def test_a_killed_writer_leaves_no_temporary_file_behind(tmp_path):
    """Temporary files of dead writers are removed by the next write; a live writer's file stays."""
    import os
    import subprocess
    import sys

    target = tmp_path / "cache.pt"
    code = ("import os, sys; from lrlib.paths import atomic_file\n"
            "with atomic_file(sys.argv[1]) as f:\n    f.write(b'x' * 1000); f.flush(); os._exit(9)")
    for _ in range(3):  # three writers killed in the middle of a write: each removes its dead predecessor's file
        assert subprocess.run([sys.executable, "-c", code, str(target)]).returncode == 9
        assert len(list(tmp_path.glob(".cache.pt.*.tmp"))) == 1 and not target.exists()
    live = tmp_path / f".cache.pt.{paths._HOST}-{os.getpid()}.abc.tmp"  # this process is alive: not stale
    live.write_bytes(b"in progress")
    elsewhere = tmp_path / ".cache.pt.otherhost-1.abc.tmp"  # another machine's writer: its pid says nothing here
    elsewhere.write_bytes(b"in progress")
    abandoned = tmp_path / ".cache.pt.otherhost-2.abc.tmp"
    abandoned.write_bytes(b"old")
    os.utime(abandoned, (0, 0))  # older than a day: stale wherever it came from
    write_atomic(target, b"done")
    assert target.read_bytes() == b"done"
    assert sorted(tmp_path.glob(".cache.pt.*.tmp")) == sorted([live, elsewhere])


def test_a_file_where_a_folder_must_be_is_named(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match=f"{blocker} is a file, not a folder"):
        write_atomic(blocker / "sub" / "x.json", "{}")
