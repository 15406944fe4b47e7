"""One fast classifier trainer: the data set lives on the GPU, augmentation runs there, bf16, channels-last.

The recipe follows the fast CIFAR-10 trainers (airbench and its kin) without their custom networks:
uint8 images stay on the device, every batch is cropped and flipped on the GPU, the forward pass runs
under bf16 autocast in channels-last layout, and SGD (Nesterov) follows a one-cycle schedule.
``teacher`` and ``lam`` switch on deep feature distillation: the student sees the LR copy of the
very view (same crop, same flip) whose HR version the frozen teacher sees.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .models import Classifier

__all__ = ["TrainConfig", "History", "random_crop_flip", "to_float", "train_classifier", "evaluate"]


@dataclass
class TrainConfig:
    """Hyper-parameters. The defaults are the `quick` recipe; the paper's are SGD, momentum 0.9,
    weight decay 5e-4, batch 128, 100 epochs, random crop and flip (``schedule="step"`` there)."""

    epochs: int = 20
    batch_size: int = 512
    lr: float = 0.2               # peak learning rate of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    schedule: str = "onecycle"    # onecycle | step (x0.1 at 50% and 75% of training)
    pad: int = 4                  # random-crop padding (pixels, reflect)
    bf16: bool = True
    compile: bool = False
    seed: int = 0


@dataclass
class History:
    """Per-epoch record of a training run."""

    config: dict
    loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)  # training only, evaluation excluded
    seconds: float = 0.0
    images_per_second: float = 0.0


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [0, 1], channels-last."""
    return (x.float() / 255).contiguous(memory_format=torch.channels_last)


def random_crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random ``pad``-pixel translation (reflect padding, then a crop of the original size) and a
    random horizontal flip, independently per image, all on ``x``'s device.

    Args:
        x: (N, C, H, W) images of any dtype; stack HR and LR along C to give both the same view.
    """
    n, _, h, w = x.shape
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
    """
    was_training = model.training
    model.eval()
    correct = 0
    dev = next(model.parameters()).device
    for start in range(0, len(images), batch_size):
        x = to_float(images[start:start + batch_size].to(dev))
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16 and dev.type == "cuda"):
            logits = model(x).float()
            if flip:
                logits = logits + model(x.flip(3)).float()
            correct += int((logits.argmax(1) == labels[start:start + batch_size].to(dev)).sum())
    model.train(was_training)
    return correct / len(images)


def train_classifier(model: Classifier, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, *,
                     test: tuple[torch.Tensor, torch.Tensor] | None = None,
                     teacher: Classifier | None = None, teacher_images: torch.Tensor | None = None,
                     lam: float = 0.0, progress: bool = True) -> History:
    """Train ``model`` in place on uint8 ``images`` (N, C, H, W) with int64 ``labels`` (N,).

    Args:
        test: optional (images, labels) evaluated after every epoch.
        teacher: a frozen HR model for deep feature distillation; ``teacher_images`` are the HR
            images paired with ``images`` (the LR copies), same order. The loss is then
            :func:`lrlib.distill.dfd_loss` with weight ``lam``.

    Returns:
        :class:`History` with per-epoch loss and test accuracy, wall time and training images/s.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if (teacher is None) != (teacher_images is None):
        raise ValueError("pass teacher and teacher_images together (the HR images paired with images)")
    if teacher_images is not None and teacher_images.shape != images.shape:
        raise ValueError(f"teacher_images {tuple(teacher_images.shape)} must match images {tuple(images.shape)}")
    if config.schedule not in ("onecycle", "step"):
        raise ValueError(f"schedule must be 'onecycle' or 'step'; got {config.schedule!r}")
    dev = next(model.parameters()).device
    torch.manual_seed(config.seed)
    gen = torch.Generator(device=dev).manual_seed(config.seed)
    images, labels = images.to(dev), labels.to(dev)
    stats = images.float().div(255)
    model.mean.copy_(stats.mean(dim=(0, 2, 3)))
    model.std.copy_(stats.std(dim=(0, 2, 3)))
    del stats
    model.to(memory_format=torch.channels_last).train()
    if teacher is not None:
        from .distill import dfd_loss  # here, not at the top: lrlib.distill builds its experiments on this trainer
        teacher.to(dev, memory_format=torch.channels_last).eval().requires_grad_(False)
        teacher_images = teacher_images.to(dev)
    net = torch.compile(model) if config.compile else model
    steps_per_epoch = len(images) // config.batch_size  # drop the last partial batch: one shape for compile
    total = steps_per_epoch * config.epochs
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=config.lr, momentum=config.momentum, nesterov=True)
    if config.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=0.25,
                                                    anneal_strategy="linear", div_factor=10, final_div_factor=100)
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [total // 2, total * 3 // 4], gamma=0.1)
    history = History(config=asdict(config))
    amp = config.bf16 and dev.type == "cuda"
    start = time.perf_counter()
    for _ in tqdm(range(config.epochs), desc="epochs", disable=not progress, leave=False):
        epoch_start = time.perf_counter()
        order = torch.randperm(len(images), device=dev, generator=gen)
        running = torch.zeros((), device=dev)
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            if teacher is None:
                x = to_float(random_crop_flip(images[idx], config.pad, gen))
            else:  # one crop and flip for the LR image and its HR original
                both = random_crop_flip(torch.cat([images[idx], teacher_images[idx]], dim=1), config.pad, gen)
                x, x_hr = to_float(both[:, :3]), to_float(both[:, 3:])
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                if teacher is None:
                    loss = F.cross_entropy(net(x).float(), labels[idx], label_smoothing=config.label_smoothing)
                else:
                    logits, f_s = net(x, features=True)
                    with torch.no_grad():
                        _, f_t = teacher(x_hr, features=True)
                    loss = dfd_loss(logits, labels[idx], f_s, f_t, lam, label_smoothing=config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.detach()
        history.loss.append(float(running) / steps_per_epoch)  # float() waits for the GPU
        history.epoch_seconds.append(time.perf_counter() - epoch_start)
        if test is not None:
            history.test_accuracy.append(evaluate(model, test[0], test[1], bf16=config.bf16))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    history.seconds = time.perf_counter() - start
    history.images_per_second = steps_per_epoch * config.batch_size * config.epochs / sum(history.epoch_seconds)
    model.eval()
    return history
