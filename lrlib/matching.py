"""Matching SIFT descriptors between two images, and judging the matches with a known homography.

Notebook 05 counts, for every image pair, the descriptor matches that pass Lowe's ratio test and,
when the pair is related by a known homography H (a synthetic warp, or a data set's ground truth),
how many of them are geometrically correct::

    match(desc_a, desc_b)                 (M, 2) index pairs: nearest / second nearest < ratio
    correct_matches(xy_a, xy_b, H)        |H(x_a) - x_b| <= tol pixels, per match
    repeatability(xy_a, xy_b, H, ...)     how many keypoints are found again in the other image
    pair_stats(...), match_pairs(...)     all of it for one pair, and a table for a list of pairs

and makes such pairs: :func:`random_homography` (a random perspective distortion),
:func:`homography_from_points` (the 4-point DLT), :func:`warp` (bicubic warp with ``grid_sample``).

Conventions (those of :mod:`lrlib.sift`): points are (x, y) = (column, row) pixel coordinates with pixel
centres at integers; a homography H (3, 3) maps image a to image b, x_b ~ H @ (x_a, y_a, 1).
Everything is torch and runs on the device of its inputs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F

from lrlib.checks import check_finite, check_positive
from lrlib.sift import Keypoints

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["match", "project", "correct_matches", "repeatability", "homography_from_points", "random_homography",
           "warp", "pair_stats", "Pair", "match_pairs"]

_CHUNK_ELEMENTS = 2**24
"""Distance matrices are computed in row blocks of at most this many entries (64 MB of float32)."""


def _check_points(xy: torch.Tensor, name: str, width: int = 2) -> None:
    if not isinstance(xy, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (K, {width}); got {type(xy).__name__}")
    if xy.ndim != 2 or xy.shape[1] != width or not xy.is_floating_point():
        raise ValueError(f"{name} must be a float tensor (K, {width}); got shape {tuple(xy.shape)}, "
                         f"dtype {xy.dtype}")
    check_finite(name, xy)


def _check_homography(homography: torch.Tensor, name: str = "homography") -> torch.Tensor:
    """Return ``homography`` as a float64 (3, 3) tensor, or raise ValueError: not (3, 3), NaN or infinite
    entries (every projection would be NaN, so no match could be correct), or singular (not a homography: it
    squashes the plane onto a line or a point, and has no inverse)."""
    if not isinstance(homography, torch.Tensor):
        try:
            homography = torch.as_tensor(homography, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name} must be a (3, 3) tensor or array; got {type(homography).__name__}") from None
    if homography.shape != (3, 3):
        raise ValueError(f"{name} must be a (3, 3) matrix; got shape {tuple(homography.shape)}")
    homography = check_finite(name, homography.to(torch.float64))
    if int(torch.linalg.matrix_rank(homography)) < 3:
        raise ValueError(f"{name} must be invertible (rank 3); got the singular matrix {homography.tolist()}")
    return homography


def _check_shape(shape: Sequence[int], name: str) -> tuple[int, int]:
    """(H, W) of an image from a shape (the last two entries count: an image's .shape works)."""
    try:
        h, w = (int(v) for v in tuple(shape)[-2:])
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an image shape (..., H, W); got {shape!r}") from None
    if len(tuple(shape)) < 2 or h < 1 or w < 1:
        raise ValueError(f"{name} must be an image shape (..., H, W) with H, W >= 1; got {shape!r}")
    return h, w


def match(desc_a: torch.Tensor, desc_b: torch.Tensor, *, ratio: float = 0.8) -> torch.Tensor:
    """Lowe's ratio test: for each descriptor of a, its nearest neighbour in b, kept when
    distance(nearest) < ratio * distance(second nearest).

    Args:
        desc_a: (Ka, D) float descriptors of image a (D = 128 for SIFT).
        desc_b: (Kb, D) float descriptors of image b, on the same device.
        ratio: Lowe's threshold, in (0, 1]; 0.8 is Lowe's (2004) value.

    Returns:
        (M, 2) int64 index pairs (i into a, j into b), sorted by i; (0, 2) when either side has fewer than two
        descriptors (the test needs a second neighbour; asking it of both sides keeps match(a, b) and
        match(b, a) empty together). Euclidean distances come from ``torch.cdist``, in row blocks.

    Raises:
        ValueError: descriptors that are not float (K, D) tensors, of different widths D or on different
            devices, NaN or infinite values (their distances would compare false and silently drop matches),
            a ratio outside (0, 1].
    """
    for name, desc in (("desc_a", desc_a), ("desc_b", desc_b)):
        if not isinstance(desc, torch.Tensor) or desc.ndim != 2 or not desc.is_floating_point():
            shape = tuple(desc.shape) if isinstance(desc, torch.Tensor) else type(desc).__name__
            raise ValueError(f"{name} must be a float tensor (K, D) of descriptors; got {shape}")
    if desc_a.shape[1] != desc_b.shape[1]:
        raise ValueError(f"desc_a and desc_b must have the same length D; got {desc_a.shape[1]} and {desc_b.shape[1]}")
    if desc_a.device != desc_b.device:
        raise ValueError(f"desc_a and desc_b must be on the same device; got {desc_a.device} and {desc_b.device} "
                         f"(move one with .to(other.device))")
    check_finite("desc_a", desc_a)
    check_finite("desc_b", desc_b)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise ValueError(f"ratio must be a number in (0, 1]; got {ratio!r}")
    empty = torch.zeros(0, 2, dtype=torch.int64, device=desc_a.device)
    if len(desc_a) < 2 or len(desc_b) < 2:
        return empty
    rows = max(1, _CHUNK_ELEMENTS // len(desc_b))
    pairs = []
    for start in range(0, len(desc_a), rows):
        distance = torch.cdist(desc_a[start:start + rows], desc_b)                  # (rows, Kb)
        nearest = distance.topk(2, dim=1, largest=False)                             # ascending
        ok = nearest.values[:, 0] < ratio * nearest.values[:, 1]
        i = torch.nonzero(ok).squeeze(1)
        pairs.append(torch.stack([i + start, nearest.indices[i, 0]], 1))
    return torch.cat(pairs)


def project(xy: torch.Tensor, homography: torch.Tensor) -> torch.Tensor:
    """Apply a homography to points: (K, 2) (x, y) -> (K, 2), computed in float64, returned in xy's dtype.

    Raises:
        ValueError: ``xy`` not a finite float (K, 2) tensor; ``homography`` not a finite, invertible (3, 3) matrix.
    """
    _check_points(xy, "xy")
    h = _check_homography(homography).to(xy.device)
    p = xy.to(torch.float64) @ h[:, :2].T + h[:, 2]                                 # (K, 3) homogeneous
    return (p[:, :2] / p[:, 2:]).to(xy.dtype)


def correct_matches(xy_a: torch.Tensor, xy_b: torch.Tensor, homography: torch.Tensor, *,
                    tol: float = 3.0) -> torch.Tensor:
    """Which matches are geometrically correct: |H(xy_a) - xy_b| <= tol pixels (in image b).

    Args:
        xy_a, xy_b: (M, 2) coordinates of the matched keypoints, row m of each forming match m.
        homography: (3, 3) map from a to b.
        tol: pixels.

    Returns:
        (M,) bool, on xy_a's device.

    Raises:
        ValueError: points that are not finite float (M, 2) tensors of one shape, ``homography`` as
            :func:`project`, ``tol`` not a positive number.
    """
    _check_points(xy_a, "xy_a")
    _check_points(xy_b, "xy_b")
    check_positive("tol", tol)
    if xy_a.shape != xy_b.shape:
        raise ValueError(f"xy_a and xy_b must hold the same number of matched points; got {tuple(xy_a.shape)} "
                         f"and {tuple(xy_b.shape)}")
    return (project(xy_a, homography) - xy_b.to(xy_a)).norm(dim=1) <= tol


def _inside(xy: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(K,) bool: the point lies in an image of shape (H, W): 0 <= x <= W - 1 and 0 <= y <= H - 1."""
    h, w = shape
    return (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)


def _nearest_distance(xy: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """(K,) distance from every point of xy (K >= 1) to its nearest point of others (at least one)."""
    rows = max(1, _CHUNK_ELEMENTS // len(others))
    return torch.cat([torch.cdist(xy[s:s + rows], others).min(1).values for s in range(0, len(xy), rows)])


def repeatability(xy_a: torch.Tensor, xy_b: torch.Tensor, homography: torch.Tensor,
                  shape_a: Sequence[int], shape_b: Sequence[int], *, tol: float = 3.0) -> float:
    """Point repeatability of two keypoint sets (Mikolajczyk et al.'s measure, by position only).

    Only the common region counts: the points of a whose projection H(x_a) falls inside image b, and the
    points of b whose back-projection H^-1(x_b) falls inside image a. A point is repeated when a point of the
    other image lies within ``tol`` pixels of it (measured in image b); repeated = the smaller of the two
    sides' repeated counts (so a point cannot be counted twice), and

        repeatability = repeated / min(n_a, n_b), with n_a, n_b the two sets' points in the common region,

    in [0, 1], and 0 when either set has no point there. Points are taken as a set: duplicates (one keypoint
    with several orientations) count once. Scale and region overlap are ignored (a point-based measure).

    Args:
        xy_a: (Ka, 2) keypoint coordinates in image a; xy_b: (Kb, 2) in image b.
        homography: (3, 3) map from a to b.
        shape_a, shape_b: the images' shapes, (..., H, W) (``image.shape`` works).
        tol: pixels.

    Raises:
        ValueError: as :func:`correct_matches` (any number of points on each side); shapes that are not (..., H, W).
    """
    _check_points(xy_a, "xy_a")
    _check_points(xy_b, "xy_b")
    check_positive("tol", tol)
    size_a, size_b = _check_shape(shape_a, "shape_a"), _check_shape(shape_b, "shape_b")
    h = _check_homography(homography)
    a = torch.unique(xy_a.to(torch.float64), dim=0)
    b = torch.unique(xy_b.to(device=xy_a.device, dtype=torch.float64), dim=0)
    a_in_b = project(a, h)
    a_in_b = a_in_b[_inside(a_in_b, size_b)]                                  # a's common points, b's frame
    b = b[_inside(project(b, torch.linalg.inv(h)), size_a)]                    # b's common points
    if len(a_in_b) == 0 or len(b) == 0:
        return 0.0
    repeated_a = int((_nearest_distance(a_in_b, b) <= tol).sum())
    repeated_b = int((_nearest_distance(b, a_in_b) <= tol).sum())
    return min(repeated_a, repeated_b) / min(len(a_in_b), len(b))


def homography_from_points(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """The homography mapping four points onto four others (the direct linear transform, DLT).

    Fixing H[2, 2] = 1 leaves 8 unknowns, and each correspondence (x, y) -> (u, v) gives two linear equations,
    u (h20 x + h21 y + 1) = h00 x + h01 y + h02 and v (h20 x + h21 y + 1) = h10 x + h11 y + h12: an 8 x 8
    system, solved in float64 (what ``cv2.getPerspectiveTransform`` computes).

    Args:
        src, dst: (4, 2) (x, y) points, tensors or arrays; no three of either on a line.

    Returns:
        (3, 3) float64 H with H[2, 2] = 1 and dst ~ H @ src.

    Raises:
        ValueError: points that are not (4, 2), hold NaN or infinity, or have three on a line.
    """
    pts = []
    for name, p in (("src", src), ("dst", dst)):
        p = torch.as_tensor(p, dtype=torch.float64) if not isinstance(p, torch.Tensor) else p.to(torch.float64)
        if p.shape != (4, 2):
            raise ValueError(f"{name} must be four (x, y) points, shape (4, 2); got shape {tuple(p.shape)}")
        pts.append(check_finite(name, p))
    src, dst = pts[0], pts[1].to(pts[0].device)
    x, y, u, v = src[:, 0], src[:, 1], dst[:, 0], dst[:, 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], 1)       # (4, 8)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], 1)
    system = torch.cat([rows_u, rows_v])                                          # (8, 8)
    solution, info = torch.linalg.solve_ex(system, torch.cat([u, v]))
    if int(info) != 0 or not torch.isfinite(solution).all():
        raise ValueError(f"src and dst must be four points in general position (no three on a line); got "
                         f"src={src.tolist()}, dst={dst.tolist()}")
    return torch.cat([solution, solution.new_ones(1)]).reshape(3, 3)


def random_homography(height: int, width: int, *, strength: float = 0.15,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """A random perspective distortion of an image of height x width pixels.

    Each corner moves by up to ``strength`` times the image side, independently in x and y (uniformly at
    random); the homography maps the corners onto the moved ones, so it mixes perspective, shear, scale,
    translation and a little rotation. Below 0.25 the moved corners stay a convex quadrilateral.

    Args:
        height, width: image size in pixels.
        strength: in [0, 0.25).
        generator: a CPU ``torch.Generator`` for reproducible draws (None: torch's global one).

    Returns:
        (3, 3) float64 on the CPU, mapping the original image to the distorted one (use with :func:`warp`).

    Raises:
        ValueError: ``height`` or ``width`` not an int >= 2, ``strength`` outside [0, 0.25).
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an int >= 2 (pixels); got {value!r}")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength < 0.25:
        raise ValueError(f"strength must be a number in [0, 0.25) (a fraction of the image side); got {strength!r}")
    corners = torch.tensor([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=torch.float64)
    shift = (torch.rand(4, 2, generator=generator, dtype=torch.float64) * 2 - 1) * strength
    moved = corners + shift * torch.tensor([width, height], dtype=torch.float64)
    return homography_from_points(corners, moved)


def warp(image: torch.Tensor, homography: torch.Tensor, out_shape: tuple[int, int] | None = None, *,
         mode: str = "bicubic") -> torch.Tensor:
    """Warp an image with a homography: out(x) = image(H^-1 x), zeros outside the image.

    Interpolation by ``grid_sample`` on the image's device: bicubic by default, with the same a = -0.75
    kernel as OpenCV's INTER_CUBIC, so inside the image it agrees with ``cv2.warpPerspective`` to within a
    grey level (the tests check it). Taps outside the image read zero. uint8 results are rounded and
    clipped to 0..255; float results are not clipped (bicubic can overshoot the input range slightly).

    Args:
        image: (C, H, W) or (H, W), uint8 or float.
        homography: (3, 3) map from the image to the output.
        out_shape: the output's (H', W'); None keeps (H, W).
        mode: "bicubic", "bilinear" or "nearest".

    Returns:
        (C, H', W') or (H', W'), the image's dtype and device.

    Raises:
        ValueError: an image that is not a uint8 or float (C, H, W) or (H, W) tensor of at least 2x2 pixels,
            ``homography`` as :func:`project` (a NaN or singular one would give an all-black image), a bad
            ``out_shape`` or ``mode``.
    """
    if not isinstance(image, torch.Tensor) or image.ndim not in (2, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a torch.Tensor (C, H, W) or (H, W); got {shape}")
    if image.dtype != torch.uint8 and not image.is_floating_point():
        raise ValueError(f"image must be uint8 or float; got dtype {image.dtype}")
    if mode not in ("bicubic", "bilinear", "nearest"):
        raise ValueError(f"mode must be 'bicubic', 'bilinear' or 'nearest'; got {mode!r}")
    h_in, w_in = image.shape[-2:]
    if min(h_in, w_in) < 2:
        raise ValueError(f"image must be at least 2x2 pixels; got shape {tuple(image.shape)}")
    h_out, w_out = (h_in, w_in) if out_shape is None else _check_shape(out_shape, "out_shape")
    inverse = torch.linalg.inv(_check_homography(homography)).to(image.device)

    # Where every output pixel comes from, in input pixels, then in grid_sample's [-1, 1] (align_corners=True).
    rows, cols = torch.meshgrid(torch.arange(h_out, device=image.device, dtype=torch.float64),
                                torch.arange(w_out, device=image.device, dtype=torch.float64), indexing="ij")
    source = project(torch.stack([cols.reshape(-1), rows.reshape(-1)], 1), inverse)
    grid = source / torch.tensor([w_in - 1, h_in - 1], dtype=torch.float64, device=image.device) * 2 - 1
    grid = torch.nan_to_num(grid, nan=-3.0, posinf=3.0, neginf=-3.0).clamp(-3, 3)  # far outside stays outside
    x = image if image.ndim == 3 else image[None]
    work_dtype = image.dtype if image.dtype in (torch.float32, torch.float64) else torch.float32
    out = F.grid_sample(x[None].to(work_dtype), grid.to(work_dtype).reshape(1, h_out, w_out, 2), mode=mode,
                        padding_mode="zeros", align_corners=True)[0]
    if image.dtype == torch.uint8:
        out = out.round().clamp(0, 255)
    out = out.to(image.dtype)
    return out if image.ndim == 3 else out[0]


def pair_stats(kp_a: Keypoints, desc_a: torch.Tensor, kp_b: Keypoints, desc_b: torch.Tensor,
               homography: torch.Tensor | None = None, shape_a: Sequence[int] | None = None,
               shape_b: Sequence[int] | None = None, *, ratio: float = 0.8, tol: float = 3.0) -> dict[str, Any]:
    """Matching statistics of one image pair.

    Args:
        kp_a, desc_a: keypoints and (Ka, 128) descriptors of image a; kp_b, desc_b: of image b.
        homography: (3, 3) map from a to b, or None when the geometry is unknown.
        shape_a, shape_b: the images' shapes (..., H, W), needed with a homography (for repeatability).
        ratio: Lowe's ratio (see :func:`match`); tol: pixels (see :func:`correct_matches`).

    Returns:
        ``{"keypoints_a", "keypoints_b", "matches"}`` (ints), and with a homography also ``"correct"`` (int),
        ``"precision"`` = correct / matches (NaN when there is no match) and ``"repeatability"``
        (:func:`repeatability` of the keypoint positions).

    Raises:
        ValueError: not one descriptor per keypoint, a homography without both shapes, and as :func:`match`,
            :func:`correct_matches` and :func:`repeatability`.
    """
    if len(kp_a) != len(desc_a) or len(kp_b) != len(desc_b):
        raise ValueError(f"every keypoint needs one descriptor; got {len(kp_a)} keypoints and {len(desc_a)} "
                         f"descriptors for a, {len(kp_b)} and {len(desc_b)} for b")
    pairs = match(desc_a, desc_b.to(desc_a.device), ratio=ratio)
    stats: dict[str, Any] = {"keypoints_a": len(kp_a), "keypoints_b": len(kp_b), "matches": len(pairs)}
    if homography is None:
        return stats
    if shape_a is None or shape_b is None:
        raise ValueError("shape_a and shape_b (the images' (..., H, W)) are needed with a homography")
    xy_a, xy_b = kp_a.xy.to(desc_a.device), kp_b.xy.to(desc_a.device)
    correct = int(correct_matches(xy_a[pairs[:, 0]], xy_b[pairs[:, 1]], homography, tol=tol).sum())
    stats["correct"] = correct
    stats["precision"] = correct / len(pairs) if len(pairs) else math.nan
    stats["repeatability"] = repeatability(xy_a, xy_b, homography, shape_a, shape_b, tol=tol)
    return stats


class Pair(NamedTuple):
    """One image pair for :func:`match_pairs`: a name, the two images (whatever ``features`` takes, with
    ``.shape`` ending in (H, W)) and the homography from a to b, or None when it is unknown. Plain tuples
    ``(name, a, b)`` and ``(name, a, b, homography)`` work the same.

    Raises:
        Nothing itself; :func:`match_pairs` checks what a pair holds when it uses it.
    """

    name: str
    a: Any
    b: Any
    homography: torch.Tensor | None = None


def match_pairs(pairs: Sequence[Pair | tuple], features: Callable[[Any], tuple[Keypoints, torch.Tensor]], *,
                ratio: float = 0.8, tol: float = 3.0, workers: int = 1, progress: bool = False) -> pd.DataFrame:
    """Run ``features`` on both images of every pair and tabulate :func:`pair_stats`.

    Args:
        pairs: :class:`Pair` s, or tuples ``(name, a, b)`` / ``(name, a, b, homography)``.
        features: image -> (keypoints, descriptors), e.g. :func:`lrlib.sift.sift_features` or a
            ``functools.partial`` of it, or a function that runs a network and then
            :func:`lrlib.sift.features_from_stacks`.
        ratio, tol: see :func:`pair_stats`.
        workers: pairs processed at once in threads (torch releases the GIL in its kernels; use 1 on a GPU).
        progress: show a tqdm progress bar.

    Returns:
        pandas.DataFrame, one row per pair in the given order: ``pair`` (the name), ``keypoints_a``,
        ``keypoints_b``, ``matches``, and with a homography ``correct``, ``precision``, ``repeatability``
        (NaN on rows without one), and ``seconds`` (wall time of the pair: features of both images and matching).

    Raises:
        ValueError: ``workers`` not a positive int, a pair that is neither a Pair nor a 3- or 4-tuple, and as
            :func:`pair_stats` for what ``features`` returns.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int; got {workers!r}")
    checked = []
    for item in pairs:
        if not isinstance(item, tuple) or len(item) not in (3, 4):
            what = f"a tuple of length {len(item)}" if isinstance(item, tuple) else type(item).__name__
            raise ValueError(f"every pair must be a Pair or a tuple (name, a, b) or (name, a, b, homography); "
                             f"got {what}")
        checked.append(Pair(*item))

    def one(pair: Pair) -> dict[str, Any]:
        start = time.perf_counter()
        kp_a, desc_a = features(pair.a)
        kp_b, desc_b = features(pair.b)
        stats = pair_stats(kp_a, desc_a, kp_b, desc_b, pair.homography, tuple(pair.a.shape), tuple(pair.b.shape),
                           ratio=ratio, tol=tol)
        return {"pair": pair.name, **stats, "seconds": time.perf_counter() - start}

    bar = tqdm(total=len(checked), disable=not progress, desc="pairs")
    rows = []
    if workers == 1:
        for pair in checked:
            rows.append(one(pair))
            bar.update()
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for row in pool.map(one, checked):                                  # results in the given order
                rows.append(row)
                bar.update()
    bar.close()
    columns = ["pair", "keypoints_a", "keypoints_b", "matches", "correct", "precision", "repeatability", "seconds"]
    if not any("correct" in row for row in rows):                               # no pair with a homography
        columns = [c for c in columns if c not in ("correct", "precision", "repeatability")]
    return pd.DataFrame(rows, columns=columns)
