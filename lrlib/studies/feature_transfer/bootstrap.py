"""Is a gap between two feature spaces more than the test set's noise? A paired bootstrap over test images of the
mAP (VOC2007's 11-point AP per class, as Table 1), vectorised over resamples: no loop over images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...checks import check_int, check_positive
from ...svm import check_targets

__all__ = ["resampled_aps", "gap_table", "paired_bootstrap"]

_CHUNK = 20_000_000  # resamples x images x classes held at once (float64: 160 MB per array)


def resampled_aps(scores: torch.Tensor, targets: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """The 11-point AP of every class on every resample: ``scores`` (N, C), ``targets`` (N, C) in {1, 0, -1} (0, the
    difficult, left out of that class), ``counts`` (B, N) how many times each image is in each resample. Equal to
    :func:`lrlib.studies.feature_transfer.class_aps` of the images repeated ``counts`` times (the copies of an image
    are adjacent in the ranking; precision and recall at the last copy of each image bound those before it).

    Returns (B, C) float64 APs; NaN for a class without a positive in a resample.
    """
    order = torch.argsort(-scores.double(), dim=0, stable=True)  # (N, C), the ranking of class_aps
    weight = counts.double()[:, order] * (targets != 0).double().gather(0, order)  # (B, N, C)
    tp = (weight * (targets == 1).double().gather(0, order)).cumsum(1)
    seen = weight.cumsum(1)
    precision = torch.where(seen > 0, tp / seen.clamp_min(1), 0).mT.contiguous()  # (B, C, N)
    recall = (tp / tp[:, -1:]).mT.contiguous()  # NaN throughout for a class without a positive
    best_after = precision.flip(-1).cummax(-1).values.flip(-1)  # the best precision at this rank or later
    levels = torch.tensor(np.linspace(0, 1, 11), dtype=torch.float64, device=scores.device)  # class_aps' levels
    first = torch.searchsorted(recall, levels.expand(*recall.shape[:2], 11).contiguous())  # first recall >= level
    interpolated = best_after.gather(-1, first.clamp(max=recall.shape[-1] - 1)) * (first < recall.shape[-1])
    return torch.where(recall[..., -1].isnan(), torch.nan, interpolated.mean(-1))


def _resampled_maps(scores: dict[str, torch.Tensor], t: torch.Tensor, resamples: int, seed: int
                    ) -> dict[str, np.ndarray]:
    """Each space's mAP on the test set itself (first) and on ``resamples`` draws of its N images with replacement
    from ``seed``, every space on the same draws: name -> (1 + resamples,) float64, NaN where a class of the draw has
    no positive. The draws are made on the CPU, a chunk at a time, so they are the same on every device."""
    gen, n, chunk = torch.Generator().manual_seed(seed), len(t), max(1, _CHUNK // t.numel())
    maps = {k: [resampled_aps(s, t, torch.ones(1, n, device=t.device)).mean(1).cpu()] for k, s in scores.items()}
    for start in range(0, resamples, chunk):
        draw = torch.randint(n, (min(chunk, resamples - start), n), generator=gen)
        counts = torch.zeros(draw.shape, dtype=torch.int64).scatter_add_(1, draw, torch.ones_like(draw)).to(t.device)
        for k, s in scores.items():
            maps[k].append(resampled_aps(s, t, counts).mean(1).cpu())
    return {k: torch.cat(v).numpy() for k, v in maps.items()}


def gap_table(scores: dict[str, torch.Tensor], targets, pairs: list[tuple[str, str]], *, resamples: int = 1000,
              seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """The mAP gap of space a over space b on the test images for each (a, b) of ``pairs`` (names of ``scores``:
    space -> test scores (N, C); ``targets`` (N, C) in {1, 0, -1}), and its percentile bootstrap interval: each
    resample draws the N test images with replacement (from ``seed``), and both spaces' per-class APs and mAPs are
    computed on that same draw (paired; every pair on the same draws). Draws in which a class has no positive are
    left out (``used`` says how many count).

    Returns one row per pair, named "a - b", with ``gap``, ``low``, ``high`` (mAP points; the interval at ``level``),
    ``used`` and ``within noise`` (the interval holds 0).

    Raises:
        KeyError: a name of ``pairs`` that ``scores`` lacks (the message lists the names there are).
        ValueError: scores that are not (N, C) like ``targets``, targets outside {1, 0, -1}, ``resamples`` not an
            int >= 1, ``level`` not in (0, 1), no draw with a positive in every class (too few test images).
    """
    t = check_targets("targets", targets)
    if missing := {name for pair in pairs for name in pair} - set(scores):
        raise KeyError(f"no scores for {sorted(missing)}; there are scores for {list(scores)}")
    used = {name: torch.as_tensor(scores[name]).detach().to(t.device).double() for pair in pairs for name in pair}
    if bad := {k: tuple(s.shape) for k, s in used.items() if s.shape != t.shape}:
        raise ValueError(f"scores must be (N, C) like targets {tuple(t.shape)}; got {bad}")
    check_int("resamples", resamples)
    if not 0 < check_positive("level", level) < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    maps = _resampled_maps(used, t, resamples, seed)
    rows = {}
    for a, b in pairs:
        gap = 100 * (maps[a] - maps[b])
        drawn = gap[1:][~np.isnan(gap[1:])]
        if not len(drawn):
            raise ValueError(f"no draw of the {len(t)} test images has a positive in every class: the bootstrap "
                             f"needs more test images")
        low, high = np.quantile(drawn, [(1 - level) / 2, (1 + level) / 2])
        rows[f"{a} - {b}"] = {"gap": float(gap[0]), "low": float(low), "high": float(high), "used": len(drawn),
                              "within noise": bool(low <= 0 <= high)}
    return pd.DataFrame.from_dict(rows, orient="index")


def paired_bootstrap(scores_a, scores_b, targets, *, resamples: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict[str, float]:
    """:func:`gap_table` for one pair: the mAP gap of space a over space b (scores (N, C) each) and its bootstrap
    interval, as {"gap", "low", "high"} in mAP points, ``used`` and ``within noise``.

    Raises:
        ValueError: as :func:`gap_table`.
    """
    table = gap_table({"a": scores_a, "b": scores_b}, targets, [("a", "b")], resamples=resamples, seed=seed,
                      level=level)
    return table.loc["a - b"].to_dict()
