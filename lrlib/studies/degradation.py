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
from ..metrics import class_distances, distance_stats, knn_accuracy, pair_distances, retrieval_map

__all__ = ["relevance", "feature_shift", "reference_distances", "table1_row"]


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


def feature_shift(backbone: Backbone, images: torch.Tensor, labels: torch.Tensor, factors: list[int], *,
                  dataset: str, mode: str, input_size: int = 224, knn_k: int = 10,
                  seed: int = 0, progress: bool = True) -> tuple[pd.DataFrame, dict[int, torch.Tensor]]:
    """Run the degradation study on one image set.

    Args:
        backbone: a loaded :class:`~lrlib.backbones.Backbone`.
        images: (N, 3, S, S) uint8 images; labels: (N,) class (or image) indices.
        factors: side down-scaling factors, e.g. ``[2, ..., 8]`` for area ratios 1/4 ... 1/64.
        dataset: the name used for the feature cache (e.g. ``"cifar10-test"``).
        mode: retrieval relevance, ``"class"`` or ``"instance"`` (see :func:`relevance`).
        knn_k: neighbours for the k-NN accuracy (class mode only; None in instance mode).

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
        knn = (knn_accuracy(feat[train], labels[train], feat[test], labels[test], k=knn_k)
               if mode == "class" else None)
        rows.append({
            "factor": f, "ratio": ratio_label(f), "lr_side": images.shape[-1] // f,
            "effective_ratio": effective_ratio(images.shape[-1], f),
            "mean_distance": mean, "var_distance": var,
            "map": retrieval_map(feat, feats[1], rel, ignore=twins), "knn_accuracy": knn,
        })
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
