"""FSR-GAN's experiments (paper Figs. 4-8): features per ratio, the generators of every loss, image SR, and one
table of SR-HR distance, retrieval mAP (with and without distractors) and k-NN accuracy per method and ratio,
with the constant-predictor control; the paper's benchmarks (Oxford5k, Paris6k, Holidays: G's training images,
:func:`benchmark_table`, their "similar" / "different" lines :func:`benchmark_references`, and Fig. 7's distractors
:func:`distractor_features`); PNG bits of the LR queries; the findings against the paper's two numbers.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from ...backbones import Backbone, features
from ...checks import check_images, check_int
from ...data import RetrievalSet, load_distractors
from ...degrade import low_resolution_uint8, ratio_label
from ...metrics import knn_accuracy, pair_distances, retrieval_distances, retrieval_map
from ...papers import FSR_GAN_TEXT
from ...results import RunCache, fingerprint
from ..degradation import relevance
from ...sr import SR_VERSION, build_sr, super_resolve, train_sr
from .method import VERSION, GanConfig, enhance, train_generator, unit

__all__ = ["RAW", "CNN", "FSR", "GAN_MSE", "GAN_R3", "CONSTANT", "variants", "feature_bank", "training_pairs",
           "train_variants", "fsr_queries", "image_sr_features", "photo_crops", "photo_retrieval",
           "class_retrieval", "unrelated_rows", "query_bits", "evaluate", "benchmark_table", "benchmark_references",
           "distractor_features", "figure_frame", "findings"]

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


def training_pairs(bank: dict[int, torch.Tensor], *, held_fraction: float = 0.1,
                   seed: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """(LR, HR) pairs of every factor mixed, split by image (an image's pairs all train or all are held out).

    Returns:
        ((lr, hr), (held_lr, held_hr)), each (n_images * n_factors, dim).

    Raises:
        ValueError: a bank without HR (factor 1) or LR features, ``held_fraction`` outside (0, 1), or a split that
            leaves a side empty.
    """
    factors = [f for f in bank if f != 1]
    if 1 not in bank or not factors or not 0 < held_fraction < 1:
        raise ValueError(f"need factor 1 and at least one LR factor (got {sorted(bank)}) and held_fraction in (0, 1) "
                         f"(got {held_fraction})")
    n = len(bank[1])
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(bank[1].device)
    cut = int(round(n * held_fraction))
    if not 0 < cut < n:
        raise ValueError(f"{n} images and held_fraction {held_fraction} leave no image to train or to hold out")

    def pairs(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat([bank[f][idx] for f in factors]), bank[1][idx].repeat(len(factors), 1)

    return pairs(order[cut:]), pairs(order[:cut])


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


def image_sr_features(backbone: Backbone, train_images: torch.Tensor, test_images: torch.Tensor, factor: int, *,
                      network: str, steps: int, dataset: str, size: int = 224, batch_size: int = 64, seed: int = 0,
                      cache: RunCache | None = None, progress: bool = True) -> torch.Tensor:
    """Image SR, then features (Fig. 5's SRCNN and VDSR): ``network`` (:mod:`lrlib.sr`) learns x``factor`` on
    ``train_images`` (cropped to a multiple of the factor), super-resolves the LR copies of ``test_images``,
    and the backbone sees the result (resized to ``size``). Returns L2-normalised (N_test, dim) features.

    Raises:
        ValueError: images not uint8 (N, 3, S, S), as :func:`lrlib.sr.build_sr` and :func:`lrlib.sr.train_sr`.
    """
    for name, images in (("train_images", train_images), ("test_images", test_images)):
        check_images(name, images, uint8=True, channels=3)
    hr = train_images[..., : train_images.shape[-2] // factor * factor, : train_images.shape[-1] // factor * factor]
    key = {"method": f"image-sr-{network}", "factor": factor, "steps": steps, "batch_size": batch_size, "seed": seed,
           "data": fingerprint(train_images), "sr": SR_VERSION, "version": VERSION}

    def fit() -> tuple[torch.nn.Module, dict]:
        torch.manual_seed(seed)
        net = build_sr(network, factor).to(train_images.device)
        small = low_resolution_uint8(hr, factor, keep_size=False)
        losses = train_sr(net, small, hr, steps=steps, batch_size=batch_size, seed=seed, progress=progress)
        return net, {"loss": losses[-10:]}

    _, net = (cache or RunCache(None)).train_or_load(key, fit, build=lambda: build_sr(network, factor).to(
        train_images.device))
    restored = super_resolve(net.eval(), low_resolution_uint8(test_images, factor, keep_size=False))
    return unit(features(backbone, restored, dataset=f"{dataset}-{network}-x{factor}", size=size, progress=progress))


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


def unrelated_rows(benchmark: RetrievalSet) -> torch.Tensor:
    """The database rows of ``benchmark`` that no query could find: neither relevant nor junk to any query, nor a
    query's own photo. They train G on a benchmark (the paper's Oxford5k split, 4,500 training and 562 test
    images "randomly selected", is not given), so G never sees a query, its answers or its junk.

    Returns:
        (K,) int64 row indices into ``benchmark.database``, ascending.

    Raises:
        ValueError: every database photo is related to some query (nothing left to train on).
    """
    queries = set(benchmark.query_names)
    related = (benchmark.relevant | benchmark.junk).any(0).cpu()
    related |= torch.tensor([n in queries for n in benchmark.names], dtype=torch.bool)
    rows = (~related).nonzero()[:, 0]
    if len(rows) == 0:
        raise ValueError(f"every database photo of {benchmark.name} is relevant, junk or a query: train G on "
                         f"another benchmark's unrelated photos")
    return rows


def query_bits(images: torch.Tensor, factor: int) -> float:
    """Mean size in bits of the LR copies (side S // factor) of uint8 ``images`` saved as PNG (paper Fig. 8).

    Raises:
        ValueError: images not uint8 (N, 3, S, S), and as :func:`lrlib.degrade.low_resolution`.
    """
    check_images("images", images, uint8=True, channels=3)
    small = low_resolution_uint8(images, factor, keep_size=False) if factor > 1 else images
    small = small.permute(0, 2, 3, 1).cpu().numpy()
    sizes = []
    for img in small:
        buffer = io.BytesIO()
        Image.fromarray(img).save(buffer, format="PNG")
        sizes.append(8 * buffer.tell())
    return float(np.mean(sizes))


def _knn(query: torch.Tensor, knn: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None, k: int) -> float | None:
    return None if knn is None else knn_accuracy(knn[0], knn[1], query, knn[2], k=k)


def evaluate(queries: dict[str, dict[int, list[torch.Tensor]]], targets: torch.Tensor, database: torch.Tensor,
             relevant: torch.Tensor, *, train_hr: torch.Tensor, distractors: torch.Tensor | None = None,
             knn: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None, k: int = 10,
             ignore: torch.Tensor | None = None, ap: str = "all-point") -> pd.DataFrame:
    """Every method at every factor: SR-HR distance, retrieval mAP against the HR database (and with distractors
    added to it), k-NN accuracy; mean and standard deviation over runs (seeds), plus two references: ``HR``
    (the HR features as queries, factor 1) and the :data:`CONSTANT` control (the mean HR training feature,
    normalised, for every query: what a generator that ignored its input would do at best on the distance).

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
        map_distractors, knn.

    Raises:
        ValueError: a method with no runs, and as :mod:`lrlib.metrics` for shapes and values.
    """
    big = None if distractors is None else torch.cat([database, distractors.to(database.device)])

    def widen(mask: torch.Tensor) -> torch.Tensor:  # distractor columns: never relevant, never ignored
        return torch.cat([mask, mask.new_zeros(len(mask), len(distractors))], 1)

    wide_ignore = None if ignore is None or big is None else widen(ignore)
    mean = unit(train_hr.mean(0, keepdim=True)).expand(len(targets), -1).to(targets.device)
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
                         "map_distractors": np.mean(extra), "knn": _knn(runs[0], knn, k)})
    return pd.DataFrame(rows)


def benchmark_table(backbone: Backbone, benchmark: RetrievalSet,
                    generators: dict[str, list[tuple[torch.nn.Module, dict]]], factors: list[int], *,
                    train_hr: torch.Tensor, image_sr: dict[str, dict[int, list[torch.Tensor]]] | None = None,
                    distractors: torch.Tensor | None = None, size: int = 224, progress: bool = True) -> pd.DataFrame:
    """:func:`evaluate` on a retrieval benchmark (paper Figs. 4-7): the queries degraded at every factor, raw and
    through each generator (:func:`fsr_queries`), plus ``image_sr`` queries, searched in the HR database, whose
    features never pass through G; the benchmark's own AP (``ap="trapezoid"``) with its junk ignored.

    Args:
        generators: as :func:`train_variants` returns; ``train_hr``: G's HR training features (the constant
            control); ``image_sr``: method -> factor -> [(Q, dim) features of the super-resolved queries].
        distractors: optional (K, dim) unit HR features added to the database, never relevant (Fig. 7; see
            :func:`distractor_features`).

    Returns:
        :func:`evaluate`'s table (no k-NN; ``map_distractors`` NaN without distractors).

    Raises:
        ValueError: as :func:`feature_bank`, :func:`enhance` and :func:`evaluate`.
    """
    bank = feature_bank(backbone, benchmark.queries, factors, dataset=f"{benchmark.name}-queries", size=size,
                        progress=progress)
    database = _database(backbone, benchmark, size, progress)
    queries = {**fsr_queries(generators, bank), **(image_sr or {})}
    return evaluate(queries, bank[1], database, benchmark.relevant.to(database.device), train_hr=train_hr,
                    ignore=benchmark.junk.to(database.device), distractors=distractors, ap="trapezoid")


def _database(backbone: Backbone, benchmark: RetrievalSet, size: int, progress: bool) -> torch.Tensor:
    """Unit HR features of ``benchmark``'s database (M, dim), through the disk cache."""
    return unit(features(backbone, benchmark.database, dataset=benchmark.name, size=size, progress=progress))


def benchmark_references(backbone: Backbone, benchmark: RetrievalSet, *, size: int = 224,
                         progress: bool = True) -> dict[str, float]:
    """Fig. 5's "similar" and "different" lines on a retrieval benchmark, from its ground truth instead of classes:
    the mean distance between a query's unit HR feature and those of its relevant database items (good and ok),
    and of the items neither relevant nor junk (:func:`lrlib.metrics.retrieval_distances`). The features are
    :func:`benchmark_table`'s (same cache).

    Returns:
        ``{"similar": float, "different": float}``.

    Raises:
        ValueError: as :func:`lrlib.backbones.features` and :func:`lrlib.metrics.retrieval_distances`.
    """
    queries = unit(features(backbone, benchmark.queries, dataset=f"{benchmark.name}-queries", size=size,
                            progress=progress))
    database = _database(backbone, benchmark, size, progress)
    similar, different = retrieval_distances(queries, database, benchmark.relevant, ignore=benchmark.junk)
    return {"similar": similar, "different": different}


def distractor_features(backbone: Backbone, name: str, *, size: int = 224, root: Path | None = None,
                        progress: bool = True) -> torch.Tensor:
    """Unit HR features of a set of distractors (paper Fig. 7; ``"revisitop1m-100k"`` stands in for Flickr100k):
    its photos are decoded chunk by chunk (:func:`lrlib.data.load_distractors`), so only one chunk sits
    in memory, and each chunk goes through :func:`lrlib.backbones.features`'s disk cache under its own name
    (``<set>@<size>/<chunk>``), so a chunk is extracted once.

    Args:
        name: a registry entry of kind ``"distractors"``; ``size``: photos are resized to size x size, which is
            also the network's input (as the benchmarks' photos); ``root``: the data root (default
            :func:`lrlib.paths.data_root`).

    Returns:
        (K, dim) float32 on the backbone's device, in the set's chunk order (photos that cannot be decoded left
        out, with a warning).

    Raises:
        ValueError: as :func:`lrlib.data.load_distractors` and :func:`lrlib.backbones.features`; a set
            none of whose photos can be decoded.
        DatasetMissing: the set is not on disk (the message says how to fetch it).
    """
    photos = load_distractors(name, size=size, root=root)
    chunks = tqdm(photos, total=len(photos.chunks), desc=f"{photos.name} chunks", disable=not progress)
    feats = [unit(features(backbone, images, dataset=f"{photos.name}/{chunk}", size=size, progress=False))
             for chunk, images in chunks]
    if not feats:
        raise ValueError(f"none of the {len(photos)} photos of {photos.name} can be decoded: fetch the set again")
    return torch.cat(feats)


def figure_frame(table: pd.DataFrame, column: str, methods: list[str]) -> pd.DataFrame:
    """``column`` of :func:`evaluate`'s table as ratio (rows, by factor) x method (columns), NaN where a method
    did not run, ready for ``frame.plot(marker="o")``.

    Raises:
        ValueError: a method or column the table lacks.
    """
    missing = sorted(set(methods) - set(table["method"])) + ([column] if column not in table else [])
    if missing:
        raise ValueError(f"the table has no {missing}; it has methods {sorted(set(table['method']))}")
    part = table[table["method"].isin(methods) & (table["factor"] > 1)]
    wide = part.pivot(index="factor", columns="method", values=column)[methods]
    wide.index = [ratio_label(int(f)) for f in wide.index]
    return wide


def _at(table: pd.DataFrame, method: str, factor: int, column: str) -> float | None:
    row = table[(table["method"] == method) & (table["factor"] == factor)]
    return None if row.empty else float(row[column].iloc[0])


def findings(table: pd.DataFrame, *, similar: float | None = None) -> str:
    """What one :func:`evaluate` table says against the paper, as a Markdown bullet list, every number computed
    from ``table``: FSR-GAN's distance and mAP gain over raw at the strongest ratio beside the paper's two printed
    numbers (about 0.62; "+25%", read both as points and as a relative gain), FSR-GAN against the CNN-Baseline and
    the constant control per ratio, which power r of the focal loss gives the smallest distance (the paper: 2), and
    where image SR beats FSR-GAN. ``similar``: Fig. 5's "similar" line, if known (two HR images of one class:
    :func:`lrlib.metrics.class_distances`; a query and its relevant photos: :func:`benchmark_references`).

    Raises:
        ValueError: a table without FSR-GAN and raw rows at a factor > 1.
    """
    factors = sorted(set(table.loc[table["method"] == FSR, "factor"]) & set(table.loc[table["method"] == RAW, "factor"]))
    if not factors:
        raise ValueError(f"findings needs {FSR!r} and {RAW!r} rows at a factor > 1; got methods "
                         f"{sorted(set(table['method']))}")
    f = factors[-1]
    d, d_raw = _at(table, FSR, f, "distance"), _at(table, RAW, f, "distance")
    m, m_raw = _at(table, FSR, f, "map"), _at(table, RAW, f, "map")
    near = "" if similar is None else f", {'below' if d < similar else 'above'} the \"similar\" line ({similar:.3f})"
    lines = [f"**Distance at {ratio_label(f)}:** FSR-GAN {d:.3f} (raw {d_raw:.3f}){near}; the paper: about "
             f"{FSR_GAN_TEXT['distance_1/64']} at 1/64.",
             f"**mAP gain over raw at {ratio_label(f)}:** {m - m_raw:+.3f} absolute ({100 * (m - m_raw):+.1f} points), "
             f"{100 * (m / m_raw - 1):+.1f}% relative ({m_raw:.3f} -> {m:.3f}); the paper: "
             f"+{100 * FSR_GAN_TEXT['map_gain_1/64']:.0f}%, not saying which."]
    for other in (CNN, CONSTANT):
        closer = sum(_at(table, FSR, x, "distance") < (_at(table, other, x, "distance") or np.inf) for x in factors)
        better = sum(_at(table, FSR, x, "map") > (_at(table, other, x, "map") or -np.inf) for x in factors)
        lines.append(f"**FSR-GAN against {other}:** smaller distance at {closer} of {len(factors)} ratios, "
                     f"higher mAP at {better}.")
    powers = {name: table.loc[(table["method"] == name) & (table["factor"] > 1), "distance"].mean()
              for name in (GAN_MSE, FSR, GAN_R3) if name in set(table["method"])}
    if len(powers) > 1:
        lines.append(f"**The focal power r:** smallest mean distance over the ratios with {min(powers, key=powers.get)} "
                     f"(" + ", ".join(f"{k} {v:.3f}" for k, v in powers.items()) + "); the paper: r = 2.")
    for sr in sorted(set(table["method"]) - {"HR", RAW, CNN, FSR, GAN_MSE, GAN_R3, CONSTANT}):
        wins = [ratio_label(x) for x in factors if (_at(table, sr, x, "map") or -np.inf) > _at(table, FSR, x, "map")]
        lines.append(f"**{sr} (image SR) against FSR-GAN:** higher mAP at {', '.join(wins) or 'no ratio'}.")
    return "\n".join(f"- {line}" for line in lines)
