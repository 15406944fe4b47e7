"""The registry: one :class:`Entry` per data set (names -> folders, downloads with MD5s, offline instructions)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import data_root

__all__ = ["DatasetMissing", "Download", "Entry", "datasets", "md5sum", "CIFAR10_CLASSES", "FASHION_CLASSES",
           "SVHN_CLASSES", "VOC_CLASSES"]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]
SVHN_CLASSES = [str(digit) for digit in range(10)]  # the digit 0 is label 0 (SVHN's own files say 10)
VOC_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",  # devkit order
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


class DatasetMissing(FileNotFoundError):
    """A data set's files are not where they should be; the message says what to put where."""


@dataclass
class Download:
    """One file to download: saved as ``<root>/<entry.folder>/<filename>`` once its MD5 matches.

    An archive that holds the entry's folder itself (DIV2K's ``DIV2K_train_HR.zip`` holds
    ``DIV2K_train_HR/``) is saved in, and unpacked into, that folder's parent instead.
    ``md5=None`` means its source publishes no checksum (Oxford5k, Paris6k, Holidays): the file is
    then saved unverified, :func:`fetch` says so, and a copy already there is reused as it is.
    """

    url: str
    md5: str | None
    filename: str

    def checksum(self) -> str:
        """``"MD5 <hex>"``, or ``"no published MD5"``, for messages.

        Raises:
            Nothing.
        """
        return f"MD5 {self.md5}" if self.md5 else "no published MD5"


@dataclass
class Entry:
    """One data set of the registry.

    Attributes:
        name: the registry key, e.g. ``"cifar10"``.
        description: one line for ``lrlib data list``.
        kind: ``"labelled"`` (train/test splits, fixed classes), ``"photos"`` (a named folder of
            photos), ``"folder"`` (any folder, given as the split), ``"samples"`` (ships with packages),
            ``"pairs"`` (image pairs for matching, read by :func:`load_pairs`; with folder "" any
            folder holding a ``pairs.txt``, given as ``folder=``), ``"multilabel"`` (images with
            several labels each, read by :func:`load_multilabel`), ``"retrieval"`` (queries, a
            database and its ground truth, read by :func:`load_retrieval`) or ``"distractors"`` (photos
            never relevant to any query, read chunk by chunk by :func:`load_distractors`).
        folder: where its files live, below the data root ("" when it has none: any folder you name).
        splits: the accepted ``split`` values.
        classes: class names of labelled sets (None otherwise).
        downloads: the files :func:`fetch` may download, with their MD5s (empty: no download).
        manual: how to get the files by hand; ``{root}`` stands for the data root.
        grey_folder: where a grey copy of a photo set may live instead (8-bit grey PNGs, pixel-identical to
            ``photos(..., grey=True)`` of the colour files); it serves only ``grey=True`` ("" when there is none).
    """

    name: str
    description: str
    kind: str
    folder: str
    splits: tuple[str, ...]
    manual: str
    classes: list[str] | None = None
    downloads: list[Download] = field(default_factory=list)
    grey_folder: str = ""

    def instructions(self, root: Path) -> str:
        """The manual instructions with the actual data root filled in."""
        return self.manual.format(root=root)

    @property
    def reader(self) -> str:
        """The name of the function that reads this entry, for messages: ``"load"``, ``"load_pairs"``, ...

        Raises:
            Nothing.
        """
        return {"pairs": "load_pairs", "multilabel": "load_multilabel", "retrieval": "load_retrieval",
                "distractors": "load_distractors"}.get(self.kind, "load")


# --- the registry ----------------------------------------------------------------------------------

SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip"
GRAF_URL = "https://www.robots.ox.ac.uk/~vgg/research/affine/det_eval_files/graf.tar.gz"


