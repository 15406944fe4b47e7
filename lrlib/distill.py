"""Deep feature distillation (DFD; Zhu et al., ICASSP 2019): an LR student learns to classify while
its last feature layer imitates a frozen HR teacher's.

:func:`dfd_loss` is the method; :func:`train_teacher` and :func:`dfd_cell` run the experiments of
notebook 04 (one Table 1 cell over several seeds), caching every finished training in a
:class:`RunCache` so that an interrupted notebook resumes where it stopped.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import asdict, replace
from typing import Callable

import torch
import torch.nn.functional as F
import pandas as pd
from scipy import stats

from .data import ImageSet, load
from .degrade import low_resolution
from .models import Classifier, build_model
from .papers import DFD_TABLE1, DFD_TABLE2
from .sr import build_sr, super_resolve, train_sr, upsample
from .results import RunCache
from .train import TrainConfig, evaluate, train_classifier

__all__ = ["dfd_loss", "RunCache", "classification_data", "train_teacher", "dfd_cell", "table1_frame",
           "sr_then_classify", "findings", "INITS"]

INITS = ("teacher", "baseline")


def dfd_loss(logits: torch.Tensor, labels: torch.Tensor, f_student: torch.Tensor, f_teacher: torch.Tensor,
             lam: float, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """``CE + lam * 0.5 * ||f_s(I_lr) - f_t(I_hr)||^2``, each term averaged over the batch (paper Eq. 4).

    Args:
        logits: (N, classes) student logits on the LR images; labels: (N,) int64.
        f_student: (N, D) student features (input of its final classifier) on the LR images.
        f_teacher: (N, D) teacher features on the matching HR images; no gradient flows into them.
        lam: the weight lambda >= 0 (0 gives the LR baseline's plain cross-entropy).
        label_smoothing: passed to the cross-entropy (0 in the paper).

    Returns:
        A scalar tensor (float32).
    """
    if lam < 0:
        raise ValueError(f"lam must be >= 0; got {lam}")
    if f_student.shape != f_teacher.shape:
        raise ValueError(f"student and teacher features differ in shape: {tuple(f_student.shape)} "
                         f"vs {tuple(f_teacher.shape)}; DFD needs the same feature layer size")
    ce = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    sq = (f_student.float() - f_teacher.detach().float()).pow(2).sum(dim=1).mean()
    return ce + 0.5 * lam * sq

def _train_or_load(cache: RunCache, key: dict, build: Callable[[], Classifier], train_kwargs: dict,
                   test: tuple[torch.Tensor, torch.Tensor], keep_weights: bool,
                   device: torch.device) -> tuple[float, Classifier | None]:
    """Accuracy of the run ``key`` (and its model when ``keep_weights``), from the cache or by training."""
    record = cache.get(key)
    if record is not None and (not keep_weights or cache.weights(key) is not None):
        model = None
        if keep_weights:
            model = build().to(device)
            model.load_state_dict(cache.weights(key))
            model.eval()
        return record["accuracy"], model
    model = build().to(device)
    history = train_classifier(model, **train_kwargs, progress=False)
    accuracy = evaluate(model, *test)
    cache.put(key, {"accuracy": accuracy, "seconds": history.seconds, "loss": history.loss},
              model if keep_weights else None)
    return accuracy, model


def train_teacher(arch: str, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
                  config: TrainConfig, *, data_key: str, num_classes: int = 10, device: str | torch.device = "cpu",
                  cache: RunCache | None = None) -> tuple[Classifier, float]:
    """Train (or load from ``cache``) the HR teacher; returns it frozen in eval mode, and its test accuracy."""
    key = {"arch": arch, "data": data_key, "factor": 1, "method": "teacher", "config": asdict(config)}
    accuracy, model = _train_or_load(cache or RunCache(None), key, lambda: build_model(arch, num_classes),
                                     dict(images=train[0], labels=train[1], config=config), test,
                                     keep_weights=True, device=torch.device(device))
    return model.eval().requires_grad_(False), accuracy


def _welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test, or None where it is undefined: fewer than two values in a
    group, or no spread in either (equal accuracies over seeds happen on tiny test sets)."""
    if min(len(a), len(b)) < 2 or max(max(a) - min(a), max(b) - min(b)) == 0:
        return None
    with warnings.catch_warnings():  # one constant group is fine (variance 0); scipy warns about it anyway
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        p = stats.ttest_ind(a, b, equal_var=False).pvalue
    return None if p != p else float(p)


def dfd_cell(arch: str, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
             train_lr: torch.Tensor, test_lr: torch.Tensor, *, data_key: str, factor: int,
             teacher: Classifier, base: TrainConfig, finetune: TrainConfig, seeds: list[int],
             lam: float, init: str, num_classes: int = 10, cache: RunCache | None = None) -> dict:
    """One cell of Table 1: the LR baseline and DFD, each over ``seeds``.

    * baseline: ``arch`` trained from scratch on the LR images with cross-entropy (``base`` schedule);
    * DFD: a student initialised from the HR ``teacher`` or from that seed's LR baseline (``init``),
      fine-tuned on LR images with :func:`dfd_loss` (``finetune`` schedule, weight ``lam``);
    * control: the same fine-tuning with ``lam = 0``, which separates the effect of the
      initialisation from that of the feature loss (not in the paper).

    Args:
        train, test: HR (images uint8 (N, 3, 32, 32), labels) on the training device.
        train_lr, test_lr: their LR copies (same order), e.g. from :func:`lrlib.degrade.low_resolution_uint8`.

    Returns:
        dict with the per-seed accuracies ``baseline``, ``dfd``, ``control``, their means and standard
        deviations, and ``p_value``: Welch's t-test of DFD against the baseline (two-sided; None where
        undefined: a single seed, or no spread in either group).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    cache = cache or RunCache(None)
    device = next(teacher.parameters()).device
    build = lambda: build_model(arch, num_classes)  # noqa: E731
    common = {"arch": arch, "data": data_key, "factor": factor}
    out: dict[str, list[float]] = {"baseline": [], "dfd": [], "control": []}
    for seed in seeds:
        base_cfg = replace(base, seed=seed)
        key = {**common, "method": "baseline", "seed": seed, "config": asdict(base_cfg)}
        acc, baseline = _train_or_load(cache, key, build, dict(images=train_lr, labels=train[1], config=base_cfg),
                                       (test_lr, test[1]), keep_weights=init == "baseline", device=device)
        out["baseline"].append(acc)
        start = teacher if init == "teacher" else baseline
        ft_cfg = replace(finetune, seed=seed)
        for method, weight in (("dfd", lam), ("control", 0.0)):
            key = {**common, "method": method, "lam": weight, "init": init, "seed": seed, "config": asdict(ft_cfg),
                   "base_config": asdict(base_cfg)}

            def init_from_start(start=start) -> Classifier:
                return copy.deepcopy(start).train().requires_grad_(True)
            acc, _ = _train_or_load(cache, key, init_from_start,
                                    dict(images=train_lr, labels=train[1], config=ft_cfg,
                                         teacher=teacher if weight > 0 else None,
                                         teacher_images=train[0] if weight > 0 else None, lam=weight),
                                    (test_lr, test[1]), keep_weights=False, device=device)
            out[method].append(acc)
    summary: dict = {k: v for k, v in out.items()}
    for k, v in out.items():
        t = torch.tensor(v, dtype=torch.float64)
        summary[f"{k}_mean"] = float(t.mean())
        summary[f"{k}_std"] = float(t.std()) if len(v) > 1 else 0.0
    summary["p_value"] = _welch_p(out["dfd"], out["baseline"])
    return summary


def sr_then_classify(sr_name: str, arch: str, train: tuple[torch.Tensor, torch.Tensor],
                     test: tuple[torch.Tensor, torch.Tensor], config: TrainConfig, *, sr_steps: int,
                     num_classes: int = 10, seed: int = 0, progress: bool = False) -> dict:
    """Table 2 of the DFD paper: super-resolve 8x8 images to 16x16, then train and test a classifier on them.

    The SR network learns the 8x8 -> 16x16 mapping on the training images (both made from the 32x32 HR
    images by :func:`lrlib.degrade.low_resolution`); its 16x16 outputs are bicubically up-sampled to
    32x32 for the classifier, as the LR images of the other rows are.

    Returns:
        ``{"accuracy": top-1 on the super-resolved test images, "sr_loss": last L1 losses, "seconds": ...}``.
    """
    start = time.perf_counter()
    device = train[0].device

    def shrink(images: torch.Tensor, factor: int) -> torch.Tensor:
        return (low_resolution(images.float() / 255, factor, keep_size=False) * 255).round().to(torch.uint8)

    torch.manual_seed(seed)
    sr = build_sr(sr_name, 2).to(device)
    losses = train_sr(sr, shrink(train[0], 4), shrink(train[0], 2), steps=sr_steps, seed=seed, progress=progress)

    def restore(images: torch.Tensor) -> torch.Tensor:
        sixteen = super_resolve(sr, shrink(images, 4)).float() / 255
        return (upsample(sixteen, 2) * 255).round().to(torch.uint8)

    model = build_model(arch, num_classes).to(device)
    train_classifier(model, restore(train[0]), train[1], replace(config, seed=seed), progress=progress)
    accuracy = evaluate(model, restore(test[0]), test[1])
    return {"accuracy": accuracy, "sr_loss": losses[-10:], "seconds": time.perf_counter() - start}


def classification_data(name: str, device: str | torch.device) -> tuple[ImageSet, ImageSet]:
    """(train, test) image sets of a labelled data set, 32x32, on ``device``.

    ``samples`` (the smoke profile's photos) has no split: the same images serve as both, which
    only checks that the code runs.
    """
    if name == "samples":
        s = load("samples", size=32, device=device)
        return s, s
    return load(name, "train", device=device), load(name, "test", device=device)


def table1_frame(rows: list[dict]) -> pd.DataFrame:
    """Table 1 beside the paper: one row per (data set, network, LR size, initialisation).

    Args:
        rows: dicts with ``dataset``, ``arch``, ``factor`` (4 -> 8x8, 2 -> 16x16 on 32x32 images),
            ``init`` and ``cell`` (a :func:`dfd_cell` result).

    Returns:
        Accuracies in % (mean +- std over seeds), DFD's gain, Welch's p-value, and the paper's
        baseline and DFD where the paper ran that data set (stand-ins such as Fashion-MNIST get none).
    """
    out = []
    for r in rows:
        c, size = r["cell"], f"{32 // r['factor']}x{32 // r['factor']}"
        paper = _paper_cell(r) or {}
        out.append({
            "data set": r["dataset"], "network": r["arch"], "LR size": size, "init": r["init"],
            "seeds": len(c["dfd"]),
            "baseline": f"{100 * c['baseline_mean']:.2f} ± {100 * c['baseline_std']:.2f}",
            "DFD": f"{100 * c['dfd_mean']:.2f} ± {100 * c['dfd_std']:.2f}",
            "control (lambda=0)": f"{100 * c['control_mean']:.2f} ± {100 * c['control_std']:.2f}",
            "DFD gain": round(100 * (c["dfd_mean"] - c["baseline_mean"]), 2),
            "p (Welch)": None if c["p_value"] is None else round(c["p_value"], 4),
            "paper baseline": paper.get("baseline"), "paper DFD": paper.get("dfd"),
            "paper gain": round(paper["dfd"] - paper["baseline"], 2) if paper else None,
        })
    return pd.DataFrame(out)


def _paper_cell(row: dict) -> dict[str, float] | None:
    """The paper's Table 1 entry for a row of :func:`dfd_cell` results (None for data sets it did not run)."""
    size = 32 // row["factor"]
    return DFD_TABLE1.get((row["arch"], row["dataset"], f"{size}x{size}"))


def findings(rows: list[dict], hr_accuracy: dict[tuple[str, str], float], *, alpha: float = 0.05) -> str:
    """What this run's Table 1 says, in plain words, as a Markdown bullet list.

    Every sentence is computed from ``rows`` (as for :func:`table1_frame`) and ``hr_accuracy``
    ((data set, network) -> top-1 in [0, 1]), so the notebook's conclusions follow its numbers:

    * per initialisation, in how many cells DFD beats (or loses to) the LR baseline beyond the noise
      (Welch's p < ``alpha``), and its mean gain in points;
    * which initialisation's gains lie closer to the paper's (root mean square of ours - paper's gain
      over the cells the paper ran);
    * the feature loss alone: DFD against its lambda = 0 control, which starts from the same weights;
    * our LR baselines and the ResNet-18 CIFAR-10 teacher against the paper's.
    """
    if not rows:
        raise ValueError("findings needs at least one Table 1 row; got an empty list")
    def points(row: dict, a: str, b: str) -> float:
        """Mean accuracy of ``a`` minus that of ``b`` in one Table 1 cell, in percentage points."""
        return 100 * (row["cell"][f"{a}_mean"] - row["cell"][f"{b}_mean"])

    lines, fit = [], {}
    for init in dict.fromkeys(r["init"] for r in rows):
        part = [r for r in rows if r["init"] == init]
        beyond = [r for r in part if r["cell"]["p_value"] is not None and r["cell"]["p_value"] < alpha]
        better = sum(points(r, "dfd", "baseline") > 0 for r in beyond)
        mean_gain = sum(points(r, "dfd", "baseline") for r in part) / len(part)
        lines.append(f"**DFD from the {init}:** better than the LR baseline beyond the noise (p < {alpha}) in "
                     f"{better} of {len(part)} cells, worse in {len(beyond) - better}, within the noise in "
                     f"{len(part) - len(beyond)}; mean gain {mean_gain:+.2f} points.")
        diffs = [points(r, "dfd", "baseline") - (p["dfd"] - p["baseline"]) for r in part if (p := _paper_cell(r))]
        if diffs:
            fit[init] = (sum(d * d for d in diffs) / len(diffs)) ** 0.5
    if fit:
        closest = min(fit, key=fit.get)
        lines.append(f"**Which start matches the paper:** our gains from the {closest} lie closest to the paper's "
                     "(RMS difference " + ", ".join(f"{k} {v:.2f}" for k, v in fit.items()) + " points).")
    effect = [points(r, "dfd", "control") for r in rows]
    lines.append(f"**The feature loss alone** (DFD minus the lambda = 0 control, same start and schedule): "
                 f"mean {sum(effect) / len(effect):+.2f} points, positive in {sum(d > 0 for d in effect)} "
                 f"of {len(rows)} cells.")
    gap = [100 * r["cell"]["baseline_mean"] - p["baseline"] for r in rows
           if r["init"] == rows[0]["init"] and (p := _paper_cell(r))]
    if gap:
        lines.append(f"**LR baselines:** ours minus the paper's, mean {sum(gap) / len(gap):+.2f} points over "
                     f"{len(gap)} cells (from {min(gap):+.2f} to {max(gap):+.2f}).")
    if ("cifar10", "resnet18") in hr_accuracy:
        lines.append(f"**HR teacher** (ResNet-18, CIFAR-10): {100 * hr_accuracy['cifar10', 'resnet18']:.2f}% "
                     f"against the paper's {DFD_TABLE2['HR-baseline']:.2f}%.")
    return "\n".join(f"- {line}" for line in lines)
