"""lrlib.data: every loader on tiny files written in the real on-disk formats (no network, no shared data)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from PIL import Image

from lrlib import data
from lrlib.data import formats, photo_sets

UNREACHABLE = "http://127.0.0.1:9/x"  # the discard port: connection refused at once


# --- writers for the real formats -----------------------------------------------------------------

def write_cifar_pickles(folder: Path, per_batch: int = 20, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """torchvision's layout: cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}.

    Returns split -> (data (N, 3072) uint8, labels (N,)) as written.
    """
    rng = np.random.default_rng(seed)
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    written: dict[str, list] = {"train": [], "test": []}
    names = [(f"data_batch_{i}", "train") for i in range(1, 6)] + [("test_batch", "test")]
    for k, (name, split) in enumerate(names):
        raw = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [(i + k) % 10 for i in range(per_batch)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": raw,
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
        with open(batches / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        written[split].append((raw, np.asarray(labels)))
    with open(batches / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in data.CIFAR10_CLASSES], b"num_vis": 3072}, f, protocol=2)
    return {split: (np.concatenate([r for r, _ in parts]), np.concatenate([lab for _, lab in parts]))
            for split, parts in written.items()}


def write_jpeg_tree(base: Path, per_class: dict[str, int], suffix: str = ".png",
                    flat: bool = False, seed: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """cifar10-jpeg/{split}/<class>/NNNN<suffix> under ``base``; returns split -> (images NCHW, labels)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in per_class.items():
        images, labels = [], []
        for c, name in enumerate(data.CIFAR10_CLASSES):
            folder = base / "cifar10-jpeg" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                if flat:  # one colour per image: JPEG keeps it almost exactly
                    pixel = rng.integers(30, 220, size=3, dtype=np.uint8)
                    array = np.broadcast_to(pixel, (32, 32, 3)).copy()
                else:
                    array = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(array).save(folder / f"{i:04d}{suffix}", quality=95)
                images.append(array.transpose(2, 0, 1))
                labels.append(c)
        out[split] = (np.stack(images), np.asarray(labels))
    return out


def make_tar(archive: Path, folder: Path, arcname: str) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return archive


