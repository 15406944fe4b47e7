"""Results files with provenance, and the run cache that lets a notebook resume.

Each notebook writes ``results/<notebook>.json``: its key numbers beside the
facts needed to trust them (git commit, profile, device, torch version, wall
time, dataset, backbone). A file is replaced only through a temporary file and
``os.replace``, so a crash never leaves half a file; an existing file written
under another profile is kept (renamed with a timestamp) rather than lost.

:class:`RunCache` keeps finished trainings, keyed by everything that defines them:
:meth:`RunCache.train_or_load` is the one way a notebook trains something it may
already have trained.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .paths import cache_dir, repo_root, write_atomic

__all__ = ["results_dir", "provenance", "save_results", "load_results", "fingerprint", "RunCache"]


def results_dir() -> Path:
    """``$LRLIB_RESULTS`` if set, else ``<repo>/results``."""
    return Path(os.environ.get("LRLIB_RESULTS") or repo_root() / "results")


def _git_commit() -> str:
    if os.environ.get("LRLIB_GIT_COMMIT"):  # set where the checkout has no .git (e.g. a copy on a GPU host)
        return os.environ["LRLIB_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo_root(),
                             capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_root(),
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(profile: str, device: str | torch.device, **extra: Any) -> dict[str, Any]:
    """Facts about the run: commit, profile, device name, library versions, date, plus ``extra``."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {
        "git_commit": _git_commit(),
        "profile": profile,
        "device": name,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }


def save_results(notebook: str, numbers: dict[str, Any], meta: dict[str, Any],
                 *, folder: str | Path | None = None) -> Path:
    """Write ``<folder>/<notebook>.json`` = ``{"meta": meta, "results": numbers}`` atomically.

    A previous file from the same profile is replaced (a rerun updates it); one from
    a different profile is first renamed to ``<notebook>.<profile>.<time>.json``, so a
    smoke run never silently overwrites the published quick numbers.
    """
    path = Path(folder or results_dir()) / f"{notebook}.json"
    if path.exists():
        try:
            old_profile = json.loads(path.read_text())["meta"].get("profile")
        except (ValueError, KeyError, TypeError):
            old_profile = "unreadable"
        if old_profile != meta.get("profile"):
            stamp = time.strftime("%Y%m%d-%H%M%S")
            os.replace(path, path.with_name(f"{notebook}.{old_profile}.{stamp}.json"))
    text = json.dumps({"meta": meta, "results": numbers}, indent=2, sort_keys=False, default=_jsonable)
    return write_atomic(path, text + "\n")


def load_results(notebook: str, *, folder: str | Path | None = None) -> dict[str, Any]:
    """Read ``<folder>/<notebook>.json`` back."""
    path = Path(folder or results_dir()) / f"{notebook}.json"
    if not path.exists():
        raise FileNotFoundError(f"no results file {path}: run notebook {notebook} first")
    return json.loads(path.read_text())


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if hasattr(x, "tolist"):  # numpy arrays and scalars
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} to a results file")


def fingerprint(tensor: torch.Tensor) -> str:
    """A short hash of a tensor's shape, dtype and a strided sample of its values (at most 65,536), for cache
    keys: another subset, size or source of the same data set gets another fingerprint."""
    flat = tensor.detach().reshape(-1)
    sample = flat[:: max(1, flat.numel() // 65536)].cpu().numpy().tobytes()
    return hashlib.sha1(f"{tuple(tensor.shape)} {tensor.dtype}".encode() + sample).hexdigest()[:12]


class RunCache:
    """Finished trainings, one JSON (and optionally weights) per run key, so an interrupted notebook resumes.

    Keys are hashed from everything that defines a run (architecture, data, factor, method, lambda,
    initialisation, seed and the whole training configuration). The cache also keeps a ledger of the
    runs it served or stored since it was opened (:meth:`ledger`), so a notebook that resumed can
    still report how much training its numbers took.
    """

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder else None
        self._used: dict[str, dict] = {}

    @classmethod
    def named(cls, name: str) -> "RunCache":
        """The cache ``<$LRLIB_CACHE or data/cache>/runs/<name>``."""
        return cls(cache_dir() / "runs" / name)

    @staticmethod
    def _name(key: dict) -> str:
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        return f"{key.get('method', 'run')}-{digest}"

    def _path(self, key: dict, suffix: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{self._name(key)}{suffix}"

    def get(self, key: dict) -> dict | None:
        path = self._path(key, ".json")
        record = json.loads(path.read_text()) if path and path.exists() else None
        if record is not None:  # a run trained earlier in this session still counts as trained
            self._used.setdefault(self._name(key), {**record, "loaded": True})
        return record

    def put(self, key: dict, record: dict, model: torch.nn.Module | None = None) -> None:
        self._used[self._name(key)] = {"key": key, **record, "loaded": False}
        if self.folder is None:
            return
        if model is not None:
            buffer = io.BytesIO()
            torch.save(model.state_dict(), buffer)
            write_atomic(self._path(key, ".pt"), buffer.getvalue())
        write_atomic(self._path(key, ".json"), json.dumps({"key": key, **record}, indent=1))

    def ledger(self) -> dict[str, float]:
        """The runs served (``loaded``) or stored (``trained``) since this cache was opened, and
        ``train_seconds``: the training time they took when they ran, whichever session ran them."""
        used = self._used.values()
        return {"runs": len(used), "trained": sum(not r["loaded"] for r in used),
                "loaded": sum(r["loaded"] for r in used),
                "train_seconds": round(sum(r.get("seconds", 0.0) for r in used), 1)}

    def weights(self, key: dict) -> dict | None:
        path = self._path(key, ".pt")
        return torch.load(path, map_location="cpu") if path and path.exists() else None

    def train_or_load(self, key: dict, train: Callable[[], tuple[torch.nn.Module, dict]], *,
                      build: Callable[[], torch.nn.Module] | None = None) -> tuple[dict, torch.nn.Module | None]:
        """The run ``key``: from the cache when it is there, else ``train()`` and store it.

        Args:
            train: trains the run and returns ``(model, record)``, ``record`` a JSON-able dict of its
                results; the time it takes is stored with it as ``record["seconds"]``.
            build: builds an untrained model of the run. Given, the weights are kept too, and a cached run
                comes back as that model with its weights loaded (a run cached without weights trains again).

        Returns:
            ``(record, model)``: ``model`` is None for a run loaded without ``build``.
        """
        record = self.get(key)
        weights = self.weights(key) if record is not None and build is not None else None
        if record is not None and (build is None or weights is not None):
            model = None
            if build is not None:
                model = build()
                model.load_state_dict(weights)
                model.eval()
            return record, model
        start = time.perf_counter()
        model, record = train()
        record = {**record, "seconds": round(time.perf_counter() - start, 3)}
        self.put(key, record, model if build is not None else None)
        return record, model
