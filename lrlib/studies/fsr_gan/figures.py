"""FSR-GAN's figures: one colour per method in every figure (:data:`COLOURS`), the per-ratio panels of Figs. 4-7
with FSR-GAN's seed band (:func:`ratio_panel`), the paper's one printed distance as a single point
(:func:`paper_distance`), and the training curves with the losses (:func:`training_figure`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
import pandas as pd
import torch

from ...degrade import ratio_label
from ...papers import FSR_GAN_TEXT
from .experiments import CNN, CONSTANT, FSR, GAN_MSE, GAN_R3, RAW

__all__ = ["COLOURS", "colour", "figure_frame", "ratio_panel", "paper_distance", "training_figure"]

COLOURS: dict[str, str] = {RAW: "C0", "SRCNN": "C1", "VDSR": "C2", FSR: "C3", CNN: "C4", GAN_MSE: "C5",
                           GAN_R3: "C9", CONSTANT: "C7", "HR": "black"}
"""Each method's colour in every figure of notebook 02 (the image SR networks by their upper-case names)."""


def colour(method: str) -> str:
    """``method``'s colour from :data:`COLOURS`.

    Raises:
        ValueError: a method without a colour (add it to :data:`COLOURS`).
    """
    if method not in COLOURS:
        raise ValueError(f"no colour for method {method!r}; add it to fsr_gan.COLOURS (known: {sorted(COLOURS)})")
    return COLOURS[method]


def figure_frame(table: pd.DataFrame, column: str, methods: list[str]) -> pd.DataFrame:
    """``column`` of :func:`evaluate`'s table as ratio (rows, by factor) x method (columns), NaN where a method
    did not run.

    Raises:
        ValueError: a method or column the table lacks.
    """
    missing = sorted(set(methods) - set(table["method"])) + ([column] if column not in table else [])
    if missing:
        raise ValueError(f"the table has no {missing}; it has methods {sorted(set(table['method']))}")
    part = table[table["method"].isin(methods) & (table["factor"] > 1)]
    wide = part.pivot(index="factor", columns="method", values=column)[methods]
    wide.index = pd.Index([ratio_label(int(f)) for f in wide.index], name="ratio")
    return wide


def ratio_panel(ax: plt.Axes, table: pd.DataFrame, column: str, methods: list[str], *, title: str,
                ylabel: str) -> pd.DataFrame:
    """``column`` per ratio (x: the ratios in factor order, evenly spaced) for each of ``methods`` in its colour;
    where FSR-GAN is one of them, has several seeds and the table has ``<column>_std``, a band of ±1 std over its
    seeds in its colour. Returns the plotted :func:`figure_frame`.

    Raises:
        ValueError: as :func:`figure_frame` and :func:`colour`.
    """
    frame = figure_frame(table, column, methods)
    x = np.arange(len(frame))
    for method in methods:
        ax.plot(x, frame[method], marker="o", color=colour(method), label=method)
    seeds = int(table.loc[table["method"] == FSR, "runs"].max()) if FSR in methods else 1
    if seeds > 1 and f"{column}_std" in table:
        spread = figure_frame(table, f"{column}_std", [FSR])[FSR]
        ax.fill_between(x, frame[FSR] - spread, frame[FSR] + spread, color=colour(FSR), alpha=0.2, linewidth=0,
                        label=f"{FSR} ±1 std over {seeds} seeds")
    ax.set_xticks(x, frame.index)
    ax.set(xlabel="down-scaling ratio (area)", ylabel=ylabel, title=title)
    return frame


def paper_distance(ax: plt.Axes, frame: pd.DataFrame) -> None:
    """The paper's one printed distance, FSR-GAN's "about 0.62" (VGG16 relu7 at 1/64, its benchmark not named), as
    a single point at 1/64 of a :func:`ratio_panel`; nothing when ``frame`` has no 1/64."""
    ratios = list(frame.index)
    if ratio_label(8) in ratios:
        ax.plot([ratios.index(ratio_label(8))], [FSR_GAN_TEXT["distance_1/64"]], linestyle="none", marker="*",
                markersize=14, color=colour(FSR), markeredgecolor="black",
                label="paper: FSR-GAN at 1/64 (VGG16 relu7, its benchmarks)")


_CURVES = {"held_out_distance": "held-out SR-HR distance", "generator_loss": "generator loss (Eq. 9)",
           "critic_loss": "critic loss (Eq. 7) = -W estimate"}
"""The record keys :func:`training_figure` draws, with their axis labels."""


def training_figure(generators: dict[str, dict[str, list[tuple[torch.nn.Module, dict]]]],
                    constants: dict[str, float]) -> plt.Figure:
    """The training curves of every generator, one column per training set: first row the held-out SR-HR distance
    before training (epoch 0) and after each epoch, with the :data:`CONSTANT` control's held-out distance as a
    dashed line; second row, side by side, the per-epoch mean generator loss (the CNN-Baseline's: the focal loss
    alone) and critic loss (Eq. 7: the critic's Wasserstein estimate with its sign flipped; none for the
    CNN-Baseline). Each method in its colour (the legend in the first row holds for the second); a method with
    several seeds is drawn as their mean with a ±1 std band.

    Args:
        generators: training set -> method -> [(G, record)], as :func:`train_variants` returns.
        constants: training set -> the constant control's held-out distance (:func:`constant_distance`).

    Raises:
        ValueError: a training set without a constant, and as :func:`colour`.
    """
    if set(constants) != set(generators):
        raise ValueError(f"constants must give one distance per training set {sorted(generators)}; got "
                         f"{sorted(constants)}")
    n = len(generators)
    mosaic = [sum(([f"held_out_distance{i}"] * 2 for i in range(n)), []),
              sum(([f"generator_loss{i}", f"critic_loss{i}"] for i in range(n)), [])]
    fig, axes = plt.subplot_mosaic(mosaic, figsize=(6 * n, 8))
    for i, (name, gens) in enumerate(generators.items()):
        for key, label in _CURVES.items():
            ax = axes[f"{key}{i}"]
            for method, runs in gens.items():
                curves = np.array([record[key] for _, record in runs], dtype=float)
                if curves.shape[1] == 0:  # no critic: no critic loss
                    continue
                epochs = np.arange(curves.shape[1]) + (key != "held_out_distance")  # losses: epochs 1..E
                mean = curves.mean(0)
                ax.plot(epochs, mean, marker=".", color=colour(method),
                        label=method + (f" (mean of {len(runs)} seeds, ±1 std)" if len(runs) > 1 else ""))
                if len(runs) > 1:
                    std = curves.std(0, ddof=1)
                    ax.fill_between(epochs, mean - std, mean + std, color=colour(method), alpha=0.2, linewidth=0)
            if key == "held_out_distance":
                ax.axhline(constants[name], color=colour(CONSTANT), linestyle="--", label=f"{CONSTANT}, held out")
                ax.legend(fontsize="x-small")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set(xlabel="epoch", ylabel=label, title=f"training · {name}")
    return fig
