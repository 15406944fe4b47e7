"""Metrics: feature distances, average precision, retrieval mAP, PSNR, k-NN accuracy, power spectra.

Every function accepts numpy arrays or torch tensors (on any device) and
returns plain Python floats, so results can go straight into a results file.

What they refuse, everywhere: NaN or infinite values (a metric over them would rank or average garbage
without a word), shapes that do not pair up, and, where rows are L2-normalised, all-zero rows (a zero
feature has no direction). Each function's ``Raises`` says what else it refuses. All raise ValueError.
"""

from __future__ import annotations

import numpy as np
import torch

from .checks import check_finite, check_int, check_positive

__all__ = ["distance_stats", "pair_distances", "class_distances", "retrieval_distances", "average_precision",
           "retrieval_aps", "bootstrap_interval",
           "retrieval_map", "psnr", "knn_accuracy", "radial_power_spectrum", "mean_log_power"]

ArrayLike = np.ndarray | torch.Tensor  # any (..) array; tensors may live on the GPU


def _tensor(x, name: str, ndim: int | None = None) -> torch.Tensor:
    """``x`` as a tensor, checked: ``ndim`` dimensions (when given) and, for floats, no NaN or infinity."""
    t = torch.as_tensor(x)
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-d; got shape {tuple(t.shape)}")
    return check_finite(name, t)


def _normalise(f: torch.Tensor, name: str) -> torch.Tensor:
    """Rows of ``f`` divided by their L2 norms, float64; an all-zero row is refused (it has no direction)."""
    f = f.double()
    norm = f.norm(dim=1, keepdim=True)
    zero = (norm[:, 0] == 0).nonzero()[:, 0]
    if len(zero):
        raise ValueError(f"{name} has {len(zero)} all-zero row(s) (first: {zero[:5].tolist()}); an all-zero feature "
                         f"has no direction, so its normalised distance is undefined: drop those rows or check how "
                         f"they were computed")
    return f / norm


def _labels(x, name: str, n: int) -> torch.Tensor:
    """(n,) integer class labels >= 0, checked."""
    y = _tensor(x, name, 1)
    if len(y) != n:
        raise ValueError(f"{name} must hold one label per feature, {n}; got {len(y)}")
    if y.is_floating_point() and not torch.equal(y, y.round()) or (len(y) and y.min() < 0):
        raise ValueError(f"{name} must be integer class indices >= 0; got values such as {y[:5].tolist()}")
    return y.long()


def _relevance(x, name: str) -> torch.Tensor:
    """Booleans, or 0/1 values, as a bool tensor; anything else (e.g. VOC's -1 or a score) is refused."""
    t = _tensor(x, name)
    if t.dtype != torch.bool and not ((t == 0) | (t == 1)).all():
        values = torch.unique(t.flatten())[:6].tolist()
        raise ValueError(f"{name} must be booleans or 0/1 (1 = relevant); got values {values}. For targets in "
                         f"{{1, 0, -1}} (VOC: 1 positive, -1 negative, 0 difficult) pass targets == 1 and leave the "
                         f"difficult ones out")
    return t.bool()


