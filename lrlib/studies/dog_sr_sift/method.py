"""The DoG-SR paper's method: its level networks (:class:`LevelNet`, :class:`DoGSR`), their training
patches and target (:func:`patch_pool`, :func:`train_dogsr`), prediction of whole stacks
(:func:`predict_image`), and the PSNR of DoG images under the conventions the paper may have used
(:func:`dog_psnr`). See the package's docstring for the method in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...checks import check_int
from ...degrade import low_resolution
from ...device import bf16_autocast
from ...sift import SIGMAS, gaussian_stack
from ...sr import ResBlock, fit, upsample

__all__ = ["DEFAULT_BLOCKS", "LevelNet", "DoGSR", "PatchPool", "patch_pool", "train_dogsr", "predict_image",
           "DOG_PSNR_CONVENTIONS", "dog_uint8", "dog_psnr"]

DEFAULT_BLOCKS: dict[int, tuple[int, ...]] = {1: (16, 12, 10, 8), 2: (16, 12, 10, 8, 6)}
"""The paper's ResBlocks per level network, for method 1 (D_1..D_4) and method 2 (L_1..L_5)."""


def _check_grey_batch(lr: torch.Tensor, name: str = "lr") -> None:
    if not isinstance(lr, torch.Tensor) or lr.ndim != 4 or lr.shape[1] != 1 or not lr.is_floating_point():
        got = f"{tuple(lr.shape)} {lr.dtype}" if isinstance(lr, torch.Tensor) else type(lr).__name__
        raise ValueError(f"{name} must be a float grey batch (N, 1, h, w) in [0, 1]; got {got}")


# --- the networks ------------------------------------------------------------------------------------