def write_idx(path: Path, array: np.ndarray, magic_type: int = 0x08) -> None:
    header = bytes([0, 0, magic_type, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def write_fashion(folder: Path, n_train: int = 30, n_test: int = 12, seed: int = 2) -> dict[str, tuple]:
    """Train files gzipped, test files not (both are accepted)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n, ext in (("train", "train", n_train, ".gz"), ("test", "t10k", n_test, "")):
        images = rng.integers(1, 256, size=(n, 28, 28), dtype=np.uint8)  # no zeros: padding is visible
        labels = np.arange(n) % 10
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
        out[split] = (images, labels)
    return out


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def serve(monkeypatch, download: data.Download, path: Path, *, checked: bool = True) -> None:
    """Make the registry download ``download`` come from the local file ``path`` (with its real MD5 if ``checked``)."""
    monkeypatch.setattr(download, "url", path.as_uri())
    if checked:
        monkeypatch.setattr(download, "md5", md5(path))


# --- registry and paths ---------------------------------------------------------------------------

def test_registry():
    names = set(data.datasets())
    assert names == {"cifar10", "fashion-mnist", "svhn", "images", "samples", "b100", "urban100", "set5", "set14",
                     "t91", "div2k", "graf", "pairs", "voc2007", "oxford5k", "paris6k", "holidays", "revisitop1m-100k"}
    cifar = data.datasets()["cifar10"]
    assert cifar.classes[:3] == ["airplane", "automobile", "bird"] and cifar.classes[-1] == "truck"
    assert cifar.downloads[0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert len(data.datasets()["fashion-mnist"].downloads) == 4
    svhn = data.datasets()["svhn"]
    assert svhn.classes == [str(d) for d in range(10)] and svhn.kind == "labelled"
    assert {d.filename: d.md5 for d in svhn.downloads} == {"train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
                                                          "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3"}
    div2k = data.datasets()["div2k"]
    assert div2k.downloads[0].md5 == "bdc2d9338d4e574fe81bf7d158758658" and div2k.folder == "div2k/DIV2K_train_HR"
    assert data.status("samples") == "ships with packages"
    assert data.status("pairs") == "ready" and data.datasets()["graf"].kind == "pairs"


def test_decoded_pixels_stay_in_the_data_root(root, tmp_path, monkeypatch):
    monkeypatch.setenv("LRLIB_CACHE", str(tmp_path / "elsewhere"))
    write_jpeg_tree(root / "cifar10", {"test": 1})
    data.load("cifar10", "test")
    assert (root / "cache" / "cifar10-jpeg-test.npz").is_file() and not (tmp_path / "elsewhere").exists()


def test_md5sum(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(os.urandom(3000))
    assert data.md5sum(path, chunk_size=1000) == md5(path)


# --- CIFAR-10 -------------------------------------------------------------------------------------

def test_cifar_pickles(root):
    written = write_cifar_pickles(root / "cifar10")
    assert data.status("cifar10") == "ready"
    train = data.load("cifar10", "train")
    assert train.images.shape == (100, 3, 32, 32) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and train.name == "cifar10/train"
    assert train.labels.tolist() == written["train"][1].tolist()
    raw = written["train"][0]
    k, y, x = 37, 5, 19  # rows: 1024 red, 1024 green, 1024 blue; each 32x32 row-major
    for c in range(3):
        assert train.images[k, c, y, x].item() == raw[k, c * 1024 + y * 32 + x]
    assert np.array_equal(train.images.reshape(100, -1).numpy(), raw)
    test = data.load("cifar10")  # default split: test
    assert test.images.shape == (20, 3, 32, 32) and train.classes == data.CIFAR10_CLASSES


def test_cifar_limit_is_stratified_and_size_resizes(root):
    write_cifar_pickles(root / "cifar10")
    sub = data.load("cifar10", "train", limit=25)
    assert len(sub) == 25 and sub.name == "cifar10/train[:25]"
    counts = torch.bincount(sub.labels, minlength=10)
    assert counts.min() >= 2 and counts.max() <= 3
    assert data.load("cifar10", "train", limit=5).labels.sort().values.tolist() == [0, 1, 2, 3, 4]
    small = data.load("cifar10", "test", size=16, limit=10)
    assert small.images.shape == (10, 3, 16, 16) and small.images.dtype == torch.uint8


def test_cifar_pickle_that_runs_code_is_refused(root):
    write_cifar_pickles(root / "cifar10")

    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    with open(root / "cifar10" / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f, protocol=2)
    with pytest.raises(ValueError, match="refusing"):
        data.load("cifar10", "test")


def test_cifar_jpeg_tree_is_decoded_once_then_cached(root, monkeypatch):
    written = write_jpeg_tree(root / "cifar10", {"train": 3, "test": 2})
    first = data.load("cifar10", "test")
    assert first.images.shape == (20, 3, 32, 32)
    assert np.array_equal(first.images.numpy(), written["test"][0])  # PNG: lossless, class order, file order
    assert first.labels.tolist() == written["test"][1].tolist()
    cache = root / "cache" / "cifar10-jpeg-test.npz"
    assert cache.is_file() and not list(cache.parent.glob("*.tmp"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("the second load must read the cache")

    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    again = data.load("cifar10", "test")
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)


def test_cifar_pickles_preferred_over_jpeg(root):
    written = write_cifar_pickles(root / "cifar10")
    write_jpeg_tree(root / "cifar10", {"test": 1})
    test = data.load("cifar10", "test")
    assert np.array_equal(test.images.reshape(20, -1).numpy(), written["test"][0])


def test_cifar_jpeg_archive_is_unpacked(root, tmp_path):
    written = write_jpeg_tree(tmp_path / "src", {"train": 2, "test": 1}, suffix=".jpg", flat=True)
    make_tar(root / "cifar10-jpeg.tar.gz", tmp_path / "src" / "cifar10-jpeg", "cifar10-jpeg")
    assert data.status("cifar10") == "ready"
    train = data.load("cifar10", "train")
    assert train.images.shape == (20, 3, 32, 32)
    assert (root / "cifar10" / "cifar10-jpeg" / "test" / "truck").is_dir()
    assert not list((root / "cifar10").glob(".unpacking-*"))
    diff = (train.images.float() - torch.from_numpy(written["train"][0]).float()).abs()
    assert diff.mean() < 3  # JPEG (quality 95) of flat colours


@pytest.mark.parametrize("bad", ["../evil", "/tmp/lrlib-test-evil-abs", "cifar10-jpeg/../../evil", "link"])
def test_archive_members_outside_the_folder_are_refused(root, tmp_path, bad):
    archive = root / "cifar10-jpeg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"gotcha"
        info = tarfile.TarInfo(bad)
        if bad == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(ValueError, match="refusing"):
        data.load("cifar10", "test")
    assert not (root / "evil").exists() and not (root / "cifar10" / "evil").exists()
    assert not Path("/tmp/lrlib-test-evil-abs").exists() and not (root / "cifar10" / "link").exists()


def test_cifar_missing_says_what_to_do(root):
    with pytest.raises(data.DatasetMissing) as err:
        data.load("cifar10", "train")
    message = str(err.value)
    assert "lrlib data fetch cifar10" in message and str(root / "cifar10" / "cifar-10-batches-py") in message
    assert "cifar10-jpeg.tar.gz" in message
    assert isinstance(err.value, FileNotFoundError) and data.status("cifar10") == "missing"


# --- Fashion-MNIST --------------------------------------------------------------------------------

def test_fashion_idx_gzipped_or_not(root):
    written = write_fashion(root / "fashion-mnist")
    assert data.status("fashion-mnist") == "ready"
    for split, n in (("train", 30), ("test", 12)):
        s = data.load("fashion-mnist", split)
        assert s.images.shape == (n, 3, 32, 32) and s.images.dtype == torch.uint8
        assert s.labels.tolist() == written[split][1].tolist() and s.classes[0] == "T-shirt/top"
        x = s.images
        assert x[:, :, :2].eq(0).all() and x[:, :, -2:].eq(0).all()
        assert x[:, :, :, :2].eq(0).all() and x[:, :, :, -2:].eq(0).all()
        assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
        assert np.array_equal(x[:, 0, 2:30, 2:30].numpy(), written[split][0])
    one_each = data.load("fashion-mnist", "train", limit=10)
    assert sorted(one_each.labels.tolist()) == list(range(10))
    assert data.load("fashion-mnist", "test", size=64).images.shape == (12, 3, 64, 64)


def test_fashion_corrupt_files_give_clear_errors(root):
    folder = root / "fashion-mnist"
    write_fashion(folder)
    images = folder / "t10k-images-idx3-ubyte"
    write_idx(images, np.zeros((12, 28, 28), np.uint8), magic_type=0x09)
    with pytest.raises(ValueError, match="magic number") as err:
        data.load("fashion-mnist", "test")
    assert str(images) in str(err.value)
    images.write_bytes(images.read_bytes()[:-5].replace(b"\x00\x00\x09", b"\x00\x00\x08", 1))
    with pytest.raises(ValueError, match="truncated"):
        data.load("fashion-mnist", "test")
    write_idx(images, np.zeros((11, 28, 28), np.uint8))  # 11 images, 12 labels
    with pytest.raises(ValueError, match="do not match"):
        data.load("fashion-mnist", "test")
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="corrupt"):
        data.load("fashion-mnist", "train")


def test_fashion_missing_mentions_apt(root):
    with pytest.raises(data.DatasetMissing, match="apt-get install dataset-fashion-mnist") as err:
        data.load("fashion-mnist", "test")
    assert str(root / "fashion-mnist") in str(err.value)


def test_fashion_found_in_system_folder(root, tmp_path, monkeypatch):
    write_fashion(tmp_path / "usr-share")
    monkeypatch.setattr(formats, "FASHION_SYSTEM_DIRS", [tmp_path / "usr-share"])
    assert len(data.load("fashion-mnist", "test")) == 12
    assert data.fetch("fashion-mnist") == tmp_path / "usr-share"  # nothing to download


# --- SVHN ----------------------------------------------------------------------------------------

def write_svhn(folder: Path, counts: dict[str, int] | None = None, seed: int = 4) -> dict[str, tuple]:
    """torchvision's {split}_32x32.mat: X (32, 32, 3, N) uint8, y (N, 1) with 1..10 (10: the digit 0)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (counts or {"train": 30, "test": 12}).items():
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)
        savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        out[split] = (x, y)
    return out


def test_svhn_mat_files(root):
    written = write_svhn(root / "svhn")
    assert data.status("svhn") == "ready"
    train = data.load("svhn", "train")
    x, y = written["train"]
    assert train.images.shape == (30, 3, 32, 32) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and train.name == "svhn/train" and train.classes[0] == "0"
    assert y[9, 0] == 10 and train.labels[9].item() == 0  # SVHN's label 10 is the digit 0
    assert train.labels.tolist() == [v % 10 for v in y[:, 0].tolist()]
    k, r, c = 17, 5, 21  # X is indexed (row, column, channel, image)
    assert [train.images[k, ch, r, c].item() for ch in range(3)] == x[r, c, :, k].tolist()
    assert np.array_equal(train.images.numpy(), x.transpose(3, 2, 0, 1))
    assert len(data.load("svhn")) == 12  # default split: test


def test_svhn_limit_and_size(root):
    write_svhn(root / "svhn")
    sub = data.load("svhn", "train", limit=10)
    assert sorted(sub.labels.tolist()) == list(range(10)) and sub.name == "svhn/train[:10]"
    small = data.load("svhn", "test", size=16, limit=5)
    assert small.images.shape == (5, 3, 16, 16) and small.images.dtype == torch.uint8


def test_svhn_missing_and_corrupt(root):
    with pytest.raises(data.DatasetMissing) as err:
        data.load("svhn", "train")
    message = str(err.value)
    assert "train_32x32.mat" in message and str(root / "svhn") in message and "lrlib data fetch svhn" in message
    assert data.status("svhn") == "missing"
    (root / "svhn").mkdir()
    (root / "svhn" / "test_32x32.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ValueError, match="test_32x32.mat"):
        data.load("svhn", "test")
    from scipy.io import savemat
    savemat(root / "svhn" / "test_32x32.mat", {"X": np.zeros((28, 28, 4), np.uint8), "y": np.ones((4, 1))})
    with pytest.raises(ValueError, match=r"\(32, 32, 3, N\)"):
        data.load("svhn", "test")
    savemat(root / "svhn" / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[3], [11]])})
    with pytest.raises(ValueError, match="1..10"):
        data.load("svhn", "test")


