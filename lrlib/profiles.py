"""Run profiles (smoke / cpu / quick / paper) and the one set-up call every notebook makes.

* ``smoke``: CPU, seconds, tiny real samples that ship with installed packages (tests).
* ``cpu``: real data, minutes on a laptop's CPU (2 cores: at most 10 minutes a notebook, 20 for 04): the
  published notebooks. Every cut against ``quick`` is named in its notebook.
* ``quick``: one GPU, minutes, real data.
* ``paper``: the papers' own settings and datasets.

The profile comes from the notebook's ``profile`` parameter, else the environment
variable ``LRLIB_PROFILE``, else ``quick``. Each notebook's settings per profile
live here, in :data:`SETTINGS`, so the notebooks hold no magic numbers.
"""

from __future__ import annotations

import difflib
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .checks import check_int
from .device import as_device, describe, numerics
from .results import RunCache, git_commit

__all__ = ["PROFILES", "SETTINGS", "Run", "resolve_profile", "seed_everything", "setup", "cuts"]

PROFILES = ("smoke", "cpu", "quick", "paper")

FACTORS = [2, 3, 4, 5, 6, 7, 8]  # area ratios 1/4 ... 1/64, FSR paper Fig. 2 and Table 1

SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "01_degradation": {
        "smoke": dict(backbones=["efficientnet_lite0"], factors=FACTORS, input_size=112,
                      small=dict(name="samples", split="all", size=32),
                      photos=[dict(name="samples", split="all", size=128)],
                      tsne_points=40, tsne_factor=4, knn_k=3, resamples=100),
        # A 2-core CPU, at most 10 minutes: 3,000 of the 10,000 CIFAR-10 test images (stratified, 300 a class) at
        # every ratio, all 120 photos; features through OpenVINO at about 100 img/s (lrlib.backbones), so about
        # 25,000 extractions take 4 minutes. Cuts against quick (in the notebook): the images (intervals about
        # 1.8x wider) and the t-SNE points (1,000).
        "cpu": dict(backbones=["efficientnet_lite0"], factors=FACTORS, input_size=224,
                    small=dict(name="cifar10", split="test", limit=3000),
                    photos=[dict(name="b100", split="all", size=256),
                            dict(name="urban100", split="all", size=256)],
                    tsne_points=1000, tsne_factor=4, knn_k=10, resamples=1000),
        "quick": dict(backbones=["efficientnet_lite0"], factors=FACTORS, input_size=224,
                      small=dict(name="cifar10", split="test", size=None),
                      photos=[dict(name="b100", split="all", size=256),
                              dict(name="urban100", split="all", size=256)],
                      tsne_points=3000, tsne_factor=4, knn_k=10, resamples=1000),
        "paper": dict(backbones=["vgg16", "resnet101"], factors=FACTORS, input_size=224,
                      small=dict(name="cifar10", split="test", size=None),
                      photos=[dict(name="b100", split="all", size=256),
                              dict(name="urban100", split="all", size=256)],
                      tsne_points=5000, tsne_factor=4, knn_k=10, resamples=1000),
    },
    "02_fsr_gan": {
        # ``small``: the labelled set (G trains on ``train``, class retrieval on ``test``, as in notebook 01); ``photos``:
        # G trains on random crops of ``train``, instance retrieval on crops of ``test`` (a photo's first crop is the
        # query, its other crops the relevant items), the small set's HR test images as distractors. ``gan``: the
        # GanConfig fields that differ from its defaults (the paper's Adam, lr 0.0008, 6 epochs, r = 2).
        # ``retrieval_sets``: the paper's benchmarks (empty: the small set and the photos instead); G then trains on
        # the photos of ``retrieval_train`` that no query could find (lrlib.studies.fsr_gan.unrelated_rows).
        # Tiny everything on the bundled photos: every code path runs on the CPU, no number means anything.
        "smoke": dict(backbone="efficientnet_lite0", input_size=112, factors=[2, 4, 8], sr_factors=[2],
                      sr_networks=["srcnn", "vdsr"], sr_steps=1, sr_batch=4,
                      small=dict(train=dict(name="samples", size=32), test=dict(name="samples", size=32)),
                      photos=dict(train=[dict(name="samples", start=0, stop=6)],
                                  test=[dict(name="samples", start=6, stop=10)], max_side=256, crop=64,
                                  train_crops=4, test_crops=3),
                      gan=dict(epochs=1, batch_size=64, critic_steps=1), seeds=[0], held_fraction=0.2, knn_k=3,
                      reference_pairs=5_000, retrieval_sets=[]),
        # A 2-core CPU, first sizing (its own issue refines it), from rates measured here: G trains at about 125
        # pairs a second with one critic step per G step (G's step 1.4 s and the critic's 0.7 s at batch 256), so
        # one epoch over 1,000 CIFAR-10 images x 4 ratios and one over the T91 crops, for 6 generators each, take
        # about 5 minutes; features of some 14,000 images at 110 img/s about 2. VDSR trains at 7.5-13 s a step on
        # the 96-pixel crops (SRCNN 0.6 s), so SRCNN alone is the image-SR baseline here.
        "cpu": dict(backbone="efficientnet_lite0", input_size=224, factors=[2, 4, 6, 8], sr_factors=[2, 4],
                    sr_networks=["srcnn"], sr_steps=100, sr_batch=16,
                    small=dict(train=dict(name="cifar10", split="train", limit=1000),
                               test=dict(name="cifar10", split="test", limit=1000)),
                    photos=dict(train=[dict(name="t91")],
                                test=[dict(name="urban100"), dict(name="b100", start=70)], max_side=320, crop=96,
                                train_crops=8, test_crops=4),
                    gan=dict(batch_size=256, epochs=1, critic_steps=1), seeds=[0, 1, 2], held_fraction=0.1, knn_k=10,
                    reference_pairs=50_000, retrieval_sets=[]),
        # One GPU (goal: the whole notebook in 2 minutes on an H200): 10,000 CIFAR-10 training images for G, the
        # whole test set for retrieval; batches of 1,024 (the paper's 64 would make each training ~16x longer).
        "quick": dict(backbone="efficientnet_lite0", input_size=224, factors=[2, 3, 4, 5, 6, 8], sr_factors=[2, 3, 4],
                      sr_networks=["srcnn", "vdsr"], sr_steps=300, sr_batch=64,
                      small=dict(train=dict(name="cifar10", split="train", limit=10_000),
                                 test=dict(name="cifar10", split="test")),
                      photos=dict(train=[dict(name="t91"), dict(name="b100", stop=70)],
                                  test=[dict(name="urban100"), dict(name="b100", start=70)], max_side=320, crop=96,
                                  train_crops=24, test_crops=4),
                      gan=dict(batch_size=1024), seeds=[0, 1, 2], held_fraction=0.1, knn_k=10,
                      reference_pairs=200_000, retrieval_sets=[]),
        # The paper's feature (VGG16 relu7, 4096-d; torchvision's weights, a download), batch 64, every ratio
        # 1/4 ... 1/64, its benchmarks: G trains on Oxford5k's photos that no query could find, LR queries search
        # the HR databases of Oxford5k, Paris6k and Holidays (trapezoid AP, junk ignored). ``distractors``: the
        # registry's set added to every database for Fig. 7 (revisitop1m's first 100k photos: Flickr100k's stand-in).
        "paper": dict(backbone="vgg16", input_size=224, factors=FACTORS, sr_factors=[2, 3, 4],
                      sr_networks=["srcnn", "vdsr"], sr_steps=2000, sr_batch=64,
                      retrieval_sets=["oxford5k", "paris6k", "holidays"], retrieval_train="oxford5k",
                      distractors="revisitop1m-100k", gan=dict(batch_size=64), seeds=[0, 1, 2], held_fraction=0.1),
    },
    "03_feature_transfer": {
        # ``sets``: data set -> (training images, of which held out for model selection); the grid (Table 2) runs on
        # the first set at the first factor; ``epochs``: the transfer networks' schedule, one of the paper's two
        # statements of its length ("31,561 iterations" at batch 1,000 over 5,011 images, i.e. 6,298 epochs, or
        # "1,000 epochs"), kept as epochs over our training set, or a number of epochs
        # (lrlib.studies.feature_transfer.same_epochs); ``cs``: the SVMs' C grid; ``svm_iter``: Newton steps at most
        # per C (lrlib.svm.fit_svms); ``resamples``: the paired bootstrap over test images (gap_table).
        # Tiny widths, a few iterations on the bundled photos: every code path runs, no number means anything.
        "smoke": dict(backbone="efficientnet_lite0", input_size=112, sets={"samples": (None, 10)}, factors=[4],
                      n_test=None, n1s=[16, 32], n2s=[4, 8], epochs=30, batch_size=1000, learning_rate=0.01,
                      cs=[0.01, 0.1, 1.0, 10.0, 100.0], svm_iter=50, resamples=200, tsne_points=40, knn_k=3),
        # A 2-core CPU, first sizing (its own issue refines it), from a run here: 33,000 extractions took 405 s and
        # the 3 x 3 grid with its SVMs 200 s, so 4,000 CIFAR-10 and 2,000 Fashion-MNIST training images (a fifth
        # held out each), 1,500 test images each (``n_test``), 8x8 and 16x16: 27,000 extractions; a 2 x 3 grid of
        # narrower networks than the paper's, trained for 100 epochs instead of 1,000.
        "cpu": dict(backbone="efficientnet_lite0", input_size=224,
                    sets={"cifar10": (4000, 800), "fashion-mnist": (2000, 400)}, n_test=1500, factors=[4, 2],
                    n1s=[512, 1024], n2s=[20, 100, 500], epochs=100, batch_size=1000, learning_rate=0.01,
                    cs=[1e-2, 0.1, 1.0, 10.0], svm_iter=50, resamples=1000, tsne_points=1000, knn_k=10),
        # CIFAR-10 as in the brief of notebook 03: 5,000 training images (VOC2007 trainval's size), 1,000 of them held
        # out; LR at 8x8 (the headline) and 16x16; Fashion-MNIST as a second set; the paper's whole grid. The
        # schedule follows "1,000 epochs" (4,000 iterations over 4,000 images), not the 31,561 iterations (25,193
        # here): the grid's 30 networks and Table 1's, each trained that long, would not fit the GPU budget (the
        # whole notebook in about 1.5 minutes on one H200).
        "quick": dict(backbone="efficientnet_lite0", input_size=224,
                      sets={"cifar10": (5000, 1000), "fashion-mnist": (5000, 1000)}, n_test=None, factors=[4, 2],
                      n1s=[256, 512, 1024, 2048, 4096], n2s=[20, 100, 200, 500, 1000, 2048], epochs="1,000 epochs",
                      batch_size=1000, learning_rate=0.01, cs=[1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3], svm_iter=50,
                      resamples=1000, tsne_points=1000, knn_k=10),
        # The paper: ResNet-101 pool5, VOC2007 trainval (all 5,011 photos; 1,000 held out, stratified by each photo's
        # first present class) and test (4,952), whole photos resized to 224x224 and LR = 32x32 (factor 7 of 224);
        # targets (N, 20) in {1, 0, -1} from the devkit, the paper's per-class APs beside ours; its iteration count.
        # Get the data with lrlib.data.fetch("voc2007").
        "paper": dict(backbone="resnet101", input_size=224, sets={"voc2007": (None, 1000)}, n_test=None, factors=[7],
                      n1s=[256, 512, 1024, 2048, 4096], n2s=[20, 100, 200, 500, 1000, 2048],
                      epochs="31,561 iterations", batch_size=1000, learning_rate=0.01,
                      cs=[1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3], svm_iter=100, resamples=1000, tsne_points=3000,
                      knn_k=10),
    },
    "04_distillation": {
        # ``starts``: data set -> network -> the student starts of its Table 1 cells (every cell runs the LR
        # baseline, DFD and its lambda = 0 control over the seeds), at every factor unless ``factors_for``
        # ("<data set>/<network>" -> factors) names fewer; ``train_limit``: data set -> training images kept
        # (class-balanced; a set not named keeps all); ``table2_seeds``: the seeds of Table 2's SR rows.
        # lrlib.studies.distillation.plan counts the work.
        # Short schedules on tiny real photos: every code path runs, no number means anything.
        "smoke": dict(starts={"samples": {"alexnet": ["teacher", "baseline"], "vgg16": ["teacher"],
                                          "resnet18": ["teacher"]}}, train_limit={}, table2_arch="resnet18",
                      table2_seeds=[0, 1], factors=[4], seeds=[0, 1], lam=2.0, lambdas=[0.1, 2.0, 10.0],
                      sweep_archs=["alexnet"],
                      teacher=dict(epochs=2, batch_size=8, learning_rate=0.02, bf16=False),
                      base=dict(epochs=2, batch_size=8, learning_rate=0.02, bf16=False),
                      finetune=dict(epochs=1, batch_size=8, learning_rate=0.01, bf16=False),
                      sr_networks=["espcn", "vdsr"], sr_steps=5),
        # A 2-core CPU, at most 20 minutes, from rates measured here (2 AMD EPYC cores, fp32, batch 128): AlexNet
        # trains at about 1,000 images a second, ResNet-18 at a quarter width (``resnet18-w16``) at 420, the full
        # ResNet-18 at 25 and VGG-16 at 52. So: 3,000 CIFAR-10 training images (of 50,000); AlexNet, the paper's own
        # network, at 8x8 and 16x16; the headline cell, ResNet-18 on CIFAR-10 at 8x8, at a quarter width; the
        # Fashion-MNIST stand-in for AlexNet at 8x8 on 2,000 images; the lambda sweep on AlexNet; Table 2 with ESPCN
        # on AlexNet, one seed. Short schedules (12 / 8 / 3 epochs against the paper's 100); 3 seeds everywhere else.
        "cpu": dict(starts={"cifar10": {"alexnet": ["teacher"], "resnet18-w16": ["teacher"]},
                            "fashion-mnist": {"alexnet": ["teacher"]}},
                    factors_for={"cifar10/resnet18-w16": [4], "fashion-mnist/alexnet": [4]},
                    train_limit={"cifar10": 3000, "fashion-mnist": 2000}, table2_arch="alexnet", table2_seeds=[0],
                    factors=[4, 2], seeds=[0, 1, 2], lam=2.0, lambdas=[0.5, 1.0, 2.0, 5.0], sweep_archs=["alexnet"],
                    teacher=dict(epochs=12, batch_size=128, learning_rate=0.05, bf16=False),
                    base=dict(epochs=8, batch_size=128, learning_rate=0.05, bf16=False),
                    finetune=dict(epochs=3, batch_size=128, learning_rate=0.01, bf16=False),
                    sr_networks=["espcn"], sr_steps=300),
        # One GPU, one short command (goal: the whole notebook in 4 minutes on an H200): one-cycle schedules, label
        # smoothing, bf16. Every network on CIFAR-10 at 8x8 and 16x16 over 3 seeds; the second start (from the LR
        # baseline) and the lambda sweep for ResNet-18 only; Fashion-MNIST (standing in for SVHN, which is not to
        # be had offline) for ResNet-18. What these cuts cost is said in the notebook.
        "quick": dict(starts={"cifar10": {"alexnet": ["teacher"], "vgg16": ["teacher"],
                                          "resnet18": ["teacher", "baseline"]},
                              "fashion-mnist": {"resnet18": ["teacher"]}}, train_limit={}, table2_arch="resnet18",
                      table2_seeds=[0, 1, 2],
                      factors=[4, 2], seeds=[0, 1, 2], lam=2.0, lambdas=[0.5, 1.0, 2.0, 5.0], sweep_archs=["resnet18"],
                      teacher=dict(epochs=12), base=dict(epochs=5), finetune=dict(epochs=2, learning_rate=0.05),
                      sr_networks=["espcn", "vdsr"], sr_steps=1500),
        # The paper: SGD, momentum 0.9, weight decay 5e-4, batch 128, 100 epochs, crop and flip; both starts
        # everywhere, the whole lambda sweep for every network.
        "paper": dict(starts={name: {arch: ["teacher", "baseline"] for arch in ("alexnet", "vgg16", "resnet18")}
                              for name in ("cifar10", "svhn")}, train_limit={}, table2_arch="resnet18",
                      table2_seeds=[0, 1, 2],
                      factors=[4, 2], seeds=[0, 1, 2], lam=2.0, lambdas=[0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0],
                      sweep_archs=["alexnet", "vgg16", "resnet18"],
                      teacher=dict(epochs=100, batch_size=128, learning_rate=0.1, schedule="step", label_smoothing=0.0,
                                   bf16=False),
                      base=dict(epochs=100, batch_size=128, learning_rate=0.1, schedule="step", label_smoothing=0.0,
                                bf16=False),
                      finetune=dict(epochs=100, batch_size=128, learning_rate=0.01, schedule="step",
                                    label_smoothing=0.0, bf16=False),
                      sr_networks=["espcn", "vdsr"], sr_steps=20000),
    },
    "05_dog_sr_sift": {
        # Tiny networks, a few steps on the bundled photos: every code path runs, no number means anything.
        "smoke": dict(scales=[2], cascade_check=[dict(name="samples", stop=2, max_side=128)],
                      train=[dict(name="samples", stop=3, max_side=96)],
                      test={"samples": dict(name="samples", start=3, stop=5, max_side=96)},
                      graf=False, warped=[dict(name="samples", start=5, stop=7, max_side=128)],
                      strength=0.1, spectrum=dict(name="samples", stop=4, max_side=128),
                      fit=dict(steps=3, batch_size=4, learning_rate=2e-4, lr_patch=16, blocks1=[1, 1, 1, 1],
                               blocks2=[1, 1, 1, 1, 1], edsr_blocks=1, width=16),
                      ratio=0.8, tol=3.0, max_keypoints=None, speed=dict(size=[32, 32], batch=2)),
        # A 2-core CPU, first sizing (its own issue refines it): scale x2; width 32 and two blocks per level network
        # (EDSR baseline: 4 blocks), 150 steps of 16 patches for every method; Urban100 photos at 512 px; graf and
        # 3 warped B100 pairs. ``max_keypoints``: each image keeps its 2,000 strongest keypoints. Real photos give a
        # few hundred here (graf img1: 134), but a level network trained this briefly can predict noisy DoGs with
        # 250,000 extrema, which take 40 s an image to describe: matching had not finished in 13 minutes.
        "cpu": dict(scales=[2], cascade_check=[dict(name="set14")],
                    train=[dict(name="t91"), dict(name="b100", stop=20)],
                    test={"Set5": dict(name="set5"), "Set14": dict(name="set14"),
                          "Urban100 (20)": dict(name="urban100", max_side=512)},
                    graf=True, warped=[dict(name="b100", start=70, stop=73)],
                    strength=0.15, spectrum=dict(name="urban100", max_side=640),
                    fit=dict(steps=150, batch_size=16, learning_rate=2e-4, lr_patch=32, blocks1=[2, 2, 2, 2],
                             blocks2=[2, 2, 2, 2, 2], edsr_blocks=4, width=32),
                    ratio=0.8, tol=3.0, max_keypoints=2000, speed=dict(size=[128, 128], batch=4)),
        # One GPU, one short command (goal: 3 minutes on an H200): T91 and 70 B100 photos train; Set5, Set14 and
        # the Urban100 subset test; graf and warped copies of Urban100 and 15 more B100 photos give the matching
        # pairs. The level networks are bound by kernel launches, not FLOPs, so each step takes a batch of 64
        # and there are fewer of them: 1,200 steps of 64 patches for every method (the same budget for all).
        "quick": dict(scales=[2, 4], cascade_check=[dict(name="set14")],
                      train=[dict(name="t91"), dict(name="b100", stop=70)],
                      test={"Set5": dict(name="set5"), "Set14": dict(name="set14"),
                            "Urban100 (20)": dict(name="urban100")},
                      graf=True, warped=[dict(name="urban100", max_side=640), dict(name="b100", start=70, stop=85)],
                      strength=0.15, spectrum=dict(name="urban100", max_side=640),
                      fit=dict(steps=1200, batch_size=64, learning_rate=2e-4, lr_patch=32, blocks1=[16, 12, 10, 8],
                               blocks2=[16, 12, 10, 8, 6], edsr_blocks=16, width=64),
                      ratio=0.8, tol=3.0, max_keypoints=None, speed=dict(size=[128, 128], batch=16)),
        # The paper: DIV2K's 800 training photos, 32x32 LR patches without overlap (about 12 GB of
        # patches at x2, 11 GB at x4), the paper's block counts.
        "paper": dict(scales=[2, 4], cascade_check=[dict(name="set14")],
                      train=[dict(name="div2k", max_side=1020)],
                      test={"Set5": dict(name="set5"), "Set14": dict(name="set14"),
                            "Urban100 (20)": dict(name="urban100")},
                      graf=True, warped=[dict(name="urban100", max_side=640), dict(name="b100")],
                      strength=0.15, spectrum=dict(name="urban100", max_side=640),
                      fit=dict(steps=50000, batch_size=16, learning_rate=1e-4, lr_patch=32, stride=32,
                               blocks1=[16, 12, 10, 8], blocks2=[16, 12, 10, 8, 6], edsr_blocks=16, width=64),
                      ratio=0.8, tol=3.0, max_keypoints=None, speed=dict(size=[128, 128], batch=16)),
    },
}


