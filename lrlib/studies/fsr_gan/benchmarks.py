"""FSR-GAN on the paper's retrieval benchmarks (Oxford5k, Paris6k, Holidays; the ``paper`` profile): the photos G
trains on (:func:`unrelated_rows`), the table of every method (:func:`benchmark_table`), Fig. 5's "similar" /
"different" lines from the ground truth (:func:`benchmark_references`) and Fig. 7's distractors, chunk by chunk
(:func:`distractor_features`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from ...backbones import Backbone, features
from ...data import RetrievalSet, load_distractors
from ...metrics import retrieval_distances
from .experiments import evaluate, feature_bank, fsr_queries
from .method import unit

__all__ = ["unrelated_rows", "benchmark_table", "benchmark_references", "distractor_features"]


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