class LevelNet(nn.Module):
    """One level network: LR grey (N, 1, h, w) in [0, 1] -> one HR image (N, 1, s*h, s*w).

    EDSR's layout (head conv3x3 1 -> ``width``; ``blocks`` :class:`~lrlib.sr.ResBlock` with squeeze-and-excitation; a conv3x3, plus a
    global skip from the head), then the paper's deconvolution: a transposed convolution of stride
    s, kernel 2s and padding s/2 to one channel, so the output is exactly s times larger.

    The output layer runs in float32 even under bf16 autocast: it is cheap (one output channel), and
    bf16 would round grey values near 0.5 to steps of 0.002, the size of a fine DoG value.
    """

    def __init__(self, blocks: int, scale: int, width: int = 64):
        super().__init__()
        check_int("blocks", blocks, 1)
        check_int("width", width, 1)
        if scale not in (2, 4):
            raise ValueError(f"scale must be 2 or 4 (the paper's up-scaling factors); got {scale!r}")
        self.scale = scale
        self.head = nn.Conv2d(1, width, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(width, se=True) for _ in range(blocks)],
                                  nn.Conv2d(width, width, 3, padding=1))
        self.up = nn.ConvTranspose2d(width, 1, kernel_size=2 * scale, stride=scale, padding=scale // 2)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        features = self.head(lr)
        features = features + self.body(features)
        with torch.autocast(lr.device.type, enabled=False):
            return self.up(features.float())


class DoGSR(nn.Module):
    """The paper's two methods: one :class:`LevelNet` per DoG level (method 1) or Gaussian level (method 2).

    Args:
        method: 1 (predict D_1..D_4 as residuals on the bicubic predictor) or 2 (predict L_1..L_5).
        scale: 2 or 4, the side up-scaling factor.
        blocks: SEResBlocks per level network, one entry per output image; default
            (16, 12, 10, 8) for method 1, (16, 12, 10, 8, 6) for method 2 (the paper's).
        sigmas: the blurs of the Gaussian levels (pixels of the HR image), stored on the model.
        cascade: how the levels are blurred (see :func:`lrlib.sift.gaussian_stack`), stored on the model.
        width: channels of every level network.

    The predictor of method 1 is ``dog_stack(upsample(lr))`` with :func:`lrlib.sr.upsample`, whose
    bicubic image is clamped to [0, 1] like a stored image (but not rounded): the image behind the
    "bicubic" baseline of the paper's tables, so an untrained method 1 reproduces that baseline
    exactly. To start there, method 1's output layers start at zero (the paper gives no
    initialisation; PyTorch's default gives outputs of the order of 1, about a hundred times the
    DoGs' spread). Method 2 keeps PyTorch's default initialisation.
    """

    def __init__(self, method: int, scale: int, *, blocks: Sequence[int] | None = None,
                 sigmas: Sequence[float] = SIGMAS, cascade: bool, width: int = 64):
        super().__init__()
        if method not in (1, 2):
            raise ValueError(f"method must be 1 (DoG residuals on a bicubic predictor) or 2 (Gaussian levels); "
                             f"got {method!r}")
        if not isinstance(cascade, bool):
            raise ValueError(f"cascade must be True or False; got {cascade!r}")
        blocks = DEFAULT_BLOCKS[method] if blocks is None else tuple(blocks)
        outputs = len(sigmas) - 1 if method == 1 else len(sigmas)
        if len(blocks) != outputs:
            what = "DoG" if method == 1 else "Gaussian"
            raise ValueError(f"blocks must give one entry per {what} level, {outputs} for method {method} with "
                             f"{len(sigmas)} sigmas; got {len(blocks)}: {blocks}")
        self.method, self.scale, self.cascade = method, scale, cascade
        self.sigmas = tuple(float(s) for s in sigmas)
        self.nets = nn.ModuleList([LevelNet(b, scale, width) for b in blocks])
        if method == 1:
            for net in self.nets:
                nn.init.zeros_(net.up.weight)
                nn.init.zeros_(net.up.bias)

    def bicubic_levels(self, lr: torch.Tensor) -> torch.Tensor:
        """The Gaussian levels of the clamped bicubic image: (N, 1, h, w) -> (N, 5, s*h, s*w), float32."""
        with torch.autocast(lr.device.type, enabled=False):  # DoGs are small differences: no bf16 here
            return gaussian_stack(upsample(lr.float(), self.scale), self.sigmas, cascade=self.cascade)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """LR grey (N, 1, h, w) in [0, 1] -> the method's target: D_1..D_4 (method 1) or L_1..L_5
        (method 2), (N, 4 or 5, s*h, s*w), float32."""
        _check_grey_batch(lr)
        out = torch.cat([net(lr) for net in self.nets], dim=1)
        if self.method == 1:
            out = out + self.bicubic_levels(lr).diff(dim=1)
        return out

    def predict_dog(self, lr: torch.Tensor) -> torch.Tensor:
        """D_1..D_4, (N, 4, s*h, s*w): method 1's output, or the differences of method 2's levels."""
        out = self(lr)
        return out if self.method == 1 else out.diff(dim=1)

    def predict_gaussians(self, lr: torch.Tensor) -> torch.Tensor:
        """L_1..L_5, (N, 5, s*h, s*w): method 2's output. Method 1 predicts no level, yet SIFT's
        descriptors need them: its L_1 is the bicubic image's, and L_(k+1) = L_k + D_k adds up its DoGs."""
        out = self(lr)
        if self.method == 2:
            return out
        first = self.bicubic_levels(lr)[:, :1]
        return torch.cat([first, first + out.cumsum(dim=1)], dim=1)


# --- training data -----------------------------------------------------------------------------------

@dataclass
class PatchPool:
    """Aligned LR / HR training patches, float32, on one device.

    Attributes:
        lr: (P, 1, p, p) LR patches in [0, 1].
        levels: (P, K, s*p, s*p) Gaussian levels of the HR photo at the same place (the targets).
        hr: (P, 1, s*p, s*p) the HR grey patch in [0, 1], for pixel-domain baselines
            (``lrlib.sr.train_sr(model, pool.lr, pool.hr)`` trains on exactly these patches).
        scale, sigmas, cascade: how the pool was made; :func:`train_dogsr` checks them against the model.

    Memory: 4 p^2 (1 + (K + 1) s^2) bytes a patch: 100 KiB for p = 32, K = 5 at x2, 388 KiB at x4.
    DIV2K's 800 training photos (about 2040 x 1350) give some 2 M patches at x2 with the default
    stride (200 GiB) and 0.5 M without overlap (50 GiB): choose the photos and stride to fit.
    Float32 throughout: the targets' DoGs are differences of levels, too fine for fp16 storage.
    """

    lr: torch.Tensor
    levels: torch.Tensor
    hr: torch.Tensor
    scale: int
    sigmas: tuple[float, ...]
    cascade: bool

    def __len__(self) -> int:
        return len(self.lr)


def _grid_patches(image: torch.Tensor, size: int, step: int) -> torch.Tensor:
    """All size x size windows of (C, H, W) at a stride of ``step`` -> (n_rows * n_cols, C, size, size)."""
    windows = image.unfold(1, size, step).unfold(2, size, step)  # (C, n_rows, n_cols, size, size)
    return windows.permute(1, 2, 0, 3, 4).reshape(-1, image.shape[0], size, size)


def patch_pool(images: list[torch.Tensor], scale: int, *, lr_patch: int = 32, stride: int | None = None,
               sigmas: Sequence[float] = SIGMAS, cascade: bool, device: str | torch.device = "cpu") -> PatchPool:
    """Cut training patches from HR grey photos.

    Each photo is cropped (bottom and right) to a multiple of ``scale``; its LR image comes from
    :func:`lrlib.degrade.low_resolution`; its Gaussian stack is computed on the whole photo, so the
    targets carry no patch-border artefacts. LR patches of ``lr_patch`` pixels are cut on a regular
    grid of step ``stride`` (default ``lr_patch // 2``), and the HR patches at the same places,
    ``scale`` times larger.

    Args:
        images: HR grey photos, each a uint8 tensor (1, H, W), sizes may differ.
        scale: 2 or 4.
        sigmas, cascade: the Gaussian levels of the targets (:func:`lrlib.sift.gaussian_stack`).
        device: where the work is done and the pool is stored.
    """
    if scale not in (2, 4):
        raise ValueError(f"scale must be 2 or 4; got {scale!r}")
    check_int("lr_patch", lr_patch, 1)
    stride = check_int("stride", lr_patch // 2 if stride is None else stride, 1)
    if not images:
        raise ValueError("images is empty; give at least one HR grey photo (1, H, W) uint8")
    lrs, levels, hrs = [], [], []
    for i, photo in enumerate(images):
        if not isinstance(photo, torch.Tensor) or photo.dtype != torch.uint8 or photo.ndim != 3 or photo.shape[0] != 1:
            got = f"{tuple(photo.shape)} {photo.dtype}" if isinstance(photo, torch.Tensor) else type(photo).__name__
            raise ValueError(f"images[{i}] must be a grey uint8 photo (1, H, W); got {got}")
        h, w = photo.shape[1] // scale, photo.shape[2] // scale
        if min(h, w) < lr_patch:
            raise ValueError(f"images[{i}] of size {tuple(photo.shape[1:])} gives an LR image of {h}x{w} at x{scale}, "
                             f"smaller than lr_patch={lr_patch}")
        x = photo[:, :h * scale, :w * scale].to(device).float().div(255)[None]  # (1, 1, H, W)
        lrs.append(_grid_patches(low_resolution(x, scale, keep_size=False)[0], lr_patch, stride))
        levels.append(_grid_patches(gaussian_stack(x, sigmas, cascade=cascade)[0], scale * lr_patch, scale * stride))
        hrs.append(_grid_patches(x[0], scale * lr_patch, scale * stride))
    return PatchPool(torch.cat(lrs), torch.cat(levels), torch.cat(hrs), scale, tuple(float(s) for s in sigmas), cascade)


# --- training and inference --------------------------------------------------------------------------

def dogsr_step(model: DoGSR, optimizer: torch.optim.Optimizer, lr: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """One DoG-SR training step in plain PyTorch, as the paper defines it: the LR patches go through every level
    network, and the loss is the MSE against the HR patch's own DoGs D_k = L_(k+1) - L_k (method 1) or its Gaussian
    levels L_k (method 2); backward, one optimiser step. Returns the step's loss.

    :func:`train_dogsr` runs these steps (with its batches, Adam and the cosine schedule; bf16 on CUDA); a test
    shows both end at the same weights.

    Args:
        lr: (N, 1, p, p) LR patches in [0, 1]; levels: (N, 5, s*p, s*p) the HR patches' Gaussian levels.
    """
    target = levels.diff(dim=1) if model.method == 1 else levels
    loss = F.mse_loss(model(lr), target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def train_dogsr(model: DoGSR, pool: PatchPool, *, steps: int, batch_size: int = 16, learning_rate: float = 1e-4,
                seed: int = 0, progress: bool = True) -> list[float]:
    """Train all level networks of ``model`` in place with the paper's MSE loss.

    The target is the method's own: the pooled levels' differences D_1..D_4 (method 1) or the
    levels L_1..L_5 (method 2); the loss is the mean over pixels and levels (the paper's Eqs. 5 and
    9 sum, which only rescales the loss, and Adam is invariant to that). The level networks share
    no parameter, so one loop over their summed losses trains each as if on its own, with the same
    batches. Adam with a cosine schedule from ``learning_rate`` to 0 over ``steps``; random patches drawn from
    a generator seeded with ``seed``; bf16 autocast and channels-last on CUDA, float32 on the CPU.

    Returns:
        the loss of every step (one transfer to the CPU at the end).
    """
    if (pool.scale, pool.sigmas, pool.cascade) != (model.scale, model.sigmas, model.cascade):
        raise ValueError(f"pool (scale {pool.scale}, sigmas {pool.sigmas}, cascade {pool.cascade}) does not match "
                         f"the model (scale {model.scale}, sigmas {model.sigmas}, cascade {model.cascade})")
    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 1)
    dev = next(model.parameters()).device
    gen = torch.Generator(device=pool.lr.device).manual_seed(seed)
    layout = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    model.to(memory_format=layout)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(pool), (batch_size,), device=pool.lr.device, generator=gen)
        x = pool.lr[idx].to(dev, non_blocking=True).contiguous(memory_format=layout)
        target = pool.levels[idx].to(dev, non_blocking=True)
        return x, (target.diff(dim=1) if model.method == 1 else target)

    return fit(model, batch, F.mse_loss, steps=steps, learning_rate=learning_rate,
               desc=f"DoG-SR method {model.method} x{model.scale}",
               progress=progress)


@torch.no_grad()
def predict_image(model: DoGSR, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Super-resolve whole LR grey photos into Gaussian and DoG stacks.

    Args:
        lr: float grey in [0, 1], one photo (1, h, w) or a batch (N, 1, h, w) of one size; any device.

    Returns:
        (levels, dogs) on the model's device, float32: L_1..L_5 (:meth:`DoGSR.predict_gaussians`)
        and D_k = L_(k+1) - L_k, shapes (5, s*h, s*w) and (4, s*h, s*w) for one photo, else with
        the batch axis in front. For method 1 the DoGs are its own up to float32 rounding (~1e-7).
        bf16 autocast on CUDA. Memory: a handful of ``width`` x h x w activation maps per photo at a
        time, plus the outputs; split large batches or photos when that does not fit.
    """
    single = isinstance(lr, torch.Tensor) and lr.ndim == 3
    x = lr[None] if single else lr
    _check_grey_batch(x, "lr (a photo (1, h, w) or a batch (N, 1, h, w))")
    dev = next(model.parameters()).device
    model.eval()
    with bf16_autocast(dev):
        levels = model.predict_gaussians(x.to(dev).float())
    dogs = levels.diff(dim=1)
    return (levels[0], dogs[0]) if single else (levels, dogs)


# --- PSNR of DoG images ------------------------------------------------------------------------------

DOG_PSNR_CONVENTIONS: dict[str, str] = {
    "raw": "DoGs of [0, 1] images as they are, peak 1",
    "range": "peak = max - min of each target DoG (both rescaled to 0..255 by the target's min and max)",
    "absmax": "peak = 2 * max |target| of each image (the span of a DoG symmetric about 0)",
    "uint8-clipped": "DoGs of Gaussian levels stored as uint8, saturated at 0 like cv2.subtract "
                     "(pass dog_uint8(levels)), peak 255",
}
"""How a DoG PSNR may be defined; the paper does not say which of these (if any) its tables use."""


def dog_uint8(levels: torch.Tensor) -> torch.Tensor:
    """DoGs as an 8-bit image library would make them: (..., K, H, W) float levels in [0, 1] ->
    (..., K - 1, H, W) uint8, ``max(round(255 L_(k+1)) - round(255 L_k), 0)`` (cv2.subtract of
    uint8 images saturates the negative half of each DoG to 0)."""
    if not isinstance(levels, torch.Tensor) or not levels.is_floating_point() or levels.ndim < 3 or levels.shape[-3] < 2:
        got = f"{tuple(levels.shape)} {levels.dtype}" if isinstance(levels, torch.Tensor) else type(levels).__name__
        raise ValueError(f"levels must be float Gaussian levels (..., K >= 2, H, W) in [0, 1]; got {got}")
    stored = levels.mul(255).round().clamp(0, 255).to(torch.int16)
    return stored.diff(dim=-3).clamp(min=0).to(torch.uint8)


def dog_psnr(pred: torch.Tensor, target: torch.Tensor, convention: str, *, shave: int = 0) -> float:
    """The mean over images of the PSNR (dB) of predicted DoG images against the target's.

    Args:
        pred, target: DoG images (..., H, W) of the same shape; every leading index is one image
            (e.g. (N, 4, H, W) averages over photos and levels; pass [:, k] for one level). Float
            DoGs for "raw", "range" and "absmax"; uint8 from :func:`dog_uint8` for "uint8-clipped".
        convention: a key of :data:`DOG_PSNR_CONVENTIONS`; per-image peaks come from the target.
        shave: border pixels dropped on every side before anything is measured (SR convention: the scale).

    Returns:
        mean of 10 log10(peak^2 / MSE) over images; inf when some image is reproduced exactly.
    """
    if convention not in DOG_PSNR_CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {sorted(DOG_PSNR_CONVENTIONS)}")
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor) or t.ndim < 2:
            raise ValueError(f"{name} must be a tensor of DoG images (..., H, W); got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
        if (t.dtype == torch.uint8) != (convention == "uint8-clipped"):
            raise ValueError(f"{name} is {t.dtype}: convention {convention!r} needs "
                             + ("uint8 DoGs from dog_uint8(levels)" if convention == "uint8-clipped"
                                else "float DoGs (uint8 ones go with 'uint8-clipped')"))
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    check_int("shave", shave, 0)
    h, w = target.shape[-2:]
    if 2 * shave >= min(h, w):
        raise ValueError(f"shave={shave} leaves nothing of {h}x{w} images")
    crop = (..., slice(shave, h - shave), slice(shave, w - shave))
    p = pred[crop].double().reshape(-1, h - 2 * shave, w - 2 * shave)
    t = target[crop].double().to(p.device).reshape(p.shape)
    if convention == "raw":
        peak = torch.ones(len(t), dtype=t.dtype, device=t.device)
    elif convention == "range":
        peak = t.amax(dim=(1, 2)) - t.amin(dim=(1, 2))
    elif convention == "absmax":
        peak = 2 * t.abs().amax(dim=(1, 2))
    else:
        peak = torch.full((len(t),), 255.0, dtype=t.dtype, device=t.device)
    if (peak == 0).any():
        raise ValueError(f"target image {int((peak == 0).nonzero()[0])} is flat: convention {convention!r} has no peak")
    mse = (p - t).pow(2).mean(dim=(1, 2))
    return float((10 * torch.log10(peak**2 / mse)).mean())
