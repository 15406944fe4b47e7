"""Results files with provenance, and the run cache that lets a notebook resume.

Each notebook writes ``<notebook>.json``: its key numbers beside the facts needed
to trust them (git commit, profile, device, torch version, wall time, dataset,
backbone), into :func:`results_dir`: ``$LRLIB_RESULTS`` (``lrlib reproduce`` sets
it to its run folder) or ``runs/notebooks/results/``, never the committed
``results/``, which only a publishing run writes (:func:`published_dir`). A file
is replaced only through a temporary file and ``os.replace``, so a crash never
leaves half a file; an existing file written under another profile is kept
(renamed with a timestamp) rather than lost, also when two runs write at once.

:class:`RunCache` keeps finished trainings, keyed by everything that defines them:
:meth:`RunCache.train_or_load` is the one way a notebook trains something it may
already have trained.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checks import check_weights
from .device import describe, numerics
from .paths import cache_dir, make_folder, repo_root, set_aside, write_atomic

__all__ = ["results_dir", "published_dir", "git_commit", "provenance", "save_results", "load_results", "fingerprint", "RunCache"]


def results_dir() -> Path:
    """Where a run writes its results: ``$LRLIB_RESULTS`` if set, else ``<repo>/runs/notebooks/results``.

    Never the committed ``results/`` (:func:`published_dir`): a notebook run in JupyterLab or with
    papermill from a checkout must not displace the published numbers.
    """
    return Path(os.environ.get("LRLIB_RESULTS") or repo_root() / "runs" / "notebooks" / "results")


def published_dir() -> Path:
    """The committed results of the published ``quick`` runs, ``<repo>/results``: only
    :func:`lrlib.runner.publish` (``lrlib reproduce --publish``) writes here."""
    return repo_root() / "results"


def git_commit() -> str:
    """The checkout's short commit, ``-dirty`` when tracked files differ from it (``$LRLIB_GIT_COMMIT`` where there is
    no ``.git``), ``"unknown"`` without git."""
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
    """Facts about the run: commit, profile, device (the GPU's name, or the CPU's model and cores), its numeric
    path (``"cpu-fp32"``, ``"cuda-bf16"``: :func:`lrlib.device.numerics`), library versions, date, plus ``extra``."""
    return {
        "git_commit": git_commit(),
        "profile": profile,
        "device": describe(device),
        "numerics": numerics(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }


def save_results(notebook: str, numbers: dict[str, Any], meta: dict[str, Any],
                 *, folder: str | Path | None = None) -> Path:
    """Write ``<folder>/<notebook>.json`` = ``{"meta": meta, "results": numbers}`` atomically (default folder:
    :func:`results_dir`).

    A previous file from the same profile is replaced (a rerun updates it); one from a different
    profile, or one that cannot be read, is first renamed to ``<notebook>.<profile>.<time>.<pid>.json``,
    so a smoke run never silently overwrites quick numbers. Writers of one file take turns (a lock
    file beside it), so two runs at once each end with their results on disk.

    NaN and infinities (a column a profile did not fill) are written as ``null``: JSON has no NaN, and a file with
    one would fail strict readers.

    Raises:
        TypeError: a value that JSON cannot hold (before anything is written).
        ValueError: a file stands where the folder must be.
    """
    path = Path(folder or results_dir()) / f"{notebook}.json"
    plain = json.loads(json.dumps({"meta": meta, "results": numbers}, default=_jsonable))  # tensors, arrays -> lists
    text = json.dumps(_null_if_not_finite(plain), indent=2, sort_keys=False, allow_nan=False)
    make_folder(path.parent)
    with open(path.with_name(f".{path.name}.lock"), "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old_profile = _profile_of(path)
        if old_profile is not None and old_profile != str(meta.get("profile")):
            stamp = f"{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}"
            os.replace(path, path.with_name(f"{notebook}.{old_profile}.{stamp}.json"))
        return write_atomic(path, text + "\n")


def _profile_of(path: Path) -> str | None:
    """The profile a results file was written under: None when there is no file, ``"unreadable"`` when it is damaged."""
    if not path.exists():
        return None
    try:
        return str(json.loads(path.read_text())["meta"].get("profile"))
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return "unreadable"


def load_results(notebook: str, *, folder: str | Path | None = None) -> dict[str, Any]:
    """Read ``<folder>/<notebook>.json`` back (default folder: :func:`results_dir`).

    Raises:
        FileNotFoundError: there is no such file (the message says to run the notebook).
        ValueError: the file is damaged (not JSON, or not an object with ``meta`` and ``results``); the message
            names it.
    """
    path = Path(folder or results_dir()) / f"{notebook}.json"
    if not path.exists():
        raise FileNotFoundError(f"no results file {path}: run notebook {notebook} first")
    try:
        content = json.loads(path.read_text())
        if not isinstance(content, dict):
            raise ValueError(f"it holds a JSON {type(content).__name__}, not an object with 'meta' and 'results'")
        if not {"meta", "results"} <= set(content):
            raise ValueError("it lacks 'meta' or 'results'")
    except (ValueError, TypeError, UnicodeDecodeError) as err:
        raise ValueError(f"the results file {path} is damaged ({err}); delete it and run notebook {notebook} "
                         f"again") from None
    return content


def _null_if_not_finite(x: Any) -> Any:
    """``x`` (plain JSON data) with every NaN or infinite float replaced by None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _null_if_not_finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_null_if_not_finite(v) for v in x]
    return x


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


