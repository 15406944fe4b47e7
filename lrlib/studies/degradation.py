"""How down-scaling moves deep features: the degradation study of notebook 01.

For every down-scaling factor it compares the features of the low-resolution
copies with those of the originals (FSR paper Fig. 2 and Table 1), and measures
what the move costs: retrieval mAP of LR queries against the HR database
(Fig. 2b) and how well classes still separate (k-NN accuracy, which the
feature-transfer paper's t-SNE of Fig. 1 only shows by eye).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..backbones import Backbone, features
from ..checks import check_images, check_int
from ..degrade import effective_ratio, ratio_label
from ..metrics import (bootstrap_interval, class_distances, distance_stats, knn_accuracy, pair_distances,
                       retrieval_aps)

__all__ = ["relevance", "work", "feature_shift", "reference_distances", "table1_row", "table1_intervals",
           "findings"]


def relevance(labels: torch.Tensor, mode: str) -> torch.Tensor:
    """(N, N) relevance of database item m to query q for retrieval within one image set.

    * ``"class"``: the other images of the query's class (its own HR copy excluded, so the
      task is category retrieval, not finding one's twin; :func:`feature_shift` also takes the copy out
      of the ranking, where it would otherwise count as a miss).
    * ``"instance"``: only the HR copy of the query itself (mAP is then the mean reciprocal
      rank of the true image, as in near-duplicate search).

    Raises:
        ValueError: ``labels`` not a 1-d tensor, an unknown ``mode``.
    """
    if mode not in ("class", "instance"):
        raise ValueError(f"relevance mode must be 'class' or 'instance'; got {mode!r}")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1:
        raise ValueError(f"labels must be a 1-d tensor (N,); got {getattr(labels, 'shape', type(labels).__name__)}")
    n = len(labels)
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    return eye if mode == "instance" else (labels[:, None] == labels[None, :]) & ~eye


def reference_distances(f_hr: torch.Tensor, labels: torch.Tensor) -> dict[str, float | None]:
    """The FSR paper's reference lines: mean distance of different images of one class ("similar")
    and of different classes ("different"); with one image per class only "different" exists.

    Raises:
        ValueError: fewer than 2 features, not one label per feature, and as
            :func:`lrlib.metrics.class_distances` and :func:`lrlib.metrics.pair_distances`.
    """
    if len(f_hr) != len(labels) or len(f_hr) < 2:
        raise ValueError(f"f_hr and labels must pair up, at least 2 of each; got {len(f_hr)} features and "
                         f"{len(labels)} labels")
    if len(torch.unique(labels)) == len(labels):
        n = len(f_hr)
        perm = torch.roll(torch.arange(n), 1)  # every image against another one
        return {"similar": None, "different": float(pair_distances(f_hr, f_hr[perm]).mean())}
    similar, different = class_distances(f_hr, labels)
    return {"similar": similar, "different": different}


def work(n_small: int, n_photos: int, factors: list[int], backbones: list[str], tsne_points: int) -> str:
    """What a run of notebook 01 will do, in one line: the feature extractions (each image at HR and every factor,
    per backbone) and the t-SNE points."""
    sets = len(factors) + 1
    total = (n_small + n_photos) * sets * len(backbones)
    return (f"work: {total:,} feature extractions ({n_small:,} + {n_photos:,} images x {sets} resolutions x "
            f"{len(backbones)} backbone(s)), t-SNE of 2 x {tsne_points:,} points")


def feature_shift(backbone: Backbone, images: torch.Tensor, labels: torch.Tensor, factors: list[int], *,
                  dataset: str, mode: str, input_size: int = 224, knn_k: int = 10, resamples: int = 1000,
                  seed: int = 0, progress: bool = True) -> tuple[pd.DataFrame, dict[int, torch.Tensor]]:
    """Run the degradation study on one image set.

    Args:
        backbone: a loaded :class:`~lrlib.backbones.Backbone`.
        images: (N, 3, S, S) uint8 images; labels: (N,) class (or image) indices.
        factors: side down-scaling factors, e.g. ``[2, ..., 8]`` for area ratios 1/4 ... 1/64.
        dataset: the name used for the feature cache (e.g. ``"cifar10-test"``).
        mode: retrieval relevance, ``"class"`` or ``"instance"`` (see :func:`relevance`).
        knn_k: neighbours for the k-NN accuracy (class mode only; None in instance mode).
        resamples: bootstrap draws of the images for the 95% intervals (``*_lo``, ``*_hi``) of the mean distance,
            its variance and the mAP (:func:`lrlib.metrics.bootstrap_interval`); the k-NN accuracy's interval is
            the binomial one (1.96 standard errors over its test images).

    Returns:
        A table with one row per factor (1 = the HR reference) and the features by
        factor, ``{1: f_hr, 2: f_lr_x2, ...}``, each (N, dim) on the backbone's device.

    Raises:
        ValueError: all before any extraction: images not (N, 3, S, S) uint8 or [0, 1] floats, not one label
            per image, factors not ints >= 1, an unknown ``mode``, ``knn_k`` not an int >= 1; later, as the
            metrics (:mod:`lrlib.metrics`) for what the features give.
    """
    check_images("images", images, channels=3)
    labels = torch.as_tensor(labels).to(backbone.device)
    relevance(labels[:0], mode)  # checks the mode before minutes of extraction
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"labels must be (N,), one per image; got {tuple(labels.shape)} for {len(images)} images")
    for f in factors:
        check_int("factor", f)
    check_int("knn_k", knn_k)
    feats = {f: features(backbone, images, dataset=dataset, factor=f, size=input_size, progress=progress)
             for f in tqdm([1, *factors], desc=f"{dataset}: features", disable=not progress)}
    rel = relevance(labels, mode)
    twins = torch.eye(len(labels), dtype=torch.bool, device=labels.device) if mode == "class" else None
    half = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed)).to(labels.device)
    train, test = half[: len(half) // 2], half[len(half) // 2:]
    rows = []
    for f, feat in feats.items():
        mean, var = distance_stats(feats[1], feat)
        d = pair_distances(feats[1], feat)  # the N distances behind them, for their intervals
        aps = retrieval_aps(feat, feats[1], rel, ignore=twins)
        row = {"factor": f, "ratio": ratio_label(f), "lr_side": images.shape[-1] // f,
               "effective_ratio": effective_ratio(images.shape[-1], f),
               "mean_distance": mean, "var_distance": var, "map": float(aps.mean()), "knn_accuracy": None}
        for column, values, statistic in (("mean_distance", d, "mean"), ("var_distance", d, "var"),
                                          ("map", aps, "mean")):
            row[f"{column}_lo"], row[f"{column}_hi"] = bootstrap_interval(values, statistic, resamples=resamples,
                                                                          seed=seed)
        if mode == "class":
            p = knn_accuracy(feat[train], labels[train], feat[test], labels[test], k=knn_k)
            half_width = 1.96 * (p * (1 - p) / len(test)) ** 0.5
            row.update(knn_accuracy=p, knn_accuracy_lo=p - half_width, knn_accuracy_hi=p + half_width)
        rows.append(row)
    return pd.DataFrame(rows).set_index("factor"), feats


def table1_row(table: pd.DataFrame) -> dict[str, float]:
    """The FSR paper's Table 1 layout: variance per ratio (factors > 1) and their average.

    Raises:
        ValueError: a table without ``ratio`` and ``var_distance`` columns or without a row for a factor > 1
            (the average would be NaN).
    """
    lr = table.drop(index=1, errors="ignore")
    if not {"ratio", "var_distance"} <= set(table.columns) or lr.empty:
        raise ValueError(f"table must be feature_shift's table with at least one factor > 1; got columns "
                         f"{list(table.columns)} and factors {list(table.index)}")
    row = {r: float(v) for r, v in zip(lr["ratio"], lr["var_distance"])}
    row["Average"] = float(np.mean(list(row.values())))
    return row


def table1_intervals(table: pd.DataFrame) -> dict[str, str]:
    """The 95% bootstrap interval of each ratio's variance, as text in :func:`table1_row`'s layout (no average)."""
    lr = table.drop(index=1, errors="ignore")
    return {r: f"[{lo:.4f}, {hi:.4f}]" for r, lo, hi in zip(lr["ratio"], lr["var_distance_lo"], lr["var_distance_hi"])}


def findings(tables: dict[str, pd.DataFrame], refs: dict[str, dict[str, float | None]],
             paper: dict[str, float]) -> str:
    """What this run found, in Markdown, from its numbers: per image set (name -> :func:`feature_shift`'s table of one
    backbone, and its :func:`reference_distances`), Table 1 against the paper's row ``paper`` (ratio -> variance)
    within our bootstrap intervals, where the distance crosses the "similar" line, and how mAP and k-NN fall."""
    out = []
    for name, table in tables.items():
        lr = table.drop(index=1)
        ours = table1_row(table)
        by_ratio = lr.set_index("ratio")
        inside = [r for r in by_ratio.index if r in paper and
                  by_ratio.loc[r, "var_distance_lo"] <= paper[r] <= by_ratio.loc[r, "var_distance_hi"]]
        gaps = [abs(ours[r] - paper[r]) for r in lr["ratio"] if r in paper]
        peak = lr.loc[lr["var_distance"].idxmax(), "ratio"]
        out.append(
            f"**{name}, Table 1.** Variance per ratio {', '.join(f'{v:.4f}' for v in lr['var_distance'])} (average "
            f"{ours['Average']:.4f}) against the paper's {', '.join(f'{paper[r]:.4f}' for r in lr['ratio'] if r in paper)}"
            f" (average {paper['Average']:.4f}): at most {max(gaps):.4f} apart; ours peaks at {peak}, the paper's at "
            f"{max((r for r in paper if r != 'Average'), key=paper.get)}. The paper's value lies inside our 95% "
            f"bootstrap interval at {len(inside)} of {len(gaps)} ratios"
            f"{' (' + ', '.join(inside) + ')' if inside else ''}"
            + (", so every difference is within this sample's noise." if len(inside) == len(gaps) else
               ". Elsewhere the difference is larger than this sample's noise: it comes from another backbone and "
               "other images (see below), not from the draw of images."))
        mean = lr["mean_distance"]
        text = (f"**{name}, Fig. 2(a).** The mean HR-LR distance goes from {mean.iloc[0]:.3f} at {lr['ratio'].iloc[0]} "
                f"to {mean.iloc[-1]:.3f} at {lr['ratio'].iloc[-1]}"
                f"{', rising at every step' if bool((mean.diff().dropna() >= 0).all()) else ', not at every step'}.")
        similar = refs[name].get("similar")
        if similar is not None:
            above = lr[lr["mean_distance"] > similar]
            text += (f" It crosses the \"similar\" line ({similar:.3f}, two HR images of one class) at "
                     f"{above['ratio'].iloc[0]}: from there a down-scaled image is further from its own original than "
                     f"a same-class neighbour is." if len(above) else
                     f" It stays below the \"similar\" line ({similar:.3f}) at every ratio.")
        elif refs[name].get("different") is not None:
            text += f" The \"different images\" line lies at {refs[name]['different']:.3f}."
        out.append(text)
        hr, last = table.iloc[0], lr.iloc[-1]
        text = (f"**{name}, Fig. 2(b).** mAP {hr['map']:.3f} with HR queries, {lr['map'].iloc[0]:.3f} at "
                f"{lr['ratio'].iloc[0]} and {last['map']:.3f} [{last['map_lo']:.3f}, {last['map_hi']:.3f}] at "
                f"{last['ratio']}.")
        if hr["knn_accuracy"] is not None and not pd.isna(hr["knn_accuracy"]):
            text += (f" k-NN accuracy {hr['knn_accuracy']:.3f} on HR features, {last['knn_accuracy']:.3f} "
                     f"(± {last['knn_accuracy_hi'] - last['knn_accuracy']:.3f}) at {last['ratio']}.")
        out.append(text)
    return "\n\n".join(out)
