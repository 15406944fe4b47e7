"""One fast, generic classifier trainer: the data set lives on the GPU, augmentation runs there, bf16, channels-last.

The recipe follows the fast CIFAR-10 trainers (airbench and its kin) without their custom networks:
uint8 images stay on the device, every batch is cropped and flipped on the GPU, the forward pass runs
under bf16 autocast in channels-last layout, and SGD (Nesterov; fused into one kernel on CUDA) follows a
one-cycle schedule.

The loss comes from the caller (:data:`Loss`; cross-entropy by default), and so does any second set
of images that must see the very same crop and flip (``paired``): that is all a method such as deep
feature distillation (:mod:`lrlib.studies.distillation`) needs from the trainer.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .checks import check_images, check_int, check_losses, check_number, check_positive, check_weights
from .device import bf16_autocast, synchronize
from .models import Classifier

__all__ = ["TRAINER_VERSION", "STD_FLOOR", "TrainConfig", "History", "Loss", "CrossEntropy", "random_crop_flip",
           "to_float", "train_classifier", "evaluate"]

TRAINER_VERSION = 3
"""Bumped whenever the trainer's behaviour changes, so that cached trainings (keys include it) are never stale."""

STD_FLOOR = 1 / 255
"""The smallest channel std the trainer standardises by (one grey level): a channel constant over the training set
would otherwise divide by zero."""

Loss = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
"""``loss(net, x, labels, x_paired) -> scalar``: one training step's loss. ``x`` (N, C, H, W) float images
in [0, 1], channels-last, already augmented; ``labels`` (N,) int64; ``x_paired`` the same view of the
``paired`` images (None without them). Called under bf16 autocast on CUDA."""


@dataclass
class TrainConfig:
    """Hyper-parameters. The defaults are the `quick` recipe; the paper's are SGD, momentum 0.9,
    weight decay 5e-4, batch 128, 100 epochs, random crop and flip (``schedule="step"`` there).

    Raises:
        ValueError: at construction and again in :func:`train_classifier` (a field may be changed in between):
            ``epochs`` or ``batch_size`` not an int >= 1, ``pad`` or ``seed`` not an int >= 0, a
            ``learning_rate`` that is not a positive number, ``momentum`` or ``label_smoothing`` outside [0, 1),
            a negative or infinite ``weight_decay``, an unknown ``schedule``.
    """

    epochs: int = 20
    batch_size: int = 512
    learning_rate: float = 0.2    # peak learning rate of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1  # of the default loss (CrossEntropy); a caller's loss sets its own
    schedule: str = "onecycle"    # onecycle | step (x0.1 at 50% and 75% of training)
    pad: int = 4                  # random-crop padding (pixels, reflect)
    bf16: bool = True
    compile: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """ValueError naming the first setting that is out of range (see the class's ``Raises``)."""
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_int("pad", self.pad, 0)
        check_int("seed", self.seed, 0)
        check_positive("learning_rate", self.learning_rate)
        for name in ("momentum", "label_smoothing"):
            _check_fraction(name, getattr(self, name))
        check_number("weight_decay", self.weight_decay)
        if self.schedule not in ("onecycle", "step"):
            raise ValueError(f"schedule must be 'onecycle' or 'step'; got {self.schedule!r}")


