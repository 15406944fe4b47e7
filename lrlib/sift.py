"""Gaussian and Difference-of-Gaussian (DoG) stacks, the scale space SIFT looks for keypoints in.

The DoG-SR paper (notebook 05) blurs an image with five Gaussians and takes four differences::

    L_k = G(sigma_k) * I                 (cascade=False: every level blurs the image itself)
    L_k = G(sigma_k) * L_(k-1)           (cascade=True: every level blurs the level before, as
                                          OpenCV's buildGaussianPyramid does with its *incremental* sigmas)
    D_k = L_(k+1) - L_k,   k = 1..4

:data:`SIGMAS` are the paper's five values. Blurs are separable convolutions on the GPU when the
image is there, with OpenCV's kernel size for float images (``round(8 * sigma + 1) | 1`` taps) and
its default border, reflect-101 (``dcb|abcd|cba``), so they agree with ``cv2.GaussianBlur``.

On top of these stacks sits SIFT at the image's own resolution (one octave, no image doubling)::

    detect(D) -> Keypoints           3x3x3 extrema of D_2, D_3, refined to sub-pixel / sub-scale,
                                     contrast and edge tests as in Lowe (2004) and OpenCV
    describe(L, keypoints)           one 36-bin orientation histogram per keypoint, then the
        -> Keypoints, (K, 128)       4 x 4 x 8 gradient histogram read from L_level
    sift_features(image)             the whole chain on an image
    features_from_stacks(L, D)       the same chain on stacks a network predicted (notebook 05)

Everything is vectorised torch (CPU or GPU, whatever device the input is on); only the few levels are
looped over. :mod:`lrlib.matching` matches the descriptors and scores the matches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from .checks import check_finite, check_images, check_int, check_optional_ints, check_positive

__all__ = ["SIGMAS", "effective_sigmas", "gaussian_kernel", "gaussian_blur", "gaussian_stack", "dog_stack",
           "Keypoints", "detect", "describe", "features_from_stacks", "sift_features", "opencv_sift_features"]

SIGMAS: tuple[float, ...] = (1.249, 1.545, 1.946588, 2.452527, 3.090016)
"""The paper's sigmas (Table 1; its 1.96588 is a slip for 1.946588, see ``../shared/papers/README.md``)."""


def effective_sigmas(sigmas: Sequence[float] = SIGMAS, *, cascade: bool = True) -> list[float]:
    """The blur each level carries relative to the input image: sigma_k itself without cascade, the
    root of the sum of squares sqrt(sigma_1^2 + ... + sigma_k^2) with it (Gaussians compose that way).

    Raises:
        ValueError: a sigma that is not a positive number (its square would hide a negative one).
    """
    sigmas = [check_positive("sigma", s) for s in sigmas]
    if not cascade:
        return [float(s) for s in sigmas]
    total, out = 0.0, []
    for s in sigmas:
        total += float(s) ** 2
        out.append(math.sqrt(total))
    return out


def gaussian_kernel(sigma: float, *, dtype: torch.dtype = torch.float32,
                    device: str | torch.device = "cpu") -> torch.Tensor:
    """The normalised 1-d Gaussian of OpenCV's ``getGaussianKernel`` for float images: (2r + 1,) taps,
    r = (round(8 * sigma + 1) | 1) // 2.

    Raises:
        ValueError: ``sigma`` not a positive number.
    """
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not sigma > 0:
        raise ValueError(f"sigma must be a positive number (pixels); got {sigma!r}")
    size = int(math.floor(sigma * 8 + 1 + 0.5)) | 1
    x = torch.arange(size, dtype=torch.float64, device=device) - size // 2
    k = torch.exp(-x**2 / (2 * sigma**2))
    return (k / k.sum()).to(dtype)


def _as_batch(image: torch.Tensor, name: str = "image") -> tuple[torch.Tensor, bool]:
    """(H, W) or (N, 1, H, W) float -> (N, 1, H, W) and whether the input was a single (H, W) image."""
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (H, W) or (N, 1, H, W); got {type(image).__name__}")
    if not image.is_floating_point():
        raise ValueError(f"{name} must be a float tensor (e.g. grey values in [0, 1]); got dtype {image.dtype} "
                         f"(convert uint8 with image.float() / 255)")
    if image.ndim == 2:
        return image[None, None], True
    if image.ndim == 4 and image.shape[1] == 1:
        return image, False
    raise ValueError(f"{name} must be a grey image (H, W) or a batch (N, 1, H, W); got shape {tuple(image.shape)} "
                     f"(convert colour to grey first, e.g. with 0.299 R + 0.587 G + 0.114 B)")


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur (N, C, H, W) float images with G(sigma), separably, reflect-101 borders (like cv2.GaussianBlur).

    Raises:
        ValueError: ``image`` not a float (N, C, H, W) tensor, ``sigma`` not a positive number, an image side not
            larger than the kernel's reach.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or not image.is_floating_point():
        what = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a float tensor (N, C, H, W); got {what}")
    kernel = gaussian_kernel(sigma, dtype=image.dtype, device=image.device)
    r = len(kernel) // 2
    h, w = image.shape[-2:]
    if r >= h or r >= w:
        raise ValueError(f"image {h}x{w} is too small for sigma={sigma} (its kernel reaches {r} pixels; "
                         f"reflect-101 borders need more than {r} pixels per side)")
    n, c = image.shape[:2]
    x = image.reshape(n * c, 1, h, w)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), kernel.view(1, 1, -1, 1))
    return x.reshape(n, c, h, w)


