"""FSR-GAN's experiments (paper Figs. 4-8): features per ratio, the generators of every loss, image SR (with its
PSNR against bicubic), and one table of SR-HR distance, retrieval mAP (with and without distractors) and k-NN
accuracy per method and ratio, with the constant-predictor control; PNG bits of the LR queries; the findings
against the paper's two numbers, FSR-GAN's seed spread as the yardstick of every difference. The paper's
benchmarks are in :mod:`.benchmarks`, the figures in :mod:`.figures`.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ...backbones import Backbone, features
from ...checks import check_images, check_int
from ...degrade import DEGRADE_VERSION, low_resolution_uint8, ratio_label
from ...metrics import knn_accuracy, pair_distances, psnr, retrieval_map
from ...papers import FSR_GAN_TEXT
from ...results import RunCache, fingerprint
from ..degradation import relevance
from ...sr import SR_VERSION, build_sr, super_resolve, train_sr, upsample
from .method import VERSION, GanConfig, budget, enhance, train_generator, unit

__all__ = ["RAW", "CNN", "FSR", "GAN_MSE", "GAN_R3", "CONSTANT", "variants", "work", "feature_bank", "training_pairs",
           "train_variants", "fsr_queries", "image_sr_features", "photo_crops", "photo_retrieval",
           "class_retrieval", "query_bits", "constant_distance", "evaluate", "findings"]

RAW, CNN, FSR, GAN_MSE, GAN_R3 = "Raw (bicubic)", "CNN-Baseline", "FSR-GAN", "GAN-MSE (r=1)", "GAN-focal (r=3)"
CONSTANT = "constant (mean HR feature)"


def variants(base: GanConfig) -> dict[str, GanConfig]:
    """Fig. 4's generators from one base config: the CNN-Baseline (no critic, r = 2), GAN-MSE (r = 1, Eq. 8),
    FSR-GAN (r = 2, Eq. 9) and the focal loss at r = 3.

    Raises:
        ValueError: as :class:`GanConfig`.
    """
    return {CNN: replace(base, adversarial=False, r=2.0), GAN_MSE: replace(base, adversarial=True, r=1.0),
            FSR: replace(base, adversarial=True, r=2.0), GAN_R3: replace(base, adversarial=True, r=3.0)}


def feature_bank(backbone: Backbone, images: torch.Tensor, factors: list[int], *, dataset: str, size: int = 224,
                 progress: bool = True) -> dict[int, torch.Tensor]:
    """L2-normalised features of ``images`` (N, 3, S, S) and of their LR copies: ``{1: HR, f: LR at f, ...}``,
    each (N, dim), through :func:`lrlib.backbones.features` (disk cache).

    Raises:
        ValueError: as :func:`lrlib.backbones.features`.
    """
    return {f: unit(features(backbone, images, dataset=dataset, factor=f, size=size, progress=progress))
            for f in [1, *factors]}


def training_pairs(bank: dict[int, torch.Tensor], *, held_fraction: float = 0.1, seed: int = 0,
                   groups: torch.Tensor | None = None) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                                            tuple[torch.Tensor, torch.Tensor]]:
    """(LR, HR) pairs of every factor mixed, split by group: ``round(n_groups * held_fraction)`` groups drawn at
    random are held out, all the pairs of their images with them. Without ``groups`` every image is its own
    group; with them (e.g. the photo of each crop, :func:`photo_crops`), no photo has crops on both sides.

    Args:
        bank: ``{1: HR, f: LR at f, ...}``, each (N, dim), as :func:`feature_bank` returns.
        groups: optional (N,) ids, one per image (any integers; a tensor or a list).

    Returns:
        ((lr, hr), (held_lr, held_hr)), each (n_images_of_the_side * n_factors, dim), images in the shuffled
        order of their groups.

    Raises:
        ValueError: a bank without HR (factor 1) or LR features, ``held_fraction`` outside (0, 1), ``groups`` not
            (N,) integers, or a split that leaves a side without a group.
    """
    factors = [f for f in bank if f != 1]
    if 1 not in bank or not factors or not 0 < held_fraction < 1:
        raise ValueError(f"need factor 1 and at least one LR factor (got {sorted(bank)}) and held_fraction in (0, 1) "
                         f"(got {held_fraction})")
    n = len(bank[1])
    ids = torch.arange(n) if groups is None else torch.as_tensor(groups).cpu()
    if ids.shape != (n,) or ids.is_floating_point() or ids.dtype == torch.bool:
        raise ValueError(f"groups must be (N,) = ({n},) integer ids, one per image; got {ids.dtype} "
                         f"{tuple(ids.shape)}")
    unique, group = torch.unique(ids, return_inverse=True)
    n_groups = len(unique)
    rank = torch.empty(n_groups, dtype=torch.long)
    rank[torch.randperm(n_groups, generator=torch.Generator().manual_seed(seed))] = torch.arange(n_groups)
    cut = int(round(n_groups * held_fraction))
    if not 0 < cut < n_groups:
        raise ValueError(f"{n_groups} groups and held_fraction {held_fraction} leave no group to train or to hold "
                         f"out: give more images (or groups) or another held_fraction")
    order = torch.sort(rank[group], stable=True).indices  # images in the shuffled order of their groups
    held = int((rank[group] < cut).sum())
    order = order.to(bank[1].device)

    def pairs(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat([bank[f][idx] for f in factors]), bank[1][idx].repeat(len(factors), 1)

    return pairs(order[held:]), pairs(order[:held])


def train_variants(train: tuple[torch.Tensor, torch.Tensor], held: tuple[torch.Tensor, torch.Tensor],
                   base: GanConfig, seeds: list[int], *, cache: RunCache | None = None,
                   progress: bool = True) -> dict[str, list[tuple[torch.nn.Module, dict]]]:
    """Every generator of :func:`variants`: FSR-GAN once per seed, the others with the first seed.

    Returns:
        name -> [(G, record)], one per seed (see :func:`train_generator`).

    Raises:
        ValueError: no seed, and as :func:`train_generator`.
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. [0, 1, 2]")
    return {name: [train_generator(*train, replace(cfg, seed=s), held_out=held, cache=cache, progress=progress)
                   for s in (seeds if name == FSR else seeds[:1])] for name, cfg in variants(base).items()}