def _check_fraction(name: str, value: object) -> None:
    """ValueError unless ``value`` is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")


@dataclass
class History:
    """Per-epoch record of a training run.

    Raises:
        Nothing itself (a plain record, filled by :func:`train_classifier`).
    """

    config: dict
    loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)  # training only, evaluation excluded
    seconds: float = 0.0
    images_per_second: float = 0.0


class CrossEntropy:
    """The plain classification loss (the trainer's default): cross-entropy of ``net(x)`` with label smoothing.

    Raises:
        ValueError: ``label_smoothing`` outside [0, 1).
    """

    def __init__(self, label_smoothing: float = 0.0):
        _check_fraction("label_smoothing", label_smoothing)
        self.label_smoothing = label_smoothing

    def __call__(self, net: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor,
                 x_paired: torch.Tensor | None = None) -> torch.Tensor:
        return F.cross_entropy(net(x).float(), labels, label_smoothing=self.label_smoothing)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [0, 1], channels-last.

    Raises:
        ValueError: ``x`` is not uint8 (dividing floats by 255 again would darken them to near black).
    """
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        what = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a uint8 tensor (0..255 values); got {what}")
    return (x.float() / 255).contiguous(memory_format=torch.channels_last)


def random_crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random ``pad``-pixel translation (reflect padding, then a crop of the original size) and a
    random horizontal flip, independently per image, all on ``x``'s device.

    Args:
        x: (N, C, H, W) images of any dtype; stack HR and LR along C to give both the same view.
        pad: int >= 0, smaller than H and W (reflect padding mirrors the image once).

    Raises:
        ValueError: ``x`` not a 4-d tensor, ``pad`` not an int in [0, min(H, W)).
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a tensor (N, C, H, W); got {getattr(x, 'shape', type(x).__name__)}")
    n, _, h, w = x.shape
    if check_int("pad", pad, 0) >= min(h, w):
        raise ValueError(f"pad must be smaller than the image side ({h}x{w}) for reflect padding; got {pad}")
    dev = x.device
    if pad > 0:
        x = F.pad(x.float() if not x.is_floating_point() else x, (pad, pad, pad, pad), mode="reflect").to(x.dtype)
        dy = torch.randint(0, 2 * pad + 1, (n,), device=dev, generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n,), device=dev, generator=generator)
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]   # (N, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]   # (N, 1, 1, W)
        x = x[torch.arange(n, device=dev)[:, None, None, None], torch.arange(x.shape[1], device=dev)[None, :, None, None],
              rows, cols]
    flip = torch.rand(n, device=dev, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


@torch.no_grad()
def evaluate(model: Classifier, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 2000,
             bf16: bool = True, flip: bool = False) -> float:
    """Top-1 accuracy of ``model`` on uint8 ``images`` (N, C, H, W) and ``labels`` (N,).

    ``flip`` averages the logits of each image and its mirror image (test-time augmentation).

    Raises:
        ValueError: as :func:`train_classifier` for the model, the images and the labels; ``batch_size`` not an
            int >= 1.
    """
    _check_data(model, images, labels, "images", "labels")
    check_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    correct = 0
    dev = next(model.parameters()).device
    for start in range(0, len(images), batch_size):
        x = to_float(images[start:start + batch_size].to(dev))
        with bf16_autocast(dev, bf16):
            logits = model(x).float()
            if flip:
                logits = logits + model(x.flip(3)).float()
            correct += int((logits.argmax(1) == labels[start:start + batch_size].to(dev)).sum())
    model.train(was_training)
    return correct / len(images)


def _check_data(model: Classifier, images: torch.Tensor, labels: torch.Tensor, name: str, label_name: str) -> None:
    """Once per call, before any work: a Classifier, a non-empty uint8 (N, C, H, W) batch with the model's C,
    and N integer labels (N,) that index the model's outputs (a label past them would fail deep in the loss)."""
    if not isinstance(model, Classifier):
        raise TypeError(f"model must be a lrlib.models.Classifier (from build_model); got {type(model).__name__}")
    check_images(name, images, uint8=True, channels=model.mean.numel())
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.is_floating_point() \
            or labels.dtype == torch.bool:
        what = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"{label_name} must be an integer tensor (N,) of class indices; got {what}")
    if len(labels) != len(images) or len(images) == 0:
        raise ValueError(f"{name} and {label_name} must pair up, one label per image, at least one; got "
                         f"{len(images)} images and {len(labels)} labels")
    classes = model.head.out_features
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= classes:
        raise ValueError(f"{label_name} must be class indices in [0, {classes}) for the model's {classes} outputs; "
                         f"got values in [{low}, {high}] (build the model with num_classes={max(high + 1, 2)})")


