"""Deep feature distillation (DFD; Zhu et al., ICASSP 2019), notebook 04: an LR student learns to classify
while its last feature layer imitates a frozen HR teacher's.

The method is :func:`dfd_loss` and :class:`DistillationLoss` (one student step, for the generic trainer
:func:`lrlib.train.train_classifier`). The experiments: :func:`train_teacher` and :func:`dfd_cell` (one
Table 1 cell over several seeds, with the LR baseline and a lambda = 0 control), :func:`sr_rows`
(Table 2's SR-then-classify rows), and the tables and findings. Every finished training is cached in a
:class:`~lrlib.results.RunCache` under a key that holds everything its result depends on, so an
interrupted notebook resumes and a changed setting never meets a stale result.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats

from ..checks import check_number
from ..data import ImageSet, load
from ..degrade import DEGRADE_VERSION, low_resolution_uint8
from ..models import Classifier, build_model
from ..papers import DFD_TABLE1, DFD_TABLE2
from ..results import RunCache, fingerprint
from ..sr import SR_VERSION, build_sr, super_resolve, train_sr, upsample
from ..train import TRAINER_VERSION, TrainConfig, evaluate, train_classifier

__all__ = ["VERSION", "INITS", "TRAIN_SIZES", "CURVE_IMAGES", "dfd_loss", "student_step",
           "DistillationLoss", "Teacher", "data_key", "classification_data", "factors_of", "cells", "plan",
           "train_teacher", "dfd_cell", "sr_rows", "table1_frame", "findings"]

VERSION = 3
"""Bumped whenever this module's training code changes; it is part of every cache key here."""

INITS = ("teacher", "baseline")

SR_BATCH = 64
"""Patches per step of Table 2's SR networks (:func:`lrlib.sr.train_sr`'s batch)."""

CURVE_IMAGES = 2000
"""Test images on which each LR baseline and teacher is evaluated after every epoch: its learning curve, which shows
whether the schedule was long enough (a few seconds a training on a CPU; the final accuracy uses every test image)."""

TRAIN_SIZES = {"cifar10": 50_000, "fashion-mnist": 60_000, "svhn": 73_257}
"""Training images per data set, for :func:`plan` before anything is loaded."""


