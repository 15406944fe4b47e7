"""Fixtures shared by the data tests."""

from pathlib import Path

import pytest

from lrlib.data import formats


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty data root, also set as $LRLIB_DATA; the Debian Fashion-MNIST folder is not searched."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("LRLIB_DATA", str(folder))
    monkeypatch.setattr(formats, "FASHION_SYSTEM_DIRS", [])
    return folder