# --- fetch ----------------------------------------------------------------------------------------

@pytest.fixture
def cifar_server(tmp_path, monkeypatch):
    """A locally built cifar-10-python.tar.gz behind a file:// URL, with its MD5 in the registry."""
    written = write_cifar_pickles(tmp_path / "server-src")
    archive = make_tar(tmp_path / "cifar-10-python.tar.gz", tmp_path / "server-src" / "cifar-10-batches-py",
                       "cifar-10-batches-py")
    download = data.datasets()["cifar10"].downloads[0]
    serve(monkeypatch, download, archive)
    return download, written


def test_fetch_downloads_verifies_and_unpacks(root, cifar_server, monkeypatch):
    download, written = cifar_server
    folder = data.fetch("cifar10", progress=False)
    assert folder == root / "cifar10"
    assert data.md5sum(folder / "cifar-10-python.tar.gz") == download.md5
    test = data.load("cifar10", "test")
    assert np.array_equal(test.images.reshape(20, -1).numpy(), written["test"][0])
    # Verified files are reused: no second download (the URL is now unreachable).
    monkeypatch.setattr(download, "url", UNREACHABLE)
    assert data.fetch("cifar10", progress=False) == folder
    for batch in (folder / "cifar-10-batches-py").iterdir():
        batch.unlink()
    assert data.fetch("cifar10", progress=False) == folder  # unpacked again from the verified archive
    assert len(data.load("cifar10", "train")) == 100


def test_fetch_wrong_checksum_keeps_nothing(root, cifar_server, monkeypatch):
    download, _ = cifar_server
    monkeypatch.setattr(download, "md5", "0" * 32)
    with pytest.raises(ValueError, match="checksum") as err:
        data.fetch("cifar10", progress=False)
    assert "0" * 32 in str(err.value)
    folder = root / "cifar10"
    assert not (folder / "cifar-10-python.tar.gz").exists() and not list(folder.iterdir())


def test_fetch_unreachable_says_where_to_put_the_file(root, monkeypatch):
    download = data.datasets()["cifar10"].downloads[0]
    monkeypatch.setattr(download, "url", UNREACHABLE)
    with pytest.raises(data.DatasetMissing) as err:
        data.fetch("cifar10", progress=False)
    message = str(err.value)
    assert str(root / "cifar10" / "cifar-10-python.tar.gz") in message
    assert UNREACHABLE in message and download.md5 in message
    assert not list((root / "cifar10").iterdir())