def train_classifier(model: Classifier, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, *,
                     loss: Loss | None = None, paired: torch.Tensor | None = None,
                     test: tuple[torch.Tensor, torch.Tensor] | None = None, progress: bool = True) -> History:
    """Train ``model`` in place on uint8 ``images`` (N, C, H, W) with int64 ``labels`` (N,).

    Args:
        loss: the loss of one step (:data:`Loss`); default :class:`CrossEntropy` with
            ``config.label_smoothing``.
        paired: uint8 images (N, C', H, W) paired with ``images`` (same order), cropped and flipped
            exactly as their partners and handed to ``loss`` as ``x_paired`` (e.g. the HR originals
            of LR ``images``, for a teacher).
        test: optional (images, labels) evaluated after every epoch.

    Returns:
        :class:`History` with per-epoch loss and test accuracy, wall time and training images/s.

    Raises:
        TypeError: ``model`` is not a :class:`~lrlib.models.Classifier`, ``config`` not a :class:`TrainConfig`.
        ValueError: all before any work (data are moved to the model's device, wherever they are):
            ``images`` (or ``paired``, ``test``'s images) not uint8 (N, C, H, W) with the model's C channels
            (float images would be divided by 255 again); ``labels`` not integer (N,) class indices within the
            model's ``num_classes`` (a larger label would fail deep in the loss, on CUDA as a device assert);
            no images; ``paired`` not one image of the same size per image; ``config.pad`` not smaller than the
            image side; a ``batch_size`` larger than the data (an epoch would have no step).
        TrainingDiverged: a NaN or infinite loss (checked once an epoch) or weights (at the end); the message names
            the step and says to lower the learning rate.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig; got {type(config).__name__}")
    config.check()
    _check_data(model, images, labels, "images", "labels")
    if paired is not None and (check_images("paired", paired, uint8=True).shape[2:] != images.shape[2:]
                               or len(paired) != len(images)):
        raise ValueError(f"paired {tuple(paired.shape)} must hold one image of the same size per image "
                         f"{tuple(images.shape)}")
    if test is not None:
        _check_data(model, *test, "test images", "test labels")
    if config.pad >= min(images.shape[2:]):
        raise ValueError(f"config.pad ({config.pad}) must be smaller than the image side {tuple(images.shape[2:])}")
    loss = loss or CrossEntropy(config.label_smoothing)
    dev = next(model.parameters()).device
    torch.manual_seed(config.seed)
    gen = torch.Generator(device=dev).manual_seed(config.seed)
    images, labels = images.to(dev), labels.to(dev)
    stats = images.float().div(255)
    model.mean.copy_(stats.mean(dim=(0, 2, 3)))
    model.std.copy_(stats.std(dim=(0, 2, 3)).clamp_min(STD_FLOOR))  # a constant channel would divide by 0
    del stats
    model.to(memory_format=torch.channels_last).train()
    paired = paired.to(dev) if paired is not None else None
    net = torch.compile(model) if config.compile else model
    steps_per_epoch = len(images) // config.batch_size  # drop the last partial batch: one shape for compile
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {len(images)} training images, so an "
                         f"epoch would have no step; use a batch_size <= {len(images)}")
    total = steps_per_epoch * config.epochs
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=config.learning_rate, momentum=config.momentum, nesterov=True,
                          fused=dev.type == "cuda")  # one kernel for the whole update instead of a few per tensor group
    if config.schedule == "onecycle":
        # a quarter of the steps warm up; torch divides by that warm-up less one step, zero at exactly 4 steps: 2 then
        warmup = 0.25 if total != 4 else 0.5
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.learning_rate, total_steps=total,
                                                    pct_start=warmup, anneal_strategy="linear", div_factor=10,
                                                    final_div_factor=100)
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [total // 2, total * 3 // 4], gamma=0.1)
    history = History(config=asdict(config))
    start = time.perf_counter()
    fix = f"lower config.learning_rate (now {config.learning_rate:g}) or config.weight_decay"
    losses, checked = [], 0
    for _ in tqdm(range(config.epochs), desc="epochs", disable=not progress, leave=False):
        epoch_start = time.perf_counter()
        order = torch.randperm(len(images), device=dev, generator=gen)
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            if paired is None:
                x, x_paired = to_float(random_crop_flip(images[idx], config.pad, gen)), None
            else:  # one crop and flip for an image and its partner
                both = random_crop_flip(torch.cat([images[idx], paired[idx]], dim=1), config.pad, gen)
                x, x_paired = to_float(both[:, :images.shape[1]]), to_float(both[:, images.shape[1]:])
            with bf16_autocast(dev, config.bf16):
                step_loss = loss(net, x, labels[idx], x_paired)
            opt.zero_grad(set_to_none=True)
            step_loss.backward()
            opt.step()
            sched.step()
            losses.append(step_loss.detach())
        epoch_losses = losses[checked:]
        checked = check_losses("train_classifier", losses, fix, since=checked)  # waits for the GPU, once an epoch
        history.loss.append(float(torch.stack(epoch_losses).mean()))
        history.epoch_seconds.append(time.perf_counter() - epoch_start)
        if test is not None:
            history.test_accuracy.append(evaluate(model, test[0], test[1], bf16=config.bf16))
    check_weights("train_classifier", model, fix)
    synchronize(dev)
    history.seconds = time.perf_counter() - start
    history.images_per_second = steps_per_epoch * config.batch_size * config.epochs / sum(history.epoch_seconds)
    model.eval()
    return history
