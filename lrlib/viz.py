"""Notebook helpers: one figure style, t-SNE, the paper-vs-ours table, Markdown tables and source listings."""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from .checks import check_finite, check_images, check_int, check_positive
from .paths import repo_root

__all__ = ["style", "markdown_table", "show_source", "Source", "tsne", "tsne_panels", "paper_table",
           "degradation_grid", "ratio_plot"]


def style() -> None:
    """The course's notebook style, called in every notebook's first cell.

    Figures: seaborn's whitegrid, readable fonts, PNG output at 110 dpi. Tables: inside IPython,
    DataFrames and Series also get a ``text/markdown`` representation (:func:`markdown_table`), which
    the run report (``lrlib reproduce``) shows; Jupyter still displays their HTML.

    Raises:
        Nothing: outside IPython the table part is a no-op.
    """
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.titleweight": "bold",
                         "figure.autolayout": True})
    _register_markdown_tables()


def _register_markdown_tables() -> None:
    """Register :func:`markdown_table` with IPython's ``text/markdown`` formatter; a no-op outside IPython."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["text/markdown"]
    for kind in (pd.DataFrame, pd.Series):
        formatter.for_type(kind, _markdown_repr)


def _markdown_repr(frame: pd.DataFrame | pd.Series) -> str | None:
    """:func:`markdown_table`, or None (no Markdown output) for tables longer than ``display.max_rows``."""
    limit = pd.get_option("display.max_rows")
    return None if limit is not None and len(frame) > limit else markdown_table(frame)


def markdown_table(frame: pd.DataFrame | pd.Series) -> str:
    """A DataFrame or Series as a Markdown (GitHub-flavoured) table, without the ``tabulate`` package.

    The index comes first, one column per level, headed by its name (empty when unnamed). MultiIndex
    column labels are joined with " · ". Cells read as pandas prints them (a column's floats share their
    decimals); missing values (NaN, None, NA, NaT) are empty; "|" is escaped. Numeric columns are
    right-aligned.

    Returns:
        The table: a header line, an alignment line and one line per row, joined by newlines.

    Raises:
        TypeError: ``frame`` is neither a DataFrame nor a Series.
    """
    if not isinstance(frame, (pd.DataFrame, pd.Series)):
        raise TypeError(f"frame must be a pandas DataFrame or Series; got {type(frame).__name__}")
    if isinstance(frame, pd.Series):
        frame = pd.DataFrame({_label(frame.name): frame})
    index = frame.index
    columns = [(_label(name), pd.Series(index.get_level_values(i))) for i, name in enumerate(index.names)]
    columns += [(_label(name), frame.iloc[:, i]) for i, name in enumerate(frame.columns)]
    align = ["---:" if _is_number(values) else "---" for _, values in columns]
    cells = [_cells(values) for _, values in columns]
    lines = [[_escape(label) for label, _ in columns], align, *(list(row) for row in zip(*cells))]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _label(name: Any) -> str:
    """A label as text: "" for None, tuples (MultiIndex) joined with " · ", empty parts left out."""
    if isinstance(name, tuple):
        return " · ".join(str(part) for part in name if part is not None and part != "")
    return "" if name is None else str(name)


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _cells(values: pd.Series) -> list[str]:
    """The (N,) values as pandas prints them, one escaped string per value, missing values empty."""
    if values.empty:
        return []
    with pd.option_context("display.max_colwidth", None):
        lines = values.reset_index(drop=True).to_string(index=False, header=False).split("\n")
    return ["" if missing else _escape(line.strip()) for line, missing in zip(lines, values.isna())]


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


@dataclass(frozen=True, repr=False)
class Source:
    """The source code of one function, class or method, as a notebook shows it (see :func:`show_source`).

    Attributes:
        name: dotted name, e.g. ``lrlib.metrics.psnr``.
        path: its file, relative to the repository when inside it.
        line: the first line of the definition (decorators included).
        code: the definition, dedented.

    Raises:
        Nothing itself (a plain record, made by :func:`show_source`).
    """

    name: str
    path: str
    line: int
    code: str

    @property
    def caption(self) -> str:
        return f"`{self.name}` ({self.path}, line {self.line})"

    def _repr_markdown_(self) -> str:
        return f"{self.caption}\n\n```python\n{self.code.rstrip()}\n```\n"

    def __repr__(self) -> str:
        return f"{self.name} ({self.path}, line {self.line})\n\n{self.code.rstrip()}\n"


def show_source(obj: Any) -> Source:
    """The library's own source of ``obj`` (a function, class or method), to show in a notebook.

    What a student reads is what runs: the code comes from :func:`inspect.getsource` on the imported
    object. Jupyter renders the result as a captioned, highlighted ``python`` block (``text/markdown``).

    Raises:
        TypeError: ``obj`` has no Python source (a builtin or compiled function, an instance).
    """
    name = _dotted_name(obj)
    try:
        lines, line = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj) or inspect.getfile(obj)).resolve()
    except (TypeError, OSError) as err:
        raise TypeError(f"{name} has no Python source to show ({err}); show_source takes a function, class "
                        f"or method written in Python, e.g. show_source(lrlib.viz.paper_table)") from None
    shown = path.relative_to(repo_root()).as_posix() if path.is_relative_to(repo_root()) else str(path)
    return Source(name, shown, max(line, 1), textwrap.dedent("".join(lines)))


def _dotted_name(obj: Any) -> str:
    """``module.qualname`` of a function, class or method; the repr of anything else."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return getattr(obj, "__name__", None) or repr(obj)