def cuts(notebook: str, profile: str, against: str = "quick") -> "pd.DataFrame":
    """The settings in which ``profile`` differs from ``against`` for ``notebook``: one row per setting, the two
    values side by side (what a ``cpu`` run gives up against ``quick``; its notebook says what each costs).

    Raises:
        ValueError: an unknown notebook or profile.
    """
    import pandas as pd

    if notebook not in SETTINGS:
        raise ValueError(f"unknown notebook {notebook!r}; known: {sorted(SETTINGS)}")
    mine, theirs = (SETTINGS[notebook][resolve_profile(p)] for p in (profile, against))
    rows = {key: {profile: repr(mine.get(key, "-")), against: repr(theirs.get(key, "-"))}
            for key in dict.fromkeys([*mine, *theirs]) if mine.get(key) != theirs.get(key)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=[profile, against]).rename_axis("setting")


def resolve_profile(profile: str | None = None) -> str:
    """``profile`` if given, else ``$LRLIB_PROFILE``, else ``"quick"``; checked against :data:`PROFILES`.

    Raises:
        ValueError: a name that is not one of :data:`PROFILES`.
    """
    name = profile or os.environ.get("LRLIB_PROFILE") or "quick"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {PROFILES} "
                         f"(set by the notebook parameter or $LRLIB_PROFILE)")
    return name


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA).

    Raises:
        ValueError: ``seed`` not an int in [0, 2**32) (NumPy's range).
    """
    if check_int("seed", seed, 0) >= 2**32:
        raise ValueError(f"seed must be below 2**32 (NumPy's range); got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Run:
    """What a notebook needs to know about its run; ``run.<setting>`` reads ``run.settings["<setting>"]``.

    Raises:
        AttributeError: a setting the profile does not have; the message lists the close names and all known ones.
    """

    notebook: str
    profile: str
    seed: int
    device: torch.device
    settings: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)

    def __getattr__(self, key: str) -> Any:  # run.factors instead of run.settings["factors"]
        try:
            return self.__dict__["settings"][key]
        except KeyError:
            known = sorted(self.__dict__.get("settings", {}))
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise AttributeError(f"profile {self.profile!r} of {self.notebook} has no setting {key!r}; {hint}"
                                 f"known settings: {known}") from None

    def wall_time(self) -> float:
        """Seconds since :func:`setup`."""
        return time.perf_counter() - self.started

    def summary(self) -> str:
        """One line that is the same on every machine (nbval checks it): notebook, profile, seed."""
        return f"{self.notebook}: profile={self.profile} seed={self.seed}"

    def where(self) -> str:
        """Where this run runs, for its set-up line: device, numeric path and commit
        (``"AMD EPYC, 2 cores (cpu-fp32), commit 1a2b3c4"``)."""
        return f"{describe(self.device)} ({numerics(self.device)}), commit {git_commit()}"

    def cache(self) -> RunCache:
        """This notebook's cache of finished trainings under this profile and this device's numerics
        (``<cache>/runs/<NN>-<profile>/``), so a ``cpu`` run is never served a ``quick`` result, nor float32 for bf16."""
        return RunCache.named(f"{self.notebook[:2]}-{self.profile}", numerics(self.device))


def setup(notebook: str, profile: str | None = None, seed: int = 0, device: str | None = None) -> Run:
    """Resolve the profile, seed everything, pick the device; every notebook's first call.

    Args:
        notebook: key of :data:`SETTINGS`, e.g. ``"01_degradation"``.
        profile: ``smoke``, ``quick``, ``paper`` or None (then ``$LRLIB_PROFILE``, else ``quick``).
        device: None picks CUDA when available; the smoke profile always runs on the CPU.

    Raises:
        ValueError: an unknown notebook or profile, a bad seed (see :func:`seed_everything`), a device that torch
            does not know or that this machine lacks (e.g. ``"cuda"`` without a GPU).
    """
    if not isinstance(notebook, str) or notebook not in SETTINGS:
        raise ValueError(f"unknown notebook {notebook!r}; known: {sorted(SETTINGS)}")
    name = resolve_profile(profile)
    if device is None:
        device = "cuda" if torch.cuda.is_available() and name != "smoke" else "cpu"
    device = as_device(device)
    seed_everything(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Run(notebook, name, seed, device, dict(SETTINGS[notebook][name]))
