"""Image super-resolution networks and a small GPU trainer (notebooks 04 and 05).

| name   | input                         | idea                                                         |
|--------|-------------------------------|--------------------------------------------------------------|
| srcnn  | bicubic-upsampled LR          | 9-5-5 convolutions (Dong et al. 2014)                        |
| vdsr   | bicubic-upsampled LR          | 20 conv3x3 layers, predicts the residual (Kim et al. 2016)   |
| espcn  | LR                            | convolutions in LR space, then pixel shuffle (Shi et al. 2016) |
| edsr   | LR                            | 16 ResBlocks without batch norm, pixel shuffle (Lim et al. 2017) |

All take and return (N, C, H, W) float images in [0, 1]; ``scale`` is the side factor. :class:`ResBlock`
(optionally with squeeze-and-excitation) is the block the DoG-SR paper's level networks reuse, and
:func:`fit` is the one training loop of every SR network here (pixels or DoG levels).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from .checks import LOSS_CHECK_EVERY, check_images, check_int, check_losses, check_positive, check_weights
from .device import bf16_autocast

__all__ = ["SR_VERSION", "SRCNN", "VDSR", "ESPCN", "SqueezeExcitation", "ResBlock", "EDSR", "build_sr", "upsample",
           "GRAPH_AFTER", "fit", "train_sr", "super_resolve"]

SR_VERSION = 2
"""Bumped whenever these networks or their training loop change; cache keys of trained SR networks include it."""


def _check_scale(scale: object, minimum: int = 2) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < minimum:
        raise ValueError(f"scale must be an int >= {minimum} (the side up-sampling factor); got {scale!r}")
    return scale


def _check_channels(model: nn.Module, name: str, images: torch.Tensor) -> None:
    """ValueError when ``images`` (N, C, h, w) have another C than the network was built for (its ``channels``,
    where it has one)."""
    want = getattr(model, "channels", None)
    if want is not None and images.shape[1] != want:
        raise ValueError(f"{name} has {images.shape[1]} channel(s) but the {type(model).__name__} was built for "
                         f"{want}: build it with build_sr(..., channels={images.shape[1]}), or give it "
                         f"{want}-channel images (grey to RGB: x.expand(-1, 3, -1, -1))")


def upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic up-sampling of float (N, C, h, w) images by ``scale``, clamped to [0, 1].

    Raises:
        ValueError: ``scale`` not an int >= 1; ``x`` not a float 4-d tensor (dtype and shape only: no values,
            no GPU sync, since networks call it on every batch).
    """
    _check_scale(scale, 1)
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        what = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be float images (N, C, h, w) in [0, 1]; got {what} (convert uint8 with "
                         f"x.float() / 255; add a batch axis with x[None])")
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


class SRCNN(nn.Module):
    """Patch extraction (9x9, 64), non-linear mapping (5x5, 32), reconstruction (5x5) on the bicubic image.

    Raises:
        ValueError: ``scale`` not an int >= 2, a size argument (``channels``, ...) not an int >= 1.
    """

    def __init__(self, scale: int, channels: int = 3):
        super().__init__()
        self.scale, self.channels = _check_scale(scale), check_int("channels", channels)
        self.net = nn.Sequential(nn.Conv2d(channels, 64, 9, padding=4), nn.ReLU(inplace=True),
                                 nn.Conv2d(64, 32, 5, padding=2), nn.ReLU(inplace=True),
                                 nn.Conv2d(32, channels, 5, padding=2))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.net(upsample(lr, self.scale))


class VDSR(nn.Module):
    """``depth`` conv3x3-64 layers with ReLU; the output is added to the bicubic image (residual learning).

    Raises:
        ValueError: ``scale`` not an int >= 2, a size argument (``channels``, ...) not an int >= 1.
    """

    def __init__(self, scale: int, channels: int = 3, depth: int = 20, width: int = 64):
        super().__init__()
        self.scale, self.channels = _check_scale(scale), channels
        for name, value, minimum in (("channels", channels, 1), ("depth", depth, 2), ("width", width, 1)):
            check_int(f"VDSR {name}", value, minimum)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        base = upsample(lr, self.scale)
        return base + self.net(base)


