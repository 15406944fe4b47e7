"""FSR-GAN's method (Tan, Yan, Bare, CVPR 2018): the networks of Tables 2 and 3, the losses of Eqs. 7-9, one
step of each network and the training loop, :func:`train_generator` (one G for all ratios mixed; the CNN-Baseline
is the same loop without the critic). Features enter L2-normalised (:func:`unit`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ...checks import check_int, check_losses, check_positive, check_weights
from ...device import bf16_autocast
from ...metrics import pair_distances
from ...results import RunCache, fingerprint

__all__ = ["VERSION", "FeatureGenerator", "FeatureCritic", "focal_loss", "critic_loss", "generator_loss",
           "clip_weights", "gradient_penalty", "GanConfig", "critic_step", "generator_step", "train_generator",
           "budget", "unit", "enhance"]

VERSION = 2
"""Bumped whenever this module's training code changes; it is part of every cache key here (2: fused Adam on
CUDA, weight clipping in one call per bound)."""


def _same(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding (before, after) of one axis: output ceil(size / stride), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _convs(spec: Sequence[tuple[int, int, int]], side: int, slope: float) -> tuple[nn.Sequential, int]:
    """Conv layers (kernel, stride, channels) from one channel, each "SAME"-padded and followed by a LeakyReLU;
    returns them and the output side."""
    layers: list[nn.Module] = []
    channels = 1
    for kernel, stride, out in spec:
        before, after = _same(side, kernel, stride)
        layers += [nn.ZeroPad2d((before, after, before, after)), nn.Conv2d(channels, out, kernel, stride),
                   nn.LeakyReLU(slope)]
        channels, side = out, -(-side // stride)
    return nn.Sequential(*layers), side


def _as_map(f: torch.Tensor, side: int) -> torch.Tensor:
    """(N, dim) features -> (N, 1, side, side) maps, zero-padded at the end to side * side values."""
    if f.ndim != 2 or f.shape[1] > side * side:
        raise ValueError(f"features must be (N, dim) with dim <= side**2 = {side * side}; got {tuple(f.shape)}: "
                         f"pick a larger side (64 holds 4096)")
    return F.pad(f, (0, side * side - f.shape[1])).view(len(f), 1, side, side)


class FeatureGenerator(nn.Module):
    """G of paper Table 2: (N, dim) -> (N, dim). The feature as a side x side x 1 map (zero-padded), conv 8x8/1 -> 4,
    5x5/2 -> 8, 5x5/1 -> 16, 5x5/2 -> 32, 5x5/1 -> 64, 5x5/2 -> 128 (8x8x128 at side 64), dropout, linear -> dim.

    TensorFlow "SAME" padding (the paper used TensorFlow): 64 -> 32 -> 16 -> 8, the odd padding pixel after.
    LeakyReLU after every layer; ``last_activation=False`` drops the one after the linear layer. ``dropout`` is the
    drop probability: the paper's "dropout (70%)" is read as TensorFlow's keep probability 0.7, so p = 0.3.
    At dim = 4096, side = 64: 33,831,836 parameters (padding adds none).

    Raises:
        ValueError: ``dim`` or ``side`` not an int >= 1, ``dim`` > ``side**2``, ``dropout`` outside [0, 1).
    """

    SPEC = ((8, 1, 4), (5, 2, 8), (5, 1, 16), (5, 2, 32), (5, 1, 64), (5, 2, 128))

    def __init__(self, dim: int = 4096, side: int = 64, *, slope: float = 0.2, dropout: float = 0.3,
                 last_activation: bool = True):
        super().__init__()
        _check_sizes(dim, side)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout is the drop probability, in [0, 1); got {dropout!r} (the paper's 70% is the "
                             f"keep probability: dropout=0.3)")
        self.side = side
        self.convs, out = _convs(self.SPEC, side, slope)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(128 * out * out, dim),
                                  *([nn.LeakyReLU(slope)] if last_activation else []))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(_as_map(f, self.side)))


class FeatureCritic(nn.Module):
    """D of paper Table 3, a WGAN critic: (N, dim) -> (N,) scores. conv 5x5/2 -> 8, 5x5/2 -> 16, 3x3/2 -> 32,
    3x3/1 -> 64 (8x8x64 at side 64), each "SAME"-padded with a LeakyReLU, then linear -> 1 with no activation.
    At dim = 4096, side = 64: 30,657 parameters.

    Raises:
        ValueError: ``dim`` or ``side`` not an int >= 1, ``dim`` > ``side**2``.
    """

    SPEC = ((5, 2, 8), (5, 2, 16), (3, 2, 32), (3, 1, 64))

    def __init__(self, dim: int = 4096, side: int = 64, *, slope: float = 0.2):
        super().__init__()
        _check_sizes(dim, side)
        self.side = side
        self.convs, out = _convs(self.SPEC, side, slope)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * out * out, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(_as_map(f, self.side)))[:, 0]


def _check_sizes(dim: int, side: int) -> None:
    check_int("dim", dim)
    check_int("side", side)
    if dim > side * side:
        raise ValueError(f"dim {dim} does not fit a {side}x{side} map; use side >= {math.isqrt(dim - 1) + 1}")


def focal_loss(sr: torch.Tensor, hr: torch.Tensor, r: float = 2.0) -> torch.Tensor:
    """The paper's "focal loss" (Eq. 9; r = 1 is Eq. 8): the batch mean of ``||sr_i - hr_i||_2 ** r``, the norm over
    all non-batch dimensions, in float32. Where sr_i == hr_i the value is 0 with gradient 0 (the plain norm's
    gradient is NaN there).

    Args:
        sr, hr: (N, ...) tensors of one shape; r: the power, > 0.

    Raises:
        ValueError: shapes that differ, an empty batch, ``r`` not a positive number.
    """
    check_positive("r", r)
    if sr.shape != hr.shape or len(sr) == 0:
        raise ValueError(f"sr and hr must be (N, ...) of one shape, N >= 1; got {tuple(sr.shape)} and "
                         f"{tuple(hr.shape)}")
    sq = (sr.float() - hr.float()).flatten(1).pow(2).sum(1)
    nonzero = sq > 0
    safe = torch.where(nonzero, sq, torch.ones_like(sq))  # keeps pow's gradient finite where sq == 0
    return torch.where(nonzero, safe.pow(r / 2), torch.zeros_like(sq)).mean()


def critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss (paper Eq. 7): ``mean D(F_SR) - mean D(F_HR)``; inputs (N,) scores.

    Raises:
        ValueError: an empty ``d_real`` or ``d_fake``.
    """
    if d_real.numel() == 0 or d_fake.numel() == 0:
        raise ValueError("critic_loss needs at least one real and one fake score")
    return d_fake.float().mean() - d_real.float().mean()


