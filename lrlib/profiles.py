"""Run profiles (smoke / quick / paper) and the one set-up call every notebook makes.

* ``smoke``: CPU, seconds, tiny real samples that ship with installed packages (tests).
* ``quick``: one GPU, minutes, real data (the published notebooks).
* ``paper``: the papers' own settings and datasets.

The profile comes from the notebook's ``profile`` parameter, else the environment
variable ``LRLIB_PROFILE``, else ``quick``. Each notebook's settings per profile
live here, in :data:`SETTINGS`, so the notebooks hold no magic numbers.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["PROFILES", "SETTINGS", "Run", "resolve_profile", "seed_everything", "setup"]

PROFILES = ("smoke", "quick", "paper")

FACTORS = [2, 3, 4, 5, 6, 7, 8]  # area ratios 1/4 ... 1/64, FSR paper Fig. 2 and Table 1

SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "01_degradation": {
        "smoke": dict(backbones=["efficientnet_lite0"], factors=FACTORS, input_size=112,
                      small=dict(name="samples", split="all", size=32),
                      photos=[dict(name="samples", split="all", size=128)],
                      tsne_points=40, tsne_factor=4, knn_k=3),
        "quick": dict(backbones=["efficientnet_lite0"], factors=FACTORS, input_size=224,
                      small=dict(name="cifar10", split="test", size=None),
                      photos=[dict(name="b100", split="all", size=256),
                              dict(name="urban100", split="all", size=256)],
                      tsne_points=3000, tsne_factor=4, knn_k=10),
        "paper": dict(backbones=["vgg16", "resnet101"], factors=FACTORS, input_size=224,
                      small=dict(name="cifar10", split="test", size=None),
                      photos=[dict(name="b100", split="all", size=256),
                              dict(name="urban100", split="all", size=256)],
                      tsne_points=5000, tsne_factor=4, knn_k=10),
    },
    "04_distillation": {
        # Short schedules on tiny real photos: every code path runs, no number means anything.
        "smoke": dict(datasets=["samples"], archs=["alexnet", "vgg16", "resnet18"], factors=[4], seeds=[0, 1],
                      inits={"samples": ["teacher", "baseline"]}, lam=2.0, lambdas=[0.1, 1.0, 10.0],
                      teacher=dict(epochs=2, batch_size=8, learning_rate=0.02, bf16=False),
                      base=dict(epochs=2, batch_size=8, learning_rate=0.02, bf16=False),
                      finetune=dict(epochs=1, batch_size=8, learning_rate=0.01, bf16=False),
                      sr_networks=["espcn", "vdsr"], sr_steps=5),
        # One GPU: one-cycle schedules, label smoothing, bf16; Fashion-MNIST stands in for SVHN offline.
        # Fine-tuning dominates the cost (12 cells x 3 seeds x DFD and its control), so it is short, and
        # the second start (from the LR baseline) runs only where the paper has numbers to compare with.
        # Estimated from ResNet-18's measured 52,000 img/s and the networks' FLOPs: about 16 min on one H100.
        "quick": dict(datasets=["cifar10", "fashion-mnist"], archs=["alexnet", "vgg16", "resnet18"],
                      factors=[4, 2], seeds=[0, 1, 2],
                      inits={"cifar10": ["teacher", "baseline"], "fashion-mnist": ["teacher"]}, lam=2.0,
                      lambdas=[0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0],
                      teacher=dict(epochs=40), base=dict(epochs=12), finetune=dict(epochs=5, learning_rate=0.05),
                      sr_networks=["espcn", "vdsr"], sr_steps=3000),
        # The paper: SGD, momentum 0.9, weight decay 5e-4, batch 128, 100 epochs, crop and flip.
        "paper": dict(datasets=["cifar10", "svhn"], archs=["alexnet", "vgg16", "resnet18"], factors=[4, 2],
                      seeds=[0, 1, 2], inits={"cifar10": ["teacher", "baseline"], "svhn": ["teacher", "baseline"]},
                      lam=2.0,
                      lambdas=[0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0],
                      teacher=dict(epochs=100, batch_size=128, learning_rate=0.1, schedule="step", label_smoothing=0.0,
                                   bf16=False),
                      base=dict(epochs=100, batch_size=128, learning_rate=0.1, schedule="step", label_smoothing=0.0,
                                bf16=False),
                      finetune=dict(epochs=100, batch_size=128, learning_rate=0.01, schedule="step", label_smoothing=0.0,
                                    bf16=False),
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
                      ratio=0.8, tol=3.0, speed=dict(size=[32, 32], batch=2)),
        # One GPU: T91 and 70 B100 photos train; Set5, Set14 and the Urban100 subset test; graf and
        # warped copies of Urban100 and the other 30 B100 photos give the matching pairs.
        "quick": dict(scales=[2, 4], cascade_check=[dict(name="set14")],
                      train=[dict(name="t91"), dict(name="b100", stop=70)],
                      test={"Set5": dict(name="set5"), "Set14": dict(name="set14"),
                            "Urban100 (20)": dict(name="urban100")},
                      graf=True, warped=[dict(name="urban100", max_side=640), dict(name="b100", start=70)],
                      strength=0.15, spectrum=dict(name="urban100", max_side=640),
                      fit=dict(steps=4000, batch_size=32, learning_rate=2e-4, lr_patch=32, blocks1=[16, 12, 10, 8],
                               blocks2=[16, 12, 10, 8, 6], edsr_blocks=16, width=64),
                      ratio=0.8, tol=3.0, speed=dict(size=[128, 128], batch=16)),
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
                      ratio=0.8, tol=3.0, speed=dict(size=[128, 128], batch=16)),
    },
}


def resolve_profile(profile: str | None = None) -> str:
    """``profile`` if given, else ``$LRLIB_PROFILE``, else ``"quick"``; checked against :data:`PROFILES`."""
    name = profile or os.environ.get("LRLIB_PROFILE") or "quick"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {PROFILES} "
                         f"(set by the notebook parameter or $LRLIB_PROFILE)")
    return name


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Run:
    """What a notebook needs to know about its run."""

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
            raise AttributeError(f"profile {self.profile!r} of {self.notebook} has no setting {key!r}") from None

    def wall_time(self) -> float:
        """Seconds since :func:`setup`."""
        return time.perf_counter() - self.started

    def summary(self) -> str:
        """One line that is the same on every machine (nbval checks it): notebook, profile, seed."""
        return f"{self.notebook}: profile={self.profile} seed={self.seed}"


def setup(notebook: str, profile: str | None = None, seed: int = 0, device: str | None = None) -> Run:
    """Resolve the profile, seed everything, pick the device; every notebook's first call.

    Args:
        notebook: key of :data:`SETTINGS`, e.g. ``"01_degradation"``.
        profile: ``smoke``, ``quick``, ``paper`` or None (then ``$LRLIB_PROFILE``, else ``quick``).
        device: None picks CUDA when available; the smoke profile always runs on the CPU.
    """
    if notebook not in SETTINGS:
        raise ValueError(f"unknown notebook {notebook!r}; known: {sorted(SETTINGS)}")
    name = resolve_profile(profile)
    if device is None:
        device = "cuda" if torch.cuda.is_available() and name != "smoke" else "cpu"
    seed_everything(seed)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Run(notebook, name, seed, torch.device(device), dict(SETTINGS[notebook][name]))