class ESPCN(nn.Module):
    """Convolutions on the LR image (5x5-64, 3x3-32), then a 3x3 conv to C*scale^2 maps and a pixel shuffle.

    Raises:
        ValueError: ``scale`` not an int >= 2, a size argument (``channels``, ...) not an int >= 1.
    """

    def __init__(self, scale: int, channels: int = 3):
        super().__init__()
        self.scale, self.channels = _check_scale(scale), check_int("channels", channels)
        self.net = nn.Sequential(nn.Conv2d(channels, 64, 5, padding=2), nn.Tanh(),
                                 nn.Conv2d(64, 32, 3, padding=1), nn.Tanh(),
                                 nn.Conv2d(32, channels * scale**2, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.net(lr)


class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al. 2018): x * sigmoid(FC(ReLU(FC(mean over H, W of x)))).

    The two fully connected layers are 1x1 convolutions, ``channels`` -> ``channels // reduction``
    -> ``channels``. Input and output (N, channels, H, W).

    Raises:
        ValueError: ``channels`` or ``reduction`` not an int >= 1, ``reduction`` > ``channels``.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        check_int("channels", channels)
        check_int("reduction", reduction)
        if reduction > channels:
            raise ValueError(f"reduction must be <= channels ({channels}), leaving at least one hidden unit; "
                             f"got {reduction}")
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                  nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class ResBlock(nn.Module):
    """EDSR's residual block, x + conv3x3(ReLU(conv3x3(x))), no batch norm, residual scale 1; with
    ``se=True`` the residual passes :class:`SqueezeExcitation` first (the DoG-SR paper's Fig. 3).

    Raises:
        ValueError: ``width`` not an int >= 1 (with ``se``, also below SqueezeExcitation's reduction, 16).
    """

    def __init__(self, width: int, *, se: bool = False):
        super().__init__()
        check_int("width", width)
        layers = [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(width, width, 3, padding=1)]
        self.body = nn.Sequential(*layers, *([SqueezeExcitation(width)] if se else []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class EDSR(nn.Module):
    """EDSR (Lim et al. 2017) at the size of its baseline: about 1.37 M parameters for RGB x2.

    head conv3x3 C -> ``width``; ``blocks`` :class:`ResBlock`; a conv3x3, plus a global skip from the
    head; the up-sampler, conv3x3 to ``width * r^2`` maps and PixelShuffle(r) (one stage r = 2 or 3,
    two stages r = 2 for x4); a conv3x3 to C channels. The original's fixed subtraction of the DIV2K
    mean colour is left out: the biases absorb it. Input LR (N, C, h, w) in [0, 1]; output
    (N, C, h * scale, w * scale), not clamped.

    Raises:
        ValueError: ``scale`` not 2, 3 or 4; ``channels``, ``blocks`` or ``width`` not an int >= 1.
    """

    def __init__(self, scale: int, channels: int = 3, blocks: int = 16, width: int = 64):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"EDSR scale must be 2, 3 or 4 (x4 is two x2 stages); got {scale!r}")
        for name, value in (("channels", channels), ("blocks", blocks), ("width", width)):
            check_int(f"EDSR {name}", value)
        self.scale, self.channels = scale, channels
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(width) for _ in range(blocks)],
                                  nn.Conv2d(width, width, 3, padding=1))
        stages = [2, 2] if scale == 4 else [scale]
        upsampler: list[nn.Module] = []
        for r in stages:
            upsampler += [nn.Conv2d(width, width * r**2, 3, padding=1), nn.PixelShuffle(r)]
        self.tail = nn.Sequential(*upsampler, nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        features = self.head(lr)
        return self.tail(features + self.body(features))


_SR = {"srcnn": SRCNN, "vdsr": VDSR, "espcn": ESPCN, "edsr": EDSR}


def build_sr(name: str, scale: int, channels: int = 3, **size: int) -> nn.Module:
    """A fresh SR network; ``name`` in ``srcnn``, ``vdsr``, ``espcn``, ``edsr``; ``scale`` an int >= 2
    (EDSR: 2, 3 or 4); ``size`` the network's own size arguments (e.g. ``blocks``, ``width`` of EDSR).

    Raises:
        ValueError: an unknown ``name``, and as the network's class for ``scale``, ``channels`` and ``size``.
        TypeError: a ``size`` argument the network does not take.
    """
    if not isinstance(name, str) or name not in _SR:
        raise ValueError(f"unknown SR network {name!r}; choose one of {sorted(_SR)}")
    return _SR[name](scale, channels, **size)


GRAPH_AFTER = 3
"""Eager steps :func:`fit` takes before it captures the step as a CUDA graph (cuDNN has chosen its kernels by then)."""


def fit(model: nn.Module, batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, steps: int, learning_rate: float,
        desc: str, progress: bool = True, graph: bool = True) -> list[float]:
    """The training loop of every SR network here: ``steps`` Adam steps with a cosine schedule from
    ``learning_rate`` to 0, each on ``loss_fn(model(x).float(), target)`` for a fresh ``x, target = batch()``,
    under bf16 autocast on CUDA. Returns the loss of every step (one transfer to the CPU at the end).

    ``graph`` (CUDA only): after :data:`GRAPH_AFTER` eager steps the model's forward and backward passes are
    captured once as CUDA graphs (``torch.cuda.make_graphed_callables``) and replayed for the other steps. The
    arithmetic is the same; what goes is the launch cost of hundreds of small kernels a step, which bounds deep,
    thin networks such as the DoG-SR level networks. Every batch must then have the shape of the first. If the
    capture fails, a warning says why and training goes on eagerly. The fused Adam step stays outside the graph.

    The losses are checked every :data:`~lrlib.checks.LOSS_CHECK_EVERY` steps and at the end, the weights at the
    end: a training that diverges stops rather than return NaN weights.

    Raises:
        ValueError: ``steps`` not an int >= 1, ``learning_rate`` not a positive number.
        TrainingDiverged: a NaN or infinite loss or weight; the message names the step and says to lower
            ``learning_rate``.
    """
    check_int("steps", steps)
    check_positive("learning_rate", learning_rate)
    dev = next(model.parameters()).device
    capture = graph and dev.type == "cuda"
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate, fused=dev.type == "cuda")
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses, checked = [], 0
    fix = f"lower learning_rate (now {learning_rate:g})"
    model.train()
    try:
        for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
            x, target = batch()
            with bf16_autocast(dev, cache=not capture):
                if capture and step == GRAPH_AFTER:
                    _capture(model, x)
                loss = loss_fn(model(x).float(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.detach())
            if len(losses) - checked == LOSS_CHECK_EVERY:
                checked = check_losses(desc, losses, fix, since=checked)
    finally:
        model.__dict__.pop("forward", None)  # the class's own forward again (capture set one on the instance)
    check_losses(desc, losses, fix, since=checked)
    check_weights(desc, model, fix)
    model.eval()
    return torch.stack(losses).cpu().tolist()


def _capture(model: nn.Module, x: torch.Tensor) -> None:
    """Give ``model`` a graphed forward (and backward) for inputs shaped like ``x``, in place; on failure warn
    and leave it eager."""
    try:
        torch.cuda.make_graphed_callables(model, (x,))
    except RuntimeError as err:  # e.g. an operation that waits for the CPU cannot be captured
        model.__dict__.pop("forward", None)
        warnings.warn(f"CUDA graph capture of {type(model).__name__} failed, training on without it: {err}",
                      stacklevel=3)


def train_sr(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor, *, steps: int = 2000, batch_size: int = 64,
             learning_rate: float = 1e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """Fit ``model`` to map ``lr`` (N, C, h, w) to ``hr`` (N, C, h*s, w*s), uint8 or [0, 1] floats, with an
    L1 loss, Adam and a cosine schedule; bf16 on CUDA. Batches of ``batch_size`` are drawn with replacement
    (it may exceed N). Returns the loss of every step.

    Raises:
        ValueError: ``lr`` or ``hr`` not uint8 or finite [0, 1] floats (N, C, ., .), the two of different dtypes
            (one would be scaled by 255 and the other not), no images, another number of channels than the
            network's, shapes that do not pair at the model's ``scale`` (N, C and both sides); ``steps``, ``batch_size`` not ints >= 1; as :func:`fit`.
    """
    for name, images in (("lr", lr), ("hr", hr)):
        check_images(name, images)
    scale = model.scale
    _check_channels(model, "lr", lr)
    if lr.dtype != hr.dtype:
        raise ValueError(f"lr and hr must have the same dtype (both uint8 or both [0, 1] floats); got {lr.dtype} "
                         f"and {hr.dtype}")
    if len(lr) == 0 or hr.shape != (*lr.shape[:2], lr.shape[2] * scale, lr.shape[3] * scale):
        raise ValueError(f"lr {tuple(lr.shape)} and hr {tuple(hr.shape)} do not pair at scale {scale}: hr must be "
                         f"(N, C, h * {scale}, w * {scale}) for lr (N, C, h, w), N >= 1")
    check_int("batch_size", batch_size)
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    to01 = (lambda t: t.float() / 255) if lr.dtype == torch.uint8 else (lambda t: t.float())
    lr, hr = lr.to(dev), hr.to(dev)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(lr), (batch_size,), device=dev, generator=gen)
        return to01(lr[idx]), to01(hr[idx])

    return fit(model, batch, F.l1_loss, steps=steps, learning_rate=learning_rate, desc=f"{type(model).__name__} x{model.scale}",
               progress=progress)


@torch.no_grad()
def super_resolve(model: nn.Module, lr: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Apply ``model`` to uint8 ``lr`` images (N, C, h, w) -> uint8 (N, C, h*s, w*s), on the model's device.

    Raises:
        ValueError: ``lr`` not uint8 (N, C, h, w) with N >= 1 (floats would be divided by 255 again: convert
            [0, 1] floats with ``(x * 255).round().to(torch.uint8)``, or call the model itself), another number of
            channels than the network's, ``batch_size`` not an int >= 1.
    """
    if len(check_images("lr", lr, uint8=True)) == 0:
        raise ValueError("lr holds no images: pass at least one (N >= 1)")
    _check_channels(model, "lr", lr)
    check_int("batch_size", batch_size)
    dev = next(model.parameters()).device
    out = []
    for start in range(0, len(lr), batch_size):
        x = lr[start:start + batch_size].to(dev).float() / 255
        with bf16_autocast(dev):
            y = model(x).float()
        out.append((y.clamp(0, 1) * 255).round().to(torch.uint8))
    return torch.cat(out)