def generator_loss(d_fake: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor, r: float = 2.0) -> torch.Tensor:
    """Generator loss (paper Eq. 9): ``-mean D(F_SR) + focal_loss(sr, hr, r)``, the two terms weighted 1:1.

    Raises:
        ValueError: an empty ``d_fake``, and as :func:`focal_loss`.
    """
    if d_fake.numel() == 0:
        raise ValueError("generator_loss needs at least one critic score")
    return -d_fake.float().mean() + focal_loss(sr, hr, r)


def clip_weights(critic: nn.Module, clip: float) -> None:
    """WGAN weight clipping: every parameter of ``critic`` into [-clip, clip], in place, in one call per bound
    (``torch._foreach_clamp_min_`` / ``_max_``: two launches on CUDA, not two per tensor).

    Raises:
        ValueError: ``clip`` not a positive number.
    """
    check_positive("clip", clip)
    params = list(critic.parameters())
    with torch.no_grad():
        torch._foreach_clamp_min_(params, -clip)
        torch._foreach_clamp_max_(params, clip)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017): mean (||grad D(x)|| - 1)^2 at random points x between real and
    fake features (N, dim), in float32, with the graph kept for the critic's backward pass.

    Raises:
        ValueError: ``real`` and ``fake`` of different shapes.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have one shape; got {tuple(real.shape)} and {tuple(fake.shape)}")
    t = torch.rand(len(real), 1, device=real.device)
    x = (t * real.float() + (1 - t) * fake.float()).requires_grad_(True)
    grad, = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return (grad.norm(dim=1) - 1).pow(2).mean()


