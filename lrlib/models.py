"""CIFAR-sized classifiers (32x32 inputs) with a named feature layer: AlexNet, VGG-16 (BN), ResNet-18.

Every model is a :class:`Classifier`: ``body(x)`` gives the *feature* (N, D), the input of the final
linear classifier ``head``, which is the layer deep feature distillation matches (notebook 04).

| name      | feature dim | parameters | architecture (the common 32x32 variants)                          |
|-----------|-------------|------------|-------------------------------------------------------------------|
| alexnet   | 256         | 2.47 M     | 5 convs (11x11/4, 5x5, 3x3 x3) with max-pools; dropout, 1 linear   |
| vgg16     | 512         | 14.72 M    | 13 conv3x3 + BN + ReLU in 5 blocks with max-pools, 1 linear        |
| resnet18  | 512         | 11.17 M    | 3x3 stem (no max-pool), 4 stages of 2 BasicBlocks, avg-pool, linear |
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_int

__all__ = ["Classifier", "MODELS", "build_model", "count_parameters"]


class Classifier(nn.Module):
    """``body`` (images -> (N, D) features) followed by ``head`` (a linear layer to the logits).

    Inputs are float images in [0, 1]; the model standardises them with its own per-channel
    ``mean`` and ``std`` buffers (set by the trainer from its training set and saved with the weights),
    so a teacher and a student trained on different images each keep their own statistics.

    ``dropout`` (AlexNet's 0.5) acts between the feature and the head, never on the feature itself:
    a distilled feature must be the same in training and evaluation mode.

    Raises:
        ValueError: at construction, ``dim`` not an int >= 1, ``num_classes`` not an int >= 2, ``dropout``
            outside [0, 1); in ``forward``, an input that is not a float (N, 3, H, W) batch (uint8 images
            would be standardised as 0..255 values and give confident nonsense: convert with ``x.float() / 255``),
            or one whose sides lie outside ``sides`` (the (smallest, largest) side ``body`` maps to ``dim`` features;
            None: no largest).
    """

    def __init__(self, body: nn.Module, dim: int, num_classes: int, dropout: float = 0.0,
                 sides: tuple[int, int | None] = (1, None)):
        super().__init__()
        check_int("dim", dim)
        check_int("num_classes", num_classes, 2)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1); got {dropout!r}")
        self.body = body
        self.dim = dim
        self.sides = sides
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)
        self.register_buffer("mean", torch.zeros(3))
        self.register_buffer("std", torch.ones(3))

    def forward(self, x: torch.Tensor, *, features: bool = False):
        """(N, 3, H, W) in [0, 1] -> logits (N, classes); with ``features=True`` (logits, features (N, D)).
        Checks only the dtype and shape (no values: no GPU sync in the training loop)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.mean.numel() \
                or not x.is_floating_point():
            what = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be float images (N, {self.mean.numel()}, H, W) in [0, 1]; got {what} "
                             f"(convert uint8 with x.float() / 255; add a batch axis with x[None])")
        low, high = self.sides
        if min(x.shape[-2:]) < low or (high is not None and max(x.shape[-2:]) > high):
            raise ValueError(f"this network takes images of {low} to {high or 'any'} pixels a side (it is built for "
                             f"CIFAR's 32x32); got {x.shape[-2]}x{x.shape[-1]}: resize them to 32x32, e.g. "
                             f"lrlib.degrade.low_resolution(x, factor) keeps their size, or use resnet18 (any size)")
        f = self.body((x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1))
        logits = self.head(self.dropout(f))
        return (logits, f) if features else logits


def _alexnet() -> tuple[nn.Module, int, tuple[int, int]]:  # its dropout (0.5) is the Classifier's, before the head
    body = nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten())
    return body, 256, (29, 60)  # sides that leave 1x1 maps after the stride-4 conv and three poolings


def _vgg16() -> tuple[nn.Module, int, tuple[int, int]]:
    layers: list[nn.Module] = []
    channels = 3
    for width in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if width == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            channels = width
    return nn.Sequential(*layers, nn.Flatten()), 512, (32, 63)  # five poolings to 1x1


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x), inplace=True)


def _resnet18(width: int = 64) -> tuple[nn.Module, int, tuple[int, None]]:
    """ResNet-18's body with ``width`` channels in its stem and first stage (64 in the paper's), doubled per stage."""
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
    cin = width
    for cout, stride in [(width, 1), (2 * width, 2), (4 * width, 2), (8 * width, 2)]:
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 8 * width, (1, None)  # pools what is left


MODELS = {"alexnet": _alexnet, "vgg16": _vgg16, "resnet18": _resnet18,
          "resnet18-w16": lambda: _resnet18(16)}
"""The classifiers by name; ``resnet18-w16`` is ResNet-18 at a quarter of its width (16-128 channels, about 1/16 of
its multiply-adds), for runs on a CPU where the full network trains at some 25 images a second."""


def build_model(name: str, num_classes: int = 10) -> Classifier:
    """A freshly initialised CIFAR-sized classifier; ``name`` is one of :data:`MODELS`.

    Raises:
        ValueError: an unknown ``name``, ``num_classes`` not an int >= 2.
    """
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    check_int("num_classes", num_classes, 2)
    body, dim, sides = MODELS[name]()
    return Classifier(body, dim, num_classes, dropout=0.5 if name == "alexnet" else 0.0, sides=sides)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