def work(base: GanConfig, seeds: list[int], factors: list[int], train_sizes: dict[str, int],
         query_sizes: dict[str, int], *, sr_networks: list[str], sr_factors: list[int], sr_steps: int,
         sr_batch: int) -> str:
    """What a run of notebook 02 will do, in one line: the feature extractions (every training and query image at
    HR and at every factor), the generators of :func:`train_variants` on each training set with their updates
    (:func:`budget`, on the pairs before the held-out share is set aside), and the image-SR trainings.

    Args:
        train_sizes, query_sizes: images per training set and per query set, by name.
    """
    images = sum(train_sizes.values()) + sum(query_sizes.values())
    trainings = len(variants(base)) - 1 + len(seeds)
    updates = {name: budget(n * len(factors), replace(base, adversarial=True)) for name, n in train_sizes.items()}
    steps = ", ".join(f"{name} {u['generator_steps']:,} G + {u['critic_steps']:,} critic steps of {u['batch']}"
                      for name, u in updates.items())
    sr = len(sr_networks) * len(sr_factors) * len(query_sizes)
    return (f"work: {images * (len(factors) + 1):,} feature extractions ({images:,} images x {len(factors) + 1} "
            f"resolutions) plus the image-SR queries; {trainings} generators per training set ({steps}, at most); "
            f"{sr} image-SR networks of {sr_steps:,} steps of {sr_batch} patches")