def _refuse_not_finite(constant: str) -> float:
    """``parse_constant`` of ``json.loads``: a cached record with NaN or an infinity is damaged."""
    raise ValueError(f"it holds {constant} (a training that diverged)")


def _plain_record(value: Any, where: str = "record") -> Any:
    """``value`` as plain JSON data, nested dicts and lists included: NumPy scalars and 0-d tensors (what
    ``np.mean`` or ``loss.mean()`` return) become Python numbers.

    Raises:
        ValueError: a NaN or infinite number, named by its place in the record (a diverged run is not cached).
        TypeError: anything else JSON cannot hold (an array, a model, ...), named by its place.
    """
    if isinstance(value, (np.generic, torch.Tensor)) and value.ndim == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}: a run with a NaN or infinite result is not cached (did its training "
                         f"diverge? lower its learning rate)")
    if isinstance(value, dict):
        return {k: _plain_record(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_record(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{where} is a {type(value).__name__}, which a cached record cannot hold: give plain numbers, "
                    f"strings, lists and dicts (e.g. float(x), or x.tolist() for an array)")


class RunCache:
    """Finished trainings, one JSON (and optionally weights) per run key, so an interrupted notebook resumes.

    Keys are hashed from everything that defines a run (architecture, data, factor, method, lambda,
    initialisation, seed and the whole training configuration), and from ``numerics``, the numeric path the
    trainings take (:func:`lrlib.device.numerics`, e.g. ``"cpu-fp32"``), so a float32 result is never served for a
    bf16 one. A notebook opens its cache with ``run.cache()`` (:meth:`lrlib.profiles.Run.cache`): one folder per
    notebook and profile, its device's numerics. The cache also keeps a ledger of the
    runs it served or stored since it was opened (:meth:`ledger`), so a notebook that resumed can
    still report how much training its numbers took.
    """

    def __init__(self, folder: str | Path | None, numerics: str | None = None):
        self.folder = Path(folder) if folder else None
        self.numerics = numerics
        self._used: dict[str, dict] = {}

    @classmethod
    def named(cls, name: str, numerics: str | None = None) -> "RunCache":
        """The cache ``<$LRLIB_CACHE or data/cache>/runs/<name>``."""
        return cls(cache_dir() / "runs" / name, numerics)

    def _full(self, key: dict) -> dict:
        """``key`` with this cache's numerics: what is hashed and stored."""
        return key if self.numerics is None else {**key, "numerics": self.numerics}

    def _name(self, key: dict) -> str:
        digest = hashlib.sha1(json.dumps(self._full(key), sort_keys=True).encode()).hexdigest()[:16]
        return f"{key.get('method', 'run')}-{digest}"

    def _path(self, key: dict, suffix: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{self._name(key)}{suffix}"

    def get(self, key: dict) -> dict | None:
        """The record stored under ``key``, or None. A damaged entry (unreadable JSON, or written for another
        key) is set aside with a warning that names it (:func:`lrlib.paths.set_aside`), so the run is done again."""
        path = self._path(key, ".json")
        if path is None or not path.exists():
            return None
        try:
            record = json.loads(path.read_text(), parse_constant=_refuse_not_finite)
            if record.get("key") != json.loads(json.dumps(self._full(key))):
                raise ValueError("it was written for another key")
        except (ValueError, AttributeError, UnicodeDecodeError) as err:
            set_aside(path, str(err))
            if (weights := self._path(key, ".pt")).exists():
                set_aside(weights, "its record was damaged")
            return None
        self._used.setdefault(self._name(key), {**record, "loaded": True})  # trained earlier here: still trained
        return record

    def put(self, key: dict, record: dict, model: torch.nn.Module | None = None) -> None:
        """Store ``record`` (and ``model``'s weights) under ``key``.

        ``record`` may hold NumPy scalars and 0-d tensors: they are stored as Python numbers.

        Raises:
            ValueError: a NaN or infinite number in ``record`` (named by its key) or in the weights (a diverged
                training is never cached); TypeError: a value JSON cannot hold, named by its key. Both before
                anything is written.
        """
        record = _plain_record(record)
        if model is not None:
            check_weights(f"the run {self._name(key)}", model, "it is not cached: lower its learning rate")
        self._used[self._name(key)] = {"key": self._full(key), **record, "loaded": False}
        if self.folder is None:
            return
        if model is not None:
            buffer = io.BytesIO()
            torch.save(model.state_dict(), buffer)
            write_atomic(self._path(key, ".pt"), buffer.getvalue())
        write_atomic(self._path(key, ".json"), json.dumps({"key": self._full(key), **record}, indent=1,
                                                          allow_nan=False))

    def ledger(self) -> dict[str, float]:
        """The runs served (``loaded``) or stored (``trained``) since this cache was opened, and
        ``train_seconds``: the training time they took when they ran, whichever session ran them."""
        used = self._used.values()
        return {"runs": len(used), "trained": sum(not r["loaded"] for r in used),
                "loaded": sum(r["loaded"] for r in used),
                "train_seconds": round(sum(r.get("seconds", 0.0) for r in used), 1)}

    def weights(self, key: dict) -> dict | None:
        """The stored state dict of ``key``, or None; a damaged weights file is set aside (the run is done again)."""
        path = self._path(key, ".pt")
        if path is None or not path.exists():
            return None
        try:
            weights = torch.load(path, map_location="cpu")
            if any(t.is_floating_point() and not torch.isfinite(t).all() for t in weights.values()):
                raise ValueError("its weights hold NaN or infinite values (a training that diverged)")
            return weights
        except Exception as err:  # torch raises many kinds (pickle, zip, EOF, runtime) for a damaged file
            set_aside(path, f"{type(err).__name__}: {err}")
            return None

    def train_or_load(self, key: dict, train: Callable[[], tuple[torch.nn.Module, dict]], *,
                      build: Callable[[], torch.nn.Module] | None = None) -> tuple[dict, torch.nn.Module | None]:
        """The run ``key``: from the cache when it is there, else ``train()`` and store it.

        Args:
            train: trains the run and returns ``(model, record)``, ``record`` a JSON-able dict of its
                results; the time it takes is stored with it as ``record["seconds"]``.
            build: builds an untrained model of the run. Given, the weights are kept too, and a cached run
                comes back as that model with its weights loaded (a run cached without weights trains again).

        Returns:
            ``(record, model)``: ``model`` is None for a run loaded without ``build``; ``record`` as stored (NumPy
            scalars and 0-d tensors as Python numbers), whether it was trained now or loaded.

        Raises:
            ValueError, TypeError: as :meth:`put`, for a record it cannot store (before anything is written).
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
        record = _plain_record({**record, "seconds": round(time.perf_counter() - start, 3)})
        self.put(key, record, model if build is not None else None)
        return record, model