def pair_distances(f_hr: ArrayLike, f_lr: ArrayLike) -> torch.Tensor:
    """Euclidean distance of each pair of L2-normalised rows.

    Args:
        f_hr, f_lr: (N, D) paired features (row i of both comes from image i).

    Returns:
        (N,) float64 tensor of distances in [0, 2].

    Raises:
        ValueError: shapes that differ, no rows, NaN or infinite values, all-zero rows.
    """
    a, b = _tensor(f_hr, "f_hr", 2), _tensor(f_lr, "f_lr", 2)
    if a.shape != b.shape:
        raise ValueError(f"f_hr and f_lr must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) == 0:
        raise ValueError("f_hr and f_lr are empty: need at least one pair of features")
    return (_normalise(a, "f_hr") - _normalise(b.to(a.device), "f_lr")).norm(dim=1)


def distance_stats(f_hr: ArrayLike, f_lr: ArrayLike) -> tuple[float, float]:
    """Mean and population variance of the HR-LR feature distances (FSR paper, Fig. 2a and Table 1).

    Each row is L2-normalised, then the Euclidean distance of each pair is taken.

    Returns:
        (mean, variance) of the N distances; the variance divides by N.

    Raises:
        ValueError: as :func:`pair_distances`.
    """
    d = pair_distances(f_hr, f_lr)
    return float(d.mean()), float(d.var(unbiased=False))


def class_distances(features: ArrayLike, labels: ArrayLike, *, max_pairs: int = 200_000,
                    seed: int = 0) -> tuple[float, float]:
    """Mean distance between different images of the same class ("similar") and of different classes.

    These are the FSR paper's reference lines in Fig. 2(a). Rows are L2-normalised;
    pairs are sampled uniformly (``max_pairs`` of them, reproducibly) when there are more.

    Args:
        features: (N, D) features; labels: (N,) integer class labels.

    Returns:
        (mean same-class distance, mean different-class distance).

    Raises:
        ValueError: fewer than 2 features, not one integer label >= 0 per feature, NaN or infinite
            values, all-zero rows, one class only or no class with two members, ``max_pairs`` not an int >= 1 or
            too few to sample a pair of each kind.
    """
    check_int("max_pairs", max_pairs)
    f = _normalise(_tensor(features, "features", 2), "features")
    n = len(f)
    if n < 2:
        raise ValueError(f"need >= 2 features; got {n}")
    y = _labels(labels, "labels", n).to(f.device)
    sizes = torch.bincount(y)
    if (sizes > 0).sum() < 2 or sizes.max() < 2:
        raise ValueError("labels need at least two classes and a class with two members")
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(n, (max_pairs,), generator=g).to(f.device)
    j = torch.randint(n, (max_pairs,), generator=g).to(f.device)
    keep = i != j
    i, j = i[keep], j[keep]
    d = (f[i] - f[j]).norm(dim=1)
    same = y[i] == y[j]
    if same.all() or not same.any():
        raise ValueError(f"max_pairs={max_pairs} sampled {int(same.sum())} same-class and {int((~same).sum())} "
                         f"different-class pairs; both need one: raise max_pairs")
    return float(d[same].mean()), float(d[~same].mean())


def retrieval_distances(query: ArrayLike, database: ArrayLike, relevant: ArrayLike, *,
                        ignore: ArrayLike | None = None) -> tuple[float, float]:
    """Mean distance from each query to its relevant database items ("similar") and to the others ("different"):
    :func:`class_distances`'s reference lines for a retrieval benchmark, whose ground truth has no classes.

    Rows are L2-normalised; each mean is over every (query, item) pair of its kind, so a query with many relevant
    items weighs more. Items in ``ignore`` (junk) are in neither, as in :func:`retrieval_map` (relevant and
    ignored counts as ignored).

    Args:
        query: (Q, D) query features; database: (M, D) database features.
        relevant: (Q, M) booleans, True where item m is relevant to query q; ignore: optional (Q, M) booleans.

    Returns:
        (mean relevant-pair distance, mean non-relevant, non-ignored pair distance).

    Raises:
        ValueError: shapes that do not pair up, NaN or infinite values, all-zero rows, ``relevant`` or ``ignore``
            other than booleans or 0/1 or not (Q, M), no relevant pair or no other pair.
    """
    q, db = _normalise(_tensor(query, "query", 2), "query"), _normalise(_tensor(database, "database", 2), "database")
    if q.shape[1] != db.shape[1]:
        raise ValueError(f"query and database dimensions differ: {q.shape[1]} vs {db.shape[1]}")
    rel = _pair_mask(relevant, "relevant", (len(q), len(db))).to(q.device)
    junk = (_pair_mask(ignore, "ignore", (len(q), len(db))).to(q.device) if ignore is not None
            else torch.zeros_like(rel))
    sums, counts = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    for start in range(0, len(q), 1024):  # blocks bound the (Q, M) distance matrix in memory
        d = torch.cdist(q[start:start + 1024], db.to(q.device))
        kept = ~junk[start:start + 1024]
        for k, mask in enumerate((rel[start:start + 1024] & kept, ~rel[start:start + 1024] & kept)):
            sums[k] += float(d[mask].sum())
            counts[k] += int(mask.sum())
    if (counts == 0).any():
        raise ValueError(f"need at least one relevant and one other (query, item) pair that is not ignored; got "
                         f"{int(counts[0])} relevant and {int(counts[1])} other pairs")
    return float(sums[0] / counts[0]), float(sums[1] / counts[1])


def average_precision(scores: ArrayLike, labels: ArrayLike, *, voc07: bool = False) -> float:
    """Average precision of a ranking.

    Args:
        scores: (M,) higher means more likely relevant.
        labels: (M,) booleans (or 0/1), True for relevant items.
        voc07: the VOC2007 11-point interpolated AP instead of the all-point AP.

    Returns:
        AP in [0, 1]. All-point AP is the mean of the precision at the rank of every
        relevant item (ties broken by a stable sort of the scores).

    Raises:
        ValueError: scores or labels not 1-d (a 2-d input would be pooled into one ranking), no relevant item,
            lengths that differ, NaN or infinite scores, labels other than booleans or 0/1 (e.g. VOC's -1: pass
            ``targets == 1``).
    """
    s, y = _tensor(scores, "scores"), _relevance(labels, "labels")
    for name, t in (("scores", s), ("labels", y)):
        if t.ndim != 1:
            raise ValueError(f"{name} must be 1-d, one ranking; got shape {tuple(t.shape)} (for (N, C) scores, one AP "
                             f"per column: average_precision(scores[:, c], labels[:, c]))")
    s, y = np.asarray(s.detach().cpu(), dtype=np.float64), np.asarray(y.detach().cpu())
    if s.shape != y.shape:
        raise ValueError(f"scores and labels must have the same length; got {s.shape} and {y.shape}")
    if not y.any():
        raise ValueError("labels hold no relevant item: average precision is undefined")
    order = np.argsort(-s, kind="stable")
    hits = y[order]
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    if not voc07:
        return float(precision[hits].mean())
    recall = tp / hits.sum()
    ap = 0.0
    for t in np.linspace(0, 1, 11):
        above = precision[recall >= t]
        ap += (above.max() if above.size else 0.0) / 11
    return float(ap)


def retrieval_map(query: ArrayLike, database: ArrayLike, relevant: ArrayLike, *, ignore: ArrayLike | None = None,
                  ap: str = "all-point") -> float:
    """Mean average precision of retrieval by Euclidean distance: the mean of :func:`retrieval_aps`, whose
    arguments and errors it shares."""
    return float(retrieval_aps(query, database, relevant, ignore=ignore, ap=ap).mean())


def retrieval_aps(query: ArrayLike, database: ArrayLike, relevant: ArrayLike, *, ignore: ArrayLike | None = None,
                  ap: str = "all-point") -> torch.Tensor:
    """The average precision of each query's retrieval by Euclidean distance (their mean is the mAP; their spread
    gives its interval, :func:`bootstrap_interval`).

    Args:
        query: (Q, D) query features.
        database: (M, D) database features.
        relevant: (Q, M) booleans, True where database item m is relevant to query q.
        ignore: optional (Q, M) booleans, True for "junk" items that are taken out of query q's ranking
            before its AP is computed, neither hits nor misses (the Oxford5k / Paris6k protocol); an item
            both relevant and ignored counts as ignored.
        ap: ``"all-point"`` (default): the mean of the precision at the rank of every relevant item.
            ``"trapezoid"``: the Oxford benchmark's own ``compute_ap`` (repeated by revisitop's): for the
            relevant item at rank r (0-based, junk removed) with j relevant items before it, the mean of
            precision j / r (1 at r = 0) and (j + 1) / (r + 1), summed with weight 1 / (number relevant).

    Returns:
        (Q',) float64 APs of the database ranked by increasing distance (ties by a stable sort), one per query
        with a relevant item left (the others are skipped).

    Raises:
        ValueError: shapes that do not pair up, NaN or infinite features, ``relevant`` or ``ignore`` other
            than booleans or 0/1 or not (Q, M), an unknown ``ap``, no query with a relevant item.
    """
    if ap not in ("all-point", "trapezoid"):
        raise ValueError(f"ap must be 'all-point' or 'trapezoid' (Oxford's compute_ap); got {ap!r}")
    q, db = _tensor(query, "query", 2).double(), _tensor(database, "database", 2).double()
    rel = _pair_mask(relevant, "relevant", (len(q), len(db))).to(q.device)
    junk = (_pair_mask(ignore, "ignore", (len(q), len(db))) if ignore is not None
            else torch.zeros_like(rel, device="cpu")).to(q.device)
    if q.shape[1] != db.shape[1]:
        raise ValueError(f"query and database dimensions differ: {q.shape[1]} vs {db.shape[1]}")
    aps = []
    for start in range(0, len(q), 1024):  # blocks bound the (Q, M) distance matrix in memory
        order = torch.cdist(q[start:start + 1024], db.to(q.device)).argsort(dim=1, stable=True)
        keep = ~junk[start:start + 1024].gather(1, order)
        hits = (rel[start:start + 1024].gather(1, order) & keep).double()
        rank = keep.double().cumsum(1)  # 1-based rank among the items kept
        tp = hits.cumsum(1)
        precision = tp / rank.clamp_min(1)
        if ap == "trapezoid":
            before = torch.where(rank > 1, (tp - 1) / (rank - 1).clamp_min(1), torch.ones_like(tp))
            precision = (before + precision) / 2
        n_rel = hits.sum(1)
        ok = n_rel > 0
        aps.append(((precision * hits).sum(1)[ok] / n_rel[ok]).cpu())
    aps = torch.cat(aps)
    if len(aps) == 0:
        raise ValueError("no query has a relevant database item: mAP is undefined")
    return aps


def bootstrap_interval(values: ArrayLike, statistic: str = "mean", *, resamples: int = 1000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the ``statistic`` (``"mean"`` or ``"var"``, the population variance) of
    ``values`` (N,): the statistic of ``resamples`` draws of N values with replacement, its ``level`` central range.
    What a statistic of N images would scatter by over other draws of N images.

    Raises:
        ValueError: ``values`` not (N,) finite numbers with N >= 1, an unknown ``statistic``, ``resamples`` not an
            int >= 1, ``level`` outside (0, 1).
    """
    v = _tensor(values, "values", 1).double().cpu()
    if len(v) == 0 or not torch.isfinite(v).all():
        raise ValueError(f"values must be (N,) finite numbers, N >= 1; got {len(v)} values"
                         f"{'' if len(v) == 0 else ' with NaN or infinities'}")
    if statistic not in ("mean", "var"):
        raise ValueError(f"statistic must be 'mean' or 'var'; got {statistic!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples must be an int >= 1; got {resamples!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}")
    draws = v[torch.randint(0, len(v), (resamples, len(v)), generator=torch.Generator().manual_seed(seed))]
    stats = draws.mean(1) if statistic == "mean" else draws.var(1, unbiased=False)
    low, high = torch.quantile(stats, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return float(low), float(high)


def _pair_mask(x, name: str, shape: tuple[int, int]) -> torch.Tensor:
    """A (Q, M) boolean mask (booleans or 0/1), checked against the (queries, database items) ``shape``."""
    mask = _relevance(x, name)
    if mask.shape != shape:
        raise ValueError(f"{name} must have shape (Q, M) = {shape}; got {tuple(mask.shape)}")
    return mask


def psnr(a: ArrayLike, b: ArrayLike, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range**2 / MSE)`` over all elements.

    Returns ``inf`` for identical inputs.

    Raises:
        ValueError: shapes that differ, no values, ``data_range`` not a finite number > 0, NaN or infinite values,
            and values outside [0, data_range] (beyond 0.1 % of it): uint8 images with the default
            ``data_range=1`` would otherwise give a PSNR 48 dB too low.
    """
    x, y = _tensor(a, "a").double(), _tensor(b, "b").double()
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.numel() == 0:
        raise ValueError(f"a and b hold no values (shape {tuple(x.shape)}): PSNR needs at least one pixel")
    check_positive("data_range", data_range)
    for name, t in (("a", x), ("b", y)):
        low, high = (float(v) for v in torch.aminmax(t))
        if low < -1e-3 * data_range or high > (1 + 1e-3) * data_range:
            raise ValueError(f"{name} holds values in [{low:g}, {high:g}], outside [0, data_range={data_range:g}]; "
                             f"give data_range=255 for 8-bit images (or divide them by 255)")
    mse = float(((x - y.to(x.device)) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def knn_accuracy(train: ArrayLike, train_labels: ArrayLike, test: ArrayLike, test_labels: ArrayLike,
                 k: int = 10) -> float:
    """Accuracy of a k-nearest-neighbour vote (cosine distance) of test features against train features.

    A measure of how well classes separate in a feature space: 1.0 when every
    test feature's neighbours carry its own class.

    Raises:
        ValueError: not one integer label >= 0 per feature, feature dimensions that differ, no test feature, NaN or
            infinite values, all-zero rows, ``k`` outside [1, number of train features].
    """
    a = _normalise(_tensor(train, "train", 2), "train")
    b = _normalise(_tensor(test, "test", 2), "test").to(a.device)
    if len(b) == 0:
        raise ValueError(f"test holds no features (shape {tuple(b.shape)}): an accuracy needs at least one")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"train and test features differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    ya = _labels(train_labels, "train_labels", len(a)).to(a.device)
    yb = _labels(test_labels, "test_labels", len(b)).to(a.device)
    if not 1 <= k <= len(a):
        raise ValueError(f"k must lie in [1, {len(a)}] (the number of train features); got {k}")
    n_classes = int(max(ya.max(), yb.max())) + 1
    correct = 0
    for start in range(0, len(b), 2048):
        nn = (b[start:start + 2048] @ a.T).topk(k, dim=1).indices
        votes = torch.zeros(len(nn), n_classes, dtype=torch.long, device=a.device)
        votes.scatter_add_(1, ya[nn], torch.ones_like(nn))
        correct += int((votes.argmax(1) == yb[start:start + 2048]).sum())
    return correct / len(b)


def _periodograms(images: ArrayLike) -> torch.Tensor:
    """|FFT|^2 of (H, W) or (N, H, W) images, unnormalised, in float64: (N, H, W)."""
    x = _tensor(images, "images").double()  # refuses NaN and infinity
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"images must be (H, W) or (N, H, W) grey images; got shape {tuple(x.shape)}")
    return torch.fft.fft2(x).abs() ** 2


def radial_power_spectrum(images: ArrayLike, *, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum (the DoG-SR paper's Fig. 5), averaged over images.

    Args:
        images: (H, W) or (N, H, W) grey images of one size, any scale.
        bins: number of equal-width frequency rings over [0, 0.5] cycles per pixel.

    Returns:
        (frequency, power): the ring centres in cycles per pixel (bins,), and the mean of
        |FFT|^2 / (H W) over each ring and over the images (bins,); rings beyond the Nyquist
        circle's corners are left out, the DC term is kept in the first ring.

    Raises:
        ValueError: images that are not (H, W) or (N, H, W), NaN or infinite values, ``bins`` not an int >= 1 or
            finer than the images' frequency step (a ring with no frequency in it has no mean; up to
            min(H, W) // 2 rings always have one).
    """
    check_int("bins", bins)
    p = _periodograms(images)
    h, w = p.shape[-2:]
    fy, fx = torch.fft.fftfreq(h, dtype=torch.float64), torch.fft.fftfreq(w, dtype=torch.float64)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2).to(p.device)
    ring = (radius / 0.5 * bins).long().flatten()
    keep = ring < bins
    total = torch.zeros(bins, dtype=torch.float64, device=p.device)
    total.index_add_(0, ring[keep], (p / (h * w)).mean(0).flatten()[keep])
    count = torch.bincount(ring[keep], minlength=bins).double()
    if empty := (count == 0).nonzero()[:, 0].tolist():
        raise ValueError(f"bins={bins} is finer than the frequency step of {h}x{w} images: rings {empty[:6]} "
                         f"({len(empty)} of {bins}) hold no frequency; use bins <= {max(1, min(h, w) // 2)}")
    centres = (np.arange(bins) + 0.5) * 0.5 / bins
    return centres, (total / count).cpu().numpy()


def mean_log_power(images: ArrayLike) -> float:
    """Mean over the non-DC frequencies, and over the images, of 10 log10 |FFT|^2 (dB, unnormalised FFT).

    One number per image set for the DoG-SR paper's Table 2. The paper does not give its convention;
    this one (8-bit images, log before averaging) is an assumption the notebook states.

    Raises:
        ValueError: images that are not (H, W) or (N, H, W), NaN or infinite values, images of one pixel (they
            have no frequency but DC).
    """
    p = _periodograms(images).flatten(1)[:, 1:]
    if p.shape[1] == 0:
        raise ValueError("images of 1x1 pixel have no frequency but DC, so no mean log power: give larger images")
    return float((10 * torch.log10(p.clamp_min(1e-30))).mean())
