"""Execute the course notebooks with papermill into a run folder and write a markdown report.

A run folder holds the executed notebooks, their results files (``results/``),
the figures they drew (``figures/``) and ``REPORT.md``, which gathers, per
notebook, the outputs of every cell tagged ``report``: the paper-vs-ours tables
and the key figures.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .results import repo_root, results_dir, write_atomic

__all__ = ["NotebookFailed", "notebooks", "execute", "write_report", "clean_notebook", "publish"]


class NotebookFailed(RuntimeError):
    """A notebook raised: which notebook, which cell, which error."""

    def __init__(self, notebook: str, cell: int | None, error: str):
        where = f"cell {cell}" if cell is not None else "before any cell ran"
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
                            execution_timeout=timeout, progress_bar=False, log_output=False)
    except PapermillExecutionError as err:
        raise NotebookFailed(notebook.stem, err.exec_count, f"{err.ename}: {err.evalue}") from None
    except Exception as err:  # kernel died, timeout, bad notebook file
        raise NotebookFailed(notebook.stem, None, f"{type(err).__name__}: {err}") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Executed(notebook.stem, target, time.perf_counter() - start)


def write_report(runs: list[Executed], out_dir: Path, profile: str) -> Path:
    """Write ``out_dir/REPORT.md`` from the outputs of the cells tagged ``report``."""
    import nbformat

    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    lines = [f"# lrlib run report ({profile} profile)", "",
             "| notebook | wall time (s) |", "| --- | ---: |"]
    lines += [f"| {r.name} | {r.seconds:.1f} |" for r in runs]
    for run in runs:
        nb = nbformat.read(run.path, as_version=4)
        lines += ["", f"## {run.name}", ""]
        for i, cell in enumerate(nb.cells):
            if "report" not in cell.get("metadata", {}).get("tags", []):
                continue
            for j, output in enumerate(cell.get("outputs", [])):
                data = output.get("data", {})
                if "image/png" in data:
                    png = figures / f"{run.name}_cell{i}_{j}.png"
                    png.write_bytes(base64.b64decode(data["image/png"]))
                    lines += [f"![{run.name} cell {i}](figures/{png.name})", ""]
                elif "text/markdown" in data:
                    lines += [data["text/markdown"], ""]
                elif "text/html" in data:
                    lines += [data["text/html"], ""]
                elif output.get("output_type") == "stream":
                    lines += ["```", output.get("text", "").rstrip(), "```", ""]
    return write_atomic(out_dir / "REPORT.md", "\n".join(lines) + "\n")


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
    """Put an executed ``quick`` run where readers see it: the cleaned notebook over ``notebooks/`` and its
    results file (``out_dir/results/<name>.json``) into ``results/``. Both are written atomically; the
    versions they replace stay in git. Returns the paths written."""
    notebooks_dir = notebooks_dir or repo_root() / "notebooks"
    results = results or results_dir()
    source = out_dir / "results" / f"{run.name}.json"
    if not source.is_file():
        raise ValueError(f"{run.name} wrote no results file ({source}); every notebook must end with save_results")
    target = write_atomic(notebooks_dir / run.path.name, run.path.read_bytes())
    clean_notebook(target)
    return [target, write_atomic(results / source.name, source.read_bytes())]