def gaussian_stack(image: torch.Tensor, sigmas: Sequence[float] = SIGMAS, *, cascade: bool = True) -> torch.Tensor:
    """The Gaussian levels L_1..L_K of an image.

    Args:
        image: float (H, W) or (N, 1, H, W) grey image(s), on any device.
        sigmas: the K blurs, in pixels.
        cascade: L_1 = G(sigma_1) * I and L_(k+1) = G(sigma_(k+1)) * L_k when True (OpenCV's
            incremental blurs); L_k = G(sigma_k) * I when False (absolute blurs).

    Returns:
        (K, H, W) for an (H, W) image, else (N, K, H, W): the level axis takes the channel axis's place.

    Raises:
        ValueError: an image that is not a float (H, W) or (N, 1, H, W) tensor, fewer than two sigmas, a sigma
            that is not positive, an image too small for the largest blur.
    """
    x, single = _as_batch(image)
    if len(sigmas) < 2:
        raise ValueError(f"sigmas must hold at least two blurs (a DoG needs two levels); got {list(sigmas)}")
    levels, current = [], x
    for sigma in sigmas:
        current = gaussian_blur(current if cascade else x, float(sigma))
        levels.append(current)
    stack = torch.cat(levels, dim=1)
    return stack[0] if single else stack


def dog_stack(image: torch.Tensor, sigmas: Sequence[float] = SIGMAS, *, cascade: bool = True) -> torch.Tensor:
    """The DoG levels D_k = L_(k+1) - L_k of :func:`gaussian_stack`: (K - 1, H, W) or (N, K - 1, H, W).

    Raises:
        ValueError: as :func:`gaussian_stack`.
    """
    stack = gaussian_stack(image, sigmas, cascade=cascade)
    return stack[..., 1:, :, :] - stack[..., :-1, :, :]


# ------------------------------------------------------------------------------------------------
# SIFT on our own scale space
#
# Conventions: pixel centres sit at integer coordinates, x is the column and y the row (pointing
# down); angles are radians in [0, 2 pi), measured from the +x axis towards +y (clockwise on screen,
# the same sense as OpenCV's KeyPoint.angle). Images are grey values in [0, 1], so DoG values and the
# thresholds below are in those units (OpenCV works on 0..255 and rescales the same way).
# ------------------------------------------------------------------------------------------------

LAYERS_PER_OCTAVE = 3
"""Scale steps per octave of the paper's sigmas (they grow by 2^(1/3)), as in OpenCV's default
nOctaveLayers = 3: OpenCV divides its contrast threshold by this number, and so do we."""

ORI_BINS = 36          # orientation histogram: 36 bins of 10 degrees
ORI_WINDOW = 1.5       # ... weighted by a Gaussian of 1.5 * sigma
ORI_RADIUS = 3.0       # ... that reaches 3 of its own sigmas: 4.5 * sigma pixels
ORI_PEAK_RATIO = 0.8   # secondary peaks at least 0.8 of the dominant one make extra keypoints
DESC_CELLS = 4         # descriptor: 4 x 4 cells ...
DESC_BINS = 8          # ... of 8 orientation bins each = 128 numbers
DESC_CELL_SIZE = 3.0   # a cell is 3 * sigma pixels wide
DESC_CLIP = 0.2        # entries of the unit descriptor are clipped at 0.2, then it is renormalised


@dataclass
class Keypoints:
    """K keypoints, one row each, on one device.

    Attributes:
        xy: (K, 2) float32 sub-pixel positions in pixels, (x, y) = (column, row).
        level: (K,) int64 index d of the DoG level, 0-based: the keypoint is an extremum of ``dog[d]``
            (1 or 2 with four levels: D_2 or D_3 in the 1-based names above), and its descriptor is read
            from ``gaussians[d]``, the lower-blur Gaussian of that difference (L_2 or L_3).
        sigma: (K,) float32 scale in pixels of the input image (see :func:`detect`).
        response: (K,) float32 |D| at the interpolated extremum (DoG units of a [0, 1] image).
        angle: (K,) float32 orientation in radians, [0, 2 pi); zeros until :func:`describe` fills it.

    Raises:
        Nothing itself (a plain record); :func:`describe` checks the keypoints it is given.
    """

    xy: torch.Tensor
    level: torch.Tensor
    sigma: torch.Tensor
    response: torch.Tensor
    angle: torch.Tensor

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def __getitem__(self, index: torch.Tensor | slice) -> Keypoints:
        """The keypoints picked by a boolean mask, an index tensor or a slice (rows of every field)."""
        return Keypoints(*(getattr(self, f.name)[index] for f in fields(self)))

    def to(self, device: str | torch.device) -> Keypoints:
        """A copy with every field on ``device``."""
        return Keypoints(*(getattr(self, f.name).to(device) for f in fields(self)))

    @classmethod
    def empty(cls, device: str | torch.device = "cpu") -> Keypoints:
        """No keypoints (K = 0), with the right dtypes and shapes."""
        f32 = dict(dtype=torch.float32, device=device)
        return cls(torch.zeros(0, 2, **f32), torch.zeros(0, dtype=torch.int64, device=device),
                   torch.zeros(0, **f32), torch.zeros(0, **f32), torch.zeros(0, **f32))