def fsr_queries(generators: dict[str, list[tuple[torch.nn.Module, dict]]], bank: dict[int, torch.Tensor],
                rows: torch.Tensor | slice = slice(None)) -> dict[str, dict[int, list[torch.Tensor]]]:
    """The query features of every method for :func:`evaluate`: raw LR features and each generator's output,
    per factor (one tensor per seed), for the images ``rows`` of ``bank``.

    Raises:
        ValueError: as :func:`enhance`.
    """
    lr = {f: feats[rows] for f, feats in bank.items() if f != 1}
    out = {RAW: {f: [q] for f, q in lr.items()}}
    for name, runs in generators.items():
        out[name] = {f: [enhance(gen, q) for gen, _ in runs] for f, q in lr.items()}
    return out


def _crop(images: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C, H, W) images cropped to sides that are multiples of ``factor`` (top left kept)."""
    return images[..., : images.shape[-2] // factor * factor, : images.shape[-1] // factor * factor]


def image_sr_features(backbone: Backbone, train_images: torch.Tensor, test_images: torch.Tensor, factor: int, *,
                      network: str, steps: int, dataset: str, size: int = 224, batch_size: int = 64, seed: int = 0,
                      cache: RunCache | None = None, progress: bool = True) -> tuple[torch.Tensor, dict]:
    """Image SR, then features (Fig. 5's SRCNN and VDSR): ``network`` (:mod:`lrlib.sr`) learns x``factor`` on
    ``train_images`` (cropped to a multiple of the factor), super-resolves the LR copies of ``test_images``,
    and the backbone sees the result (resized to ``size``).

    Returns:
        (L2-normalised (N_test, dim) features, stats): ``steps`` and ``batch_size`` (the SR network's budget),
        ``psnr`` and ``psnr_bicubic`` in dB (:func:`lrlib.metrics.psnr` over all pixels of the test images, each
        cropped to a multiple of the factor and down-scaled again so that SR and bicubic up-sampling restore
        exactly its size; both rounded to uint8 as a stored image is).

    Raises:
        ValueError: images not uint8 (N, 3, S, S), as :func:`lrlib.sr.build_sr` and :func:`lrlib.sr.train_sr`.
    """
    for name, images in (("train_images", train_images), ("test_images", test_images)):
        check_images(name, images, uint8=True, channels=3)
    hr = _crop(train_images, factor)
    key = {"method": f"image-sr-{network}", "factor": factor, "steps": steps, "batch_size": batch_size, "seed": seed,
           "data": fingerprint(train_images), "sr": SR_VERSION, "degrade": DEGRADE_VERSION, "version": VERSION}

    def fit() -> tuple[torch.nn.Module, dict]:
        torch.manual_seed(seed)
        net = build_sr(network, factor).to(train_images.device)
        small = low_resolution_uint8(hr, factor, keep_size=False)
        losses = train_sr(net, small, hr, steps=steps, batch_size=batch_size, seed=seed, progress=progress)
        return net, {"loss": losses[-10:]}

    _, net = (cache or RunCache(None)).train_or_load(key, fit, build=lambda: build_sr(network, factor).to(
        train_images.device))
    restored = super_resolve(net.eval(), low_resolution_uint8(test_images, factor, keep_size=False))
    feats = unit(features(backbone, restored, dataset=f"{dataset}-{network}-x{factor}", size=size, progress=progress))
    target = _crop(test_images, factor)
    small = low_resolution_uint8(target, factor, keep_size=False)
    bicubic = (upsample(small.float() / 255, factor) * 255).round()
    stats = {"steps": steps, "batch_size": batch_size,
             "psnr": psnr(super_resolve(net, small).to(target.device), target, data_range=255),
             "psnr_bicubic": psnr(bicubic, target, data_range=255)}
    return feats, stats


def photo_crops(photos: list[torch.Tensor], crop: int, per_photo: int, *,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_photo`` random ``crop`` x ``crop`` crops of every photo at least that large.

    Returns:
        (crops uint8 (M, 3, crop, crop), the index of each crop's photo (M,) int64), on the photos' device.

    Raises:
        ValueError: ``crop`` or ``per_photo`` not an int >= 1, no photo as large as the crop.
    """
    check_int("crop", crop)
    check_int("per_photo", per_photo)
    g = torch.Generator().manual_seed(seed)
    crops, ids = [], []
    for i, photo in enumerate(p for p in photos if min(p.shape[-2:]) >= crop):
        for _ in range(per_photo):
            y, x = (int(torch.randint(s - crop + 1, (1,), generator=g)) for s in photo.shape[-2:])
            crops.append(photo[:, y:y + crop, x:x + crop])
            ids.append(i)
    if not crops:
        raise ValueError(f"no photo is {crop}x{crop} or larger; use a smaller crop")
    return torch.stack(crops), torch.tensor(ids, device=crops[0].device)


def photo_retrieval(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Instance retrieval on crops: each photo's first crop is its query, all other crops form the database,
    and a query's relevant items are the other crops of its photo.

    Returns:
        (query rows (Q,), database rows (M,), relevant (Q, M) bool), indices into the crops.

    Raises:
        ValueError: ``ids`` not 1-d, a photo with a single crop (its query would have nothing to find).
    """
    if ids.ndim != 1 or torch.unique(ids, return_counts=True)[1].min() < 2:
        raise ValueError("ids must be (M,) photo indices with at least two crops per photo")
    first = torch.ones_like(ids, dtype=torch.bool)
    first[1:] = ids[1:] != ids[:-1]
    query, database = first.nonzero()[:, 0], (~first).nonzero()[:, 0]
    return query, database, ids[query][:, None] == ids[database][None, :]


def class_retrieval(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Category retrieval within one labelled set (queries and database the same N images): a query's relevant
    items are the other images of its class, and its own HR copy (its twin) is ignored, neither hit nor miss.
    Without ``ignore`` the twin would stay in the ranking as a miss, so the closer a method brings a query to
    its own HR feature, the more it would be penalised.

    Returns:
        (relevant, ignore), both (N, N) bool: ``evaluate(..., relevant, ignore=ignore)``.

    Raises:
        ValueError: ``labels`` not a 1-d tensor.
    """
    rel = relevance(labels, "class")
    return rel, torch.eye(*rel.shape, dtype=torch.bool, device=rel.device)


def query_bits(images: torch.Tensor, factor: int, *, max_images: int | None = 1000, seed: int = 0) -> float:
    """Mean size in bits of the LR copies (side S // factor) of uint8 ``images`` saved as PNG (paper Fig. 8),
    estimated on a fixed random subsample of at most ``max_images`` of them (the same images for every factor
    at one ``seed``; None: all of them).

    Raises:
        ValueError: images not uint8 (N, 3, S, S), ``max_images`` not None or an int >= 1, and as
            :func:`lrlib.degrade.low_resolution`.
    """
    check_images("images", images, uint8=True, channels=3)
    if max_images is not None and len(images) > check_int("max_images", max_images):
        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:max_images]
        images = images[pick.sort().values.to(images.device)]
    small = low_resolution_uint8(images, factor, keep_size=False) if factor > 1 else images
    small = small.permute(0, 2, 3, 1).cpu().numpy()
    sizes = []
    for img in small:
        buffer = io.BytesIO()
        Image.fromarray(img).save(buffer, format="PNG")
        sizes.append(8 * buffer.tell())
    return float(np.mean(sizes))


def _constant(train_hr: torch.Tensor) -> torch.Tensor:
    """The constant control's feature: the mean HR training feature, L2-normalised, (1, dim)."""
    return unit(train_hr.mean(0, keepdim=True))


def constant_distance(train_hr: torch.Tensor, hr: torch.Tensor) -> float:
    """The :data:`CONSTANT` control's mean SR-HR distance on the HR features ``hr`` (N, dim): the distance of
    each row to the normalised mean of ``train_hr`` (M, dim), e.g. on G's held-out pairs (training curves).

    Raises:
        ValueError: ``train_hr`` or ``hr`` not (., dim) of one dim, and as :func:`lrlib.metrics.pair_distances`.
    """
    if train_hr.ndim != 2 or hr.ndim != 2 or train_hr.shape[1] != hr.shape[1] or not len(train_hr):
        raise ValueError(f"train_hr and hr must be (M, dim) and (N, dim) features of one dim, M >= 1; got "
                         f"{tuple(train_hr.shape)} and {tuple(hr.shape)}")
    return float(pair_distances(hr, _constant(train_hr).to(hr.device).expand(len(hr), -1)).mean())


def evaluate(queries: dict[str, dict[int, list[torch.Tensor]]], targets: torch.Tensor, database: torch.Tensor,
             relevant: torch.Tensor, *, train_hr: torch.Tensor, distractors: torch.Tensor | None = None,
             knn: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None, k: int = 10,
             ignore: torch.Tensor | None = None, ap: str = "all-point") -> pd.DataFrame:
    """Every method at every factor: SR-HR distance, retrieval mAP against the HR database (and with distractors
    added to it), k-NN accuracy; the mean over runs (seeds) and, for distance and mAP, their standard deviation,
    plus two references: ``HR`` (the HR features as queries, factor 1) and the :data:`CONSTANT` control (the mean
    HR training feature, normalised, for every query: close to the best a generator that ignored its input could
    do on the distance; the normalised mean minimises the summed squared distance to unit vectors).

    Args:
        queries: method -> factor -> [(Q, dim) query features, one per run].
        targets: (Q, dim) HR features of the query images (the distance's other end).
        database, relevant: (M, dim) HR database and (Q, M) relevance.
        ignore: optional (Q, M) bool, items left out of each query's ranking (junk, a query's own HR copy:
            see :func:`class_retrieval`); ``ap``: as :func:`lrlib.metrics.retrieval_map`.
        train_hr: (N, dim) HR features of G's training images (the constant control's mean).
        distractors: optional (K, dim) features added to the database, never relevant (Fig. 7).
        knn: optional (reference features, their labels, the queries' labels): k-NN accuracy of the queries.

    Returns:
        One row per (method, factor): method, factor, ratio, runs, distance, distance_std, map, map_std,
        map_distractors, knn (all means over the runs; the stds 0 for one run).

    Raises:
        ValueError: a method with no runs, and as :mod:`lrlib.metrics` for shapes and values.
    """
    big = None if distractors is None else torch.cat([database, distractors.to(database.device)])

    def widen(mask: torch.Tensor) -> torch.Tensor:  # distractor columns: never relevant, never ignored
        return torch.cat([mask, mask.new_zeros(len(mask), len(distractors))], 1)

    wide_ignore = None if ignore is None or big is None else widen(ignore)
    mean = _constant(train_hr).expand(len(targets), -1).to(targets.device)
    constant = {f: [mean] for f in next(iter(queries.values()))}
    rows = []
    for method, per_factor in {"HR": {1: [targets]}, **queries, CONSTANT: constant}.items():
        for f, runs in per_factor.items():
            if not runs:
                raise ValueError(f"method {method!r} has no run at factor {f}")
            dist = [float(pair_distances(targets, q).mean()) for q in runs]
            maps = [retrieval_map(q, database, relevant, ignore=ignore, ap=ap) for q in runs]
            extra = [retrieval_map(q, big, widen(relevant), ignore=wide_ignore, ap=ap)
                     for q in runs] if big is not None else [float("nan")]
            rows.append({"method": method, "factor": f, "ratio": ratio_label(f), "runs": len(runs),
                         "distance": np.mean(dist), "distance_std": np.std(dist, ddof=1) if len(runs) > 1 else 0.0,
                         "map": np.mean(maps), "map_std": np.std(maps, ddof=1) if len(runs) > 1 else 0.0,
                         "map_distractors": np.mean(extra),
                         "knn": None if knn is None else np.mean([knn_accuracy(knn[0], knn[1], q, knn[2], k=k)
                                                                  for q in runs])})
    return pd.DataFrame(rows)


def _at(table: pd.DataFrame, method: str, factor: int, column: str) -> float | None:
    row = table[(table["method"] == method) & (table["factor"] == factor)]
    return None if row.empty else float(row[column].iloc[0])


def _sides(table: pd.DataFrame, other: str, column: str,
           factors: list[int]) -> tuple[list[str], list[str], list[str]]:
    """The ratios where FSR-GAN's ``column`` is above ``other``'s by more than twice FSR-GAN's seed std there
    (``<column>_std``), below it by more, or neither (within seed noise); ratios where ``other`` did not run
    are left out."""
    above, below, within = [], [], []
    for x in factors:
        theirs = _at(table, other, x, column)
        if theirs is not None:
            gap, noise = _at(table, FSR, x, column) - theirs, 2 * _at(table, FSR, x, f"{column}_std")
            (above if gap > noise else below if -gap > noise else within).append(ratio_label(x))
    return above, below, within


def _where(ratios: list[str], n: int) -> str:
    return f"{', '.join(ratios)} ({len(ratios)} of {n})" if ratios else "no ratio"


def _gain(new: float, old: float) -> str:
    """An mAP gain, absolute (and in points) and relative."""
    relative = f"{100 * (new / old - 1):+.1f}% relative" if old > 0 else "no relative gain (raw mAP 0)"
    return f"{new - old:+.3f} absolute ({100 * (new - old):+.1f} points), {relative} ({old:.3f} -> {new:.3f})"


def findings(table: pd.DataFrame, *, similar: float | None = None) -> str:
    """What one :func:`evaluate` table says against the paper, as a Markdown bullet list, every number computed
    from ``table``. FSR-GAN has several seeds and the other generators one, so FSR-GAN's seed std is the only
    noise estimate: a difference counts only where it exceeds twice that std at its ratio (for means over the
    ratios, twice the mean of those stds, which bounds the std of the mean), else it is "within seed noise".

    The lines: the seeds; FSR-GAN's distance at the strongest ratio, as a fraction of the "similar" line, beside
    the paper's 0.62 (VGG16 relu7 at 1/64, benchmark not named, "much smaller than the distance of similar images"); the
    mAP gain over raw, absolute and relative, at the strongest ratio and for the mean over all ratios, beside
    the abstract's "+25%" (said of "different image resolutions", 1/64 only an example); FSR-GAN against the
    CNN-Baseline and the constant control per ratio; which power r of the focal loss gives the smallest mean
    distance (the paper: 2); where image SR beats FSR-GAN on mAP. ``similar``: Fig. 5's "similar" line, if known
    (two HR images of one class: :func:`lrlib.metrics.class_distances`; a query and its relevant photos:
    :func:`benchmark_references`).

    Args:
        table: :func:`evaluate`'s columns method, factor, runs, distance, distance_std, map, map_std.

    Raises:
        ValueError: a table without FSR-GAN and raw rows at a factor > 1.
    """
    factors = sorted(set(table.loc[table["method"] == FSR, "factor"]) & set(table.loc[table["method"] == RAW, "factor"])
                     - {1})
    if not factors:
        raise ValueError(f"findings needs {FSR!r} and {RAW!r} rows at a factor > 1; got methods "
                         f"{sorted(set(table['method']))}")
    n, f, seeds = len(factors), factors[-1], int(_at(table, FSR, factors[-1], "runs"))
    others = sorted(set(table["method"]) - {"HR", RAW, FSR, CONSTANT})
    once = sorted({int(r) for r in table.loc[table["method"].isin(others), "runs"]})
    even = "within seed noise" if seeds > 1 else "equal"
    spread = lambda column: f" (std {_at(table, FSR, f, column):.3f} over its seeds)" if seeds > 1 else ""
    lines = [f"**Seeds:** FSR-GAN: {f'the mean of {seeds} seeds' if seeds > 1 else 'one seed'}; " + (
        f"{', '.join(others)}: {' or '.join(map(str, once))} seed{'s' if max(once) > 1 else ''} each. "
        if others else "") + (
        "A difference counts only where it exceeds twice FSR-GAN's seed std (the one noise estimate); smaller "
        "ones are within seed noise." if seeds > 1 else "With one seed there is no noise estimate: every "
        "difference counts.")]
    d, d_raw = _at(table, FSR, f, "distance"), _at(table, RAW, f, "distance")
    near = "" if similar is None else f", {d / similar:.2f} of the \"similar\" line ({similar:.3f})"
    lines.append(f"**Distance at {ratio_label(f)}:** FSR-GAN {d:.3f}{spread('distance_std')} (raw {d_raw:.3f}){near}; "
                 f"the paper (VGG16 relu7, benchmark not named): about {FSR_GAN_TEXT['distance_1/64']} at 1/64, "
                 f"\"much smaller than the distance of similar images\" (that line's value is not given).")
    fsr_map, raw_map = (table[(table["method"] == name) & table["factor"].isin(factors)]["map"].mean()
                        for name in (FSR, RAW))
    m, m_raw = _at(table, FSR, f, "map"), _at(table, RAW, f, "map")
    lines += [f"**mAP gain over raw at {ratio_label(f)}:** {_gain(m, m_raw)}{spread('map_std')}.",
              f"**mAP gain over raw, mean over the {n} ratios:** {_gain(fsr_map, raw_map)}. The paper's abstract: "
              f"+{100 * FSR_GAN_TEXT['map_gain']:.0f}% \"compared to the raw query feature\", said of \"different "
              f"image resolutions\" (1/64 an example), not whether absolute or relative."]
    for other in (CNN, CONSTANT):
        if other in set(table["method"]):
            larger, smaller, near = _sides(table, other, "distance", factors)
            better, worse, tied = _sides(table, other, "map", factors)
            lines.append(f"**FSR-GAN against {other}:** distance smaller at {_where(smaller, n)}, larger at "
                         f"{_where(larger, n)}, {even} at {_where(near, n)}; mAP higher at {_where(better, n)}, "
                         f"lower at {_where(worse, n)}, {even} at {_where(tied, n)}.")
    powers = {name: table.loc[(table["method"] == name) & table["factor"].isin(factors), "distance"].mean()
              for name in (GAN_MSE, FSR, GAN_R3) if name in set(table["method"])}
    if len(powers) > 1:
        best, runner = sorted(powers, key=powers.get)[:2]
        noise = 2 * table.loc[(table["method"] == FSR) & table["factor"].isin(factors), "distance_std"].mean()
        verdict = ("" if powers[runner] - powers[best] > noise else
                   f", but within seed noise of {runner} (gap {powers[runner] - powers[best]:.3f} <= {noise:.3f}, "
                   f"twice FSR-GAN's mean seed std)")
        lines.append(f"**The focal power r:** smallest mean distance over the ratios with {best} ("
                     + ", ".join(f"{k} {v:.3f}" for k, v in powers.items()) + f"){verdict}; the paper: r = 2.")
    for sr in sorted(set(table["method"]) - {"HR", RAW, CNN, FSR, GAN_MSE, GAN_R3, CONSTANT}):
        lower, higher, tied = _sides(table, sr, "map", factors)
        k = len(lower) + len(higher) + len(tied)  # the ratios where image SR ran
        lines.append(f"**{sr} (image SR) against FSR-GAN:** higher mAP at {_where(higher, k)}, lower at "
                     f"{_where(lower, k)}, {even} at {_where(tied, k)}.")
    return "\n".join(f"- {line}" for line in lines)