def test_fetch_fashion_from_file_urls(root, tmp_path, monkeypatch):
    write_fashion(tmp_path / "server")
    server = tmp_path / "server"
    for f in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):  # the server only has .gz files
        (server / f"{f}.gz").write_bytes(gzip.compress((server / f).read_bytes()))
    for download in data.datasets()["fashion-mnist"].downloads:
        serve(monkeypatch, download, server / download.filename)
    folder = data.fetch("fashion-mnist", progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(d.filename for d in data.datasets()["fashion-mnist"].downloads)
    assert len(data.load("fashion-mnist", "test")) == 12 and len(data.load("fashion-mnist", "train")) == 30


def test_fetch_without_a_download(root):
    with pytest.raises(data.DatasetMissing, match="shared/data/sr/b100"):
        data.fetch("b100")
    with pytest.raises(ValueError, match="nothing to fetch"):
        data.fetch("images")
    with pytest.raises(ValueError, match="nothing to fetch"):
        data.fetch("pairs")
    assert data.fetch("samples").is_dir()


@pytest.fixture
def svhn_server(tmp_path, monkeypatch):
    """torchvision's two .mat files behind file:// URLs, with their MD5s in the registry."""
    written = write_svhn(tmp_path / "svhn-server")
    downloads = data.datasets()["svhn"].downloads
    for download in downloads:
        serve(monkeypatch, download, tmp_path / "svhn-server" / download.filename)
    return downloads, written


def test_fetch_svhn_from_file_urls(root, svhn_server, monkeypatch):
    downloads, written = svhn_server
    folder = data.fetch("svhn", progress=False)
    assert folder == root / "svhn" and sorted(p.name for p in folder.iterdir()) == ["test_32x32.mat", "train_32x32.mat"]
    test = data.load("svhn", "test")
    assert np.array_equal(test.images.numpy(), written["test"][0].transpose(3, 2, 0, 1))
    for download in downloads:  # verified files are reused: no second download
        monkeypatch.setattr(download, "url", UNREACHABLE)
    assert data.fetch("svhn", progress=False) == folder


def test_fetch_svhn_wrong_checksum_keeps_nothing(root, svhn_server, monkeypatch):
    downloads, _ = svhn_server
    monkeypatch.setattr(downloads[0], "md5", "f" * 32)
    with pytest.raises(ValueError, match="checksum") as err:
        data.fetch("svhn", progress=False)
    assert "f" * 32 in str(err.value) and downloads[0].filename in str(err.value)
    assert not list((root / "svhn").iterdir())


def write_div2k_zip(path: Path, n: int = 3, seed: int = 5) -> dict[str, np.ndarray]:
    """DIV2K_train_HR.zip's layout: DIV2K_train_HR/0001.png ...; returns stem -> (H, W, 3) pixels."""
    rng = np.random.default_rng(seed)
    out = {}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("DIV2K_train_HR/", "")
        for i in range(1, n + 1):
            array = rng.integers(0, 256, size=(20 + i, 30, 3), dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(array).save(buffer, format="PNG")
            zf.writestr(f"DIV2K_train_HR/{i:04d}.png", buffer.getvalue())
            out[f"{i:04d}"] = array
    return out


@pytest.fixture
def div2k_server(tmp_path, monkeypatch):
    written = write_div2k_zip(tmp_path / "DIV2K_train_HR.zip")
    download = data.datasets()["div2k"].downloads[0]
    serve(monkeypatch, download, tmp_path / "DIV2K_train_HR.zip")
    return download, written


def test_fetch_div2k_downloads_and_unzips(root, div2k_server, monkeypatch):
    download, written = div2k_server
    assert data.status("div2k") == "missing"
    folder = data.fetch("div2k", progress=False)
    assert folder == root / "div2k" / "DIV2K_train_HR" and data.status("div2k") == "ready"
    assert data.md5sum(root / "div2k" / "DIV2K_train_HR.zip") == download.md5
    assert not list((root / "div2k").glob(".unpacking-*"))
    got = data.photos("div2k")
    assert [stem for stem, _ in got] == ["0001", "0002", "0003"]
    for stem, image in got:
        assert np.array_equal(image.permute(1, 2, 0).numpy(), written[stem])
    assert data.load("div2k", size=8).images.shape == (3, 3, 8, 8)
    monkeypatch.setattr(download, "url", UNREACHABLE)
    assert data.fetch("div2k", progress=False) == folder  # photos in place: nothing to download
    for photo in folder.iterdir():
        photo.unlink()
    assert data.fetch("div2k", progress=False) == folder  # unzipped again from the verified archive
    assert len(data.photos("div2k")) == 3


def test_fetch_div2k_wrong_checksum(root, div2k_server, monkeypatch):
    download, _ = div2k_server
    monkeypatch.setattr(download, "md5", "0" * 32)
    with pytest.raises(ValueError, match="checksum"):
        data.fetch("div2k", progress=False)
    assert not (root / "div2k" / "DIV2K_train_HR.zip").exists() and data.status("div2k") == "missing"


@pytest.mark.parametrize("bad", ["../evil.png", "/tmp/lrlib-test-evil-zip.png", "DIV2K_train_HR/../../evil.png",
                                 "C:evil.png", "link"])
def test_zip_members_outside_the_folder_are_refused(root, tmp_path, monkeypatch, bad):
    archive = tmp_path / "DIV2K_train_HR.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        if bad == "link":
            info = zipfile.ZipInfo("DIV2K_train_HR/0001.png")
            info.external_attr = (0o120777) << 16  # a symbolic link
            zf.writestr(info, "/etc/passwd")
        else:
            zf.writestr(bad, b"gotcha")
    download = data.datasets()["div2k"].downloads[0]
    serve(monkeypatch, download, archive)
    with pytest.raises(ValueError, match="refusing"):
        data.fetch("div2k", progress=False)
    assert not (root / "evil.png").exists() and not (root / "div2k" / "evil.png").exists()
    assert not Path("/tmp/lrlib-test-evil-zip.png").exists() and not (root / "div2k" / "DIV2K_train_HR").exists()


# --- photos ---------------------------------------------------------------------------------------

def write_photos(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(folder / "b_wide.png")
    Image.fromarray(rng.integers(0, 256, (50, 25), dtype=np.uint8)).save(folder / "a_grey.png")  # mode L
    Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)).save(folder / "c_rgba.png")
    (folder / "notes.txt").write_text("not a photo")


def test_images_folder(tmp_path):
    write_photos(tmp_path / "photos")
    s = data.load("images", split=str(tmp_path / "photos"), size=16)
    assert s.images.shape == (3, 3, 16, 16) and s.images.dtype == torch.uint8
    assert s.classes == ["a_grey", "b_wide", "c_rgba"] and s.labels.tolist() == [0, 1, 2]
    assert torch.equal(s.images[0, 0], s.images[0, 1])  # grey -> equal channels
    assert s.name == "images/photos@16"
    assert data.load("images", split=tmp_path / "photos", size=8, limit=2).classes == ["a_grey", "b_wide"]


def test_images_are_centre_crops(tmp_path):
    bands = np.zeros((30, 90, 3), np.uint8)  # red | green | blue, 30 px each
    bands[:, :30, 0] = bands[:, 30:60, 1] = bands[:, 60:, 2] = 255
    (tmp_path / "p").mkdir()
    Image.fromarray(bands).save(tmp_path / "p" / "bands.png")
    x = data.load("images", split=str(tmp_path / "p"), size=10).images[0]
    assert x[1, :, 2:8].eq(255).all() and x[0, :, 2:8].eq(0).all() and x[2, :, 2:8].eq(0).all()


def test_named_photo_set(root):
    write_photos(root / "sr" / "set5")
    assert data.status("set5") == "ready" and data.status("b100") == "missing"
    s = data.load("set5", size=8)
    assert s.images.shape == (3, 3, 8, 8) and s.name == "set5@8"
    assert torch.equal(data.load("set5", "all", size=8, root=root).images, s.images)
    with pytest.raises(data.DatasetMissing) as err:
        data.load("b100", size=8)
    assert str(root / "sr" / "b100") in str(err.value) and "../shared/data/sr/" in str(err.value)
    with pytest.raises(data.DatasetMissing, match="urban100-subset"):
        data.load("urban100", size=8)


def test_samples_have_several_members_per_class():
    first = data.load("samples", size=24)
    assert first.images.shape[1:] == (3, 24, 24) and first.images.dtype == torch.uint8
    counts = torch.bincount(first.labels)
    assert len(first.classes) >= 8 and counts.eq(4).all() and len(counts) == len(first.classes)
    assert "china" in first.classes and "flower" in first.classes
    photo_sets._sample_photos.cache_clear()
    again = data.load("samples", "all", size=24)
    assert torch.equal(first.images, again.images) and first.classes == again.classes
    assert data.load("samples").images.shape[-1] == 64
    assert len(set(data.load("samples", size=8, limit=len(first.classes)).labels.tolist())) == len(first.classes)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_load_to_cuda():
    s = data.load("samples", size=16, device="cuda")
    assert s.images.is_cuda and s.labels.is_cuda


def test_concat(tmp_path):
    write_photos(tmp_path / "p")
    a = data.load("images", split=str(tmp_path / "p"), size=8)
    both = data.concat([a, a])
    assert both.images.shape == (6, 3, 8, 8) and both.labels.tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="shape"):
        data.concat([a, data.load("images", split=str(tmp_path / "p"), size=4)])


