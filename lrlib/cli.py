"""The ``lrlib`` command: explore the notebooks in JupyterLab, reproduce them, manage data sets.

Examples::

    lrlib lab                            # JupyterLab on notebooks/, with the "Python (lrlib)" kernel
    lrlib reproduce                      # every notebook: quick on a CUDA GPU, else cpu (smoke without its data)
    lrlib reproduce --profile quick --only 01
    lrlib reproduce --profile cpu --only 05 --publish     # refresh the committed notebook (they are cpu runs)
    lrlib data list
    lrlib data fetch cifar10
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

from .paths import data_root, make_folder, repo_root, write_atomic

KERNEL_NAME, KERNEL_DISPLAY_NAME = "lrlib", "Python (lrlib)"


def _reproduce(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from .runner import NotebookFailed, choose_profile, execute, notebooks, publish, write_report

    if args.publish and args.profile not in ("cpu", "quick"):
        print(f"error: --publish needs --profile cpu (the committed notebooks are cpu runs) or quick; got "
              f"{args.profile!r}", file=sys.stderr)
        return 2
    todo = notebooks(args.only)
    banner = None
    profile = args.profile
    if profile is None:
        profile, banner = choose_profile(todo, gpu=torch.cuda.is_available())
    out = Path(args.out or repo_root() / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{profile}")
    if out.exists() and not out.is_dir():
        print(f"error: --out {out} is a file, not a folder; choose another --out", file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()):
        print(f"error: run folder {out} exists and is not empty; choose another --out", file=sys.stderr)
        return 2
    make_folder(out)  # a file above it: a ValueError that names it (main prints it)
    print(f"running {len(todo)} notebook(s) with the {profile!r} profile into {out}")
    done = []
    for nb in (bar := tqdm(todo, unit="notebook")):
        bar.set_description(nb.stem)
        try:
            done.append(execute(nb, out, profile, timeout=args.timeout))
        except NotebookFailed as err:
            bar.close()
            print(f"\nerror: {err}\nthe partly executed notebook is {out / nb.name}", file=sys.stderr)
            return 1
    report = write_report(done, out, profile, banner=banner)
    print(f"report: {report}")
    if args.publish:
        for run in done:
            print("published: " + ", ".join(str(p.relative_to(repo_root())) for p in publish(run, out)))
    return 0


def _data(args: argparse.Namespace) -> int:
    from . import data

    if args.action == "list":
        print(f"data folder: {data_root()}  (set LRLIB_DATA to move it)")
        width = max(map(len, data.datasets()))
        for name, entry in data.datasets().items():
            print(f"  {name:<{width}} {data.status(name):<20} {entry.description}")
        return 0
    try:
        path = data.fetch(args.name)
    except (data.DatasetMissing, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.name}: ready in {path}")
    return 0


def install_kernel(kernels: Path) -> Path:
    """Write the project's kernel spec ``kernels/lrlib/kernel.json``: this Python (``sys.executable``), with lrlib.

    ``kernels`` is a Jupyter kernels folder: ``<venv>/share/jupyter/kernels`` for ``lrlib lab`` (what
    ``ipykernel install --sys-prefix`` does) or ``$JUPYTER_DATA_DIR/kernels``. Returns the spec's folder.
    """
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": KERNEL_DISPLAY_NAME, "language": "python", "metadata": {"debugger": True}}
    return write_atomic(kernels / KERNEL_NAME / "kernel.json", json.dumps(spec, indent=1) + "\n").parent


def lab_command(port: int | None = None, *, browser: bool = True) -> list[str]:
    """The command line of JupyterLab on the repository, opened at ``notebooks/``, served on 127.0.0.1 only.

    As root (a container), it adds ``--allow-root``, without which Jupyter refuses to start; the server
    still listens on 127.0.0.1 only and asks for its token.
    """
    argv = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={repo_root()}",
            "--LabApp.default_url=/lab/tree/notebooks"]
    argv += [f"--ServerApp.port={port}"] if port else []
    argv += [] if browser else ["--no-browser"]
    return argv + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])


def _lab(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        print("error: JupyterLab is not installed in this environment; install the dev extra: "
              "make env (or pip install -e '.[dev]')", file=sys.stderr)
        return 2
    if not (repo_root() / "notebooks").is_dir():
        print(f"error: no notebooks folder in {repo_root()}; run lrlib lab from a clone of the course "
              "repository installed with pip install -e .", file=sys.stderr)
        return 2
    spec = install_kernel(Path(sys.prefix) / "share" / "jupyter" / "kernels")
    print(f"kernel {KERNEL_DISPLAY_NAME!r} ({KERNEL_NAME}) registered in {spec}", flush=True)
    argv = lab_command(args.port, browser=not args.no_browser)
    os.execv(argv[0], argv)


def _positive_int(text: str) -> int:
    """argparse type: an int >= 1 (a timeout of 0 or less would mean 'no limit' to papermill, silently)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second, got {value}")
    return value


def _port(text: str) -> int:
    """argparse type: a TCP port, 1..65535 (Jupyter would fail later with a traceback of its own)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port lies in 1..65535 (e.g. 8890), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrlib",
        description="Course tools for low-resolution visual recognition: run the notebooks, get the data.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="execute the notebooks with papermill and write a report",
                         description="Execute every notebook (or those named by --only) into a run folder "
                                     "and write REPORT.md with the paper-vs-ours tables and the figures.")
    rep.add_argument("--profile", choices=["smoke", "cpu", "quick", "paper"],
                     help="smoke: CPU, seconds, no real data; cpu: real data, minutes on a laptop's CPU (the published "
                          "notebooks); quick: one GPU, minutes; paper: the papers' settings (default: quick with a "
                          "CUDA GPU, else cpu, fetching missing data when online, else smoke with a warning)")
    rep.add_argument("--only", nargs="+", metavar="NN", help="notebook number prefixes, e.g. --only 01 04")
    rep.add_argument("--out", help="run folder (default: runs/<date>-<profile>)")
    rep.add_argument("--timeout", type=_positive_int, default=3600, help="seconds allowed per cell (default 3600)")
    rep.add_argument("--publish", action="store_true",
                     help="after a successful cpu (or quick) run, replace the committed notebooks (cleaned of "
                          "papermill's metadata) and their results/ files with the new ones")
    rep.set_defaults(func=_reproduce)
    dat = sub.add_parser("data", help="list or fetch the course data sets",
                         description="Data live in ./data (or $LRLIB_DATA). 'fetch' downloads when online, "
                                     "checks checksums, and otherwise says which files to put where.")
    dat_sub = dat.add_subparsers(dest="action", required=True)
    dat_sub.add_parser("list", help="every data set and whether it is ready")
    fetch = dat_sub.add_parser("fetch", help="download and verify one data set")
    fetch.add_argument("name", help="a name from 'lrlib data list', e.g. cifar10")
    dat.set_defaults(func=_data)
    lab = sub.add_parser("lab", help="explore the notebooks in JupyterLab",
                         description=f"Register the kernel {KERNEL_DISPLAY_NAME!r} (this environment's Python) "
                                     "and start JupyterLab on notebooks/, on 127.0.0.1.")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser; print the URL")
    lab.add_argument("--port", type=_port, help="port to serve on (default: 8888, or the next free one)")
    lab.set_defaults(func=_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
