"""Execute the course notebooks with papermill into a run folder and write a markdown report.

A run folder holds the executed notebooks, their results files (``results/``),
the figures they drew (``figures/``) and ``REPORT.md``, which gathers, per
notebook, the outputs of every cell tagged ``report``: the paper-vs-ours tables
and the key figures, under the notebook's headings.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .paths import repo_root, write_atomic
from .results import published_dir

if TYPE_CHECKING:
    from nbformat import NotebookNode

__all__ = ["NotebookFailed", "notebooks", "datasets_needed", "choose_profile", "execute", "write_report",
           "clean_notebook", "publish"]

#: What ``lrlib data list`` says of a data set a run can read as it is.
_READY = ("ready", "ships with packages")


# ipykernel >= 7 logs "Kernel is running over TCP without encryption ..." at every start, from the kernel
# process (its IPKernelApp log, whose stderr is our terminal). That log shows errors only; the kernel listens
# on 127.0.0.1, and the notebooks' own warnings are cell outputs, which this leaves alone.
_KERNEL_QUIET = ["--IPKernelApp.log_level=ERROR"]

# A progress bar's line in a stream output: tqdm redraws it with carriage returns and draws "42%|####".
_PROGRESS = re.compile(r"\r|\d+%\|")


class NotebookFailed(RuntimeError):
    """A notebook raised or timed out: which notebook, which cell, which error.

    ``cell`` is the cell's position in the notebook, counting every cell (Markdown too) from 1, as a
    reader counts them in JupyterLab; None when no cell had started (e.g. the kernel did not start).
    """

    def __init__(self, notebook: str, cell: int | None, error: str):
        where = f"cell {cell} (counting every cell from 1)" if cell is not None else "before any cell ran"
        super().__init__(f"notebook {notebook} failed in {where}: {error}")
        self.notebook, self.cell, self.error = notebook, cell, error


@dataclass
class Executed:
    name: str
    path: Path
    seconds: float


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The course notebooks (``notebooks/NN_*.ipynb``), optionally those whose name starts with one of ``only``."""
    found = sorted((repo_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
        if not found:
            raise ValueError(f"no notebook matches --only {' '.join(only)}; "
                             f"available: {[p.stem for p in sorted((repo_root() / 'notebooks').glob('*.ipynb'))]}")
    return found


def datasets_needed(notebook: str, profile: str) -> list[str]:
    """The registry's data sets that ``notebook``'s ``profile`` settings name (as a ``name=``, a key or a value),
    folders you name yourself (``images``, ``pairs``) left out."""
    from . import data
    from .profiles import SETTINGS

    names, found = set(data.datasets()) - {"images", "pairs"}, set()

    def walk(x: object) -> None:
        if isinstance(x, dict):
            found.update(k for k in x if k in names)
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
        elif isinstance(x, str) and x in names:
            found.add(x)

    walk(SETTINGS[notebook][profile])
    return sorted(found)


def choose_profile(todo: list[Path], *, gpu: bool, progress: bool = True) -> tuple[str, str | None]:
    """The profile ``make reproduce`` runs when none is named, and a banner for the report (None if all is well).

    With a GPU, ``quick``. Without one, ``cpu`` where its data are there; data that are missing are fetched first
    (with a progress bar) where the machine is online. If some cannot be had (offline), it says which and where to
    put them, and runs ``smoke`` with a banner saying its numbers mean nothing.
    """
    from . import data

    if gpu:
        return "quick", None
    needed = sorted({name for nb in todo for name in datasets_needed(nb.stem, "cpu")})
    missing = {}
    for name in needed:
        if data.status(name) in _READY:
            continue
        print(f"data set {name!r} is missing: fetching it", flush=True)
        try:
            data.fetch(name, progress=progress)
        except (data.DatasetMissing, ValueError) as err:
            missing[name] = str(err)
    if not missing:
        return "cpu", None
    print("these data sets are missing and could not be fetched (offline?); put them in place to run the 'cpu' "
          "profile (see data/README.md):\n" + "\n".join(f"- {n}: {why}" for n, why in missing.items()), flush=True)
    print("running the 'smoke' profile instead: its numbers mean nothing", flush=True)
    return "smoke", (f"**A smoke run: its numbers mean nothing.** This machine has no GPU and lacks the data of the "
                     f"`cpu` profile ({', '.join(missing)}), so every notebook ran on the tiny photos that ship with "
                     f"scikit-image and scikit-learn, only to show that the code runs. Put the data in place "
                     f"(`lrlib data list`, `data/README.md`) and run `make reproduce` again.")


def execute(notebook: Path, out_dir: Path, profile: str, *, timeout: int = 3600) -> Executed:
    """Run one notebook with papermill under ``LRLIB_PROFILE=profile`` (no injected parameters cell).

    Results go to ``out_dir/results`` through ``LRLIB_RESULTS``. Raises :class:`NotebookFailed`.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / notebook.name
    env = {"LRLIB_PROFILE": profile, "LRLIB_RESULTS": str(out_dir / "results")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(notebook), str(target), kernel_name="python3", cwd=str(notebook.parent),
                            execution_timeout=timeout, progress_bar=False, log_output=False,
                            extra_arguments=_KERNEL_QUIET)
    except PapermillExecutionError as err:
        raise NotebookFailed(notebook.stem, err.cell_index + 1, f"{err.ename}: {err.evalue}") from None
    except Exception as err:  # a cell timed out, the kernel died, a bad notebook file
        error = f"{type(err).__name__}: {err}"
        if isinstance(err, TimeoutError):
            error = f"it ran past the limit of {timeout} s per cell (--timeout)"
        raise NotebookFailed(notebook.stem, _last_started_cell(target), error) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Executed(notebook.stem, target, time.perf_counter() - start)


def _last_started_cell(executed: Path) -> int | None:
    """Position (from 1) of the last cell papermill started in the partly executed ``executed``, or None."""
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
    except (OSError, ValueError):
        return None
    started = [i for i, cell in enumerate(cells) if cell.metadata.get("papermill", {}).get("start_time")]
    return started[-1] + 1 if started else None


def write_report(runs: list[Executed], out_dir: Path, profile: str, *, banner: str | None = None) -> Path:
    """Write ``out_dir/REPORT.md``: ``banner`` first if given, the wall time of every notebook and of each of its
    parts (the seconds of its code cells, summed under each Markdown heading), then what its ``report`` cells showed.

    Per notebook, under the notebook's own headings: tables as Markdown (HTML-only tables as their plain
    text), figures as PNG files in ``out_dir/figures`` named after their heading
    (``04_distillation-fig-2-the-weight-lambda.png``), and what cells printed to stdout as code blocks,
    progress bars removed. stderr and plain-text-only results (``<Figure ...>``) are left out.
    """
    import nbformat

    lines = [f"# lrlib run report ({profile} profile)", "", *([f"> {banner}", ""] if banner else []),
             "| notebook | wall time (s) |", "| --- | ---: |"]
    lines += [f"| {r.name} | {r.seconds:.1f} |" for r in runs]
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for run in runs:
        nb = nbformat.read(run.path, as_version=4)
        lines += ["", f"## {run.name}", "", *_part_times(nb), *_notebook_report(run.name, nb, figures)]
    return write_atomic(out_dir / "REPORT.md", "\n".join(lines) + "\n")


def _part_times(nb: NotebookNode) -> list[str]:
    """A Markdown table of the seconds papermill measured for the code cells under each heading, in order."""
    seconds: dict[str, float] = {}
    for heading, cell in _under_headings(nb):
        if cell.cell_type == "code":
            duration = cell.metadata.get("papermill", {}).get("duration")
            seconds[heading] = seconds.get(heading, 0.0) + float(duration or 0.0)
    if not seconds:
        return []
    rows = [f"| {heading or '(before the first heading)'} | {s:.1f} |" for heading, s in seconds.items()]
    return ["Time per part (papermill's cell durations):", "", "| part | seconds |", "| --- | ---: |", *rows, ""]


def _notebook_report(name: str, nb: NotebookNode, figures: Path) -> list[str]:
    """The report lines of the executed notebook ``name``; writes its figures into ``figures``."""
    outputs = list(_tagged_outputs(nb))
    per_section = Counter(heading for heading, output in outputs if "image/png" in output.get("data", {}))
    drawn: Counter[str] = Counter()
    lines, section = [], None
    for heading, output in outputs:
        if png := _png(output):
            drawn[heading] += 1
            file = _figure_name(name, heading, drawn[heading] if per_section[heading] > 1 else None)
            (figures / file).write_bytes(png)
            shown = [f"![{heading or name}](figures/{file})", ""]
        else:
            shown = _text(output)
        if shown and heading != section:
            lines += [f"### {heading}", ""] if heading else []
            section = heading
        lines += shown
    return lines


def _under_headings(nb: NotebookNode) -> Iterator[tuple[str, NotebookNode]]:
    """(heading, cell) for every cell, ``heading`` the text of the nearest Markdown heading above or in it ("" before
    any)."""
    heading = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found = re.findall(r"^#+\s+(.+?)\s*#*\s*$", cell.source, flags=re.MULTILINE)
            heading = found[-1] if found else heading
        yield heading, cell


def _tagged_outputs(nb: NotebookNode) -> Iterator[tuple[str, dict]]:
    """(heading, output) for every output of the cells tagged ``report``, in order (``heading``: as
    :func:`_under_headings`)."""
    for heading, cell in _under_headings(nb):
        if cell.cell_type == "code" and "report" in cell.metadata.get("tags", []):
            for output in _coalesced(cell.get("outputs", [])):
                yield heading, output


def _coalesced(outputs: list[dict]) -> list[dict]:
    """A cell's outputs with consecutive stream outputs of one name joined (kernels send text in pieces)."""
    merged: list[dict] = []
    for output in outputs:
        previous = merged[-1] if merged else {}
        if output.get("output_type") == "stream" == previous.get("output_type") \
                and output.get("name") == previous.get("name"):
            merged[-1] = {**previous, "text": previous["text"] + output["text"]}
        else:
            merged.append(output)
    return merged


def _png(output: dict) -> bytes | None:
    data = output.get("data", {}).get("image/png")
    return base64.b64decode(data) if data else None


def _figure_name(notebook: str, heading: str, number: int | None) -> str:
    """``<notebook>-<heading slug>[-<number>].png``, e.g. ``04_distillation-fig-2-the-weight-lambda.png``.

    The slug keeps the heading's lowercase letters and digits, whole words up to 64 characters.
    """
    slug = "-".join(re.findall(r"[a-z0-9]+", heading.lower())) or "figure"
    slug = slug if len(slug) <= 64 else slug[:65].rsplit("-", 1)[0]
    return f"{notebook}-{slug}{'' if number is None else f'-{number}'}.png"


def _text(output: dict) -> list[str]:
    """Report lines for a non-figure output: Markdown as is, stdout and HTML-only tables as code blocks."""
    if output.get("output_type") == "stream":
        if output.get("name") != "stdout":
            return []
        kept = [line for line in output.get("text", "").split("\n") if not _PROGRESS.search(line)]
        return _code_block("\n".join(kept))
    data = output.get("data", {})
    if "text/markdown" in data:
        return [data["text/markdown"].rstrip(), ""]
    if "text/html" in data:  # a table displayed without Markdown: its plain text, never raw HTML and <style>
        return _code_block(data.get("text/plain", ""))
    return []


def _code_block(text: str) -> list[str]:
    text = text.strip("\n")
    return ["```", text, "```", ""] if text.strip() else []


def clean_notebook(path: Path) -> None:
    """Make an executed notebook publishable, in place.

    Drops papermill's metadata, any injected-parameters cell, and stderr streams (progress bars and
    warnings, which differ on every machine). Outputs, execution counts and cell tags (the
    ``parameters`` tag) are kept.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    write_atomic(path, nbformat.writes(nb) + "\n")


def publish(run: Executed, out_dir: Path, *, notebooks_dir: Path | None = None,
            results: Path | None = None) -> list[Path]:
    """Put an executed ``cpu`` (or ``quick``) run where readers see it: the cleaned notebook over ``notebooks/`` and its
    results file (``out_dir/results/<name>.json``) into the committed ``results/`` (:func:`lrlib.results.published_dir`,
    which nothing else writes). Both are written atomically; the versions they replace stay in git. Returns the
    paths written."""
    notebooks_dir = notebooks_dir or repo_root() / "notebooks"
    results = results or published_dir()
    source = out_dir / "results" / f"{run.name}.json"
    if not source.is_file():
        raise ValueError(f"{run.name} wrote no results file ({source}); every notebook must end with save_results")
    target = write_atomic(notebooks_dir / run.path.name, run.path.read_bytes())
    clean_notebook(target)
    return [target, write_atomic(results / source.name, source.read_bytes())]