# --- bad inputs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, shown", [
    (dict(name="imagenet"), "imagenet"),
    (dict(name="cifar10", split="val"), "val"),
    (dict(name="cifar10", size=0), "0"),
    (dict(name="cifar10", size=2.5), "2.5"),
    (dict(name="cifar10", size=True), "True"),
    (dict(name="cifar10", limit=0), "0"),
    (dict(name="fashion-mnist", limit=-3), "-3"),
    (dict(name="b100", split="train", size=8), "train"),
    (dict(name="set5"), "size"),
])
def test_bad_arguments(root, kwargs, shown):
    with pytest.raises(ValueError) as err:
        data.load(**kwargs)
    assert shown in str(err.value)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="cifar10.*fashion-mnist"):
        data.load("nope")
    with pytest.raises(ValueError, match="nope"):
        data.status("nope")


def test_images_without_size_or_folder(tmp_path):
    with pytest.raises(ValueError, match="size"):
        data.load("images", split=str(tmp_path))
    missing = tmp_path / "no-such-folder"
    with pytest.raises(data.DatasetMissing, match="no-such-folder"):
        data.load("images", split=str(missing), size=8)


# --- full-size photos -----------------------------------------------------------------------------

def write_sized_photos(folder: Path, seed: int = 6) -> dict[str, np.ndarray]:
    """Three PNGs: wide RGB, tall grey (mode L), square RGBA; returns stem -> the pixels as RGB (H, W, 3)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    wide = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    tall = rng.integers(0, 256, (50, 25), dtype=np.uint8)
    square = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    square[..., 3] = 255  # opaque: RGBA -> RGB keeps the colours
    Image.fromarray(wide).save(folder / "b_wide.png")
    Image.fromarray(tall).save(folder / "a_tall.png")
    Image.fromarray(square).save(folder / "c_square.png")
    (folder / "notes.txt").write_text("not a photo")
    return {"a_tall": np.repeat(tall[:, :, None], 3, axis=2), "b_wide": wide, "c_square": square[..., :3]}


def test_photos_full_size_rgb(root):
    written = write_sized_photos(root / "sr" / "set14")
    got = data.photos("set14")
    assert [stem for stem, _ in got] == ["a_tall", "b_wide", "c_square"]
    for stem, image in got:
        assert image.dtype == torch.uint8 and image.shape == (3, *written[stem].shape[:2])
        assert np.array_equal(image.permute(1, 2, 0).numpy(), written[stem])
    assert [stem for stem, _ in data.photos("set14", limit=2)] == ["a_tall", "b_wide"]


def test_photos_grey_is_itu601_luma(tmp_path):
    written = write_sized_photos(tmp_path / "p")
    got = dict(data.photos("images", folder=tmp_path / "p", grey=True))
    assert got["b_wide"].shape == (1, 30, 40) and got["b_wide"].dtype == torch.uint8
    expected = np.asarray(Image.fromarray(written["b_wide"]).convert("L"))
    assert np.array_equal(got["b_wide"][0].numpy(), expected)
    rgb = written["b_wide"].astype(np.float64)
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    assert np.abs(got["b_wide"][0].numpy() - luma).max() <= 0.51  # rounded
    assert np.array_equal(got["a_tall"][0].numpy(), written["a_tall"][..., 0])  # grey stays exactly grey
    cv2 = pytest.importorskip("cv2")
    opencv = cv2.cvtColor(np.ascontiguousarray(written["b_wide"][..., ::-1]), cv2.COLOR_BGR2GRAY)
    assert np.abs(got["b_wide"][0].numpy().astype(int) - opencv).max() <= 1


def test_a_grey_copy_serves_grey_photos_only(root):
    """sr-grey/<set> (8-bit grey PNGs made with PIL's convert("L"), as ../shared/data/sr-grey/ is) stands in for the
    colour photos wherever only grey pixels are read, pixel for pixel; colour use is refused by name."""
    written = write_sized_photos(root / "colour-elsewhere")
    grey = root / "sr-grey" / "set14"
    grey.mkdir(parents=True)
    for stem, array in written.items():
        Image.fromarray(array).convert("L").save(grey / f"{stem}.png")
    assert data.status("set14") == "grey copy only"
    from_copy = dict(data.photos("set14", grey=True, max_side=24))
    from_colour = dict(data.photos("images", folder=root / "colour-elsewhere", grey=True, max_side=24))
    assert from_copy.keys() == from_colour.keys()
    assert all(torch.equal(from_copy[k], from_colour[k]) for k in from_copy)
    with pytest.raises(data.DatasetMissing, match=r"only its grey copy is there .*photos\('set14', grey=True\)"):
        data.photos("set14")
    with pytest.raises(data.DatasetMissing, match="only its grey copy"):
        data.load("set14", size=8)
    write_sized_photos(root / "sr" / "set14")  # with the colour files there, they are read
    assert data.status("set14") == "ready" and data.photos("set14")[0][1].shape[0] == 3


def test_photos_max_side_shrinks_keeping_aspect(tmp_path):
    written = write_sized_photos(tmp_path / "p")
    got = dict(data.photos("images", folder=str(tmp_path / "p"), max_side=20))
    assert got["b_wide"].shape == (3, 15, 20) and got["a_tall"].shape == (3, 20, 10)
    assert got["c_square"].shape == (3, 16, 16)  # smaller than max_side: kept as it is
    assert np.array_equal(got["c_square"].permute(1, 2, 0).numpy(), written["c_square"])
    expected = np.asarray(Image.fromarray(written["b_wide"]).resize((20, 15), Image.Resampling.BICUBIC))
    assert np.array_equal(got["b_wide"].permute(1, 2, 0).numpy(), expected)
    grey = dict(data.photos("images", folder=tmp_path / "p", max_side=20, grey=True))
    assert grey["b_wide"].shape == (1, 15, 20) and grey["a_tall"].shape == (1, 20, 10)


def test_photos_samples_are_full_size():
    got = data.photos("samples", limit=2)
    first = photo_sets._sample_photos()[:2]
    assert [stem for stem, _ in got] == [name for name, _ in first]
    for (_, image), (_, array) in zip(got, first):
        assert image.shape == (3, *array.shape[:2]) and np.array_equal(image.permute(1, 2, 0).numpy(), array)


def test_photos_errors(root, tmp_path):
    with pytest.raises(ValueError, match="load"):
        data.photos("cifar10")
    with pytest.raises(ValueError, match="load_pairs"):
        data.photos("graf")
    with pytest.raises(ValueError, match="folder="):
        data.photos("images")
    with pytest.raises(ValueError, match="only for 'images'"):
        data.photos("set5", folder=tmp_path)
    with pytest.raises(ValueError, match="max_side"):
        data.photos("samples", max_side=0)
    with pytest.raises(ValueError, match="limit"):
        data.photos("samples", limit=-1)
    with pytest.raises(data.DatasetMissing) as err:
        data.photos("b100")
    assert str(root / "sr" / "b100") in str(err.value) and "../shared/data/sr/" in str(err.value)
    with pytest.raises(data.DatasetMissing, match="no-such-folder"):
        data.photos("images", folder=tmp_path / "no-such-folder")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_photos_to_cuda():
    assert data.photos("samples", limit=1, device="cuda")[0][1].is_cuda


# --- image pairs ----------------------------------------------------------------------------------

def write_homography(path: Path, matrix: np.ndarray) -> None:
    """Oxford's format, as in graf's H1to2p: three lines of three numbers, each right-aligned in 16 columns."""
    path.write_text("".join("".join(f"{v:16.7e}" for v in row) + "\n" for row in matrix))


def write_graf(folder: Path, suffix: str = ".png", seed: int = 7) -> dict[str, np.ndarray]:
    """A tiny graf-like folder: img1..img6 (random textures) and H1to2p..H1to6p; returns name -> content."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    out = {}
    for i in range(1, 7):
        array = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"img{i}{suffix}")
        out[f"img{i}"] = array
    for i in range(2, 7):
        matrix = np.array([[1 + 0.01 * i, 0.02, -3.5 * i], [-0.01, 0.99, 1.25e2], [1.9e-4 * i, -1.6e-5, 1.0]])
        write_homography(folder / f"H1to{i}p", matrix)
        out[f"H1to{i}p"] = matrix
    return out


