"""Figure helpers shared by the notebooks: one style, t-SNE, and the paper-vs-ours table."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

__all__ = ["style", "tsne", "tsne_panels", "paper_table", "degradation_grid", "ratio_plot"]


def style() -> None:
    """The course's figure style: seaborn's whitegrid, readable fonts, PNG output at 110 dpi."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.titleweight": "bold",
                         "figure.autolayout": True})


def tsne(features: np.ndarray | torch.Tensor, *, seed: int = 0, pca_dims: int = 50,
         perplexity: float = 30.0) -> np.ndarray:
    """2-d t-SNE embedding of (N, D) features after PCA to ``pca_dims`` dimensions.

    PCA first removes noise and makes t-SNE much faster (the usual recipe of van der
    Maaten and Hinton). Perplexity is capped below N for tiny sets.

    Returns:
        (N, 2) float array.
    """
    x = torch.as_tensor(features).float().cpu().numpy()
    n = len(x)
    if n < 5:
        raise ValueError(f"t-SNE needs at least 5 points; got {n}")
    dims = min(pca_dims, n, x.shape[1])
    x = PCA(n_components=dims, random_state=seed).fit_transform(x)
    perplexity = min(perplexity, (n - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def tsne_panels(embeddings: dict[str, np.ndarray], labels: np.ndarray | torch.Tensor,
                classes: Sequence[str], *, suptitle: str = "") -> plt.Figure:
    """Side-by-side scatter plots of 2-d embeddings (one panel per title), coloured by class."""
    labels = np.asarray(torch.as_tensor(labels).cpu())
    n = len(embeddings)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 5), squeeze=False)
    palette = sns.color_palette("tab10" if len(classes) <= 10 else "husl", len(classes))
    for ax, (title, emb) in zip(axes[0], embeddings.items()):
        for c, name in enumerate(classes):
            pts = emb[labels == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=4, color=palette[c], label=name, alpha=0.8, linewidths=0)
        ax.set(title=title, xlabel="t-SNE 1", ylabel="t-SNE 2", xticks=[], yticks=[])
    axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=3, frameon=False,
                       fontsize="small", ncols=1 if len(classes) <= 20 else 2)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def paper_table(ours: dict[str, dict[str, float]], paper: dict[str, float | None], *,
                paper_label: str = "paper", digits: int = 4) -> pd.DataFrame:
    """The paper's row, then for each of our runs its row and its difference to the paper.

    Args:
        ours: row label (e.g. backbone and data set) -> column -> value.
        paper: column -> the paper's value (missing or None is shown as "n/a").

    Returns:
        DataFrame with rows ``paper_label``, then ``label`` and ``label - paper`` per run,
        columns in the order of the first run's keys.
    """
    cols = list(next(iter(ours.values())))
    rows = {paper_label: [paper.get(c) for c in cols]}
    for label, values in ours.items():
        rows[label] = [values.get(c) for c in cols]
        rows[f"{label} - paper"] = [None if paper.get(c) is None or values.get(c) is None
                                    else values[c] - paper[c] for c in cols]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=cols, dtype=float)
    return frame.round(digits).astype(object).where(frame.notna(), "n/a")


def degradation_grid(rows: dict[str, torch.Tensor], factors: Sequence[int]) -> plt.Figure:
    """One row per image: the original, then its low-resolution copy at every factor.

    Args:
        rows: title -> one (3, H, W) uint8 image.
        factors: side down-scaling factors (titles show the area ratio and the LR size).
    """
    from .degrade import low_resolution, ratio_label

    cols = [1, *factors]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(1.6 * len(cols), 1.75 * len(rows)), squeeze=False)
    for r, (name, image) in enumerate(rows.items()):
        x = image[None].float().cpu() / 255
        side = x.shape[-1]
        for c, f in enumerate(cols):
            shown = low_resolution(x, f)[0] if f > 1 else x[0]
            ax = axes[r, c]
            ax.imshow(shown.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set(xticks=[], yticks=[])
            ax.grid(False)
            ax.set_title("HR" if f == 1 else f"{ratio_label(f)} ({side // f} px)", fontsize="small")
        axes[r, 0].set_ylabel(name, fontsize="small")
    return fig


def ratio_plot(tables: dict[str, pd.DataFrame], column: str, *, ylabel: str, title: str,
               spread: str | None = None, refs: dict[str, float] | None = None, ax: plt.Axes | None = None
               ) -> plt.Axes:
    """A metric against the down-scaling ratio, one line per table (e.g. per data set or backbone).

    Args:
        tables: label -> a table indexed by factor with a ``ratio`` column and ``column``.
        spread: optional column of variances drawn as a +-1 standard deviation band.
        refs: label -> value drawn as dashed horizontal reference lines.
    """
    ax = ax or plt.subplots(figsize=(6.4, 4.2))[1]
    for label, t in tables.items():
        x = np.arange(len(t))
        y = t[column].astype(float).to_numpy()
        line, = ax.plot(x, y, marker="o", label=label)
        if spread:
            sd = np.sqrt(t[spread].astype(float).to_numpy())
            ax.fill_between(x, y - sd, y + sd, color=line.get_color(), alpha=0.15)
        ax.set_xticks(x, t["ratio"].tolist())
    for (label, value), style in zip((refs or {}).items(), ["--", ":", "-.", (0, (5, 1))]):
        ax.axhline(value, color="grey", linestyle=style, label=label)
    ax.set(xlabel="down-scaling ratio (area)", ylabel=ylabel, title=title)
    ax.legend(fontsize="small")
    return ax