@dataclass(frozen=True)
class GanConfig:
    """One training of G. The paper gives Adam, lr 0.0008, 6 epochs and r = 2; the rest is ours (stated in the
    notebook): clipping at 0.01 (``penalty``: a gradient-penalty weight instead), 5 critic steps per generator
    step, batch 64, LeakyReLU slope 0.2, dropout 0.3. ``adversarial=False`` is the CNN-Baseline: G alone with
    the focal loss (r = 2: squared L2), no critic. An epoch is one pass of G over all training pairs; every
    generator step follows ``critic_steps`` critic steps on batches drawn at random.

    Raises:
        ValueError: a count not an int >= 1, a rate, ``r``, ``clip`` or ``penalty`` not positive (None allowed for
            ``clip`` and ``penalty``), both ``clip`` and ``penalty``, ``dropout`` outside [0, 1).
    """

    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 8e-4
    critic_steps: int = 5
    clip: float | None = 0.01
    penalty: float | None = None
    r: float = 2.0
    adversarial: bool = True
    slope: float = 0.2
    dropout: float = 0.3
    last_activation: bool = True
    side: int = 64
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "critic_steps", "side"):
            check_int(name, getattr(self, name))
        check_int("seed", self.seed, 0)
        for name in ("learning_rate", "r", "slope"):
            check_positive(name, getattr(self, name))
        for name in ("clip", "penalty"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        if self.clip is not None and self.penalty is not None:
            raise ValueError("choose weight clipping or a gradient penalty: set clip=None to use penalty")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout is a drop probability in [0, 1); got {self.dropout!r}")

    def build(self, dim: int) -> FeatureGenerator:
        """A fresh (untrained) generator of this configuration for ``dim``-d features."""
        return FeatureGenerator(dim, self.side, slope=self.slope, dropout=self.dropout,
                                last_activation=self.last_activation)


def critic_step(gen: nn.Module, critic: nn.Module, opt: torch.optim.Optimizer, lr: torch.Tensor, hr: torch.Tensor,
                config: GanConfig) -> torch.Tensor:
    """One critic update on a batch of (LR, HR) features (N, dim): Eq. 7 (+ the gradient penalty), then clipping.

    Raises:
        ValueError: as :func:`critic_loss`.
    """
    with torch.no_grad(), bf16_autocast(lr.device):
        fake = gen(lr).float()
    with bf16_autocast(lr.device):
        loss = critic_loss(critic(hr), critic(fake))
    if config.penalty is not None:
        loss = loss + config.penalty * gradient_penalty(critic, hr, fake)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if config.clip is not None:
        clip_weights(critic, config.clip)
    return loss.detach()


def generator_step(gen: nn.Module, critic: nn.Module | None, opt: torch.optim.Optimizer, lr: torch.Tensor,
                   hr: torch.Tensor, config: GanConfig) -> torch.Tensor:
    """One generator update on a batch of (LR, HR) features (N, dim): Eq. 9, or the focal loss alone without a critic.

    Raises:
        ValueError: as :func:`generator_loss`.
    """
    with bf16_autocast(lr.device):
        sr = gen(lr).float()
        loss = (generator_loss(critic(sr), sr, hr, config.r) if critic is not None
                else focal_loss(sr, hr, config.r))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def budget(n: int, config: GanConfig) -> dict[str, int]:
    """The updates one training of :func:`train_generator` makes on ``n`` pairs: ``batch`` (the config's, at most
    n), ``steps_per_epoch`` (n // batch, the last partial batch dropped), ``generator_steps`` (epochs x
    steps_per_epoch) and ``critic_steps`` (critic_steps x generator_steps; 0 without a critic).

    Raises:
        ValueError: ``n`` not an int >= 1.
    """
    check_int("n", n)
    batch = min(config.batch_size, n)
    steps = config.epochs * (n // batch)
    return {"batch": batch, "steps_per_epoch": n // batch, "generator_steps": steps,
            "critic_steps": config.critic_steps * steps if config.adversarial else 0}


def unit(f: torch.Tensor) -> torch.Tensor:
    """Rows L2-normalised (float32). Our assumption, not the paper's statement: the paper does not say how its
    features are normalised; its distance of 0.62 only reads as small against unit vectors (distances in [0, 2]),
    so HR and LR features here live on the unit sphere. The generator's output is not normalised in training
    (the focal loss and the critic see it as it is); the reported distance normalises it first, so with r = 2
    the loss equals the squared reported distance only once the generator's outputs have unit norm.

    Raises:
        ValueError: ``f`` not (N, dim).
    """
    if f.ndim != 2:
        raise ValueError(f"features must be (N, dim); got {tuple(f.shape)}")
    return F.normalize(f.float(), dim=1)


@torch.no_grad()
def enhance(gen: nn.Module, f: torch.Tensor, *, batch_size: int = 8192) -> torch.Tensor:
    """Super-resolved features ``unit(G(f))`` of (N, dim) features, G in eval mode, batch by batch.

    Raises:
        ValueError: ``f`` not (N, dim) with dim <= G's side**2, ``batch_size`` not an int >= 1.
    """
    check_int("batch_size", batch_size)
    gen.eval()
    dev = next(gen.parameters()).device
    out = []
    for start in range(0, len(f), batch_size):
        with bf16_autocast(dev):
            out.append(gen(f[start:start + batch_size].to(dev)).float())
    return unit(torch.cat(out))


def _held_distance(gen: nn.Module, held: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Mean SR-HR distance (L2-normalised) on held-out pairs; leaves G in training mode."""
    d = float(pair_distances(held[1], enhance(gen, held[0])).mean())
    gen.train()
    return d


def _fit(lr: torch.Tensor, hr: torch.Tensor, held: tuple[torch.Tensor, torch.Tensor], config: GanConfig,
         progress: bool) -> tuple[FeatureGenerator, dict]:
    """The training loop behind :func:`train_generator`."""
    torch.manual_seed(config.seed)
    dev, n, plan = lr.device, len(lr), budget(len(lr), config)
    b, steps = plan["batch"], plan["steps_per_epoch"]
    gen = config.build(hr.shape[1]).to(dev).train()
    critic = FeatureCritic(hr.shape[1], config.side, slope=config.slope).to(dev) if config.adversarial else None
    adam = lambda model: torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=dev.type == "cuda")
    opt_g, opt_d = adam(gen), (adam(critic) if critic is not None else None)
    rng = torch.Generator(device=dev).manual_seed(config.seed)
    curve, g_losses, d_losses = [_held_distance(gen, held)], [], []
    name = "FSR-GAN" if critic is not None else "CNN-Baseline"
    fix = f"lower GanConfig.learning_rate (now {config.learning_rate:g})"
    bar = tqdm(total=config.epochs * steps, disable=not progress, leave=False,
               desc=f"{name} r={config.r:g} seed {config.seed}")
    checked_g = checked_d = 0
    for _ in range(config.epochs):
        order = torch.randperm(n, device=dev, generator=rng)
        for i in range(steps):
            for _ in range(config.critic_steps if critic is not None else 0):
                idx = torch.randint(n, (b,), device=dev, generator=rng)
                d_losses.append(critic_step(gen, critic, opt_d, lr[idx], hr[idx], config))
            idx = order[i * b:(i + 1) * b]
            g_losses.append(generator_step(gen, critic, opt_g, lr[idx], hr[idx], config))
            bar.update()
        checked_g = check_losses(f"{name} generator", g_losses, fix, since=checked_g)  # one GPU sync an epoch
        checked_d = check_losses(f"{name} critic", d_losses, fix, since=checked_d)
        check_weights(name, gen, fix)  # its last step may break the weights with a finite loss
        curve.append(_held_distance(gen, held))
    bar.close()
    mean = (lambda xs: torch.stack(xs).view(config.epochs, -1).mean(1).tolist() if xs else [])
    return gen.eval(), {"held_out_distance": curve, "generator_loss": mean(g_losses), "critic_loss": mean(d_losses)}


def train_generator(lr: torch.Tensor, hr: torch.Tensor, config: GanConfig, *,
                    held_out: tuple[torch.Tensor, torch.Tensor], cache: RunCache | None = None,
                    progress: bool = True) -> tuple[FeatureGenerator, dict]:
    """Train G (or load it from ``cache``) on (LR, HR) feature pairs of all ratios mixed, on their device, bf16
    autocast and fused Adam on CUDA; the ratio is not an input. On the CPU, reruns with one config (seed
    included) give the same G bit for bit; on CUDA they follow the same schedule, but cuDNN's autotuning
    (``cudnn.benchmark``, which :func:`lrlib.profiles.setup` turns on) may pick other kernels from run to run, so
    the weights are not bitwise equal, and training can let such small differences grow.

    Args:
        lr, hr: (N, dim) paired features (row i of both from image i), e.g. from :func:`training_pairs`.
        held_out: (LR, HR) pairs never trained on; their mean SR-HR distance is recorded before training and
            after every epoch (the training curve).
        cache: keyed by the config, the fingerprints of all four tensors and :data:`VERSION`.

    Returns:
        (G in eval mode, record): ``held_out_distance`` (epochs + 1 values), per-epoch mean ``generator_loss``
        and ``critic_loss`` (Eq. 7 plus any penalty; without one, minus the critic's Wasserstein estimate; empty
        for the CNN-Baseline), ``seconds``. :func:`budget` counts the updates.

    Raises:
        ValueError: ``lr`` and ``hr`` (or the held-out pair) not (N, dim) of one shape with N >= 1, dim too large
            for ``config.side``.
        TrainingDiverged: a NaN or infinite loss or weight (checked once an epoch); the message names the step and
            says to lower the learning rate.
    """
    for name, (a, b) in (("lr/hr", (lr, hr)), ("held_out", held_out)):
        if a.ndim != 2 or a.shape != b.shape or len(a) == 0 or a.shape[1] != hr.shape[1]:
            raise ValueError(f"{name} must be two (N, {hr.shape[-1]}) tensors of one shape, N >= 1; got "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
    _check_sizes(hr.shape[1], config.side)
    key = {"method": "fsr-gan" if config.adversarial else "cnn-baseline", "config": asdict(config),
           "data": [fingerprint(t) for t in (lr, hr, *held_out)], "version": VERSION}
    record, gen = (cache or RunCache(None)).train_or_load(
        key, lambda: _fit(lr, hr, held_out, config, progress), build=lambda: config.build(hr.shape[1]).to(lr.device))
    return gen.eval(), record
