"""The ``lrlib`` command: reproduce the notebooks, manage data sets.

Examples::

    lrlib reproduce                      # every notebook, quick on a CUDA GPU, smoke otherwise
    lrlib reproduce --profile quick --only 01
    lrlib reproduce --profile quick --only 05 --publish   # on a GPU: refresh the committed notebook
    lrlib data list
    lrlib data fetch cifar10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _reproduce(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from .results import repo_root
    from .runner import NotebookFailed, execute, notebooks, publish, write_report

    profile = args.profile or ("quick" if torch.cuda.is_available() else "smoke")
    if args.publish and profile != "quick":
        print(f"error: --publish needs --profile quick (the committed notebooks are quick runs); got {profile!r}",
              file=sys.stderr)
        return 2
    out = Path(args.out or repo_root() / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{profile}")
    if out.exists() and any(out.iterdir()):
        print(f"error: run folder {out} exists and is not empty; choose another --out", file=sys.stderr)
        return 2
    todo = notebooks(args.only)
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
    report = write_report(done, out, profile)
    print(f"report: {report}")
    if args.publish:
        for run in done:
            print("published: " + ", ".join(str(p.relative_to(repo_root())) for p in publish(run, out)))
    return 0


def _data(args: argparse.Namespace) -> int:
    from . import data

    if args.action == "list":
        print(f"data folder: {data.data_root()}  (set LRLIB_DATA to move it)")
        for name, entry in data.datasets().items():
            print(f"  {name:<14} {data.status(name):<20} {entry.description}")
        return 0
    try:
        path = data.fetch(args.name)
    except (data.DatasetMissing, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.name}: ready in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrlib",
        description="Course tools for low-resolution visual recognition: run the notebooks, get the data.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="execute the notebooks with papermill and write a report",
                         description="Execute every notebook (or those named by --only) into a run folder "
                                     "and write REPORT.md with the paper-vs-ours tables and the figures.")
    rep.add_argument("--profile", choices=["smoke", "quick", "paper"],
                     help="smoke: CPU, seconds; quick: one GPU, minutes; paper: the papers' settings "
                          "(default: quick when a CUDA GPU is present, else smoke)")
    rep.add_argument("--only", nargs="+", metavar="NN", help="notebook number prefixes, e.g. --only 01 04")
    rep.add_argument("--out", help="run folder (default: runs/<date>-<profile>)")
    rep.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell (default 3600)")
    rep.add_argument("--publish", action="store_true",
                     help="after a successful quick run, replace the committed notebooks (cleaned of papermill's "
                          "metadata) and their results/ files with the new ones")
    rep.set_defaults(func=_reproduce)
    dat = sub.add_parser("data", help="list or fetch the course data sets",
                         description="Data live in ./data (or $LRLIB_DATA). 'fetch' downloads when online, "
                                     "checks checksums, and otherwise says which files to put where.")
    dat_sub = dat.add_subparsers(dest="action", required=True)
    dat_sub.add_parser("list", help="every data set and whether it is ready")
    fetch = dat_sub.add_parser("fetch", help="download and verify one data set")
    fetch.add_argument("name", help="a name from 'lrlib data list', e.g. cifar10")
    dat.set_defaults(func=_data)
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
