"""The library's shape: every module imports on its own, no import cycle, building blocks never reach up into a
study, and modules stay short enough to read (the one algorithm, SIFT, excepted)."""

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lrlib"
MAX_LINES = 500
ONE_ALGORITHM = {"lrlib.sift"}  # allowed to be longer: one algorithm, read top to bottom


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The lrlib modules that ``name`` imports anywhere in its source (top level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_there_is_no_import_cycle():
    done, active = set(), []

    def visit(name: str) -> None:
        if name in active:
            cycle = active[active.index(name):] + [name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        active.append(name)
        for other in sorted(GRAPH[name]):
            if not other.startswith(name + "."):  # a package importing its own modules is not a cycle
                visit(other)
        active.pop()
        done.add(name)

    for name in GRAPH:
        visit(name)


def test_building_blocks_never_import_a_study():
    for name, imported in GRAPH.items():
        if not name.startswith("lrlib.studies"):
            studies = sorted(m for m in imported if m.startswith("lrlib.studies"))
            assert not studies, f"{name} (a building block) imports {studies}: data must flow one way"


def test_modules_stay_short():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES and name not in ONE_ALGORITHM}
    assert not long, f"modules over {MAX_LINES} lines: {long}; split them by what they hold"


def test_every_module_imports_on_its_own():
    def load(name: str) -> tuple[str, int, str]:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
        return name, done.returncode, done.stderr[-2000:]

    with ThreadPoolExecutor(max_workers=4) as pool:
        failed = [(n, err) for n, code, err in pool.map(load, sorted(MODULES)) if code != 0]
    assert not failed, "\n\n".join(f"import {n} failed:\n{err}" for n, err in failed)
