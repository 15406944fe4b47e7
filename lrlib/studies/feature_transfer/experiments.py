"""The experiments of notebook 03: the data splits (:func:`splits`, single- and multi-label sets alike), per-class
APs, Table 1 (:func:`table1_spaces`, :func:`evaluate_spaces`, the paper's rows beside VOC2007), Table 2
(:func:`grid_tables`) and the conclusions (:func:`findings`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ...checks import check_int
from ... import data
from ...data import load
from ...metrics import average_precision
from ...papers import TRANSFER_MAP, TRANSFER_TABLE1, TRANSFER_TABLE2, VOC_CLASSES
from ...svm import check_targets, fit_svms, svm_scores
from .method import READINGS, TransferNet, pca_features, same_epochs, transform

__all__ = ["PARTS", "PCA_ROW", "GAPS", "Part", "is_multilabel", "first_positive", "one_vs_rest", "class_aps", "splits",
           "work", "evaluate_spaces", "table1_spaces", "pick_pca", "grid_tables", "paper_rows", "map_summary", "findings"]


def one_vs_rest(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(N, C) targets in {1, -1} of single-label class indices (N,), the VOC layout without difficult items.

    Raises:
        ValueError: labels not 1-d integers in [0, n_classes).
    """
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.is_floating_point() or (len(labels) and not 0 <= labels.min() <= labels.max()
                                                         < check_int("n_classes", n_classes)):
        raise ValueError(f"labels must be (N,) integers in [0, {n_classes}); got {labels.dtype} {tuple(labels.shape)}")
    return 2 * F.one_hot(labels.long(), n_classes) - 1


def class_aps(scores, targets, *, voc07: bool = True) -> np.ndarray:
    """Average precision per class, difficult items (target 0) left out of their class, as the VOC devkit does.

    ``scores`` (N, C) are decision values, ``targets`` (N, C) in {1, 0, -1}; ``voc07``: 11-point AP, else all-point.
    Returns (C,) float64 APs in [0, 1]; their mean is the mAP.

    Raises:
        ValueError: shapes that differ, targets outside {1, 0, -1}, a class without a positive, NaN scores.
    """
    s, t = np.asarray(torch.as_tensor(scores).detach().cpu(), np.float64), check_targets("targets", targets).cpu().numpy()
    if s.shape != t.shape:
        raise ValueError(f"scores and targets must both be (N, C); got {s.shape} and {t.shape}")
    return np.array([average_precision(s[t[:, c] != 0, c], t[t[:, c] != 0, c] == 1, voc07=voc07)
                     for c in range(t.shape[1])])


#: The three parts of every data set, in the order of Table 1's feature spaces and targets.
PARTS = ("train", "val", "test")
#: Kind of data set (:func:`lrlib.data.datasets`) -> (the split of the training pool, the test split; None: the pool).
_SOURCES = {"labelled": ("train", "test"), "multilabel": ("trainval", "test"), "samples": ("all", None)}


class Part(NamedTuple):
    """One part of a data set: ``images`` uint8 (N, 3, H, W); ``targets`` (N, C) int8 in {1, 0, -1} (VOC's layout: 1
    present, 0 difficult, -1 absent; :func:`one_vs_rest` for a single-label set), what the SVMs and APs use; ``labels``
    int64 (N,), one class per image for the stratified draw, k-NN and t-SNE colours: the class of a single-label set,
    :func:`first_positive` of a multi-label one.

    Raises:
        Nothing itself (a plain record; :func:`splits` builds it)."""

    images: torch.Tensor
    targets: torch.Tensor
    labels: torch.Tensor

    def take(self, index: torch.Tensor) -> Part:
        """The images at ``index`` (1-d int64, on any device), with their targets and labels."""
        return Part(*(x[index.to(x.device)] for x in self))


