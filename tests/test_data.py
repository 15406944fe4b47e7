"""lrlib.data: every loader on tiny files written in the real on-disk formats (no network, no shared data)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from PIL import Image

from lrlib import data

UNREACHABLE = "http://127.0.0.1:9/x"  # the discard port: connection refused at once


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty data root, also set as $LRLIB_DATA; the Debian Fashion-MNIST folder is not searched."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("LRLIB_DATA", str(folder))
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIRS", [])
    return folder


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


# --- registry and paths ---------------------------------------------------------------------------

def test_data_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LRLIB_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    monkeypatch.delenv("LRLIB_DATA")
    assert data.data_root() == Path(data.__file__).resolve().parent.parent / "data"


def test_registry():
    names = set(data.datasets())
    assert names == {"cifar10", "fashion-mnist", "images", "samples", "b100", "urban100", "set5", "set14", "t91"}
    cifar = data.datasets()["cifar10"]
    assert cifar.classes[:3] == ["airplane", "automobile", "bird"] and cifar.classes[-1] == "truck"
    assert cifar.downloads[0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert len(data.datasets()["fashion-mnist"].downloads) == 4
    assert data.status("samples") == "ships with packages"


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
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="corrupt"):
        data.load("fashion-mnist", "train")


def test_fashion_missing_mentions_apt(root):
    with pytest.raises(data.DatasetMissing, match="apt-get install dataset-fashion-mnist") as err:
        data.load("fashion-mnist", "test")
    assert str(root / "fashion-mnist") in str(err.value)


def test_fashion_found_in_system_folder(root, tmp_path, monkeypatch):
    write_fashion(tmp_path / "usr-share")
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIRS", [tmp_path / "usr-share"])
    assert len(data.load("fashion-mnist", "test")) == 12
    assert data.fetch("fashion-mnist") == tmp_path / "usr-share"  # nothing to download


# --- fetch ----------------------------------------------------------------------------------------

@pytest.fixture
def cifar_server(tmp_path, monkeypatch):
    """A locally built cifar-10-python.tar.gz behind a file:// URL, with its MD5 in the registry."""
    written = write_cifar_pickles(tmp_path / "server-src")
    archive = make_tar(tmp_path / "cifar-10-python.tar.gz", tmp_path / "server-src" / "cifar-10-batches-py",
                       "cifar-10-batches-py")
    download = data.datasets()["cifar10"].downloads[0]
    monkeypatch.setattr(download, "url", archive.as_uri())
    monkeypatch.setattr(download, "md5", md5(archive))
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
        monkeypatch.setattr(download, "url", (server / download.filename).as_uri())
        monkeypatch.setattr(download, "md5", md5(server / download.filename))
    folder = data.fetch("fashion-mnist", progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(d.filename for d in data.datasets()["fashion-mnist"].downloads)
    assert len(data.load("fashion-mnist", "test")) == 12 and len(data.load("fashion-mnist", "train")) == 30


def test_fetch_without_a_download(root):
    with pytest.raises(data.DatasetMissing, match="shared/data/sr/b100"):
        data.fetch("b100")
    with pytest.raises(ValueError, match="nothing to fetch"):
        data.fetch("images")
    assert data.fetch("samples").is_dir()


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
    data._sample_photos.cache_clear()
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