def test_graf_pairs(root):
    assert data.status("graf") == "missing"
    written = write_graf(root / "pairs" / "graf")
    assert data.status("graf") == "ready" and data.fetch("graf") == root / "pairs" / "graf"
    pairs = data.load_pairs("graf")
    assert [p.name for p in pairs] == [f"img1-img{i}" for i in range(2, 7)]
    for i, pair in zip(range(2, 7), pairs):
        assert pair.a.shape == (3, 24, 32) and pair.a.dtype == torch.uint8 and pair.b.dtype == torch.uint8
        assert np.array_equal(pair.a.permute(1, 2, 0).numpy(), written["img1"])
        assert np.array_equal(pair.b.permute(1, 2, 0).numpy(), written[f"img{i}"])
        assert pair.homography.shape == (3, 3) and pair.homography.dtype == torch.float64
        assert np.allclose(pair.homography.numpy(), written[f"H1to{i}p"], rtol=1e-7, atol=0)
    assert "img1-img2" in repr(pairs[0])


def test_graf_original_ppm_release(root):
    written = write_graf(root / "pairs" / "graf", suffix=".ppm")
    pairs = data.load_pairs("graf")
    assert np.array_equal(pairs[-1].b.permute(1, 2, 0).numpy(), written["img6"])


def test_graf_missing_or_malformed(root):
    with pytest.raises(data.DatasetMissing) as err:
        data.load_pairs("graf")
    message = str(err.value)
    assert str(root / "pairs" / "graf") in message and "../shared/data/pairs/graf/" in message
    assert "robots.ox.ac.uk/~vgg/research/affine/det_eval_files/graf.tar.gz" in message
    folder = root / "pairs" / "graf"
    write_graf(folder)
    (folder / "H1to4p").unlink()
    (folder / "img5.png").unlink()
    with pytest.raises(data.DatasetMissing, match="img5, H1to4p"):
        data.load_pairs("graf")
    with pytest.raises(data.DatasetMissing, match="H1to4p"):
        data.fetch("graf")
    assert data.status("graf") == "missing"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "img5.png")
    (folder / "H1to4p").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(ValueError, match="H1to4p.*3x3"):
        data.load_pairs("graf")
    (folder / "H1to4p").write_text("1 0 0\n0 one 0\n0 0 1\n")
    with pytest.raises(ValueError, match="H1to4p"):
        data.load_pairs("graf")
    (folder / "H1to4p").write_text("1 0 0\n0 1 0\n0 0 0\n")
    with pytest.raises(ValueError, match="invertible"):
        data.load_pairs("graf")