def _check_stack(stack: torch.Tensor, name: str, min_levels: int) -> None:
    """Raise ValueError unless ``stack`` is a finite float (levels, H, W) tensor with at least ``min_levels`` levels
    (NaN would compare false everywhere and silently lose keypoints)."""
    if not isinstance(stack, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (levels, H, W); got {type(stack).__name__}")
    if not stack.is_floating_point():
        raise ValueError(f"{name} must be a float tensor (levels of a [0, 1] image); got dtype {stack.dtype}")
    if stack.ndim != 3 or stack.shape[0] < min_levels:
        raise ValueError(f"{name} must be one image's stack (levels, H, W) with at least {min_levels} levels; "
                         f"got shape {tuple(stack.shape)} (pass the stacks of a batch one image at a time)")
    check_finite(name, stack)


@torch.no_grad()
def detect(dog: torch.Tensor, *, sigmas: Sequence[float] = SIGMAS, cascade: bool = True,
           contrast_threshold: float = 0.04, edge_threshold: float = 10.0, border: int = 5,
           max_keypoints: int | None = None) -> Keypoints:
    """SIFT keypoints of one DoG stack: scale-space extrema, refined and filtered as in OpenCV.

    1. **Extrema.** A pixel of an interior level ``dog[d]`` (d = 1 .. D - 2, 0-based: D_2 and D_3 of the
       paper's four) is a candidate when it is strictly larger, or strictly smaller, than all 26 neighbours
       of its 3x3x3 block in ``dog[d - 1 : d + 2]``, when |D| > 0.5 * contrast_threshold / 3 (OpenCV's
       preliminary test), and when it lies at least ``border`` pixels from the image edge.
    2. **Refinement.** One Newton step on the quadratic fit of D around the candidate,
       offset = -H^-1 grad (finite differences in x, y and level). Lowe and OpenCV move to the neighbour and
       try again when the offset exceeds 0.5 in some direction; we drop such points instead (the extremum
       belongs to another sample). The interpolated value D^ = D + 0.5 * grad . offset must reach
       |D^| >= contrast_threshold / 3.
    3. **Edges.** With the 2x2 spatial Hessian of D at the sample, tr^2 / det < (r + 1)^2 / r,
       r = ``edge_threshold``, and det > 0 (points on edges are poorly localised along them).

    The divisor 3 is :data:`LAYERS_PER_OCTAVE`: the paper's sigmas grow by 2^(1/3) from level to level,
    OpenCV's 3 layers per octave, so its thresholds carry over unchanged.

    Note: with ``cascade=True`` the levels' effective blurs (1.25, 1.98, 2.77, 3.70, 4.84 px) grow by
    1.59, 1.40, 1.34, 1.31 instead of a constant factor, so the DoG's amplitude falls from level to level
    and few scale-space extrema remain: ``sift_features`` finds 17 keypoints on ``skimage.data.camera()``
    (512 x 512), against 370 with ``cascade=False`` (steps of about 1.26) and 791 for OpenCV's SIFT (all its
    octaves; counts include the copies with secondary orientations).

    Args:
        dog: (D, H, W) float DoG stack of a [0, 1] image, D >= 3 (the paper: D = 4), any device.
        sigmas: the D + 1 sigmas of the Gaussian levels behind ``dog`` (pixels), for the keypoints' scale.
        cascade: how those sigmas were applied (see :func:`gaussian_stack`), for the keypoints' scale.
        contrast_threshold: OpenCV's contrastThreshold (0.04), for a [0, 1] image and 3 layers per octave.
        edge_threshold: OpenCV's edgeThreshold r (10).
        border: keypoints start this many pixels from the edge (OpenCV's SIFT_IMG_BORDER, 5); >= 1.
        max_keypoints: keep only the strongest (largest |D^|) this many; None keeps all.

    Runs without autograd (``torch.no_grad``): a network's predicted stacks can be passed as they are.

    Returns:
        :class:`Keypoints`, in raster order (level, row, column) of their sample, angle 0. The scale is
        the effective blur (:func:`effective_sigmas`) sigma_d of ``gaussians[d]``, the Gaussian that
        ``dog[d]`` starts from (as in OpenCV; not the DoG's mid-point), interpolated geometrically with the
        sub-level offset s in [-0.5, 0.5]: sigma_d * (sigma_(d+1) / sigma_d)^s for s >= 0 and
        sigma_d * (sigma_(d-1) / sigma_d)^-s for s < 0 (OpenCV: sigma0 * 2^((d + s) / 3), the same thing
        for its constant steps).

    Raises:
        ValueError: ``dog`` not a finite float (D, H, W) tensor with D >= 3 (NaN would silently lose keypoints),
            ``sigmas`` not D + 1 positive numbers, thresholds that are not positive numbers, ``border`` not an
            int >= 1 or too large for the image, ``max_keypoints`` neither None nor a positive int.
    """
    _check_stack(dog, "dog", min_levels=3)
    n_dog, h, w = dog.shape
    sigmas = [float(s) for s in sigmas]
    if len(sigmas) != n_dog + 1:
        raise ValueError(f"sigmas must hold one blur per Gaussian level, D + 1 = {n_dog + 1} for a DoG stack of "
                         f"{n_dog} levels; got {len(sigmas)}: {sigmas}")
    check_positive("contrast_threshold", contrast_threshold)
    check_positive("edge_threshold", edge_threshold)
    check_int("border", border)
    check_optional_ints(max_keypoints=max_keypoints)
    if min(h, w) <= 2 * border:
        raise ValueError(f"dog images {h}x{w} are too small for border={border} (need more than {2 * border} "
                         f"pixels per side)")
    dog = dog.float()
    device = dog.device

    # 1. Extrema: compare the interior block with its 26 shifted copies (a loop over offsets, not pixels).
    centre = dog[1:-1, 1:-1, 1:-1]
    largest = torch.full_like(centre, -math.inf)   # the largest of the 26 neighbours of every sample
    smallest = torch.full_like(centre, math.inf)
    for ds in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if ds == dy == dx == 0:
                    continue
                neighbour = dog[1 + ds:n_dog - 1 + ds, 1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx]
                largest = torch.maximum(largest, neighbour)
                smallest = torch.minimum(smallest, neighbour)
    candidate = (centre > largest) | (centre < smallest)
    candidate &= centre.abs() > 0.5 * contrast_threshold / LAYERS_PER_OCTAVE
    rows = torch.arange(1, h - 1, device=device)
    cols = torch.arange(1, w - 1, device=device)
    candidate &= ((rows >= border) & (rows < h - border))[None, :, None]
    candidate &= ((cols >= border) & (cols < w - border))[None, None, :]
    s, y, x = (index + 1 for index in torch.nonzero(candidate, as_tuple=True))  # back to full-stack indices

    # 2. Refinement: finite differences around every candidate at once (each at(...) is a (K,) vector).
    def at(d_s: int, d_y: int, d_x: int) -> torch.Tensor:
        return dog[s + d_s, y + d_y, x + d_x]

    value = at(0, 0, 0)
    grad = torch.stack([at(0, 0, 1) - at(0, 0, -1), at(0, 1, 0) - at(0, -1, 0), at(1, 0, 0) - at(-1, 0, 0)], 1) / 2
    dxx = at(0, 0, 1) + at(0, 0, -1) - 2 * value
    dyy = at(0, 1, 0) + at(0, -1, 0) - 2 * value
    dss = at(1, 0, 0) + at(-1, 0, 0) - 2 * value
    dxy = (at(0, 1, 1) - at(0, 1, -1) - at(0, -1, 1) + at(0, -1, -1)) / 4
    dxs = (at(1, 0, 1) - at(1, 0, -1) - at(-1, 0, 1) + at(-1, 0, -1)) / 4
    dys = (at(1, 1, 0) - at(1, -1, 0) - at(-1, 1, 0) + at(-1, -1, 0)) / 4
    hessian = torch.stack([torch.stack([dxx, dxy, dxs], 1),
                           torch.stack([dxy, dyy, dys], 1),
                           torch.stack([dxs, dys, dss], 1)], 1)                       # (K, 3, 3)
    # Solve in float64 (cheap for 3x3 blocks); solve_ex flags singular blocks instead of raising.
    offset, info = torch.linalg.solve_ex(hessian.double(), -grad.double().unsqueeze(-1))
    offset = offset.squeeze(-1).float()                                               # (K, 3): dx, dy, ds
    keep = (info == 0) & torch.isfinite(offset).all(1) & (offset.abs() <= 0.5).all(1)
    response = (value + 0.5 * (grad * offset).sum(1)).abs()
    keep &= response >= contrast_threshold / LAYERS_PER_OCTAVE

    # 3. Edges: principal curvatures of D from the spatial Hessian.
    trace, det = dxx + dyy, dxx * dyy - dxy**2
    keep &= (det > 0) & (trace**2 * edge_threshold < (edge_threshold + 1) ** 2 * det)

    index = torch.nonzero(keep).squeeze(1)
    if max_keypoints is not None and len(index) > max_keypoints:
        strongest = torch.sort(response[index], descending=True, stable=True).indices[:max_keypoints]
        index = index[torch.sort(strongest).values]                                   # back to raster order
    s, offset = s[index], offset[index]

    # Scale: geometric interpolation of the levels' blurs with the sub-level offset.
    log_sigma = torch.tensor(effective_sigmas(sigmas, cascade=cascade), device=device).log()
    sub = offset[:, 2]
    towards = torch.where(sub >= 0, log_sigma[s + 1], log_sigma[s - 1])
    sigma = torch.exp(log_sigma[s] + sub.abs() * (towards - log_sigma[s]))

    xy = torch.stack([x[index] + offset[:, 0], y[index] + offset[:, 1]], 1)
    return Keypoints(xy=xy.float(), level=s.long(), sigma=sigma.float(), response=response[index].float(),
                     angle=torch.zeros(len(index), device=device))


def _gradient_maps(gaussians: torch.Tensor) -> torch.Tensor:
    """(L, H, W) levels -> (L, 2, H, W) central-difference gradients (d/dx, d/dy) per pixel; zero on the
    outermost rows and columns, where a central difference would need pixels outside the image."""
    gx, gy = torch.zeros_like(gaussians), torch.zeros_like(gaussians)
    gx[:, :, 1:-1] = (gaussians[:, :, 2:] - gaussians[:, :, :-2]) / 2
    gy[:, 1:-1, :] = (gaussians[:, 2:, :] - gaussians[:, :-2, :]) / 2
    return torch.stack([gx, gy], 1)


def _sample_gradients(grads: torch.Tensor, level: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of the gradient maps (L, 2, H, W) at ``points`` (K, S, 2) pixel coordinates, each
    keypoint on its own level (K,) -> (K, S, 2). Samples outside the image read zero gradient."""
    h, w = grads.shape[-2:]
    to_unit = torch.tensor([2 / (w - 1), 2 / (h - 1)], device=points.device)  # align_corners=True: -1 and 1
    out = points.new_zeros(points.shape)                                        # are the outer pixel centres
    for lev in range(grads.shape[0]):                                           # a loop over the few levels
        index = torch.nonzero(level == lev).squeeze(1)
        if len(index) == 0:
            continue
        grid = (points[index] * to_unit - 1).unsqueeze(0)                       # (1, k, S, 2)
        values = F.grid_sample(grads[lev:lev + 1], grid, mode="bilinear", padding_mode="zeros",
                               align_corners=True)                              # (1, 2, k, S)
        out[index] = values[0].permute(1, 2, 0)
    return out


def _circular_tent(position: torch.Tensor, bins: int) -> torch.Tensor:
    """Linear (tent) weights of fractional bin positions (...) on a circle of ``bins`` bins -> (..., bins):
    position 2.3 gives 0.7 to bin 2 and 0.3 to bin 3; bin ``bins - 1`` neighbours bin 0."""
    centres = torch.arange(bins, device=position.device, dtype=position.dtype)
    distance = (position.unsqueeze(-1) - centres).remainder(bins)
    distance = torch.minimum(distance, bins - distance)
    return (1 - distance).clamp_min(0)


def _square_grid(half_width: float, samples: int, device: torch.device) -> torch.Tensor:
    """(samples^2, 2) points (u, v) of a regular grid covering [-half_width, half_width]^2, cell-centred."""
    t = (torch.arange(samples, device=device, dtype=torch.float32) + 0.5) * (2 * half_width / samples) - half_width
    v, u = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1)], 1)


def _orientations(grads: torch.Tensor, keypoints: Keypoints, secondary_peaks: bool) -> Keypoints:
    """Orientation assignment; returns the keypoints with ``angle`` set, one row per histogram peak.

    The gradients around a keypoint are read on a grid with a step of 0.5 sigma over the disc of radius
    4.5 sigma (293 points; every keypoint costs the same whatever its scale), weighted by their magnitude
    and a Gaussian of 1.5 sigma, and spread linearly over the two nearest of 36 orientation bins. The sums
    are dense products (K x S x 36 weights, most of them zero) rather than ``scatter_add``, whose order of
    additions on a GPU changes from run to run. The histogram is smoothed with [1, 4, 6, 4, 1] / 16
    (circularly), and a peak's angle is refined by a parabola through it and its two neighbours.
    """
    radius = ORI_RADIUS * ORI_WINDOW                                               # 4.5, in units of sigma
    offsets = _square_grid(radius, 19, grads.device)                              # 19 x 19, step 0.5
    offsets = offsets[(offsets**2).sum(1) <= radius**2]                           # (S, 2): the disc
    points = keypoints.xy[:, None, :] + keypoints.sigma[:, None, None] * offsets  # (K, S, 2) pixels
    g = _sample_gradients(grads, keypoints.level, points)
    magnitude = g.norm(dim=-1)
    theta = torch.atan2(g[..., 1], g[..., 0]).remainder(2 * math.pi)
    window = torch.exp(-(offsets**2).sum(1) / (2 * ORI_WINDOW**2))               # (S,)
    bins = _circular_tent(theta * (ORI_BINS / (2 * math.pi)), ORI_BINS)           # (K, S, 36)
    hist = ((magnitude * window).unsqueeze(1) @ bins).squeeze(1)                    # (K, 36): sum over samples
    hist = (hist.roll(2, 1) + hist.roll(-2, 1) + 4 * (hist.roll(1, 1) + hist.roll(-1, 1)) + 6 * hist) / 16

    left, right = hist.roll(1, 1), hist.roll(-1, 1)                                # h[b - 1], h[b + 1]
    top = hist.max(1, keepdim=True).values
    if secondary_peaks:
        peak = (hist > left) & (hist > right) & (hist >= ORI_PEAK_RATIO * top)
    else:
        peak = F.one_hot(hist.argmax(1), ORI_BINS).bool()
    peak &= top > 0                                                                # no gradient at all: no angle
    k, b = torch.nonzero(peak, as_tuple=True)                                      # keypoint-major order
    l, c, r = left[k, b], hist[k, b], right[k, b]
    curvature = l - 2 * c + r                                                      # <= 0 at a maximum
    shift = torch.where(curvature < 0, 0.5 * (l - r) / curvature.clamp(max=-1e-30), torch.zeros_like(c))
    angle = ((b + shift) * (2 * math.pi / ORI_BINS)).remainder(2 * math.pi)
    out = keypoints[k]
    out.angle = angle.float()
    return out


def _descriptors(grads: torch.Tensor, keypoints: Keypoints, samples_per_cell: int) -> torch.Tensor:
    """The 4 x 4 x 8 gradient histograms of oriented keypoints -> (K, 128), normalised.

    The window is laid out in the keypoint's own frame, in units of cells (3 sigma pixels): u along the
    keypoint's angle, v across it, the 4 x 4 cells centred at -1.5, -0.5, 0.5, 1.5. We sample a grid of
    ``samples_per_cell`` points per cell and axis over [-2.5, 2.5]^2, one cell wider than the window, since
    bilinear binning gives samples up to one cell beyond the outer centres some weight (as OpenCV's
    sampling disc does). Each sample's gradient, rotated into the keypoint frame, adds its magnitude times
    a Gaussian weight (sigma = 2 cells, half the window) to the histograms, spread bilinearly over the 4
    nearest cells and linearly over the 2 nearest of 8 orientation bins. Orientations within the window are
    counted anticlockwise with the v axis pointing up, as OpenCV counts them, so that our descriptor and
    OpenCV's at the same keypoint agree entry by entry (notebook 05 checks it).
    """
    half = DESC_CELLS / 2 + 0.5                                                    # 2.5 cells
    uv = _square_grid(half, (DESC_CELLS + 1) * samples_per_cell, grads.device)    # (S, 2) in cells
    cos, sin = keypoints.angle.cos()[:, None], keypoints.angle.sin()[:, None]     # (K, 1)
    cell = (DESC_CELL_SIZE * keypoints.sigma)[:, None]                             # (K, 1) pixels per cell
    u, v = uv[:, 0], uv[:, 1]
    points = keypoints.xy[:, None, :] + cell[..., None] * torch.stack([cos * u - sin * v, sin * u + cos * v], -1)
    g = _sample_gradients(grads, keypoints.level, points)                          # (K, S, 2) image frame
    gu = cos * g[..., 0] + sin * g[..., 1]                                         # the same gradient in the
    gv = -sin * g[..., 0] + cos * g[..., 1]                                        # keypoint frame
    magnitude = torch.hypot(gu, gv)
    theta = torch.atan2(-gv, gu).remainder(2 * math.pi)  # v up, as OpenCV counts: its bins, entry by entry

    # The spatial weights are the same for every keypoint, since the grid lives in the keypoint frame.
    centres = torch.arange(DESC_CELLS, device=grads.device, dtype=torch.float32) - (DESC_CELLS - 1) / 2
    w_col = (1 - (u[:, None] - centres).abs()).clamp_min(0)                        # (S, 4)
    w_row = (1 - (v[:, None] - centres).abs()).clamp_min(0)                        # (S, 4)
    gauss = torch.exp(-(u**2 + v**2) / (2 * (DESC_CELLS / 2) ** 2))               # (S,)
    spatial = (w_row[:, :, None] * w_col[:, None, :]).reshape(len(uv), -1) * gauss[:, None]  # (S, 16)
    orient = _circular_tent(theta * (DESC_BINS / (2 * math.pi)), DESC_BINS)         # (K, S, 8)
    hist = spatial.T @ (magnitude.unsqueeze(-1) * orient)                         # (K, 16, 8): row, col, bin
    return _normalise(hist.reshape(len(keypoints), -1))


def _normalise(hist: torch.Tensor, clip: float = DESC_CLIP) -> torch.Tensor:
    """Lowe's normalisation of (K, 128) histograms: unit L2 norm, entries clipped at ``clip`` (so no single
    strong gradient dominates), unit norm again. All-zero rows stay zero."""
    unit = hist / hist.norm(dim=1, keepdim=True).clamp_min(1e-12)
    clipped = unit.clamp(max=clip)
    return clipped / clipped.norm(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def describe(gaussians: torch.Tensor, keypoints: Keypoints, *, secondary_peaks: bool = True,
             samples_per_cell: int = 4, chunk: int = 1024) -> tuple[Keypoints, torch.Tensor]:
    """Orientations and 128-d SIFT descriptors of keypoints, read from their Gaussian levels.

    Both steps read central-difference gradients of L_d (``gaussians[keypoint.level]``) with
    ``grid_sample`` (bilinear) at points laid out in units of the keypoint's sigma:

    * **Orientation**: a 36-bin histogram of gradient orientations over a window of radius 4.5 sigma,
      weighted by magnitude and a Gaussian of 1.5 sigma, smoothed; its peak, refined by a parabola, is the
      angle. With ``secondary_peaks`` (the default, as Lowe and OpenCV do) every other local peak of at
      least 0.8 of the highest one gives a copy of the keypoint with that angle (in OpenCV some 15% of
      keypoints get one); with False, only the dominant peak is kept, one row per keypoint.
    * **Descriptor**: 4 x 4 cells x 8 orientation bins over a window of 4 cells of 3 sigma pixels, turned to
      the keypoint's angle, Gaussian-weighted (sigma = half the window), with bilinear binning in space and
      linear binning in orientation; then unit norm, clip at 0.2, unit norm again (the final entries can
      exceed 0.2 a little: the renormalisation scales them all up).

    Borders: gradient samples outside the image read zero, and the image's outermost rows and columns have
    zero gradient, so a window that leaves the image only counts the part inside it (OpenCV skips those
    samples too). Keypoints near a border are therefore kept, with a less informative descriptor.

    Args:
        gaussians: (L, H, W) float Gaussian levels of a [0, 1] image (or a network's prediction of them).
        keypoints: from :func:`detect` on the matching DoG stack; ``level`` must index ``gaussians``.
        secondary_peaks: also keep the orientation peaks >= 0.8 of the dominant one (see above).
        samples_per_cell: gradient samples per cell and axis (4: 20 x 20 samples over the window).
        chunk: keypoints handled at once, to bound memory (about 1024 x 400 x 36 floats at the default).

    Returns:
        (keypoints', descriptors): K' >= 0 keypoints with ``angle`` filled (keypoints without any gradient
        in their window are dropped; with ``secondary_peaks`` some appear more than once, in a row, each with
        its own angle) and a (K', 128) float32 tensor of unit descriptors, rows ordered (cell row, cell column,
        orientation bin), on the device of ``gaussians``.

    Raises:
        ValueError: ``gaussians`` not a finite float (L, H, W) tensor of at least 2x2 pixels, ``keypoints`` not a
            :class:`Keypoints` or with levels that do not index ``gaussians``, ``samples_per_cell`` or ``chunk``
            not a positive int.
    """
    _check_stack(gaussians, "gaussians", min_levels=1)
    if not isinstance(keypoints, Keypoints):
        raise ValueError(f"keypoints must be a Keypoints (from detect); got {type(keypoints).__name__}")
    check_int("samples_per_cell", samples_per_cell)
    check_int("chunk", chunk)
    device = gaussians.device
    keypoints = Keypoints(xy=keypoints.xy.float(), level=keypoints.level.long(), sigma=keypoints.sigma.float(),
                          response=keypoints.response.float(), angle=keypoints.angle.float()).to(device)
    if len(keypoints) == 0:
        return Keypoints.empty(device), torch.zeros(0, DESC_CELLS**2 * DESC_BINS, device=device)
    if int(keypoints.level.min()) < 0 or int(keypoints.level.max()) >= gaussians.shape[0]:
        raise ValueError(f"keypoints.level must index the {gaussians.shape[0]} Gaussian levels (0 .. "
                         f"{gaussians.shape[0] - 1}); got levels {int(keypoints.level.min())} .. "
                         f"{int(keypoints.level.max())}")
    if gaussians.shape[-1] < 2 or gaussians.shape[-2] < 2:
        raise ValueError(f"gaussians images must be at least 2x2; got shape {tuple(gaussians.shape)}")
    grads = _gradient_maps(gaussians.float())
    all_keypoints, all_descriptors = [], []
    for start in range(0, len(keypoints), chunk):
        oriented = _orientations(grads, keypoints[start:start + chunk], secondary_peaks)
        all_keypoints.append(oriented)
        all_descriptors.append(_descriptors(grads, oriented, samples_per_cell))
    merged = Keypoints(*(torch.cat([getattr(k, f.name) for k in all_keypoints]) for f in fields(Keypoints)))
    return merged, torch.cat(all_descriptors)


def features_from_stacks(gaussians: torch.Tensor, dogs: torch.Tensor, *, sigmas: Sequence[float] = SIGMAS,
                         cascade: bool = True, secondary_peaks: bool = True,
                         **detect_kwargs) -> tuple[Keypoints, torch.Tensor]:
    """SIFT features from given stacks: :func:`detect` on ``dogs``, then :func:`describe` on ``gaussians``.

    Notebook 05 passes the stacks its networks predicted here (the DoGs need not be differences of the
    Gaussians given). ``sigmas`` and ``cascade`` only set the keypoints' scales.

    Args:
        gaussians: (L, H, W) float Gaussian levels of a [0, 1] image.
        dogs: (L - 1, H, W) float DoG levels of the same image.
        detect_kwargs: ``contrast_threshold``, ``edge_threshold``, ``border``, ``max_keypoints`` of :func:`detect`.

    Returns:
        (keypoints, descriptors (K, 128) float32), as :func:`describe`.

    Raises:
        ValueError: stacks that are not finite float (levels, H, W) tensors, dogs not (L - 1, H, W) for
            gaussians (L, H, W), and as :func:`detect` and :func:`describe`.
    """
    _check_stack(gaussians, "gaussians", min_levels=2)
    _check_stack(dogs, "dogs", min_levels=3)
    if dogs.shape[0] != gaussians.shape[0] - 1 or dogs.shape[1:] != gaussians.shape[1:]:
        raise ValueError(f"dogs must be (L - 1, H, W) for gaussians (L, H, W) = {tuple(gaussians.shape)}; "
                         f"got {tuple(dogs.shape)}")
    keypoints = detect(dogs, sigmas=sigmas, cascade=cascade, **detect_kwargs)
    return describe(gaussians.to(dogs.device), keypoints, secondary_peaks=secondary_peaks)


def sift_features(image: torch.Tensor, *, sigmas: Sequence[float] = SIGMAS, cascade: bool = True,
                  secondary_peaks: bool = True, **detect_kwargs) -> tuple[Keypoints, torch.Tensor]:
    """SIFT features of one grey image: :func:`gaussian_stack` -> DoG -> :func:`detect` -> :func:`describe`.

    Args:
        image: (H, W) float grey image with values in [0, 1], on any device.
        sigmas, cascade: the scale space (the paper's five levels by default).
        secondary_peaks: see :func:`describe`.
        detect_kwargs: ``contrast_threshold``, ``edge_threshold``, ``border``, ``max_keypoints`` of :func:`detect`.

    Returns:
        (keypoints, descriptors (K, 128) float32) on the image's device.

    Raises:
        ValueError: an image that is not one float (H, W) tensor, holds NaN or infinity (no keypoint would be
            found, silently), or has values far outside [0, 1] (below -0.5 or above 1.5: 0..255 values); as
            :func:`gaussian_stack` and :func:`detect` for the other arguments.
    """
    if isinstance(image, torch.Tensor) and image.ndim != 2:
        raise ValueError(f"image must be one grey image (H, W); got shape {tuple(image.shape)} "
                         f"(convert colour to grey, and pass a batch one image at a time)")
    gaussians = gaussian_stack(image, sigmas, cascade=cascade)          # checks tensor, dtype and size
    check_finite("image", image)
    low, high = float(image.min()), float(image.max())
    if low < -0.5 or high > 1.5:
        raise ValueError(f"image must hold grey values in [0, 1]; got values in [{low:.3g}, {high:.3g}] "
                         f"(divide 0..255 images by 255)")
    return features_from_stacks(gaussians, gaussians[1:] - gaussians[:-1], sigmas=sigmas, cascade=cascade,
                                secondary_peaks=secondary_peaks, **detect_kwargs)


def opencv_sift_features(image, **sift_kwargs) -> tuple[Keypoints, torch.Tensor]:
    """OpenCV's SIFT (``cv2.SIFT_create(**sift_kwargs).detectAndCompute``) in this module's terms, the
    reference to compare with.

    Args:
        image: (H, W) grey image, a tensor or an array, uint8 or float in [0, 1].

    Returns:
        (keypoints, descriptors (K, 128) float32 on the CPU). Keypoints: ``xy`` = ``kp.pt``, ``sigma`` =
        ``kp.size / 2`` (OpenCV's size is twice the scale), ``response`` = ``kp.response`` (0..255 units),
        ``angle`` = ``kp.angle`` in radians (the same sense as ours), ``level`` = the octave (-1 is the
        doubled image, 0 the image's own resolution, 1 half of it, ...). Descriptors are OpenCV's, scaled
        to unit norm (OpenCV stores 512 x the unit vector, rounded to bytes).

    Raises:
        ValueError: an image that is not one (H, W) grey image of uint8 or finite floats in [0, 1] (0..255 floats
            would be clipped to a white image, and NaN cast to arbitrary bytes).
    """
    import cv2
    import numpy as np

    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    check_images("image", torch.as_tensor(array), ndim=2)
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array * 255), 0, 255).astype(np.uint8)
    found, desc = cv2.SIFT_create(**sift_kwargs).detectAndCompute(array, None)
    if desc is None or len(found) == 0:
        return Keypoints.empty(), torch.zeros(0, DESC_CELLS**2 * DESC_BINS)
    octave = np.array([k.octave & 255 for k in found])
    octave = np.where(octave >= 128, octave - 256, octave)                # a signed byte in OpenCV's packing
    desc = torch.from_numpy(desc.astype(np.float32))
    keypoints = Keypoints(
        xy=torch.tensor([k.pt for k in found], dtype=torch.float32),
        level=torch.from_numpy(octave.astype(np.int64)),
        sigma=torch.tensor([k.size / 2 for k in found], dtype=torch.float32),
        response=torch.tensor([k.response for k in found], dtype=torch.float32),
        angle=torch.tensor([math.radians(k.angle) % (2 * math.pi) for k in found], dtype=torch.float32))
    return keypoints, desc / desc.norm(dim=1, keepdim=True).clamp_min(1e-12)