def tsne(features: np.ndarray | torch.Tensor, *, seed: int = 0, pca_dims: int = 50,
         perplexity: float = 30.0) -> np.ndarray:
    """2-d t-SNE embedding of (N, D) features after PCA to ``pca_dims`` dimensions.

    PCA first removes noise and makes t-SNE much faster (the usual recipe of van der
    Maaten and Hinton). Perplexity is capped below N for tiny sets.

    Returns:
        (N, 2) float array.

    Raises:
        ValueError: features that are not (N, D) numbers, fewer than 5 points, NaN or infinite values,
            ``pca_dims`` not an int >= 1, ``perplexity`` not a positive number.
    """
    x = check_finite("features", torch.as_tensor(features).float()).cpu().numpy()
    n = len(x)
    if x.ndim != 2 or n < 5:
        raise ValueError(f"t-SNE needs (N, D) features with at least 5 points; got shape {x.shape}")
    check_int("pca_dims", pca_dims)
    check_positive("perplexity", perplexity)
    dims = min(pca_dims, n, x.shape[1])
    x = PCA(n_components=dims, random_state=seed).fit_transform(x)
    perplexity = min(perplexity, (n - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def tsne_panels(embeddings: dict[str, np.ndarray], labels: np.ndarray | torch.Tensor,
                classes: Sequence[str], *, suptitle: str = "") -> plt.Figure:
    """Side-by-side scatter plots of 2-d embeddings (one panel per title), coloured by class.

    Raises:
        ValueError: no embedding, an embedding that is not (N, 2) for the N labels, or labels that are not
            integer indices into ``classes`` (a point of a class without a name would silently not be drawn).
    """
    labels = np.asarray(torch.as_tensor(labels).cpu())
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or (
            len(labels) and (labels.min() < 0 or labels.max() >= len(classes))):
        raise ValueError(f"labels must be (N,) integer indices into the {len(classes)} classes; got dtype "
                         f"{labels.dtype}, shape {labels.shape}, values such as {labels[:5].tolist()}")
    if not embeddings:
        raise ValueError("embeddings is empty: pass at least one title -> (N, 2) embedding")
    for title, emb in embeddings.items():
        if np.shape(emb) != (len(labels), 2):
            raise ValueError(f"embedding {title!r} must be (N, 2) for the {len(labels)} labels; got {np.shape(emb)}")
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

    Raises:
        ValueError: ``ours`` is empty (there would be no columns).
    """
    if not ours:
        raise ValueError("ours is empty: pass at least one run, label -> {column: value}")
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

    Raises:
        ValueError: no rows, an image that is not uint8 (3, H, W) (a [0, 1] float image would be divided by
            255 again and show black), and as :func:`lrlib.degrade.low_resolution` for the factors.
    """
    if not rows:
        raise ValueError("rows is empty: pass at least one title -> (3, H, W) uint8 image")
    for name, image in rows.items():
        check_images(f"rows[{name!r}]", image, uint8=True, ndim=3, channels=3)
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

    Raises:
        ValueError: no table, or a table without ``column``, ``spread`` (when given) or ``ratio``.
    """
    if not tables:
        raise ValueError("tables is empty: pass at least one label -> table")
    for label, t in tables.items():
        missing = [c for c in (column, spread, "ratio") if c is not None and c not in t.columns]
        if missing:
            raise ValueError(f"table {label!r} has no column {missing}; it has {list(t.columns)}")
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
