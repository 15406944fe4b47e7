"""The experiments of notebook 05 (Tables 3-8): train every method, DoG PSNR tables under each convention,
SIFT matches with geometric checks, power spectra, and the findings beside the paper's numbers."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from tqdm import tqdm

from ... import data
from ...degrade import DEGRADE_VERSION, low_resolution
from ...device import bf16_autocast, fixed_algorithms, synchronize
from ...matching import Pair, match_pairs, random_homography, warp
from ...metrics import mean_log_power, radial_power_spectrum
from ...models import count_parameters
from ...results import RunCache
from ...sift import SIGMAS, dog_stack, features_from_stacks, gaussian_stack
from ...sr import SR_VERSION, build_sr, train_sr, upsample
from .method import DoGSR, dog_psnr, dog_uint8, patch_pool, predict_image, train_dogsr

__all__ = ["METHODS", "LEARNED", "PairTuple", "work", "photo_set", "graf_pairs", "warped_pairs", "to_grey_float",
           "crop_to_scale", "spectra", "train_models", "stacks", "psnr_table", "convention_fit",
           "psnr_wide", "match_table", "match_summary", "prediction_speed", "findings"]

PairTuple = tuple[str, torch.Tensor, torch.Tensor, "torch.Tensor | None"]

METHODS = ("original", "bicubic", "srcnn", "edsr", "method1", "method2")
LEARNED = ("srcnn", "edsr", "method1", "method2")


def work(settings: dict[str, Any]) -> str:
    """What a run of notebook 05 will do, in one line, from its profile's settings: the trainings (every learned
    method at every scale, on the same number of LR patches), the PSNR test sets and the SIFT pairs."""
    fit, scales = settings["fit"], settings["scales"]
    patches = fit["steps"] * fit["batch_size"]
    pairs = ["graf (5 pairs)"] if settings["graf"] else []
    for spec in settings["warped"]:
        span = (f"[{spec.get('start', 0)}:{spec['stop']}]" if "stop" in spec
                else f" from photo {spec['start']}" if "start" in spec else "")
        pairs.append(f"{spec['name']}{span} warped")
    return (f"work: {len(LEARNED)} methods x {len(scales)} scale(s) trained for {fit['steps']:,} steps of "
            f"{fit['batch_size']} LR patches of {fit['lr_patch']}x{fit['lr_patch']} ({patches:,} patches each); "
            f"DoG PSNR on {', '.join(settings['test'])}; SIFT matches of {' + '.join(pairs) or 'no pairs'} "
            f"by {len(METHODS)} methods, " + (f"at most {settings['max_keypoints']:,} keypoints an image"
                                              if settings["max_keypoints"] else "every keypoint"))


def photo_set(spec: dict[str, Any], *, device: str | torch.device = "cpu") -> list[tuple[str, torch.Tensor]]:
    """Grey photos of a registry set, as the profiles name them.

    Args:
        spec: ``name`` (a photo set of :mod:`lrlib.data`), optional ``start`` / ``stop`` (a slice of the
            set in file order, so one set can be split between training and testing) and ``max_side``.

    Returns:
        (name, (1, H, W) uint8) pairs.
    """
    photos = data.photos(spec["name"], grey=True, max_side=spec.get("max_side"), device=device)
    return photos[spec.get("start", 0):spec.get("stop")]


def graf_pairs(*, device: str | torch.device = "cpu") -> list[PairTuple]:
    """The Oxford graf pairs (img1, imgN), N = 2..6, with their ground-truth homographies."""
    return [(p.name, p.a.to(device), p.b.to(device), p.homography) for p in data.load_pairs("graf")]


def warped_pairs(photos: Sequence[tuple[str, torch.Tensor]], *, strength: float, seed: int = 0) -> list[PairTuple]:
    """Each photo paired with a copy warped by a random homography (:func:`lrlib.matching.random_homography`,
    corners moved by up to ``strength`` x the side), so that every match can be checked against the truth."""
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    for name, image in photos:
        h = random_homography(image.shape[-2], image.shape[-1], strength=strength, generator=generator)
        pairs.append((f"{name} (warped)", image, warp(image, h), h))
    return pairs


def to_grey_float(image: torch.Tensor) -> torch.Tensor:
    """(1, H, W) or (3, H, W) uint8 -> (1, 1, H, W) float grey in [0, 1] (ITU-R 601 luma for colour)."""
    if image.ndim != 3 or image.shape[0] not in (1, 3) or image.dtype != torch.uint8:
        raise ValueError(f"image must be uint8 (1, H, W) or (3, H, W), as lrlib.data.photos gives; got "
                         f"{image.dtype} {tuple(image.shape)}")
    x = image.float() / 255
    if x.shape[0] == 3:
        x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    return x[None]


def crop_to_scale(image: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop the bottom and right edges so that H and W are multiples of ``scale`` (top-left stays put)."""
    h, w = image.shape[-2:]
    if not isinstance(scale, int) or not 1 <= scale <= min(h, w):
        raise ValueError(f"scale must be an integer from 1 to the image's shorter side ({min(h, w)} px); got {scale!r}")
    return image[..., : h - h % scale, : w - w % scale]