def test_pairs_txt_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(8)
    arrays = {}
    for stem, shape in (("a", (20, 30, 3)), ("b", (25, 20, 3)), ("c", (10, 10))):
        arrays[stem] = rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(arrays[stem]).save(folder / f"{stem}.png")
    matrix = np.array([[0.9, 0.1, 4.0], [-0.1, 0.9, 2.0], [0.0, 0.0, 1.0]])
    write_homography(folder / "H_a_b.txt", matrix)
    (folder / "pairs.txt").write_text("# first image, second image, optional homography\n"
                                      "a.png b.png H_a_b.txt\n\n  b.png   c.png  \n")
    pairs = data.load_pairs("pairs", folder=folder)
    assert [p.name for p in pairs] == ["a-b", "b-c"]
    assert np.array_equal(pairs[0].a.permute(1, 2, 0).numpy(), arrays["a"])
    assert pairs[1].b.shape == (3, 10, 10) and torch.equal(pairs[1].b[0], pairs[1].b[2])  # grey -> RGB
    assert torch.equal(pairs[0].b, pairs[1].a)
    assert np.allclose(pairs[0].homography.numpy(), matrix) and pairs[1].homography is None
    assert data.load_pairs("pairs", folder=str(folder))[0].name == "a-b"


def test_pairs_txt_errors(root, tmp_path):
    folder = tmp_path / "mine"
    with pytest.raises(data.DatasetMissing, match="does not exist"):
        data.load_pairs("pairs", folder=folder)
    folder.mkdir()
    with pytest.raises(data.DatasetMissing, match="pairs.txt"):
        data.load_pairs("pairs", folder=folder)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    (folder / "pairs.txt").write_text("a.png a.png\na.png gone.jpg\n")
    with pytest.raises(data.DatasetMissing, match=r"line 2.*gone\.jpg"):
        data.load_pairs("pairs", folder=folder)
    (folder / "pairs.txt").write_text("a.png\n")
    with pytest.raises(ValueError, match="line 1"):
        data.load_pairs("pairs", folder=folder)
    (folder / "pairs.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="no pairs"):
        data.load_pairs("pairs", folder=folder)
    with pytest.raises(ValueError, match="folder="):
        data.load_pairs("pairs")
    with pytest.raises(ValueError, match="only for 'pairs'"):
        data.load_pairs("graf", folder=folder)
    with pytest.raises(ValueError, match="load_pairs"):
        data.load("graf")
    with pytest.raises(ValueError, match="graf, pairs"):
        data.load_pairs("cifar10")


# --- damaged archives and incomplete copies (issue 10) ---------------------------------------------

def damage_tar(archive: Path, member: int) -> int:
    """Overwrite the header of the ``member``-th member of a .tar.gz with garbage (not zeros), in place.

    Returns how many members Python's tarfile still lists: it takes the damaged header for the end of the archive.
    """
    raw = bytearray(gzip.decompress(archive.read_bytes()))
    with tarfile.open(fileobj=io.BytesIO(bytes(raw))) as tar:
        offset = tar.getmembers()[member].offset
    raw[offset:offset + 512] = b"damaged!" * 64
    archive.write_bytes(gzip.compress(bytes(raw)))
    with tarfile.open(archive) as tar:
        return len(tar.getmembers())


def test_damaged_archive_never_loads_a_short_set(root, tmp_path):
    write_jpeg_tree(tmp_path / "src", {"test": 2})
    archive = make_tar(root / "cifar10-jpeg.tar.gz", tmp_path / "src" / "cifar10-jpeg", "cifar10-jpeg")
    with tarfile.open(archive) as tar:
        total = len(tar.getmembers())
    listed = damage_tar(archive, total - 1)  # the last photo: every class still has one
    assert listed == total - 1  # tarfile alone would unpack a short set without a word
    with tarfile.open(archive) as tar:
        last_good = tar.getmembers()[-1].name
    with pytest.raises(ValueError) as err:
        data.load("cifar10", "test")
    message = str(err.value)
    assert str(archive) in message and repr(last_good) in message and "delete" in message
    assert not (root / "cifar10" / "cifar10-jpeg").exists()  # nothing unpacked
    with tarfile.open(archive) as tar:  # what an unpack without the check left behind: no marker
        tar.extractall(root / "cifar10")
    with pytest.raises(ValueError, match="damaged"):
        data.load("cifar10", "test")
    with pytest.raises(ValueError, match="damaged"):
        data.fetch("cifar10", progress=False)


def test_unpacked_tree_is_checked_against_its_marker(root, tmp_path):
    write_jpeg_tree(tmp_path / "src", {"train": 1, "test": 2})
    (root / "cifar10").mkdir()
    archive = make_tar(root / "cifar10" / "cifar10-jpeg.tar.gz", tmp_path / "src" / "cifar10-jpeg", "cifar10-jpeg")
    assert len(data.load("cifar10", "test")) == 20
    marker = root / "cifar10" / ".unpacked-cifar10-jpeg.tar.gz.json"
    assert json.loads(marker.read_text()) == {"cifar10-jpeg": 30}
    tree = root / "cifar10" / "cifar10-jpeg"
    marker.unlink()  # a tree unpacked before markers existed, or cut short: unpacked again from the archive
    (tree / "test" / "cat" / "0001.png").unlink()
    assert len(data.load("cifar10", "test")) == 20 and marker.is_file()
    archive.unlink()  # files lost, and no archive to restore them from: said, never loaded short
    (tree / "test" / "cat" / "0001.png").unlink()
    with pytest.raises(data.DatasetMissing) as err:
        data.load("cifar10", "test")
    message = str(err.value)
    assert "29 of 30" in message and str(tree) in message and str(marker) in message
    with pytest.raises(data.DatasetMissing, match="29 of 30"):
        data.fetch("cifar10", progress=False)


def test_decoded_cache_follows_its_tree(root):
    write_jpeg_tree(root / "cifar10", {"test": 2})
    assert len(data.load("cifar10", "test")) == 20
    (root / "cifar10" / "cifar10-jpeg" / "test" / "dog" / "0000.png").unlink()  # a hand-placed tree changes
    again = data.load("cifar10", "test")
    assert len(again) == 19 and torch.bincount(again.labels).tolist()[5] == 1
    shutil.rmtree(root / "cifar10" / "cifar10-jpeg")  # the copy removed: its decode is all there is
    assert torch.equal(data.load("cifar10", "test").images, again.images)


def test_div2k_tree_is_checked_against_its_marker(root, div2k_server, monkeypatch):
    download, _ = div2k_server
    folder = data.fetch("div2k", progress=False)
    marker = root / "div2k" / ".unpacked-DIV2K_train_HR.zip.json"
    assert json.loads(marker.read_text()) == {"DIV2K_train_HR": 3}
    (folder / "0002.png").unlink()
    assert len(data.photos("div2k")) == 3  # the archive is there: unpacked again
    marker.unlink()  # unpacked before markers existed
    (folder / "0002.png").unlink()
    assert len(data.load("div2k", size=8)) == 3 and marker.is_file()
    (root / "div2k" / "DIV2K_train_HR.zip").unlink()
    (folder / "0002.png").unlink()
    with pytest.raises(data.DatasetMissing, match="2 of 3"):
        data.photos("div2k")
    monkeypatch.setattr(download, "url", UNREACHABLE)
    with pytest.raises(data.DatasetMissing, match="2 of 3"):
        data.fetch("div2k", progress=False)


def test_photo_folder_without_archive_or_marker_stays_usable(root):
    write_photos(root / "div2k" / "DIV2K_train_HR")
    assert len(data.photos("div2k")) == 3 and data.fetch("div2k") == root / "div2k" / "DIV2K_train_HR"


# --- corrupt photos, wrong checksums, a data root that is a file (issue 10) ------------------------

def truncated_jpeg(path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(9).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


@pytest.mark.parametrize("damage", ["truncated", "text"])
def test_corrupt_photo_is_named_with_the_fix(root, tmp_path, damage):
    def spoil(path: Path) -> None:
        truncated_jpeg(path) if damage == "truncated" else path.write_text("not a photo at all")

    write_jpeg_tree(root / "cifar10", {"test": 2}, suffix=".jpg")
    bad = root / "cifar10" / "cifar10-jpeg" / "test" / "frog" / "0001.jpg"
    spoil(bad)
    write_photos(tmp_path / "p")
    spoil(tmp_path / "p" / "d_bad.jpg")
    write_graf(root / "pairs" / "graf")
    (root / "pairs" / "graf" / "img4.png").unlink()
    spoil(root / "pairs" / "graf" / "img4.jpg")
    for call, path in [(lambda: data.load("cifar10", "test"), bad),
                       (lambda: data.photos("images", folder=tmp_path / "p"), tmp_path / "p" / "d_bad.jpg"),
                       (lambda: data.load("images", split=tmp_path / "p", size=8), tmp_path / "p" / "d_bad.jpg"),
                       (lambda: data.load_pairs("graf"), root / "pairs" / "graf" / "img4.jpg")]:
        with pytest.raises(ValueError) as err:
            call()
        assert str(path) in str(err.value) and "delete it" in str(err.value)


def test_fetch_names_a_hand_placed_file_with_the_wrong_md5(root, cifar_server, monkeypatch):
    download, _ = cifar_server
    placed = root / "cifar10" / "cifar-10-python.tar.gz"
    placed.parent.mkdir()
    placed.write_bytes(b"an older copy")
    got = md5(placed)
    monkeypatch.setattr(download, "url", UNREACHABLE)
    with pytest.raises(data.DatasetMissing) as err:  # offline
        data.fetch("cifar10", progress=False)
    for message in [str(err.value)]:
        assert f"{placed} is there" in message and got in message and download.md5 in message
        assert "damaged or another version" in message and "replace it" in message.lower()
    monkeypatch.setattr(download, "url", (root.parent / "cifar-10-python.tar.gz").as_uri())
    monkeypatch.setattr(download, "md5", "0" * 32)  # online, but the download is wrong too
    with pytest.raises(ValueError, match="checksum") as err:
        data.fetch("cifar10", progress=False)
    assert f"{placed} is there" in str(err.value) and got in str(err.value)


@pytest.mark.parametrize("call", [
    lambda: data.load("cifar10"), lambda: data.photos("set5"), lambda: data.load_pairs("graf"),
    lambda: data.fetch("cifar10", progress=False), lambda: data.status("cifar10"),
])
def test_data_root_that_is_a_file(tmp_path, monkeypatch, call):
    not_a_folder = tmp_path / "data.tar"
    not_a_folder.write_bytes(b"x")
    monkeypatch.setenv("LRLIB_DATA", str(not_a_folder))
    with pytest.raises(ValueError, match="LRLIB_DATA") as err:
        call()
    assert str(not_a_folder) in str(err.value) and "folder" in str(err.value)
    monkeypatch.setenv("LRLIB_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="root=") as err:
        data.status("cifar10", root=not_a_folder / "data")
    assert str(not_a_folder) in str(err.value)


# --- further bad inputs (issue 10) -----------------------------------------------------------------

def test_cifar_labels_outside_the_classes_are_refused(root):
    write_cifar_pickles(root / "cifar10")
    path = root / "cifar10" / "cifar-10-batches-py" / "test_batch"
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch[b"labels"][3] = 10
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
    with pytest.raises(ValueError, match="0..9") as err:
        data.load("cifar10", "test", limit=10)
    assert str(path) in str(err.value)


def test_sixteen_bit_grey_png_is_scaled_not_clipped(tmp_path):
    (tmp_path / "p").mkdir()
    deep = (np.arange(24 * 24).reshape(24, 24) * 113).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "p" / "deep.png")
    assert Image.open(tmp_path / "p" / "deep.png").mode.startswith("I")
    (_, image), = data.photos("images", folder=tmp_path / "p")
    assert np.array_equal(image[0].numpy(), deep >> 8) and torch.equal(image[0], image[2])
    (_, grey), = data.photos("images", folder=tmp_path / "p", grey=True)
    assert np.array_equal(grey[0].numpy(), deep >> 8)


def test_damaged_zip_member_is_refused(root, tmp_path, monkeypatch):
    archive = tmp_path / "DIV2K_train_HR.zip"
    write_div2k_zip(archive)
    raw = bytearray(archive.read_bytes())
    start = raw.index(b"DIV2K_train_HR/0002.png") + 200  # inside that member's compressed data
    raw[start:start + 50] = b"\xff" * 50
    archive.write_bytes(bytes(raw))
    serve(monkeypatch, data.datasets()["div2k"].downloads[0], archive)
    with pytest.raises(ValueError, match="0002.png") as err:
        data.fetch("div2k", progress=False)
    assert "delete" in str(err.value) and not (root / "div2k" / "DIV2K_train_HR").exists()


def test_pairs_txt_naming_a_folder(tmp_path):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    (folder / "pairs.txt").write_text("a.png sub\n")
    with pytest.raises(ValueError, match=r"line 1.*sub.*is a folder"):
        data.load_pairs("pairs", folder=folder)


def test_images_split_that_is_a_file(tmp_path):
    photo = tmp_path / "one.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    with pytest.raises(data.DatasetMissing, match="is a file, not a folder"):
        data.load("images", split=photo, size=8)