def _build_registry() -> dict[str, Entry]:
    fmnist = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    svhn_files = [("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),  # MD5s as in torchvision's svhn.py
                  ("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")]
    div2k_md5 = "bdc2d9338d4e574fe81bf7d158758658"  # 3,530,603,713 bytes; as in torchsr's div2k.py
    entries = [
        Entry("cifar10", "CIFAR-10: 50,000 train + 10,000 test images, 32x32, 10 classes", "labelled",
              "cifar10", ("train", "test"), classes=CIFAR10_CLASSES,
              downloads=[Download("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                                  "c58f30108f718f92721af3b95e74349a", "cifar-10-python.tar.gz")],
              manual=("Run `lrlib data fetch cifar10` (online: downloads and unpacks it), or place by hand "
                      "ONE of:\n"
                      "  - torchvision's pickles data_batch_1 ... data_batch_5, test_batch, batches.meta in\n"
                      "    {root}/cifar10/cifar-10-batches-py/ (unpack cifar-10-python.tar.gz from\n"
                      "    https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, "
                      "MD5 c58f30108f718f92721af3b95e74349a, into {root}/cifar10/);\n"
                      "  - a class-per-folder copy {root}/cifar10/cifar10-jpeg/{{train,test}}/<class>/*.jpg;\n"
                      "  - its archive cifar10-jpeg.tar.gz in {root}/ or {root}/cifar10/ (unpacked on first use;\n"
                      "    the course's offline copy is ../shared/data/cifar10-jpeg.tar.gz).")),
        Entry("fashion-mnist", "Fashion-MNIST: 60,000 train + 10,000 test, 28x28 grey (given as 32x32 RGB)",
              "labelled", "fashion-mnist", ("train", "test"), classes=FASHION_CLASSES,
              downloads=[Download(fmnist + f, md5, f) for f, md5 in [
                  ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                  ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                  ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                  ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]],
              manual=("Run `lrlib data fetch fashion-mnist` (online), or `apt-get install dataset-fashion-mnist`\n"
                      "(files in /usr/share/datasets/fashion-mnist/), or place train-images-idx3-ubyte.gz,\n"
                      "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz\n"
                      "(gzipped or not) in {root}/fashion-mnist/ (from " + fmnist + ").")),
        Entry("svhn", "SVHN: 73,257 train + 26,032 test house-number digits, 32x32, 10 classes '0'..'9'",
              "labelled", "svhn", ("train", "test"), classes=SVHN_CLASSES,
              downloads=[Download(SVHN_URL + f, md5, f) for f, md5 in svhn_files],
              manual=("Run `lrlib data fetch svhn` (online), or place the cropped-digit files (format 2) by hand in\n"
                      "{root}/svhn/: " + " and ".join(f"{f} (MD5 {md5})" for f, md5 in svhn_files) + ",\n"
                      "from " + SVHN_URL + " (the course's offline copy has no SVHN).")),
        Entry("images", "any folder of photos: load('images', split='<folder>', size=S)", "folder", "",
              ("<folder>",), manual="Pass an existing folder of .png/.jpg/.jpeg/.bmp photos as the split."),
        Entry("samples", "photos shipped inside scikit-image and scikit-learn, 4 crops each (smoke runs)",
              "samples", "", ("all",), manual="Install scikit-image and scikit-learn."),
    ]
    photo_sets = [("b100", "sr/b100", "BSD100 (B100): 100 photos, 480x320"),
                  ("urban100", "sr/urban100-subset", "Urban100 subset: 20 building photos, about 1024 px"),
                  ("set5", "sr/set5", "Set5: 5 photos, super-resolution benchmark"),
                  ("set14", "sr/set14", "Set14: 14 photos, super-resolution benchmark"),
                  ("t91", "sr/t91", "T91: 91 small photos, SRCNN's training set")]
    for name, folder, description in photo_sets:
        grey = folder.replace("sr/", "sr-grey/", 1)
        entries.append(Entry(
            name, description, "photos", folder, ("all",), grey_folder=grey,
            manual=(f"There is no download for {name}: copy its photos (.png/.jpg/.jpeg/.bmp) into "
                    f"{{root}}/{folder}/.\nThe course's offline copy lives in ../shared/data/{folder}/ "
                    f"(e.g. `mkdir -p {{root}}/sr && ln -s $PWD/../shared/data/{folder} {{root}}/{folder}`).\n"
                    f"Where only grey pixels are used (photos(..., grey=True), notebook 05), its grey copy in "
                    f"{{root}}/{grey}/ serves too\n(the course's: ../shared/data/{grey}/, a third of the size).")))
    entries += [
        Entry("div2k", "DIV2K: 800 training photos, 2K resolution (about 2040 px wide), super-resolution",
              "photos", "div2k/DIV2K_train_HR", ("all",),
              downloads=[Download(DIV2K_URL, div2k_md5, "DIV2K_train_HR.zip")],
              manual=("Run `lrlib data fetch div2k` (online: downloads DIV2K_train_HR.zip, 3.5 GB, into {root}/div2k/\n"
                      "and unpacks it there), or unzip that file (from " + DIV2K_URL + ",\n"
                      "MD5 " + div2k_md5 + ") into {root}/div2k/ yourself, so that the photos 0001.png ... 0800.png\n"
                      "lie in {root}/div2k/DIV2K_train_HR/. The course's offline copy has no DIV2K (t91 and b100 in\n"
                      "../shared/data/sr/ stand in for it).")),
        Entry("graf", "Oxford affine 'graf': img1 against img2..img6 (viewpoint 20-60 deg), with homographies",
              "pairs", "pairs/graf", ("all",),
              manual=("There is no checked download for graf: place img1 ... img6 (.png, or the original .ppm) and\n"
                      "the homographies H1to2p ... H1to6p in {root}/pairs/graf/ (unpack " + GRAF_URL + "\n"
                      "there). The course's offline copy lives in ../shared/data/pairs/graf/\n"
                      "(e.g. `mkdir -p {root}/pairs && ln -s $PWD/../shared/data/pairs/graf {root}/pairs/graf`).")),
        Entry("pairs", "any folder of image pairs listed in pairs.txt: load_pairs('pairs', folder='<folder>')",
              "pairs", "", ("<folder>",),
              manual=("Pass a folder holding a pairs.txt as folder=: one pair a line, 'a.jpg b.jpg', optionally with a\n"
                      "third name, a text file holding the 3x3 homography from a to b (paths relative to the folder).")),
    ]
    return {entry.name: entry for entry in entries + _benchmark_entries()}


VOC_URL = "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/"
REVISITOP_URL = "http://cmp.felk.cvut.cz/revisitop/data/datasets/"
VGG_URL = "https://www.robots.ox.ac.uk/~vgg/data/"
HOLIDAYS_URL = "ftp://ftp.inrialpes.fr/pub/lear/douze/data/"
REVISITOP1M_URL = "http://ptak.felk.cvut.cz/revisitop/revisitop1m/jpg/"
DISTRACTOR_ARCHIVES = 10  # revisitop1m.1 ... revisitop1m.10.tar.gz of its 100: about 100,000 photos


def _benchmark_entries() -> list[Entry]:
    """PASCAL VOC2007 (multi-label classification), the retrieval sets Oxford5k, Paris6k and INRIA Holidays, and
    revisitop1m's first archives as their distractors."""
    voc_files = [("VOCtrainval_06-Nov-2007.tar", "c52e279531787c972589f7e41ab4ae64"),  # as in torchvision's voc.py
                 ("VOCtest_06-Nov-2007.tar", "b6e924de25625d8de591ea690078ad9f")]
    paris = [VGG_URL + f"parisbuildings/paris_{i}.tgz" for i in (1, 2)]
    return [
        Entry("voc2007", "PASCAL VOC2007: 5,011 trainval + 4,952 test photos, 20 classes, several per photo",
              "multilabel", "voc2007", ("trainval", "test", "train", "val"), classes=VOC_CLASSES,
              downloads=[Download(VOC_URL + f, md5, f) for f, md5 in voc_files],
              manual=("Run `lrlib data fetch voc2007` (online: downloads both tars, 0.9 GB, into {root}/voc2007/ and\n"
                      "unpacks them), or unpack them there yourself: " +
                      " and ".join(f"{VOC_URL}{f} (MD5 {md5})" for f, md5 in voc_files) + ",\n"
                      "so that {root}/voc2007/VOCdevkit/VOC2007/ holds JPEGImages/ and ImageSets/Main/.\n"
                      "The course's offline copy has no VOC2007.")),
        _retrieval_entry("oxford5k", "Oxford5k: 5,063 photos of Oxford, 55 cropped queries of 11 landmarks",
                         [REVISITOP_URL + "oxford5k/gnd_oxford5k.pkl", VGG_URL + "oxbuild/oxbuild_images.tgz"]),
        _retrieval_entry("paris6k", "Paris6k: 6,392 photos of Paris, 55 cropped queries of 11 landmarks",
                         [REVISITOP_URL + "paris6k/gnd_paris6k.pkl", *paris]),
        _retrieval_entry("holidays", "INRIA Holidays: 1,491 holiday photos in 500 groups, the first of each its query",
                         [HOLIDAYS_URL + "jpg1.tar.gz", HOLIDAYS_URL + "jpg2.tar.gz"]),
        _distractor_entry(),
    ]


def _distractor_entry() -> Entry:
    """revisitop1m-100k: the first :data:`DISTRACTOR_ARCHIVES` archives of revisitop1m (Radenovic et al., CVPR 2018:
    1M Flickr photos, 100 archives of about 10,000, no published checksums), each unpacked as it is into
    ``<root>/revisitop1m-100k/jpg/`` (folders named by three hex digits, e.g. ``0d3/``), as revisitop's script does."""
    name, files = "revisitop1m-100k", [f"revisitop1m.{i}.tar.gz" for i in range(1, DISTRACTOR_ARCHIVES + 1)]
    return Entry(name, "revisitop1m's first 10 archives: about 100,000 Flickr photos, retrieval distractors "
                 "(a stand-in for Flickr100k)", "distractors", name, ("all",),
                 downloads=[Download(REVISITOP1M_URL + f, None, f) for f in files],
                 manual=(f"Run `lrlib data fetch {name}` (online: downloads {files[0]} ... {files[-1]}, about 10,000 "
                         f"photos each, into {{root}}/{name}/\nand unpacks each into {{root}}/{name}/jpg/; no checksum "
                         f"is published for these files, so none is checked; an archive may be deleted once it is "
                         f"unpacked),\nor unpack those archives (from {REVISITOP1M_URL}) yourself, each with\n"
                         f"`tar -xzf <archive> -C {{root}}/{name}/jpg`, so that their folders (e.g. 0d3/) lie in "
                         f"{{root}}/{name}/jpg/.\nThe course's offline copy has no {name}."))


def _retrieval_entry(name: str, description: str, urls: list[str]) -> Entry:
    """A retrieval set: JPEGs in ``<root>/<name>/jpg/``, its ground truth (a revisitop pickle) in ``<root>/<name>/``.

    Its sources publish no checksums, so every download has ``md5=None``.
    """
    files = [url.rsplit("/", 1)[1] for url in urls]
    archives = " and ".join(f for f in files if not f.endswith(".pkl"))
    truth = "".join(f", and {f} (the ground truth) in {{root}}/{name}/" for f in files if f.endswith(".pkl"))
    return Entry(name, description, "retrieval", name, ("all",),
                 downloads=[Download(url, None, f) for url, f in zip(urls, files)],
                 manual=(f"Run `lrlib data fetch {name}` (online: downloads {', '.join(files)} into {{root}}/{name}/\n"
                         f"and unpacks the photos into {{root}}/{name}/jpg/; no checksum is published for these "
                         f"files, so none is checked),\nor place by hand the .jpg photos of {archives} (from "
                         f"{urls[-1].rsplit('/', 1)[0]}/)\nall in one folder {{root}}/{name}/jpg/{truth}.\n"
                         f"The course's offline copy has no {name}."))


_REGISTRY = _build_registry()


def datasets() -> dict[str, Entry]:
    """The registry: name -> :class:`Entry` (a new dict; the entries themselves are shared).

    Raises:
        Nothing: it reads no files.
    """
    return dict(_REGISTRY)


def _entry(name: str) -> Entry:
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _root(root: str | Path | None) -> Path:
    """The data root: ``root`` if given, else :func:`data_root`; ValueError when it (or a folder above it) is a file."""
    path = Path(root).expanduser() if root is not None else data_root()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        source = "root=" if root is not None else "$LRLIB_DATA"
        raise ValueError(f"the data root {path} is not a folder: {existing} is a file. Point {source} to a folder "
                         f"(the data sets live in sub-folders of it).")
    return path


def md5sum(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """MD5 hex digest of a file, read in chunks of ``chunk_size`` bytes (large files never sit in memory).

    Raises:
        OSError: the file cannot be read (FileNotFoundError when it is not there).
    """
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