def _build(name: str, scale: int, settings: dict[str, Any], cascade: bool) -> nn.Module:
    if name == "method1":
        return DoGSR(1, scale, blocks=settings["blocks1"], width=settings["width"], cascade=cascade)
    if name == "method2":
        return DoGSR(2, scale, blocks=settings["blocks2"], width=settings["width"], cascade=cascade)
    if name == "edsr":
        return build_sr("edsr", scale, channels=1, blocks=settings["edsr_blocks"], width=settings["width"])
    return build_sr(name, scale, channels=1)


def spectra(images: Sequence[torch.Tensor], *, cascade: bool, bins: int = 64) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Power spectra of photos and of their DoG levels (the DoG-SR paper's Fig. 5 and Table 2).

    Args:
        images: (1, H, W) uint8 grey photos (sizes may differ); analysed on the 8-bit scale.
        bins: frequency rings at most: fewer (half the smallest side of any photo) when a photo is too small for
            every ring to hold a frequency, the same for all photos so that their curves average ring by ring.

    Returns:
        (curves, table): the radially averaged spectrum per frequency ring for "image" and D1..D4,
        averaged over photos (rows: frequency in cycles per pixel); and the mean log power (dB,
        :func:`lrlib.metrics.mean_log_power`) per photo and signal.
    """
    bins = min([bins, *(min(image.shape[-2:]) // 2 for image in images)])
    curves, rows = [], []
    for i, image in enumerate(images):
        x = to_grey_float(image)
        signals = {"image": x[0, 0], **{f"D{k + 1}": d for k, d in enumerate(dog_stack(x, cascade=cascade)[0])}}
        curve = {}
        for name, signal in signals.items():
            freq, curve[name] = radial_power_spectrum(255 * signal, bins=bins)
            rows.append({"photo": i, "signal": name, "mean log power (dB)": mean_log_power(255 * signal)})
        curves.append(pd.DataFrame(curve, index=pd.Index(freq, name="frequency (cycles/pixel)")))
    return sum(curves) / len(curves), pd.DataFrame(rows)


def train_models(photos: Sequence[torch.Tensor], scale: int, settings: dict[str, Any], *, cascade: bool,
                 data_key: str, device: torch.device, cache: RunCache | None = None, seed: int = 0,
                 progress: bool = True) -> tuple[dict[str, nn.Module], pd.DataFrame]:
    """Train (or load from ``cache``) SRCNN, EDSR and both DoG-SR methods at one scale on the same patches.

    Args:
        photos: HR training photos, (1, H, W) uint8 grey each; those too small for one LR patch at
            this scale are left out.
        scale: 2 or 4.
        settings: the profile's ``fit`` settings: ``steps``, ``batch_size``, ``learning_rate``, ``lr_patch``,
            ``blocks1``, ``blocks2``, ``edsr_blocks``, ``width`` and optionally ``stride`` (LR pixels
            between patches; default half a patch).
        cascade: how the Gaussian targets are made (see :func:`lrlib.sift.gaussian_stack`).
        data_key: names the training photos in the cache key.

    Returns:
        The trained models (eval mode, on ``device``) and a table of their parameter counts,
        training seconds and final losses (DoG-SR: MSE on its targets; pixel SR: L1 on pixels).
    """
    usable = [p for p in photos if min(p.shape[-2:]) // scale >= settings["lr_patch"]]
    if not usable:
        raise ValueError(f"no training photo is large enough for {settings['lr_patch']}-pixel LR patches at x{scale}")
    pool = patch_pool(usable, scale, lr_patch=settings["lr_patch"], stride=settings.get("stride"), sigmas=SIGMAS,
                      cascade=cascade, device=device)
    cache = cache or RunCache(None)
    common = dict(steps=settings["steps"], batch_size=settings["batch_size"], learning_rate=settings["learning_rate"],
                  seed=seed, progress=progress)
    models, rows = {}, []
    for name in LEARNED:
        key = {"method": name, "scale": scale, "cascade": cascade, "data": data_key, "seed": seed,
               "patches": len(pool), "sr": SR_VERSION, "degrade": DEGRADE_VERSION, **settings}

        def build(name: str = name) -> nn.Module:
            torch.manual_seed(seed)
            return _build(name, scale, settings, cascade).to(device)

        def train(name: str = name) -> tuple[nn.Module, dict]:
            model = build()
            losses = (train_dogsr(model, pool, **common) if name.startswith("method")
                      else train_sr(model, pool.lr, pool.hr, **common))
            return model, {"final_loss": float(np.mean(losses[-50:]))}

        record, models[name] = cache.train_or_load(key, train, build=build)
        models[name].eval()
        rows.append({"scale": f"x{scale}", "method": name, "parameters": count_parameters(models[name]),
                     "train seconds": round(record["seconds"], 1), "final loss": record["final_loss"]})
    return models, pd.DataFrame(rows)


@torch.no_grad()
def stacks(method: str, hr: torch.Tensor, scale: int, models: dict[str, nn.Module], *,
           cascade: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The (5, H, W) Gaussian and (4, H, W) DoG stacks that ``method`` gives for one HR image.

    Args:
        method: one of :data:`METHODS`.
        hr: (1, 1, H, W) float grey in [0, 1], H and W multiples of ``scale``.
        models: the trained networks of this scale (see :func:`train_models`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if method == "original":
        image = hr
    else:
        lr = low_resolution(hr, scale, keep_size=False)
        if method == "bicubic":
            image = upsample(lr, scale)
        elif method in ("srcnn", "edsr"):
            image = models[method](lr).float().clamp(0, 1)
        else:
            return predict_image(models[method], lr[0])
    return gaussian_stack(image, cascade=cascade)[0], dog_stack(image, cascade=cascade)[0]


def psnr_table(photos: dict[str, Sequence[torch.Tensor]], scales: Sequence[int],
               models: dict[int, dict[str, nn.Module]], *, cascade: bool, conventions: Sequence[str],
               methods: Sequence[str] = METHODS[1:], device: torch.device = torch.device("cpu"),
               progress: bool = True) -> pd.DataFrame:
    """PSNR of every DoG level, per test set, method, scale and PSNR convention (Tables 3-5).

    Args:
        photos: test set name -> HR photos, (1, H, W) uint8 grey each.
        models: scale -> the trained networks of that scale.
        conventions: keys of :data:`DOG_PSNR_CONVENTIONS`.

    Returns:
        Long table: set, scale, method, level (D1..D4), convention, psnr (dB, mean over the set's
        images; ``scale`` border pixels shaved, as is usual for SR).
    """
    jobs = [(name, s, image) for name, images in photos.items() for s in scales for image in images]
    with fixed_algorithms():  # about 70 image sizes: cuDNN autotuning would cost more than it saves
        rows = [row for name, s, image in tqdm(jobs, desc="DoG PSNR", disable=not progress, leave=False)
                for row in _psnr_rows(name, s, image, models[s], cascade, conventions, methods, device)]
    frame = pd.DataFrame(rows)
    return frame.groupby(["set", "scale", "method", "level", "convention"], as_index=False, sort=False)["psnr"].mean()


def _psnr_rows(name: str, s: int, image: torch.Tensor, models: dict[str, nn.Module], cascade: bool,
               conventions: Sequence[str], methods: Sequence[str], device: torch.device) -> list[dict]:
    """The rows of :func:`psnr_table` for one photo at one scale: one per method, DoG level and convention."""
    hr = crop_to_scale(to_grey_float(image.to(device)), s)
    target = stacks("original", hr, s, models, cascade=cascade)
    rows = []
    for method in methods:
        pred = stacks(method, hr, s, models, cascade=cascade)
        for convention in conventions:
            # uint8-clipped rebuilds the DoGs from 8-bit Gaussian levels; the others use the float DoGs.
            p, t = ((dog_uint8(pred[0]), dog_uint8(target[0])) if convention == "uint8-clipped"
                    else (pred[1], target[1]))
            rows += [{"set": name, "scale": s, "method": method, "level": f"D{level + 1}", "convention": convention,
                      "psnr": dog_psnr(p[level], t[level], convention, shave=s)} for level in range(t.shape[0])]
    return rows


def convention_fit(psnr: pd.DataFrame, paper: dict[str, dict[tuple[str, int], dict[str, float]]]) -> pd.DataFrame:
    """How far each PSNR convention puts our bicubic column from the paper's, over DoG levels and scales:
    our bicubic PSNR (mean over our test sets) minus the paper's (mean over its data sets).

    Returns:
        One row per convention, best first: ``rms`` (root mean square of the differences, dB; the
        ranking), ``bias`` (their mean) and ``mean |diff|``. RMS rather than the mean absolute
        difference ranks them because two conventions that differ by a constant per level tie on the
        latter whenever our values lie above the paper's at one scale and below at the other.
    """
    ours = psnr[psnr.method == "bicubic"].groupby(["convention", "level", "scale"])["psnr"].mean()
    theirs = pd.Series({(level, s): np.mean([table[level, s]["bicubic"] for table in paper.values()])
                        for level, s in next(iter(paper.values()))})
    rows = {}
    for convention, group in ours.groupby(level="convention"):
        group = group.droplevel("convention")
        diff = np.array([group[key] - theirs[key] for key in group.index if key in theirs.index])
        rows[convention] = {"rms": float(np.sqrt(np.mean(diff**2))), "bias": float(diff.mean()),
                            "mean |diff|": float(np.abs(diff).mean())}
    return pd.DataFrame(rows).T.sort_values("rms")


def psnr_wide(psnr: pd.DataFrame, convention: str) -> pd.DataFrame:
    """Tables 3-5 in the paper's layout for one convention: rows (level, scale), one column per method,
    mean over the test sets (one row per test set with ``set`` in the index as well)."""
    chosen = psnr[psnr.convention == convention]
    by_set = chosen.pivot_table(index=["set", "level", "scale"], columns="method", values="psnr", sort=False)
    mean = chosen.pivot_table(index=["level", "scale"], columns="method", values="psnr", sort=False)
    mean.index = pd.MultiIndex.from_tuples([("mean", *key) for key in mean.index], names=by_set.index.names)
    return pd.concat([by_set, mean]).round(2)


def match_table(pairs: Sequence[PairTuple], scales: Sequence[int], models: dict[int, dict[str, nn.Module]], *,
                cascade: bool, methods: Sequence[str] = METHODS, ratio: float = 0.8, tol: float = 3.0,
                max_keypoints: int | None = None, device: torch.device = torch.device("cpu"), workers: int = 4,
                progress: bool = True) -> pd.DataFrame:
    """SIFT matches per image pair, method and scale (Tables 6-8), with geometric checks where a
    homography is known (:func:`lrlib.matching.match_pairs`; ``workers`` threads work on different pairs).

    Args:
        pairs: (name, a, b, homography or None); a and b (1 or 3, H, W) uint8; the homography (3, 3)
            maps a's pixel coordinates to b's.
        ratio: Lowe's ratio test; tol: pixels within which a projected point counts as the same point.
        max_keypoints: every method's image keeps only its strongest this many keypoints (None: all). A network
            whose DoGs are noise finds hundreds of thousands of extrema, and describing them takes minutes an image.

    Returns:
        One row per (scale, method, pair): keypoints in a and b, matches, and with a homography
        correct matches, precision and repeatability (NaN without one).
    """
    multiple = math.lcm(*scales)  # one crop that every scale divides: every method sees the same pixels
    cropped = [Pair(name, *(crop_to_scale(to_grey_float(x.to(device)), multiple) for x in (a, b)), h)
               for name, a, b, h in pairs]

    def table(method: str, s: int) -> pd.DataFrame:
        def features(image: torch.Tensor) -> tuple:
            return features_from_stacks(*stacks(method, image, s, models[s], cascade=cascade), cascade=cascade,
                                        max_keypoints=max_keypoints)

        return match_pairs(cropped, features, ratio=ratio, tol=tol, workers=workers)

    tables = []
    with fixed_algorithms():  # many image sizes: cuDNN autotuning would cost more than it saves
        # the original pair does not depend on the scale: matched once, shown at every scale
        original = table("original", scales[0]) if "original" in methods else None
        for s in scales:
            for method in tqdm(methods, desc=f"SIFT matches x{s}", disable=not progress, leave=False):
                found = original if method == "original" else table(method, s)
                tables.append(found.assign(scale=s, method=method))
    return pd.concat(tables, ignore_index=True)


def match_summary(matches: pd.DataFrame, groups: dict[str, str]) -> pd.DataFrame:
    """Tables 6-8 in the paper's layout: mean matches per pair, per pair group, scale and method, with
    the geometric checks (correct matches, precision, repeatability) where homographies are known.

    Args:
        matches: :func:`match_table`'s rows.
        groups: pair name -> group label (e.g. "graf", "Urban100 (warped)").
    """
    frame = matches.assign(group=matches["pair"].map(groups))
    numbers = [c for c in ("matches", "correct", "precision", "repeatability") if c in frame]
    summary = frame.groupby(["group", "scale", "method"], sort=False)[numbers].mean()
    summary.insert(0, "pairs", frame.groupby(["group", "scale", "method"], sort=False).size())
    return summary.round(3)


@torch.no_grad()
def prediction_speed(model: DoGSR, size: tuple[int, int], *, batch: int = 16, repeats: int = 10,
                     device: torch.device = torch.device("cpu")) -> float:
    """DoG stacks predicted per second by ``model`` for LR inputs of ``size`` (h, w), batched, bf16 on CUDA."""
    lr = torch.rand(batch, 1, *size, device=device)
    with bf16_autocast(device):
        model.predict_dog(lr)  # warm-up (cuDNN autotuning)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            model.predict_dog(lr)
        synchronize(device)
    return batch * repeats / (time.perf_counter() - start)


def findings(psnr: pd.DataFrame, fit: pd.DataFrame, matches: pd.DataFrame,
             paper_psnr: dict[str, dict[tuple[str, int], dict[str, float]]],
             paper_matches: dict[tuple[str, int], dict[str, float]]) -> str:
    """What this run's Tables 3-8 say beside the paper's, in plain words, as a Markdown bullet list.

    Every sentence is computed from the run, so the notebook's conclusions follow its numbers:

    * the PSNR convention closest to the paper's bicubic column (``fit``, from :func:`convention_fit`);
    * per scale, each learned method's mean DoG-PSNR gain over bicubic under that convention (mean over
      levels and test sets), beside the paper's (mean over its data sets), and the best method of each;
    * per scale, the share of the original pair's SIFT matches each method keeps, beside the paper's
      (mean over its data sets), and, over pairs with a known homography, each method's precision.

    Args:
        psnr: :func:`psnr_table`'s long table; matches: :func:`match_table`'s rows.
        paper_psnr, paper_matches: :data:`lrlib.papers.DOG_PSNR` and :data:`lrlib.papers.DOG_MATCHES`.
    """
    convention = fit.index[0]
    lines = [f"**PSNR convention:** `{convention}` puts our bicubic column closest to the paper's "
             f"(RMS {fit.iloc[0]['rms']:.2f} dB, bias {fit.iloc[0]['bias']:+.2f} dB; "
             + ", ".join(f"`{c}` {r['rms']:.2f}" for c, r in fit.iloc[1:].iterrows()) + " dB RMS)."]
    ours = psnr[psnr.convention == convention].groupby(["scale", "method"])["psnr"].mean()
    theirs = pd.DataFrame([{"scale": s, **row} for table in paper_psnr.values() for (_, s), row in table.items()])
    theirs = theirs.groupby("scale").mean()
    matched = matches.groupby(["scale", "method"])["matches"].mean()
    paper_m = pd.DataFrame([{"scale": s, **row} for (_, s), row in paper_matches.items()]).groupby("scale").mean()
    for s in sorted(ours.index.get_level_values("scale").unique()):
        learned = [m for m in LEARNED if (s, m) in ours.index]
        gain = {m: ours[s, m] - ours[s, "bicubic"] for m in learned}
        paper_gain = {m: theirs.loc[s, m] - theirs.loc[s, "bicubic"] for m in learned if s in theirs.index}
        line = (f"**x{s}, DoG PSNR gain over bicubic** (dB, ours / paper): "
                + ", ".join(f"{m} {gain[m]:+.2f} / " + (f"{paper_gain[m]:+.2f}" if m in paper_gain else "n/a")
                            for m in learned)
                + f"; best: ours {max(gain, key=gain.get)}")
        lines.append(line + (f", paper {max(paper_gain, key=paper_gain.get)}." if paper_gain else "."))
        if (s, "original") in matched.index:
            kept = {m: matched[s, m] / matched[s, "original"] for m in METHODS[1:] if (s, m) in matched.index}
            paper_kept = ({m: paper_m.loc[s, m] / paper_m.loc[s, "original"] for m in kept} if s in paper_m.index
                          else {})
            lines.append(f"**x{s}, SIFT matches kept** (share of the original pair's, ours / paper): "
                         + ", ".join(f"{m} {kept[m]:.0%} / " + (f"{paper_kept[m]:.0%}" if m in paper_kept else "n/a")
                                     for m in kept) + ".")
        checked = matches[(matches.scale == s) & matches["correct"].notna()] if "correct" in matches else []
        if len(checked):
            precision = checked.groupby("method")[["correct", "matches"]].sum()
            precision = (precision["correct"] / precision["matches"].where(precision["matches"] > 0)).reindex(
                [m for m in METHODS if m in precision.index])  # NaN (no matches at all) is shown as n/a
            most = checked.groupby("method")["matches"].mean().drop("original", errors="ignore")
            correct = checked.groupby("method")["correct"].mean().drop("original", errors="ignore")
            n = checked["pair"].nunique()
            lines.append(f"**x{s}, correct matches** ({n} pair{'s' * (n != 1)} with a homography): precision "
                         + ", ".join(f"{m} " + ("n/a" if p != p else f"{p:.0%}") for m, p in precision.items())
                         + f"; most matches: {most.idxmax()}, most correct matches: {correct.idxmax()}.")
    return "\n".join(f"- {line}" for line in lines)
