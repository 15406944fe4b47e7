"""One registry of data sets: names -> files, checksums, downloads, offline messages, tensors.

Every data set the course uses has one entry in a registry (:func:`datasets`), and one call
turns it into tensors::

    from lrlib import data
    cifar = data.load("cifar10", "test", limit=1000)   # ImageSet: images (N, 3, 32, 32) uint8
    crops = data.load("b100", size=256)                 # 256 x 256 centre crops of every photo
    full = data.photos("set14", grey=True)              # [(stem, (1, H, W) uint8)], full size
    pairs = data.load_pairs("graf")                     # [ImagePair(name, a, b, homography)]
    voc = data.load_multilabel("voc2007", "test", size=224)  # images + targets (N, 20) int8 in {1, 0, -1}
    oxford = data.load_retrieval("oxford5k", size=224)  # queries, database, (Q, M) relevant and junk masks

Whatever the source (pickles, JPEG folders, idx files, .mat files, photos), :func:`load` returns an
:class:`ImageSet` of ``uint8`` images shaped ``(N, 3, H, W)`` with ``int64`` labels, on the device
you ask for. Grey images are repeated into three channels, so every later step sees RGB.
:func:`photos` gives the photos of a photo set at full size (sizes differ: one tensor each),
:func:`load_pairs` the image pairs of the matching sets with their ground-truth homographies,
:func:`load_multilabel` photos with several labels each (:class:`MultiLabelSet`), and
:func:`load_retrieval` a retrieval benchmark's queries and database with its ground truth
(:class:`RetrievalSet`, ready for :func:`lrlib.metrics.retrieval_map`), and :func:`load_distractors` a large set of
distractor photos, chunk by chunk (:class:`DistractorSet`).

Where the files live
    Under :func:`lrlib.paths.data_root`: ``$LRLIB_DATA`` if set, else the repository's ``data/`` folder
    (every function also takes ``root=`` to look elsewhere). Each entry names its own sub-folder.

How the files get there
    :func:`fetch` downloads a data set where its source allows, checks the file's MD5 against
    the registry and unpacks it. Files already in place whose MD5 matches are reused, never
    downloaded again (where the source publishes no MD5, files are saved unverified, with a warning,
    and reused as they are). Offline, or for sets with no download, :class:`DatasetMissing` says which
    files to put where. :func:`load` never downloads: it raises :class:`DatasetMissing` instead.

The entries
    ``cifar10``          CIFAR-10, train/test, 10 classes (pickled batches or a JPEG copy).
    ``fashion-mnist``    Fashion-MNIST, train/test, 10 classes, padded to 32 x 32 and made RGB.
    ``svhn``             SVHN cropped digits, train/test, 10 classes "0".."9" (torchvision's .mat files).
    ``images``           any folder of photos: ``load("images", split="path/to/folder", size=S)``
                         or ``photos("images", folder="path/to/folder")``.
    ``b100``, ``urban100``, ``set5``, ``set14``, ``t91``: photo folders under ``<root>/sr/``.
    ``div2k``            DIV2K's 800 training photos (2K), in ``<root>/div2k/DIV2K_train_HR/``.
    ``samples``          photos that ship inside scikit-image and scikit-learn (no files needed).
    ``graf``             Oxford's affine sequence "graf": img1 against img2..img6 with homographies
                         (``load_pairs("graf")``; files in ``<root>/pairs/graf/``, no download).
    ``pairs``            any folder of image pairs listed in a ``pairs.txt``:
                         ``load_pairs("pairs", folder="path/to/folder")``.
    ``voc2007``          PASCAL VOC2007 classification, trainval/test (train/val too), 20 classes, several
                         per photo: ``load_multilabel("voc2007", split, size=S)``; devkit layout in
                         ``<root>/voc2007/VOCdevkit/VOC2007/``. Downloads checked by MD5.
    ``oxford5k``, ``paris6k``  the Oxford and Paris buildings: 55 cropped queries each, ground truth from
                         revisitop's ``gnd_<set>.pkl`` (a restricted unpickler: plain data only):
                         ``load_retrieval(name, size=S)``; photos in ``<root>/<set>/jpg/``. No MD5 published.
    ``holidays``         INRIA Holidays: 500 groups in ``<root>/holidays/jpg/``, ``<group>00.jpg`` the query
                         of its group: ``load_retrieval("holidays", size=S)``. No MD5 published.
    ``revisitop1m-100k`` revisitop1m's first 10 archives (about 100,000 Flickr photos), the distractors of the
                         retrieval sets (a stand-in for Flickr100k): ``load_distractors(name, size=S)`` decodes
                         them chunk by chunk; photos in ``<root>/revisitop1m-100k/jpg/``. No MD5 published.

Caches
    Decoding 60,000 JPEGs takes a while, so decoded pixels are cached as uint8 arrays in
    ``<root>/cache/`` (delete that folder to decode again). They belong to the files of that data
    root, so they stay there even when ``$LRLIB_CACHE`` is set. :func:`lrlib.paths.cache_dir` (``$LRLIB_CACHE``,
    else ``<data root>/cache``) is where the other modules keep what they compute: deep features
    (``features/``) and finished trainings (``runs/``).

The package
    ``registry`` (the entries), ``fetching`` (status, download, unpack; ``archives`` unpacks safely),
    ``formats`` (CIFAR-10, idx and .mat readers; the plain-data unpickler), ``images`` (decoding photo
    files), ``labelled`` (:func:`load`, :class:`ImageSet`), ``photo_sets`` (:func:`photos`, the bundled
    samples), ``pairs`` (:func:`load_pairs`, :class:`ImagePair`), ``voc`` (:func:`load_multilabel`,
    :class:`MultiLabelSet`), ``retrieval`` (:func:`load_retrieval`, :class:`RetrievalSet`, :func:`load_distractors`,
    :class:`DistractorSet`). Import from ``lrlib.data``: the modules are its inside.
"""

from .fetching import fetch, status
from .labelled import ImageSet, concat, load
from .pairs import ImagePair, load_pairs
from .photo_sets import photos
from .registry import (CIFAR10_CLASSES, FASHION_CLASSES, SVHN_CLASSES, VOC_CLASSES, DatasetMissing, Download, Entry,
                       datasets, md5sum)
from .retrieval import DistractorSet, RetrievalSet, load_distractors, load_retrieval
from .voc import MultiLabelSet, load_multilabel

__all__ = ["DatasetMissing", "ImageSet", "ImagePair", "MultiLabelSet", "RetrievalSet", "DistractorSet", "Download",
           "Entry", "datasets", "status", "fetch", "load", "photos", "load_pairs", "load_multilabel", "load_retrieval",
           "load_distractors", "concat",
           "md5sum", "CIFAR10_CLASSES", "FASHION_CLASSES", "SVHN_CLASSES", "VOC_CLASSES"]