def dfd_loss(logits: torch.Tensor, labels: torch.Tensor, f_student: torch.Tensor, f_teacher: torch.Tensor,
             lam: float, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """``CE + lam * 0.5 * ||f_s(I_lr) - f_t(I_hr)||^2``, each term averaged over the batch (paper Eq. 4).

    Args:
        logits: (N, classes) student logits on the LR images; labels: (N,) int64.
        f_student: (N, D) student features (input of its final classifier) on the LR images.
        f_teacher: (N, D) teacher features on the matching HR images; no gradient flows into them.
        lam: the weight lambda >= 0 (0 gives the LR baseline's plain cross-entropy; checked by
            :class:`DistillationLoss`, the public way in).
        label_smoothing: passed to the cross-entropy (0 in the paper).

    Returns:
        A scalar tensor (float32).
    """
    ce = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    distance = (f_student.float() - f_teacher.detach().float()).pow(2).sum(dim=1).mean()
    return ce + 0.5 * lam * distance


def student_step(student: Classifier, teacher: Classifier, optimizer: torch.optim.Optimizer, x_lr: torch.Tensor,
                 x_hr: torch.Tensor, labels: torch.Tensor, lam: float) -> torch.Tensor:
    """One DFD training step in plain PyTorch, as a reader of the paper would write it: the LR batch goes
    through the student, the HR batch of the same crops through the frozen teacher, then cross-entropy plus
    the feature term, backward and one optimiser step. Returns the step's loss.

    The notebook runs :func:`lrlib.train.train_classifier` with :class:`DistillationLoss` instead (the same
    step, plus augmentation, the schedule and bf16 where fast); a test shows both end at the same weights.

    Args:
        x_lr, x_hr: (N, 3, 32, 32) float images in [0, 1], the LR copy and its HR original; labels: (N,) int64.
    """
    logits, f_student = student(x_lr, features=True)
    with torch.no_grad():
        _, f_teacher = teacher(x_hr, features=True)
    loss = dfd_loss(logits, labels, f_student, f_teacher, lam)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


class DistillationLoss:
    """One student step of DFD, as a loss for :func:`lrlib.train.train_classifier` (``paired`` = the HR images).

    The trainer crops and flips each LR image and its HR original together, so the student sees the LR
    copy of the very view whose HR version the frozen teacher sees.

    Raises:
        ValueError: ``lam`` not a finite number >= 0; at the first step, student and teacher features of
            different sizes (DFD needs the same feature layer in both).
    """

    def __init__(self, teacher: Classifier, lam: float, *, label_smoothing: float = 0.0):
        check_number("lam", lam)
        self.teacher = teacher.eval().requires_grad_(False).to(memory_format=torch.channels_last)
        self.lam, self.label_smoothing = lam, label_smoothing

    def __call__(self, student: torch.nn.Module, x_lr: torch.Tensor, labels: torch.Tensor,
                 x_hr: torch.Tensor | None) -> torch.Tensor:
        if x_hr is None:
            raise ValueError("DistillationLoss needs the HR images: train_classifier(..., paired=hr_images)")
        logits, f_student = student(x_lr, features=True)
        with torch.no_grad():
            _, f_teacher = self.teacher(x_hr, features=True)
        if f_student.shape != f_teacher.shape:
            raise ValueError(f"student and teacher features differ in shape: {tuple(f_student.shape)} "
                             f"vs {tuple(f_teacher.shape)}; DFD needs the same feature layer size")
        return dfd_loss(logits, labels, f_student, f_teacher, self.lam, label_smoothing=self.label_smoothing)


@dataclass
class Teacher:
    """A trained HR teacher: the frozen model (eval mode), its HR test accuracy, its cache key and its learning
    curve (accuracy on the first :data:`CURVE_IMAGES` test images after every epoch)."""

    model: Classifier
    accuracy: float
    key: dict
    curve: list[float]


def data_key(name: str, train: torch.Tensor, test: torch.Tensor) -> dict:
    """What identifies a data set in a cache key: its name and the fingerprints of its train and test images
    (so the JPEG copy and the pickles of CIFAR-10, or two subsets, never share a cached training). The labels and
    the class count join every key where they are used (:func:`_labels`)."""
    return {"name": name, "train": fingerprint(train), "test": fingerprint(test)}


def _labels(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
            num_classes: int) -> dict:
    """The labels' part of a cache key: the train and test labels' fingerprints and the class count (the same
    images under other labels, or another head, must never meet a cached training)."""
    return {"train_labels": fingerprint(train[1]), "test_labels": fingerprint(test[1]), "num_classes": num_classes}


def classification_data(name: str, device: str | torch.device, *, limit: int | None = None) -> tuple[ImageSet, ImageSet]:
    """(train, test) image sets of a labelled data set, 32x32, on ``device``; ``limit`` keeps a class-balanced
    subset of the training images (:func:`lrlib.data.load`; None: all).

    ``samples`` (the smoke profile's photos) has no split: the same images serve as both, which
    only checks that the code runs.
    """
    if name == "samples":
        s = load("samples", size=32, device=device)
        return s, s
    return load(name, "train", limit=limit, device=device), load(name, "test", device=device)


def _trained(arch: str, num_classes: int, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig,
             test: tuple[torch.Tensor, torch.Tensor], *, start: Classifier | None = None, curve: bool = False,
             **train_kwargs) -> tuple[Classifier, dict]:
    """A model trained on (images, labels), fresh or fine-tuned from a copy of ``start``, and its record; with
    ``curve``, the record's ``curve`` holds the accuracy on the first :data:`CURVE_IMAGES` test images after every
    epoch (the final ``accuracy`` uses them all)."""
    if start is None:
        model = build_model(arch, num_classes).to(images.device)
    else:
        model = copy.deepcopy(start).train().requires_grad_(True)
    some = (test[0][:CURVE_IMAGES], test[1][:CURVE_IMAGES]) if curve else None
    history = train_classifier(model, images, labels, config, test=some, progress=False, **train_kwargs)
    record = {"accuracy": evaluate(model, *test), "loss": history.loss}
    return model, {**record, "curve": history.test_accuracy} if curve else record


def factors_of(settings: dict, name: str, arch: str) -> list[int]:
    """The LR factors at which ``arch`` runs on data set ``name``: the profile's ``factors``, unless its optional
    ``factors_for`` (``"<data set>/<network>"`` -> factors) names fewer for that pair."""
    return settings.get("factors_for", {}).get(f"{name}/{arch}", settings["factors"])


def cells(settings: dict) -> list[tuple[str, str, int, str]]:
    """The Table 1 cells a profile of notebook 04 asks for, in the notebook's order: (data set, network,
    factor, student start), from its ``starts`` (data set -> network -> starts) and :func:`factors_of`."""
    for name, archs in settings["starts"].items():
        for arch, inits in archs.items():
            if not inits or not set(inits) <= set(INITS):
                raise ValueError(f"starts[{name!r}][{arch!r}] must be a non-empty list of {INITS}; got {inits!r}")
    return [(name, arch, f, init) for name, archs in settings["starts"].items() for arch, inits in archs.items()
            for f in factors_of(settings, name, arch) for init in inits]


def plan(settings: dict, sizes: dict[str, int] | None = None) -> pd.DataFrame:
    """The work a profile of notebook 04 asks for, per network, so a reader can predict its time on a GPU
    (divide by the network's training images per second).

    Counts what is trained once, as the run cache does: each baseline once for both starts, one control per
    seed and start whatever lambda, the sweep's lambda = ``lam`` point from Table 1.

    Args:
        settings: the profile's settings (:data:`lrlib.profiles.SETTINGS` ``["04_distillation"][profile]``).
        sizes: training images per data set (default :data:`TRAIN_SIZES`).

    Returns:
        One row per network (and per SR network of Table 2): trainings, epochs in all, training image
        passes and teacher forward passes (millions).
    """
    sizes = {**TRAIN_SIZES, **(sizes or {})}
    seeds, epochs = len(settings["seeds"]), {k: settings[k].get("epochs", 20) for k in ("teacher", "base", "finetune")}
    work: dict[str, list[float]] = {}

    def add(arch: str, trainings: int, n_epochs: int, images: int, teacher_passes: int = 0) -> None:
        row = work.setdefault(arch, [0, 0, 0.0, 0.0])
        row[0] += trainings
        row[1] += trainings * n_epochs
        row[2] += trainings * n_epochs * images / 1e6
        row[3] += trainings * teacher_passes * images / 1e6

    for name, archs in settings["starts"].items():
        for arch, inits in archs.items():
            n, f, ft = sizes[name], len(factors_of(settings, name, arch)), epochs["finetune"]
            add(arch, 1, epochs["teacher"], n)
            add(arch, f * seeds, epochs["base"], n)
            add(arch, f * seeds * len(inits), ft, n, teacher_passes=ft)  # DFD: the teacher sees every HR view
            add(arch, f * seeds * len(inits), ft, n)                     # its lambda = 0 control
    first = next(iter(settings["starts"]))
    for arch in settings["sweep_archs"]:
        new = len([lam for lam in settings["lambdas"] if lam != settings["lam"]])
        add(arch, new, epochs["finetune"], sizes[first], teacher_passes=epochs["finetune"])
    sr_seeds = len(settings["table2_seeds"])
    for sr_name in settings["sr_networks"]:
        add(settings["table2_arch"], sr_seeds, epochs["base"], sizes[first])  # the classifier on the SR images
        work[f"{sr_name} (SR, 8x8 -> 16x16)"] = [sr_seeds, 0, sr_seeds * settings["sr_steps"] * SR_BATCH / 1e6, 0.0]
    frame = pd.DataFrame(work, index=["trainings", "epochs", "training images (M)", "teacher passes (M)"]).T
    return frame.astype({"trainings": int, "epochs": int}).round(2)


def train_teacher(arch: str, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
                  config: TrainConfig, *, data: dict, num_classes: int = 10,
                  cache: RunCache | None = None) -> Teacher:
    """Train (or load from ``cache``) the HR teacher on the device of ``train``'s images.

    Args:
        train, test: (images uint8 (N, 3, 32, 32), labels (N,)).
        data: the data set's :func:`data_key`.
    """
    key = {"arch": arch, "data": data, "labels": _labels(train, test, num_classes), "factor": 1, "method": "teacher",
           "config": asdict(config),
           "trainer": TRAINER_VERSION, "version": VERSION}
    record, model = (cache or RunCache(None)).train_or_load(
        key, lambda: _trained(arch, num_classes, *train, config, test, curve=True),
        build=lambda: build_model(arch, num_classes).to(train[0].device))
    return Teacher(model.eval().requires_grad_(False), record["accuracy"], key, record["curve"])


def _summary(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0


def _welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test (unpaired), or None where it is undefined: fewer than two values in
    a group, or no spread in either (equal accuracies over seeds happen on tiny test sets)."""
    if min(len(a), len(b)) < 2 or max(max(a) - min(a), max(b) - min(b)) == 0:
        return None
    with warnings.catch_warnings():  # one constant group is fine (variance 0); scipy warns about it anyway
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        p = stats.ttest_ind(a, b, equal_var=False).pvalue
    return None if p != p else float(p)


def _paired_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of the paired t-test of ``a`` against ``b`` (run i of both shares seed i), or None
    where it is undefined: fewer than two pairs, or differences with no spread (below 1e-9: float rounding)."""
    if len(a) != len(b):
        raise ValueError(f"a paired test needs as many values in a ({len(a)}) as in b ({len(b)})")
    diffs = [x - y for x, y in zip(a, b)]
    if len(diffs) < 2 or max(diffs) - min(diffs) < 1e-9:
        return None
    return float(stats.ttest_rel(a, b).pvalue)


def dfd_cell(arch: str, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
             train_lr: torch.Tensor, test_lr: torch.Tensor, *, data: dict, factor: int, teacher: Teacher,
             base: TrainConfig, finetune: TrainConfig, seeds: Sequence[int], lam: float, init: str,
             num_classes: int = 10, cache: RunCache | None = None) -> dict:
    """One cell of Table 1: the LR baseline, DFD and its lambda = 0 control, each over ``seeds``.

    * baseline: ``arch`` trained from scratch on the LR images with cross-entropy (``base`` schedule);
      its weights are cached, so the other start finds it and it is trained once;
    * DFD: a student initialised from the HR ``teacher`` or from that seed's LR baseline (``init``),
      fine-tuned on LR images with :class:`DistillationLoss` (``finetune`` schedule, weight ``lam``);
    * control: the same start and fine-tuning with ``lam = 0``. DFD and its control differ only in the
      feature term, so they are the fair comparison; DFD against the baseline (the paper's) also
      compares different training budgets.

    Args:
        train, test: HR (images uint8 (N, 3, 32, 32), labels) on the training device.
        train_lr, test_lr: their LR copies (same order), e.g. from :func:`lrlib.degrade.low_resolution_uint8`.
        data: the data set's :func:`data_key`; the LR images' fingerprints join it in every key.

    Returns:
        dict with the per-seed accuracies ``baseline``, ``dfd``, ``control`` (seed order), the baselines' learning
        curves ``baseline_curves`` (one list per seed, see :data:`CURVE_IMAGES`), their
        ``*_mean`` and ``*_std``, ``p_control`` (paired t-test of DFD against the control, the seeds
        pairing the runs) and ``p_baseline`` (Welch's t-test of DFD against the baseline); each p is
        None where undefined (a single seed, or no spread).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    check_number("lam", lam)
    cache = cache or RunCache(None)
    common = {"arch": arch, "labels": _labels(train, test, num_classes),
              "data": {**data, "lr_train": fingerprint(train_lr), "lr_test": fingerprint(test_lr)},
              "factor": factor, "trainer": TRAINER_VERSION, "version": VERSION}
    lr_test = (test_lr, test[1])
    out: dict[str, list[float]] = {"baseline": [], "dfd": [], "control": []}
    curves: list[list[float]] = []
    for seed in seeds:
        base_cfg, ft_cfg = replace(base, seed=seed), replace(finetune, seed=seed)
        base_key = {**common, "method": "baseline", "seed": seed, "config": asdict(base_cfg)}
        record, baseline = cache.train_or_load(
            base_key, lambda: _trained(arch, num_classes, train_lr, train[1], base_cfg, lr_test, curve=True),
            build=lambda: build_model(arch, num_classes).to(train_lr.device))
        out["baseline"].append(record["accuracy"])
        curves.append(record["curve"])
        start, start_key = (teacher.model, teacher.key) if init == "teacher" else (baseline, base_key)
        for method, weight in (("dfd", lam), ("control", 0.0)):
            key = {**common, "method": method, "lam": weight, "init": init, "start": start_key, "seed": seed,
                   "config": asdict(ft_cfg), "teacher": teacher.key if weight > 0 else None}
            # the control's loss is plain cross-entropy (dfd_loss at lam = 0), so it needs no teacher pass
            teach = dict(loss=DistillationLoss(teacher.model, weight, label_smoothing=ft_cfg.label_smoothing),
                           paired=train[0]) if weight > 0 else {}
            record, _ = cache.train_or_load(key, lambda: _trained(
                arch, num_classes, train_lr, train[1], ft_cfg, lr_test, start=start, **teach))
            out[method].append(record["accuracy"])
    summary: dict = {**out, "baseline_curves": curves}
    for k, v in out.items():
        summary[f"{k}_mean"], summary[f"{k}_std"] = _summary(v)
    summary["p_control"] = _paired_p(out["dfd"], out["control"])
    summary["p_baseline"] = _welch_p(out["dfd"], out["baseline"])
    return summary


def _sr_then_classify(sr_name: str, arch: str, train: tuple[torch.Tensor, torch.Tensor],
                      test: tuple[torch.Tensor, torch.Tensor], config: TrainConfig, sr_steps: int,
                      num_classes: int) -> tuple[None, dict]:
    """One seed of a Table 2 SR row (``config.seed``): an SR network learns 8x8 -> 16x16 on the training
    images, then a classifier trains and tests on its outputs up-sampled to 32x32."""
    torch.manual_seed(config.seed)
    sr = build_sr(sr_name, 2).to(train[0].device)
    losses = train_sr(sr, low_resolution_uint8(train[0], 4, keep_size=False),
                      low_resolution_uint8(train[0], 2, keep_size=False), steps=sr_steps, batch_size=SR_BATCH,
                      seed=config.seed, progress=False)

    def restore(images: torch.Tensor) -> torch.Tensor:
        sixteen = super_resolve(sr, low_resolution_uint8(images, 4, keep_size=False)).float() / 255
        return (upsample(sixteen, 2) * 255).round().to(torch.uint8)

    model = build_model(arch, num_classes).to(train[0].device)
    train_classifier(model, restore(train[0]), train[1], config, progress=False)
    return None, {"accuracy": evaluate(model, restore(test[0]), test[1]), "sr_loss": losses[-10:]}


def sr_rows(sr_networks: Sequence[str], arch: str, train: tuple[torch.Tensor, torch.Tensor],
            test: tuple[torch.Tensor, torch.Tensor], config: TrainConfig, *, data: dict, sr_steps: int,
            seeds: Sequence[int], num_classes: int = 10, cache: RunCache | None = None) -> dict[str, list[float]]:
    """Table 2's SR rows: for each SR network and seed, super-resolve 8x8 images to 16x16 (the network
    trained on the training images, :func:`lrlib.sr.train_sr`), then train and test ``arch`` on them.

    Returns:
        SR network name -> test accuracies, one per seed (the seeds of the Table 1 rows beside them).
    """
    cache = cache or RunCache(None)
    out: dict[str, list[float]] = {}
    for sr_name in sr_networks:
        out[sr_name] = []
        for seed in seeds:
            cfg = replace(config, seed=seed)
            key = {"arch": arch, "data": data, "labels": _labels(train, test, num_classes), "factor": 4,
                   "method": f"sr-{sr_name}", "sr_steps": sr_steps, "seed": seed, "config": asdict(cfg), "trainer": TRAINER_VERSION, "sr": SR_VERSION,
                   "degrade": DEGRADE_VERSION, "version": VERSION}
            record, _ = cache.train_or_load(
                key, lambda: _sr_then_classify(sr_name, arch, train, test, cfg, sr_steps, num_classes))
            out[sr_name].append(record["accuracy"])
    return out


def _paper_cell(row: dict) -> dict[str, float] | None:
    """The paper's Table 1 entry for a row of :func:`dfd_cell` results (None for data sets it did not run)."""
    size = 32 // row["factor"]
    return DFD_TABLE1.get((row["arch"], row["dataset"], f"{size}x{size}"))


def _points(cell: dict, a: str, b: str) -> float:
    """Mean accuracy of ``a`` minus that of ``b`` in one Table 1 cell, in percentage points."""
    return 100 * (cell[f"{a}_mean"] - cell[f"{b}_mean"])


def _p(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def table1_frame(rows: list[dict]) -> pd.DataFrame:
    """Table 1 beside the paper: one row per (data set, network, LR size, initialisation).

    Args:
        rows: dicts with ``dataset``, ``arch``, ``factor`` (4 -> 8x8, 2 -> 16x16 on 32x32 images),
            ``init`` and ``cell`` (a :func:`dfd_cell` result).

    Returns:
        Accuracies in % (mean +- std over seeds); the headline, DFD minus its lambda = 0 control with the
        paired p; the paper's comparison, DFD minus the baseline with Welch's p; and the paper's baseline
        and DFD where the paper ran that data set (stand-ins such as Fashion-MNIST get none).
    """
    out = []
    for r in rows:
        c, size = r["cell"], f"{32 // r['factor']}x{32 // r['factor']}"
        paper = _paper_cell(r) or {}
        out.append({
            "data set": r["dataset"], "network": r["arch"], "LR size": size, "init": r["init"],
            "seeds": len(c["dfd"]),
            "baseline": f"{100 * c['baseline_mean']:.2f} ± {100 * c['baseline_std']:.2f}",
            "control (lambda=0)": f"{100 * c['control_mean']:.2f} ± {100 * c['control_std']:.2f}",
            "DFD": f"{100 * c['dfd_mean']:.2f} ± {100 * c['dfd_std']:.2f}",
            "DFD - control": round(_points(c, "dfd", "control"), 2), "p (paired)": _p(c["p_control"]),
            "DFD - baseline": round(_points(c, "dfd", "baseline"), 2), "p (Welch)": _p(c["p_baseline"]),
            "paper baseline": paper.get("baseline"), "paper DFD": paper.get("dfd"),
            "paper gain": round(paper["dfd"] - paper["baseline"], 2) if paper else None,
        })
    return pd.DataFrame(out)


def _tally(rows: list[dict], a: str, b: str, p: str, alpha: float) -> str:
    """"better ... in k of n cells, worse in m, within the noise in l; mean difference +x points"."""
    beyond = [r for r in rows if r["cell"][p] is not None and r["cell"][p] < alpha]
    better = sum(_points(r["cell"], a, b) > 0 for r in beyond)
    mean = sum(_points(r["cell"], a, b) for r in rows) / len(rows)
    return (f"better beyond the noise (p < {alpha}) in {better} of {len(rows)} cells, worse in "
            f"{len(beyond) - better}, within the noise in {len(rows) - len(beyond)}; mean difference "
            f"{mean:+.2f} points")


def findings(rows: list[dict], hr_accuracy: dict[tuple[str, str], float], *, alpha: float = 0.05) -> str:
    """What this run's Table 1 says, in plain words, as a Markdown bullet list.

    Every sentence is computed from ``rows`` (as for :func:`table1_frame`) and ``hr_accuracy``
    ((data set, network) -> top-1 in [0, 1]), so the notebook's conclusions follow its numbers:

    * the headline: DFD against its lambda = 0 control (same start, same schedule), paired over seeds;
    * per initialisation, DFD against the LR baseline (the paper's comparison; the budgets differ);
    * which initialisation's gains over the baseline lie closer to the paper's (root mean square of
      ours - paper's gain over the cells the paper ran);
    * our LR baselines and the ResNet-18 CIFAR-10 teacher against the paper's.

    Each p-value tests one cell at ``alpha`` with no correction for the number of cells (stated in the
    text), since 3 seeds per arm leave corrected tests almost no power.
    """
    if not rows:
        raise ValueError("findings needs at least one Table 1 row; got an empty list")
    lines = [f"**DFD against its lambda = 0 control** (the headline: same start, same schedule, only the feature "
             f"term differs; paired t-test over the seeds): {_tally(rows, 'dfd', 'control', 'p_control', alpha)}. "
             f"{len(rows)} cells were tested, each on its own, with no correction for multiple comparisons."]
    fit = {}
    for init in dict.fromkeys(r["init"] for r in rows):
        part = [r for r in rows if r["init"] == init]
        lines.append(f"**DFD from the {init} against the LR baseline** (the paper's comparison; DFD trains longer, "
                     f"so the budgets differ; Welch's t-test): {_tally(part, 'dfd', 'baseline', 'p_baseline', alpha)}.")
        diffs = [_points(r["cell"], "dfd", "baseline") - (p["dfd"] - p["baseline"]) for r in part
                 if (p := _paper_cell(r))]
        if diffs:
            fit[init] = (sum(d * d for d in diffs) / len(diffs)) ** 0.5
    if fit:
        closest = min(fit, key=fit.get)
        lines.append(f"**Which start matches the paper:** our gains over the baseline from the {closest} lie "
                     "closest to the paper's (RMS difference " + ", ".join(f"{k} {v:.2f}" for k, v in fit.items())
                     + " points).")
    gap = [100 * r["cell"]["baseline_mean"] - p["baseline"] for r in rows
           if r["init"] == rows[0]["init"] and (p := _paper_cell(r))]
    if gap:
        lines.append(f"**LR baselines:** ours minus the paper's, mean {sum(gap) / len(gap):+.2f} points over "
                     f"{len(gap)} cells (from {min(gap):+.2f} to {max(gap):+.2f}).")
    for r in rows:  # the headline cell on a narrower ResNet-18 (the cpu profile's), beside the paper's full one
        if r["arch"] != "resnet18" and r["arch"].startswith("resnet18") and r["dataset"] == "cifar10":
            c, side = r["cell"], 32 // r["factor"]
            paper = DFD_TABLE1[("resnet18", "cifar10", f"{side}x{side}")]
            lines.append(f"**The headline cell on a narrower network** ({r['arch']}, CIFAR-10 {side}x{side}, from "
                         f"the {r['init']}): baseline {100 * c['baseline_mean']:.2f}, control "
                         f"{100 * c['control_mean']:.2f}, DFD {100 * c['dfd_mean']:.2f} (DFD - control "
                         f"{_points(c, 'dfd', 'control'):+.2f} points, paired p {_p(c['p_control'])}); the paper's "
                         f"full ResNet-18: {paper['baseline']:.2f} -> {paper['dfd']:.2f}. Not the same network, data "
                         f"or schedule: compare the gains, not the levels.")
    if ("cifar10", "resnet18") in hr_accuracy:
        lines.append(f"**HR teacher** (ResNet-18, CIFAR-10): {100 * hr_accuracy['cifar10', 'resnet18']:.2f}% "
                     f"against the paper's {DFD_TABLE2['HR-baseline']:.2f}%.")
    return "\n".join(f"- {line}" for line in lines)