def is_multilabel(name: str) -> bool:
    """Whether the registry's ``name`` has several labels per image (VOC2007: :func:`lrlib.data.load_multilabel`).

    Raises:
        Nothing: an unknown name is not multi-label (loading it says which names there are)."""
    entry = data.datasets().get(name)
    return entry is not None and entry.kind == "multilabel"


def first_positive(targets) -> torch.Tensor:
    """One class per image of multi-label targets (N, C) in {1, 0, -1}: its first present class (target 1), else its
    first difficult one (0). Returns int64 (N,). VOC2007 annotates an object in every photo, so each has one.

    Raises:
        ValueError: targets not (N, C) in {1, 0, -1}, or an image absent from every class (a row of -1).
    """
    t = check_targets("targets", targets)
    rank = 2 * (t == 1).long() + (t == 0).long()  # present 2, difficult 1, absent 0; argmax takes the first maximum
    if empty := (rank.max(1).values == 0).nonzero()[:, 0].tolist():
        raise ValueError(f"targets: rows {empty[:5]} ({len(empty)} images) are absent from every class, so they have "
                         f"no class to stratify or colour by; every VOC photo holds an object: unpack the devkit again")
    return rank.argmax(1)


def _part(name: str, kind: str, split: str, limit: int | None, size: int, device) -> tuple[Part, list[str]]:
    """One split of ``name`` as a :class:`Part`, and the class names (``samples``: 32x32 crops, CIFAR-10's size)."""
    if kind == "multilabel":
        voc = data.load_multilabel(name, split, size=size, limit=limit, device=device)
        return Part(voc.images, voc.targets, first_positive(voc.targets)), list(voc.classes)
    s = load(name, split, size=32 if kind == "samples" else None, limit=limit, device=device)
    return Part(s.images, one_vs_rest(s.labels, len(s.classes)).to(torch.int8), s.labels), list(s.classes)


