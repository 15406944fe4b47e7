"""lrlib.data's benchmark sets (VOC2007, Oxford5k, Paris6k, Holidays) on miniature copies written in the real on-disk
formats: the VOC devkit's class files, revisitop's ground-truth pickles, the photo archives (no network)."""

from __future__ import annotations

import builtins
import hashlib
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lrlib import data
from lrlib.cli import main
from lrlib.data import retrieval
from test_data import UNREACHABLE, serve

def write_jpeg(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95)


def make_tar(archive: Path, members: dict[str, Path]) -> Path:
    """A tar (gzipped for .tgz / .tar.gz) holding each file of ``members`` under its archive name."""
    with tarfile.open(archive, "w:gz" if archive.suffix in (".tgz", ".gz") else "w") as tar:
        for name, path in members.items():
            tar.add(path, arcname=name)
    return archive


# --- VOC2007 --------------------------------------------------------------------------------------

VOC_IDS = {"trainval": ["000005", "000007", "000009"], "test": ["000001", "000002"]}
MAIN = "VOCdevkit/VOC2007/ImageSets/Main"


def write_voc(base: Path, splits: dict[str, list[str]] = VOC_IDS, seed: int = 0) -> dict[str, np.ndarray]:
    """A miniature devkit under ``base``: one JPEG per id, 20 class files per split in the devkit's format
    (``<id> <label>`` with the label right-aligned in two columns). Returns split -> (N, 20) targets."""
    rng = np.random.default_rng(seed)
    devkit = base / "VOCdevkit" / "VOC2007"
    written = {}
    for split, ids in splits.items():
        targets = rng.choice([-1, 0, 1], size=(len(ids), 20))
        for c, name in enumerate(data.VOC_CLASSES):
            lines = [f"{i} {t:2d}\n" for i, t in zip(ids, targets[:, c])]
            (devkit / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
            (devkit / "ImageSets" / "Main" / f"{name}_{split}.txt").write_text("".join(lines))
        for k, i in enumerate(ids):
            write_jpeg(devkit / "JPEGImages" / f"{i}.jpg", (40 * k, 100, 200), size=(50 + 10 * k, 40))
        written[split] = targets
    return written


def test_voc_registry_and_status(root):
    voc = data.datasets()["voc2007"]
    assert voc.classes == data.VOC_CLASSES and len(voc.classes) == 20 and voc.kind == "multilabel"
    assert {d.filename: d.md5 for d in voc.downloads} == {
        "VOCtrainval_06-Nov-2007.tar": "c52e279531787c972589f7e41ab4ae64",
        "VOCtest_06-Nov-2007.tar": "b6e924de25625d8de591ea690078ad9f"}
    assert data.status("voc2007") == "missing"
    write_voc(root / "voc2007", {"trainval": VOC_IDS["trainval"]})
    assert data.status("voc2007") == "trainval only"
    write_voc(root / "voc2007", {"test": VOC_IDS["test"]})
    assert data.status("voc2007") == "ready"


def test_voc_targets_ids_and_separate_splits(root):
    written = write_voc(root / "voc2007")
    for split, ids in VOC_IDS.items():
        voc = data.load_multilabel("voc2007", split, size=24)
        assert voc.ids == ids and voc.classes == data.VOC_CLASSES and len(voc) == len(ids)
        assert voc.images.shape == (len(ids), 3, 24, 24) and voc.images.dtype == torch.uint8
        assert voc.targets.dtype == torch.int8 and voc.targets.shape == (len(ids), 20)
        assert np.array_equal(voc.targets.numpy(), written[split])
        assert voc.name == f"voc2007/{split}@24"
    first = data.load_multilabel("voc2007", "trainval", size=8, limit=2)
    assert first.ids == VOC_IDS["trainval"][:2] and first.name == "voc2007/trainval[:2]@8"


def test_voc_resizes_the_whole_photo_without_cropping(root):
    write_voc(root / "voc2007")
    photo = root / "voc2007" / "VOCdevkit" / "VOC2007" / "JPEGImages" / "000005.jpg"
    stripes = np.zeros((30, 90, 3), dtype=np.uint8)
    stripes[:, :30, 0] = stripes[:, 60:, 2] = 255  # red | black | blue: a centre crop would be black only
    Image.fromarray(stripes).save(photo, quality=95)
    image = data.load_multilabel("voc2007", "trainval", size=30).images[0].int()
    assert image[0, :, :8].float().mean() > 200 and image[2, :, -8:].float().mean() > 200
    assert image[:, :, 12:18].float().mean() < 30


def test_voc_malformed_label_is_named(root):
    write_voc(root / "voc2007")
    path = root / "voc2007" / MAIN / "dog_trainval.txt"
    path.write_text(path.read_text().replace("000007", "000007 2 #", 1))
    with pytest.raises(ValueError, match="line 2") as err:
        data.load_multilabel("voc2007", "trainval", size=8)
    assert str(path) in str(err.value) and "-1 (absent)" in str(err.value)
    path.write_text("000005 1\n000007 1\n000009 5\n")
    with pytest.raises(ValueError, match="'000009 5'"):
        data.load_multilabel("voc2007", "trainval", size=8)
    data.load_multilabel("voc2007", "test", size=8)  # the other split is unharmed


def test_voc_class_files_listing_different_ids(root):
    write_voc(root / "voc2007")
    path = root / "voc2007" / MAIN / "sofa_test.txt"
    path.write_text(path.read_text().replace("000002", "000003"))
    with pytest.raises(ValueError, match="different image ids") as err:
        data.load_multilabel("voc2007", "test", size=8)
    assert "sofa_test.txt" in str(err.value) and "aeroplane_test.txt" in str(err.value) and "000003" in str(err.value)
    path.write_text(path.read_text() + "000001  1\n")
    with pytest.raises(ValueError, match="listed twice"):
        data.load_multilabel("voc2007", "test", size=8)


def test_voc_missing_files_are_named(root):
    with pytest.raises(data.DatasetMissing, match="no VOC2007") as err:
        data.load_multilabel("voc2007", "test", size=8)
    assert "aeroplane_test.txt" in str(err.value) and "lrlib data fetch voc2007" in str(err.value)
    write_voc(root / "voc2007")
    photo = root / "voc2007" / "VOCdevkit" / "VOC2007" / "JPEGImages" / "000007.jpg"
    photo.unlink()
    with pytest.raises(data.DatasetMissing, match="1 of the 3") as err:
        data.load_multilabel("voc2007", "trainval", size=8)
    assert str(photo) in str(err.value)
    (root / "voc2007" / MAIN / "cow_test.txt").unlink()
    with pytest.raises(data.DatasetMissing, match="cow_test.txt"):
        data.load_multilabel("voc2007", "test", size=8)


@pytest.mark.parametrize("call, shown", [
    (lambda: data.load_multilabel("voc2007", "val2012", size=8), "val2012"),
    (lambda: data.load_multilabel("voc2007", "test", size=0), "size"),
    (lambda: data.load_multilabel("cifar10", "test", size=8), "use load('cifar10'"),
    (lambda: data.load("voc2007", "test"), "use load_multilabel('voc2007'"),
    (lambda: data.photos("oxford5k"), "use load_retrieval('oxford5k'"),
    (lambda: data.load_pairs("holidays"), "use load_retrieval('holidays'"),
    (lambda: data.load_retrieval("voc2007", size=8), "use load_multilabel('voc2007'"),
])
def test_each_kind_points_to_its_reader(root, call, shown):
    with pytest.raises(ValueError) as err:
        call()
    assert shown in str(err.value)


def test_fetch_voc_downloads_verifies_and_unpacks(root, tmp_path, monkeypatch):
    written = write_voc(tmp_path / "server")
    devkit = tmp_path / "server" / "VOCdevkit"
    for download, split in zip(data.datasets()["voc2007"].downloads, ("trainval", "test")):
        files = {str(p.relative_to(devkit.parent)): p for p in devkit.rglob("*")
                 if p.is_file() and (p.stem in VOC_IDS[split] or p.stem.endswith(f"_{split}"))}
        serve(monkeypatch, download, make_tar(tmp_path / download.filename, files))
    assert data.fetch("voc2007", progress=False) == root / "voc2007"
    assert data.status("voc2007") == "ready"
    test = data.load_multilabel("voc2007", "test", size=8)
    assert test.ids == VOC_IDS["test"] and np.array_equal(test.targets.numpy(), written["test"])
    for download in data.datasets()["voc2007"].downloads:  # verified tars are reused: no second download
        monkeypatch.setattr(download, "url", UNREACHABLE)
    assert data.fetch("voc2007", progress=False) == root / "voc2007"


def test_fetch_voc_offline_names_the_files_and_md5s(root, monkeypatch):
    download = data.datasets()["voc2007"].downloads[0]
    monkeypatch.setattr(download, "url", UNREACHABLE)
    with pytest.raises(data.DatasetMissing) as err:
        data.fetch("voc2007", progress=False)
    message = str(err.value)
    assert str(root / "voc2007" / download.filename) in message and download.md5 in message
    assert "no VOC2007" in message


# --- Oxford5k and Paris6k: revisitop's ground truth -----------------------------------------------

OXFORD = ["all_souls_000000", "all_souls_000001", "ashmolean_000000", "balliol_000000", "christ_church_000000"]


def write_gnd(path: Path, imlist: list[str], qimlist: list[str], gnd: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f, protocol=4)


def oxford_gnd() -> list[dict]:
    """Two queries: lists, and numpy arrays as revisitop's later pickles hold; the second has no ``good``."""
    return [{"bbx": [10.5, 4.0, 30.0, 20.0], "good": [0], "ok": [1], "junk": [2]},
            {"bbx": np.array([0.0, 0.0, 48.0, 32.0]), "ok": np.array([2, 3]), "junk": np.array([], dtype=np.int64)}]


def write_retrieval_set(base: Path, name: str, names: list[str] = OXFORD) -> Path:
    """Photos (query 0's photo white inside its box, black outside) and gnd_<name>.pkl under ``base/name``."""
    for k, stem in enumerate(names):
        write_jpeg(base / name / "jpg" / f"{stem}.jpg", (30 * k, 60, 90))
    box = np.zeros((32, 48, 3), dtype=np.uint8)
    box[4:20, 11:30] = 255
    Image.fromarray(box).save(base / name / "jpg" / f"{names[0]}.jpg", quality=95)
    path = base / name / f"gnd_{name}.pkl"
    write_gnd(path, names, [names[0], names[2]], oxford_gnd())
    return path


def test_oxford_queries_database_and_masks(root):
    write_retrieval_set(root, "oxford5k")
    assert data.status("oxford5k") == "ready"
    oxford = data.load_retrieval("oxford5k", size=16)
    assert oxford.database.shape == (5, 3, 16, 16) and oxford.queries.shape == (2, 3, 16, 16)
    assert oxford.database.dtype == oxford.queries.dtype == torch.uint8
    assert oxford.names == OXFORD and oxford.query_names == [OXFORD[0], OXFORD[2]]
    expected = np.zeros((2, 5), dtype=bool)
    expected[0, [0, 1]] = expected[1, [2, 3]] = True
    assert oxford.relevant.dtype == torch.bool and np.array_equal(oxford.relevant.numpy(), expected)
    assert oxford.junk.numpy().nonzero() == (np.array([0]), np.array([2]))
    assert oxford.queries[0].float().mean() > 240  # the white box only: cropped to bbx
    assert oxford.database[0].float().mean() < 150  # the whole photo, mostly black
    from lrlib.metrics import retrieval_map
    features = oxford.database.flatten(1).float()
    assert retrieval_map(features[[0, 2]], features, oxford.relevant, ignore=oxford.junk) > 0


@pytest.mark.parametrize("attack", ["system", "open"])
def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(root, tmp_path, attack):
    path = write_retrieval_set(root, "paris6k")
    proof = tmp_path / "the-pickle-ran"

    class Evil:
        def __reduce__(self):
            if attack == "system":
                return os.system, (f"touch {proof}",)
            return builtins.open, (str(proof), "w")

    with open(path, "wb") as f:
        pickle.dump({"imlist": OXFORD, "qimlist": [], "gnd": [], "payload": Evil()}, f, protocol=2)
    with pytest.raises(ValueError, match="refusing") as err:
        data.load_retrieval("paris6k", size=8)
    assert str(path) in str(err.value)
    assert not proof.exists()


@pytest.mark.parametrize("damage, shown", [
    (lambda g: g[0].update(ok=[7]), "gnd[0]['ok'] must hold indices 0..4"),
    (lambda g: g[1].update(junk=[-1]), "gnd[1]['junk']"),
    (lambda g: g[0].update(bbx=[30.0, 4.0, 10.0, 20.0]), "x1 < x2"),
    (lambda g: g[1].pop("ok"), "gnd[1] must be a dict with bbx, ok"),
    (lambda g: g.pop(), "one dict per query"),
])
def test_malformed_ground_truth_is_named(root, damage, shown):
    path = write_retrieval_set(root, "oxford5k")
    gnd = oxford_gnd()
    damage(gnd)
    write_gnd(path, OXFORD, [OXFORD[0], OXFORD[2]], gnd)
    with pytest.raises(ValueError) as err:
        data.load_retrieval("oxford5k", size=8)
    assert shown in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("key, index, bad", [("imlist", 3, "../../secret/balliol_000000"),
                                             ("imlist", 1, "/etc/all_souls_000001"),
                                             ("qimlist", 1, "..\\..\\ashmolean_000000"), ("imlist", 0, "")])
def test_ground_truth_names_must_stay_inside_the_photo_folder(root, tmp_path, key, index, bad):
    path = write_retrieval_set(root, "oxford5k")
    outside = tmp_path / "secret"  # a photo elsewhere on the machine that a crafted name would reach
    write_jpeg(outside / "balliol_000000.jpg", (1, 2, 3))
    lists = {"imlist": list(OXFORD), "qimlist": [OXFORD[0], OXFORD[2]]}
    lists[key][index] = bad
    write_gnd(path, lists["imlist"], lists["qimlist"], oxford_gnd())
    with pytest.raises(ValueError, match="is not a photo name inside the set's folder") as err:
        data.load_retrieval("oxford5k", size=8)
    assert f"{key}[{index}] = {bad!r}" in str(err.value) and str(path) in str(err.value)


def test_retrieval_missing_files_are_named(root):
    with pytest.raises(data.DatasetMissing, match="gnd_oxford5k.pkl") as err:
        data.load_retrieval("oxford5k", size=8)
    assert "no checksum is published" in str(err.value)
    write_retrieval_set(root, "oxford5k")
    (root / "oxford5k" / "jpg" / f"{OXFORD[3]}.jpg").unlink()
    with pytest.raises(data.DatasetMissing, match=f"lacks 1 of the 5 photos.*{OXFORD[3]}.jpg"):
        data.load_retrieval("oxford5k", size=8)


def test_fetch_paris_without_checksums_flattens_its_archives(root, tmp_path, monkeypatch):
    names = ["paris_defense_000000", "paris_defense_000001", "paris_eiffel_000000", "paris_louvre_000000",
             "paris_louvre_000001"]
    server = tmp_path / "server"
    truth = write_retrieval_set(server, "paris6k", names)
    photos = {n: server / "paris6k" / "jpg" / f"{n}.jpg" for n in names}
    downloads = {d.filename: d for d in data.datasets()["paris6k"].downloads}
    assert all(d.md5 is None for d in downloads.values())
    serve(monkeypatch, downloads["gnd_paris6k.pkl"], truth, checked=False)
    for archive, part in (("paris_1.tgz", names[:3]), ("paris_2.tgz", names[3:])):
        members = {f"paris/{n.split('_')[1]}/{n}.jpg": photos[n] for n in part}
        serve(monkeypatch, downloads[archive], make_tar(tmp_path / archive, members), checked=False)
    with pytest.warns(UserWarning, match="publishes no checksum") as warned:
        assert data.fetch("paris6k", progress=False) == root / "paris6k"
    assert len(warned) == 3 and "MD5 of this copy" in str(warned[0].message)
    assert sorted(p.stem for p in (root / "paris6k" / "jpg").iterdir()) == names
    assert [p.name for p in (root / "paris6k").iterdir() if p.name.startswith(".")] == []  # no leftovers
    assert data.load_retrieval("paris6k", size=8).names == names
    for download in downloads.values():  # files in place are reused: no second download
        monkeypatch.setattr(download, "url", UNREACHABLE)
    assert data.fetch("paris6k", progress=False) == root / "paris6k"


def test_fetch_oxford_unpacks_top_level_photos_and_reports_gaps(root, tmp_path, monkeypatch):
    truth = write_retrieval_set(tmp_path / "server", "oxford5k")
    downloads = data.datasets()["oxford5k"].downloads
    serve(monkeypatch, downloads[0], truth, checked=False)
    members = {f"{n}.jpg": tmp_path / "server" / "oxford5k" / "jpg" / f"{n}.jpg" for n in OXFORD[:4]}
    serve(monkeypatch, downloads[1], make_tar(tmp_path / "oxbuild_images.tgz", members), checked=False)
    with pytest.warns(UserWarning), pytest.raises(data.DatasetMissing, match=f"lacks 1 of its 5 photos.*{OXFORD[4]}"):
        data.fetch("oxford5k", progress=False)
    assert len(list((root / "oxford5k" / "jpg").iterdir())) == 4


def test_fetch_retrieval_offline_says_no_checksum(root, monkeypatch):
    for download in data.datasets()["oxford5k"].downloads:
        monkeypatch.setattr(download, "url", UNREACHABLE)
    with pytest.raises(data.DatasetMissing, match="no published MD5") as err:
        data.fetch("oxford5k", progress=False)
    assert str(root / "oxford5k" / "gnd_oxford5k.pkl") in str(err.value)


# --- INRIA Holidays -------------------------------------------------------------------------------

HOLIDAYS = ["100000", "100001", "100002", "100100", "100101", "100200"]


def write_holidays(folder: Path, names: list[str] = HOLIDAYS) -> None:
    for k, stem in enumerate(names):
        write_jpeg(folder / f"{stem}.jpg", (40 * k, 80, 120), size=(40 + 8 * k, 30))


def test_holidays_groups_make_the_ground_truth(root):
    write_holidays(root / "holidays" / "jpg")
    assert data.status("holidays") == "ready"
    holidays = data.load_retrieval("holidays", size=12)
    assert holidays.query_names == ["100000", "100100", "100200"] and holidays.names == HOLIDAYS
    assert holidays.queries.shape == (3, 3, 12, 12) and holidays.database.shape == (6, 3, 12, 12)
    relevant = np.zeros((3, 6), dtype=bool)
    relevant[0, [1, 2]] = relevant[1, 4] = True
    assert np.array_equal(holidays.relevant.numpy(), relevant)
    assert np.array_equal(holidays.junk.numpy().nonzero()[1], [0, 3, 5])  # each query's own copy
    assert torch.equal(holidays.queries[1], holidays.database[3])


def test_holidays_bad_name_or_no_photos(root):
    with pytest.raises(data.DatasetMissing, match="jpg1.tar.gz"):
        data.load_retrieval("holidays", size=8)
    write_holidays(root / "holidays" / "jpg", HOLIDAYS + ["IMG_1234"])
    with pytest.raises(ValueError, match="IMG_1234.jpg.*100000.jpg"):
        data.load_retrieval("holidays", size=8)


def test_fetch_holidays_from_two_archives(root, tmp_path, monkeypatch):
    write_holidays(tmp_path / "server" / "jpg")
    downloads = data.datasets()["holidays"].downloads
    for download, part in zip(downloads, (HOLIDAYS[:3], HOLIDAYS[3:])):
        members = {f"jpg/{n}.jpg": tmp_path / "server" / "jpg" / f"{n}.jpg" for n in part}
        serve(monkeypatch, download, make_tar(tmp_path / download.filename, members), checked=False)
    monkeypatch.setattr(retrieval, "HOLIDAYS_IMAGES", len(HOLIDAYS))
    with pytest.warns(UserWarning, match="no checksum"):
        data.fetch("holidays", progress=False)
    assert data.load_retrieval("holidays", size=8).names == HOLIDAYS
    monkeypatch.setattr(retrieval, "HOLIDAYS_IMAGES", len(HOLIDAYS) + 1)  # one short of the whole set
    (root / "holidays" / "jpg1.tar.gz").unlink()
    for download in downloads:
        monkeypatch.setattr(download, "url", UNREACHABLE)
    with pytest.raises(data.DatasetMissing, match="could not download"):
        data.fetch("holidays", progress=False)


# --- every entry ----------------------------------------------------------------------------------

def test_data_list_shows_every_entry(root, capsys):
    write_retrieval_set(root, "oxford5k")
    (root / "paris6k" / "jpg").mkdir(parents=True)  # photos placed, ground truth not: missing
    assert main(["data", "list"]) == 0
    shown = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(shown) == set(data.datasets())
    assert shown["oxford5k"] == "ready" and shown["paris6k"] == "missing" and shown["voc2007"] == "missing"


# --- revisitop1m-100k: distractors, unpacked as revisitop's archives are, read chunk by chunk ------------------

REVISITOP = "revisitop1m-100k"


def revisitop_photos() -> dict[str, tuple[int, int, int]]:
    """Archive member name -> colour, for the 10 archives: ``<3 hex digits>/<hash>.jpg`` as in revisitop1m; archive
    i holds the folders ``<i:02x>0`` (one photo) and, for odd i, ``<i:02x>1`` (two photos)."""
    photos = {}
    for i in range(1, 11):
        for j in range(1 + i % 2):
            for k in range(j + 1):
                name = hashlib.md5(f"{i}.{j}.{k}".encode()).hexdigest()
                photos[f"{i:02x}{j}/{name}.jpg"] = (20 * i, 100 + 60 * j, 40 + 100 * k)
    return photos


def write_revisitop_archives(server: Path) -> dict[str, Path]:
    """revisitop1m.<i>.tar.gz (i = 1..10) holding its folders at the top, as the real archives do."""
    photos = revisitop_photos()
    for member, colour in photos.items():
        write_jpeg(server / "jpg" / member, colour, size=(40, 24))
    return {f"revisitop1m.{i}.tar.gz": make_tar(server / f"revisitop1m.{i}.tar.gz", {
        m: server / "jpg" / m for m in photos if int(m[:2], 16) == i}) for i in range(1, 11)}


def serve_revisitop(monkeypatch, archives: dict[str, Path]) -> list[data.Download]:
    downloads = data.datasets()[REVISITOP].downloads
    for download in downloads:
        serve(monkeypatch, download, archives[download.filename], checked=False)
    return downloads


def test_revisitop_entry_names_the_first_ten_archives():
    entry = data.datasets()[REVISITOP]
    assert entry.kind == "distractors" and entry.reader == "load_distractors" and "Flickr100k" in entry.description
    assert [(d.url, d.md5, d.filename) for d in entry.downloads] == [
        (f"http://ptak.felk.cvut.cz/revisitop/revisitop1m/jpg/revisitop1m.{i}.tar.gz", None, f"revisitop1m.{i}.tar.gz")
        for i in range(1, 11)]


def test_fetch_revisitop_unpacks_every_archive_and_reads_it_chunk_by_chunk(root, tmp_path, monkeypatch):
    downloads = serve_revisitop(monkeypatch, write_revisitop_archives(tmp_path / "server"))
    photos = revisitop_photos()
    assert data.status(REVISITOP) == "missing"
    with pytest.warns(UserWarning, match="publishes no checksum") as warned:
        assert data.fetch(REVISITOP, progress=False) == root / REVISITOP
    assert len(warned) == 10 and data.status(REVISITOP) == "ready"
    jpg = root / REVISITOP / "jpg"
    assert sorted(p.relative_to(jpg).as_posix() for p in jpg.rglob("*.jpg")) == sorted(photos)  # layout kept
    assert not [p for p in jpg.iterdir() if p.name.startswith(".unpacking")]
    distractors = retrieval.load_distractors(REVISITOP, size=8)
    folders = sorted({m.split("/")[0] for m in photos})
    assert len(distractors) == len(photos) and [c for c, _ in distractors.chunks] == folders
    assert distractors.name == f"{REVISITOP}@8" and "15 chunks" in repr(distractors)
    seen = []
    for (chunk, images), (_, files) in zip(distractors, distractors.chunks):
        assert images.dtype == torch.uint8 and images.shape == (len(files), 3, 8, 8)
        for image, path in zip(images, files):
            colour = torch.tensor(photos[path.relative_to(jpg).as_posix()], dtype=torch.float32)
            assert (image.float().mean((1, 2)) - colour).abs().max() < 4
        seen.append(chunk)
    assert seen == folders
    for download in downloads:  # every archive unpacked whole: nothing is downloaded again
        monkeypatch.setattr(download, "url", UNREACHABLE)
    assert data.fetch(REVISITOP, progress=False) == root / REVISITOP


def test_revisitop_photos_lost_since_the_unpack_are_named(root, tmp_path, monkeypatch):
    archives = write_revisitop_archives(tmp_path / "server")
    downloads = serve_revisitop(monkeypatch, archives)
    with pytest.warns(UserWarning):
        data.fetch(REVISITOP, progress=False)
    jpg = root / REVISITOP / "jpg"
    next((jpg / "031").iterdir()).unlink()  # a photo of revisitop1m.3.tar.gz
    (root / REVISITOP / "revisitop1m.3.tar.gz").unlink()
    with pytest.raises(data.DatasetMissing, match=r"1 of its 10 archives \(revisitop1m.3.tar.gz\)") as err:
        retrieval.load_distractors(REVISITOP, size=8)
    assert "tar -xzf" in str(err.value)
    assert data.status(REVISITOP) == "missing"
    for download in downloads:
        monkeypatch.setattr(download, "url", UNREACHABLE)
    with pytest.raises(data.DatasetMissing, match=r"(?s)could not download.*revisitop1m.3.tar.gz"):
        data.fetch(REVISITOP, progress=False)
    serve_revisitop(monkeypatch, archives)  # online again: only the damaged archive comes back
    with pytest.warns(UserWarning, match="publishes no checksum") as warned:
        data.fetch(REVISITOP, progress=False)
    assert len(warned) == 1 and len(retrieval.load_distractors(REVISITOP, size=8)) == len(revisitop_photos())


def test_revisitop_placed_by_hand_is_taken_as_it_is_and_big_folders_are_split(root, monkeypatch):
    jpg = root / REVISITOP / "jpg"
    with pytest.raises(data.DatasetMissing, match="holds no photos"):
        retrieval.load_distractors(REVISITOP, size=8)
    for k in range(3):
        write_jpeg(jpg / "abc" / f"{k}.jpg", (10, 20, 30))
    write_jpeg(jpg / "loose.jpg", (10, 20, 30))
    write_jpeg(jpg / ".hidden" / "x.jpg", (10, 20, 30))
    assert data.status(REVISITOP) == "ready"
    monkeypatch.setattr(retrieval, "CHUNK_PHOTOS", 2)
    distractors = retrieval.load_distractors(REVISITOP, size=8)
    assert [(c, [p.name for p in files]) for c, files in distractors.chunks] == [
        (".", ["loose.jpg"]), ("abc:0", ["0.jpg", "1.jpg"]), ("abc:1", ["2.jpg"])]


def test_a_distractor_that_cannot_be_decoded_is_left_out_with_a_warning(root):
    jpg = root / REVISITOP / "jpg"
    write_jpeg(jpg / "abc" / "good.jpg", (10, 20, 30))
    (jpg / "abc" / "truncated.jpg").write_bytes((jpg / "abc" / "good.jpg").read_bytes()[:40])
    with pytest.warns(UserWarning, match="left out 1 of the 2 photos of chunk abc.*truncated.jpg"):
        chunks = list(retrieval.load_distractors(REVISITOP, size=8))
    assert [(c, tuple(images.shape)) for c, images in chunks] == [("abc", (1, 3, 8, 8))]


@pytest.mark.parametrize("call, shown", [
    (lambda: retrieval.load_distractors("oxford5k", size=8), "use load_retrieval('oxford5k'"),
    (lambda: data.photos(REVISITOP), "use load_distractors('revisitop1m-100k'"),
    (lambda: retrieval.load_distractors(REVISITOP, size=0), "size"),
])
def test_distractors_have_their_own_reader(root, call, shown):
    with pytest.raises(ValueError) as err:
        call()
    assert shown in str(err.value)