def _held_out(labels: torch.Tensor, n_val: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, held-out) indices of a seeded draw of ``n_val`` items stratified by ``labels`` (N,): the items shuffled
    within each class, classes in order, and ``n_val`` picks spread evenly over that order (position i N // n_val),
    so each class is held out in proportion to its size, whatever N and n_val."""
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    by_class = perm[labels.cpu()[perm].argsort(stable=True)]
    held = by_class[torch.arange(n_val) * len(labels) // n_val]
    return torch.tensor(sorted(set(range(len(labels))) - set(held.tolist()))), held


def splits(name: str, n_train: int | None, n_val: int, *, n_test: int | None = None, seed: int = 0, size: int = 224,
           device="cpu") -> tuple[dict[str, Part], list[str]]:
    """A training pool, ``n_val`` of it held out for model selection, and the test split, each a :class:`Part`.

    Single-label sets (cifar10, fashion-mnist, svhn): a class-balanced pool of ``n_train`` images from ``train``
    (:func:`lrlib.data.load`'s ``limit``; None: all) and ``test`` (class-balanced ``n_test`` of it; None: all), targets :func:`one_vs_rest`. Multi-label sets
    (voc2007, as the paper): the pool is ``trainval`` (5,011 photos; ``n_train`` keeps the first, in the devkit's
    order) and the test set ``test`` (4,952), whole photos resized to ``size`` x ``size``, targets the devkit's.
    The held-out images are a seeded draw stratified by ``labels`` (for VOC each photo's first present class, so
    every class keeps its share of first places). ``samples`` (smoke) has no test split: the whole set serves as
    the test set too, which only checks that the code runs.

    Returns ({"train" | "val" | "test": Part}, class names).

    Raises:
        ValueError: a set without a training and a test split, ``n_val`` not an int in [1, N), and as
            :func:`lrlib.data.load`, :func:`lrlib.data.load_multilabel` and :func:`first_positive`.
        lrlib.data.DatasetMissing: the files are not there (the message says how to get them).
    """
    entries = data.datasets()
    kind = entries[name].kind if name in entries else None
    if kind not in _SOURCES:
        ready = [n for n, e in entries.items() if e.kind in _SOURCES]
        raise ValueError(f"{name} ({kind or 'not in the registry'}) has no training and test splits; use one of "
                         f"{', '.join(ready)}")
    pool_split, test_split = _SOURCES[kind]
    pool, classes = _part(name, kind, pool_split, n_train, size, device)
    if not 1 <= check_int("n_val", n_val) < len(pool.labels):
        raise ValueError(f"n_val must leave training images: 1 <= n_val < {len(pool.labels)}; got {n_val}")
    kept, held = _held_out(pool.labels, n_val, seed)
    test = pool if test_split is None else _part(name, kind, test_split, n_test, size, device)[0]
    return {"train": pool.take(kept), "val": pool.take(held), "test": test}, classes


def work(sizes: dict[str, int], n_train: int, factors: list[int], n1s: list[int], n2s: list[int], *,
         epochs: float | str, batch_size: int, cs: list[float]) -> str:
    """What a run of notebook 03 will do, in one line: the feature extractions (every image of every set at HR and
    at every factor), the transfer networks (Table 2's grid on the first set, then both readings of Table 1 per set
    and factor) with their iterations (:func:`same_epochs` over ``n_train`` images), and the SVMs' C grid.

    Args:
        sizes: images per data set (training, validation and test together), by name.
    """
    iterations, _ = same_epochs(n_train, min(batch_size, n_train), epochs)
    grid, table1 = len(n1s) * len(n2s), len(sizes) * len(factors) * len(READINGS)
    return (f"work: {sum(sizes.values()) * (len(factors) + 1):,} feature extractions ({sum(sizes.values()):,} images "
            f"x {len(factors) + 1} resolutions); {grid} + {table1} transfer networks of {iterations:,} iterations of "
            f"{min(batch_size, n_train)}; one-vs-rest SVMs per class, space and C ({len(cs)} values)")


def evaluate_spaces(spaces: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                    targets: tuple[torch.Tensor, torch.Tensor, torch.Tensor], cs: list[float], classes: list[str],
                    *, max_iter: int = 100) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Table 1 for any feature spaces (name -> (train, val, test) features), each with the same SVM tuning: per-class
    SVMs for every C in ``cs`` on the training features, C chosen by the validation mAP, then AP (VOC2007 11-point)
    per class on the test features; ``targets`` (train, val, test), each (N, C) in {1, 0, -1}. A space's row does
    not depend on the other spaces (:func:`lrlib.svm.fit_svms` solves each problem on its own).

    Returns (one row per space: ``dims``, ``C``, ``C at edge`` (the best C is the grid's first or last: widen it),
    ``val mAP``, the test AP of each class (%) and the test ``mAP`` (%), unrounded; and per space its test scores
    (N, C) at the chosen C, for :func:`gap_table`).

    Raises:
        ValueError: no space, fewer than 3 values of C (the edge check needs an inside), as :func:`fit_svms`.
    """
    if not spaces or len(cs) < 3:
        raise ValueError(f"need at least one space and 3 values of C; got {len(spaces)} spaces, cs={cs}")
    weights = fit_svms([s[0] for s in spaces.values()], targets[0], cs, max_iter=max_iter)
    rows, scores = {}, {}
    for (name, (_, val, test)), w in zip(spaces.items(), weights):
        val_map = [float(class_aps(s, targets[1]).mean()) for s in svm_scores(w, val)]
        best = int(np.argmax(val_map))
        scores[name] = svm_scores(w[best:best + 1], test)[0]
        aps = 100 * class_aps(scores[name], targets[2])
        rows[name] = {"dims": val.shape[1], "C": cs[best], "C at edge": best in (0, len(cs) - 1),
                      "val mAP": 100 * val_map[best], **dict(zip(classes, aps)), "mAP": float(aps.mean())}
    return pd.DataFrame.from_dict(rows, orient="index"), scores


#: Table 1's row of the PCA control, at the width the validation split chose (:func:`pick_pca`).
PCA_ROW = "PCA of LR"


def table1_spaces(hr: dict[str, torch.Tensor], lr: dict[str, torch.Tensor], nets: dict[str, TransferNet],
                  pca_widths: list[int]) -> dict[str, tuple[torch.Tensor, ...]]:
    """Table 1's feature spaces, name -> (train, val, test) features, from the HR and LR backbone features (split ->
    (N, D)) and the trained networks (reading -> :class:`TransferNet`): HR, LR, the transferred LR features of each
    reading, and the PCA control at each of ``pca_widths`` ("PCA-<k> of LR": the LR features on their first k
    principal axes; a width above min(N, D) becomes min(N, D), and each width comes once), among which
    :func:`pick_pca` chooses on the validation split, as the grid chooses the transfer's (N1, N2).

    Raises:
        ValueError: no network or no width, and as :func:`transform` and :func:`pca_features`.
    """
    if not nets or not pca_widths:
        raise ValueError(f"need reading -> TransferNet for at least one reading and at least one PCA width; got "
                         f"{list(nets)} and {pca_widths}")
    spaces = {"HR": tuple(hr[k] for k in PARTS), "LR": tuple(lr[k] for k in PARTS)}
    spaces |= {f"transfer ({reading})": tuple(transform(net, lr[k]) for k in PARTS) for reading, net in nets.items()}
    for dims in sorted({min(w, *lr["train"].shape) for w in pca_widths}):  # at most min(N, D) axes
        spaces[f"PCA-{dims} of LR"] = tuple(pca_features(lr["train"], [lr["val"], lr["test"]], dims))
    return spaces


def pick_pca(table: pd.DataFrame, scores: dict[str, torch.Tensor]) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Of the "PCA-<k> of LR" rows of an :func:`evaluate_spaces` result, keep the one of the best validation mAP as
    :data:`PCA_ROW` (its ``dims`` the chosen width), with its test scores; the other rows as they are.

    Raises:
        ValueError: no PCA row.
    """
    widths = [name for name in table.index if name.startswith("PCA-")]
    if not widths:
        raise ValueError(f"no PCA-<k> row among {list(table.index)}: build the spaces with table1_spaces")
    best = table.loc[widths, "val mAP"].astype(float).idxmax()
    keep = [name for name in table.index if name not in widths or name == best]
    return (table.loc[keep].rename(index={best: PCA_ROW}),
            {(PCA_ROW if k == best else k): v for k, v in scores.items() if k in keep})


def grid_tables(results: dict[tuple[int, int], dict[str, float]]) -> tuple[pd.DataFrame, pd.DataFrame, tuple[int, int]]:
    """Table 2's layout (rows N2, columns N1) of the validation and test mAP of ``results`` ((n1, n2) -> a row of
    :func:`evaluate_spaces`), and the (N1, N2) of the best validation mAP (the test grid never chooses).

    Raises:
        ValueError: an empty grid.
    """
    if not results:
        raise ValueError("results is empty: pass (n1, n2) -> {'val mAP', 'mAP'} for at least one point")
    frames = [pd.Series({k: r[col] for k, r in results.items()}).unstack(0).rename_axis(index="N2", columns="N1")
              for col in ("val mAP", "mAP")]
    return frames[0], frames[1], max(results, key=lambda k: results[k]["val mAP"])


def paper_rows(name: str) -> pd.DataFrame | None:
    """The paper's Table 1 rows (%, columns VOC's classes in the devkit's order, as ours) for ``name`` voc2007, the
    only data set it ran; None for any other.

    Raises:
        Nothing: other names give None."""
    rows = {f"paper: {k}": {**v, "mAP": TRANSFER_MAP[k]} for k, v in TRANSFER_TABLE1.items()}
    return pd.DataFrame.from_dict(rows, orient="index") if name == "voc2007" else None


def _against_paper(label: str, t: pd.DataFrame) -> list[str]:
    """Two findings for a VOC2007 table: its mAPs beside the paper's Table 1, gap by gap, and the per-class gains of
    the transfer (nearest, the paper's reading) over LR beside the paper's."""
    m, paper = t["mAP"], TRANSFER_MAP
    ours_gain = t.loc["transfer (nearest)", list(VOC_CLASSES)] - t.loc["LR", list(VOC_CLASSES)]
    paper_gain = pd.Series(TRANSFER_TABLE1["Ours"]) - pd.Series(TRANSFER_TABLE1["Baseline-LR"])
    return [f"**{label} against the paper's Table 1** (ResNet-101, the same data): HR {m['HR']:.1f} (paper "
            f"{paper['Baseline-HR']:.1f}), LR {m['LR']:.1f} ({paper['Baseline-LR']:.1f}), transfer "
            f"{m['transfer (nearest)']:.1f} ({paper['Ours']:.1f}). Down-scaling costs {m['HR'] - m['LR']:.1f} points "
            f"here and {paper['Baseline-HR'] - paper['Baseline-LR']:.1f} in the paper; the transfer wins back "
            f"{m['transfer (nearest)'] - m['LR']:+.1f} here and {paper['Ours'] - paper['Baseline-LR']:+.1f} there.",
            f"**{label} per class:** the transfer beats LR in {int((ours_gain > 0).sum())} of {len(ours_gain)} classes "
            f"here (largest gain: {ours_gain.idxmax()}, {ours_gain.max():+.1f}) and in {int((paper_gain > 0).sum())} "
            f"of {len(paper_gain)} in the paper ({paper_gain.idxmax()}, {paper_gain.max():+.1f})."]


#: The gaps that :func:`findings` weighs against the test set's noise (:func:`gap_table`'s pairs).
GAPS = (("transfer (nearest)", "LR"), ("transfer (nearest)", PCA_ROW), ("transfer (nearest)", "transfer (paired)"))
#: Table 1's rows in :func:`map_summary`, and the paper's value of each (its Table 1, VOC2007, ResNet-101).
_SUMMARY = {"HR": TRANSFER_MAP["Baseline-HR"], "LR": TRANSFER_MAP["Baseline-LR"],
            "transfer (nearest)": TRANSFER_MAP["Ours"], "transfer (paired)": None, PCA_ROW: None}


def _same_data(label: str) -> bool:
    """Whether a block (labelled "<data set> <side>x<side>") is on the paper's data set, VOC2007."""
    return label.startswith("voc2007")


def map_summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The test mAP (%) of Table 1's rows (HR, LR, both transfers, the PCA control) in one column per block (label
    -> a :func:`pick_pca` table), and the paper's VOC2007 values (89.1 / 78.1 / 80.0) in a last column whose heading
    says when they are another data set than ours.

    Raises:
        KeyError: a table without those rows (the message names the missing ones).
    """
    missing = {label: sorted(set(_SUMMARY) - set(t.index)) for label, t in tables.items()}
    if any(missing.values()):
        raise KeyError(f"Table 1 frames lack rows {missing}: build them with table1_spaces, evaluate_spaces, pick_pca")
    out = pd.DataFrame({label: t.loc[list(_SUMMARY), "mAP"].astype(float) for label, t in tables.items()})
    same = all(_same_data(label) for label in tables)
    head = "paper: VOC2007, ResNet-101" + ("" if same else " (other data: not comparable)")
    return out.assign(**{head: pd.Series(_SUMMARY, dtype=float)}).rename_axis(index="mAP (%)")


def _verdict(gap: pd.Series, other: str) -> str:
    """How a space stands against ``other`` from a :func:`gap_table` row: beats it, falls behind it, or is within
    the test set's noise of it (the 95% interval holds 0; an exact tie always is)."""
    span = f"{gap['gap']:+.2f} points, 95% interval {gap['low']:+.2f} to {gap['high']:+.2f}"
    if gap["within noise"] or gap["gap"] == 0:
        return f"is within noise of {other} ({span})"
    return f"{'beats' if gap['gap'] > 0 else 'falls behind'} {other} ({span})"


def findings(tables: dict[str, pd.DataFrame], choice: tuple[int, int], test_grid: pd.DataFrame,
             train_accuracy: dict[str, float], gaps: dict[str, pd.DataFrame]) -> str:
    """What this run says, as a Markdown bullet list computed from its numbers: ``tables`` (label -> a
    :func:`pick_pca` table), the validation ``choice`` (N1, N2), Table 2's ``test_grid`` (rows N2, columns N1), each
    network's ``train_accuracy`` on its pseudo-labels, and ``gaps`` (label -> :func:`gap_table` of :data:`GAPS`):
    a gap whose bootstrap interval holds 0 is called within noise, not a win.

    Raises:
        ValueError: no table, a table without the HR, LR, transfer and PCA rows, a block without its gaps.
    """
    need = {"HR", "LR", PCA_ROW, *(f"transfer ({r})" for r in READINGS)}
    pairs = [f"{a} - {b}" for a, b in GAPS]
    if not tables or any(not need <= set(t.index) for t in tables.values()):
        raise ValueError(f"findings needs Table 1 frames with rows {sorted(need)}; got "
                         f"{ {k: list(t.index) for k, t in tables.items()} }")
    if any(label not in gaps or not set(pairs) <= set(gaps[label].index) for label in tables):
        raise ValueError(f"findings needs gap_table(..., GAPS) for every block {list(tables)}; got {list(gaps)}")
    lines, paper_gain = [], TRANSFER_MAP["Ours"] - TRANSFER_MAP["Baseline-LR"]
    for label, t in tables.items():
        m, g = t["mAP"], gaps[label]
        paper = "paper, the same data" if _same_data(label) else "paper, VOC2007 with ResNet-101, other data"
        lines.append(f"**{label}:** HR {m['HR']:.1f}, LR {m['LR']:.1f}, transfer {m['transfer (nearest)']:.1f} "
                     f"(nearest) / {m['transfer (paired)']:.1f} (paired), PCA {m[PCA_ROW]:.1f} "
                     f"({t.loc[PCA_ROW, 'dims']} dims, chosen on validation) mAP. The transfer (nearest) "
                     f"{_verdict(g.loc[pairs[0]], 'the LR baseline')} ({paper}: {paper_gain:+.1f}) and "
                     f"{_verdict(g.loc[pairs[1]], 'the PCA control')}; the nearest reading "
                     f"{_verdict(g.loc[pairs[2]], 'the paired one')}.")
        if _same_data(label):
            lines += _against_paper(label, t)
        if t["C at edge"].any():
            lines.append(f"**{label}: C at the edge of its grid** for {', '.join(t.index[t['C at edge']])}: widen it.")
    best_test = test_grid.stack().idxmax()  # (N2, N1)
    lines.append(f"**Table 2:** the validation split chooses N1 = {choice[0]}, N2 = {choice[1]} (test mAP "
                 f"{test_grid.loc[choice[1], choice[0]]:.1f}); the test grid's best is N1 = {best_test[1]}, N2 = "
                 f"{best_test[0]} ({test_grid.max().max():.1f}); the paper chose N1 = 4096, N2 = 100 on its test set "
                 f"({100 * TRANSFER_TABLE2[4096, 100]:.1f}).")
    low = {k: v for k, v in train_accuracy.items() if v < 0.9}
    fit = (f"under 90% for {', '.join(f'{k} ({100 * v:.1f}%)' for k, v in low.items())}: under-fit" if low
           else f"at least {100 * min(train_accuracy.values()):.1f}% for every network: none is under-fit")
    lines.append(f"**Transfer networks' accuracy on their pseudo-labels:** {fit}.")
    return "\n".join(f"- {line}" for line in lines)
