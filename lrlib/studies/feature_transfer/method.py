"""The method of Wu, Zhang, Wang (ICCV-W 2019): k-means on a frozen backbone's HR features gives pseudo-labels
(:func:`pseudo_labels`, two readings), a two-layer :class:`TransferNet` learns to map LR features onto them
(:func:`train_transfers`: many networks in one batched loop), :func:`transform` applies it; :func:`pca_features` is
the control of the same width."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...checks import check_features, check_int, check_positive
from ...device import bf16_autocast
from ...results import RunCache, fingerprint

__all__ = ["VERSION", "READINGS", "PAPER_SCHEDULE", "same_epochs", "pseudo_labels", "TransferNet", "Transfer",
           "train_step", "train_transfers", "transform", "pca_features"]

VERSION = 1  # bumped whenever this module's training code changes; part of every cache key here
#: The LR pseudo-labels: each LR feature's nearest HR centroid (the paper's sentence), or its own HR image's cluster.
READINGS = ("nearest", "paired")
#: The paper's SGD schedule (Sec. 4.2): 31,561 iterations at batch 1,000 over VOC2007 trainval, lr / 10 every 15,000.
PAPER_SCHEDULE = {"iterations": 31_561, "step": 15_000, "batch_size": 1_000, "images": 5_011}


def same_epochs(n_images: int, batch_size: int = 1_000, fraction: float = 1.0) -> tuple[int, int]:
    """(iterations, lr step) that give ``n_images`` ``fraction`` of the paper's epochs (31,561 x 1,000 / 5,011 = 6,298).

    Raises:
        ValueError: ``n_images`` or ``batch_size`` not an int >= 1, ``fraction`` not positive.
    """
    check_int("n_images", n_images), check_int("batch_size", batch_size), check_positive("fraction", fraction)
    p = PAPER_SCHEDULE
    iterations = max(1, round(fraction * p["iterations"] * p["batch_size"] / p["images"] * n_images / batch_size))
    return iterations, max(1, round(iterations * p["step"] / p["iterations"]))


def _sq_distances(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(N, k) squared Euclidean distances of the rows of x (N, D) to the centres (k, D), float64."""
    x, centres = x.double(), centres.double()
    return ((x * x).sum(1, keepdim=True) - 2 * x @ centres.T + (centres * centres).sum(1)).clamp_min_(0)


def _kmeans_pp(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur and Vassilvitskii): k rows of x (N, D), each drawn with probability proportional
    to its squared distance to the nearest centre so far; the draws come from ``gen`` (a CPU generator)."""
    chosen = [int(torch.randint(len(x), (1,), generator=gen))]
    d2 = _sq_distances(x, x[chosen])[:, 0]
    for _ in range(1, k):
        weights = d2.cpu() if d2.sum() > 0 else torch.ones(len(x), dtype=torch.float64)
        chosen.append(int(torch.multinomial(weights, 1, generator=gen)))
        d2 = torch.minimum(d2, _sq_distances(x, x[chosen[-1:]])[:, 0])
    return x[chosen].double()


def _lloyd(x: torch.Tensor, centres: torch.Tensor, max_iter: int) -> torch.Tensor:
    """Lloyd's iterations from ``centres`` (k, D) until they stop moving (or ``max_iter``); an emptied cluster
    keeps its centre. Sums are one-hot matrix products, so the result is the same on every run of a device."""
    x = x.double()
    for _ in range(max_iter):
        onehot = F.one_hot(_sq_distances(x, centres).argmin(1), len(centres)).double()
        counts = onehot.sum(0)[:, None]
        moved = torch.where(counts > 0, onehot.T @ x / counts.clamp_min(1), centres)
        if torch.equal(moved, centres):
            break
        centres = moved
    return centres


def pseudo_labels(hr, k: int, *, seed: int = 0, lr=None, max_iter: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means on the HR features, and the pseudo-labels it gives (paper Sec. 3.2).

    k-means++ seeding from ``seed``, then Lloyd's iterations in float64 on the features' device (the GPU when
    they are there); the features are used as given (no normalisation). Deterministic for a seed on one device.

    Args:
        hr: (N, D) HR features (tensor or array); k: the number of clusters (the paper's N2), 1 <= k <= N.
        lr: None for the k-means assignments of ``hr`` ("paired": the LR copy of image i gets label i), or (M, D) LR
            features, each labelled with its nearest HR centroid (Euclidean; "nearest").

    Returns (labels int64 (N,) or (M,), centroids (k, D) in ``hr``'s dtype) on ``hr``'s device; each label is the
    nearest of the returned centroids.

    Raises:
        ValueError: features that are not non-empty finite float (N, D), ``lr`` with another D, ``k`` not an int in
            [1, N], ``max_iter`` not an int >= 1.
    """
    x = check_features("hr", hr)
    if check_int("k", k) > len(x):
        raise ValueError(f"k must be at most the number of HR features, {len(x)}; got {k}: use fewer clusters")
    check_int("max_iter", max_iter)
    target = x if lr is None else check_features("lr", lr, x.shape[1]).to(x.device)
    centres = _lloyd(x, _kmeans_pp(x, k, torch.Generator().manual_seed(seed)), max_iter)
    return _sq_distances(target, centres).argmin(1), centres.to(x.dtype)


class TransferNet(nn.Module):
    """The feature transfer network: linear ``in_dim -> n1``, ReLU, linear ``n1 -> n2``; forward (N, in_dim) ->
    (N, n2), the transferred feature (and the logits of the n2 pseudo-classes). MSRA (Kaiming, fan-in) weights,
    zero biases, as Caffe's ``msra`` filler. 8,802,404 parameters at the paper's widths.

    Raises:
        ValueError: a width that is not an int >= 1.
    """

    def __init__(self, in_dim: int = 2048, n1: int = 4096, n2: int = 100):
        super().__init__()
        self.fc1 = nn.Linear(check_int("in_dim", in_dim), check_int("n1", n1))
        self.fc2 = nn.Linear(n1, check_int("n2", n2))
        for fc in (self.fc1, self.fc2):
            nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")
            nn.init.zeros_(fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


class _Stack(nn.Module):
    """G transfer networks of one ``in_dim`` and ``n1`` as stacked weights (a step is two batched matrix products);
    narrower outputs are padded and masked out of the softmax, so each network trains exactly as it would alone."""

    def __init__(self, nets: list[TransferNet]):
        super().__init__()
        width = max(n.fc2.out_features for n in nets)
        pad = [width - n.fc2.out_features for n in nets]
        self.w1 = nn.Parameter(torch.stack([n.fc1.weight.detach().T for n in nets]))  # (G, in, n1)
        self.b1 = nn.Parameter(torch.stack([n.fc1.bias.detach() for n in nets])[:, None])  # (G, 1, n1)
        self.w2 = nn.Parameter(torch.stack([F.pad(n.fc2.weight.detach().T, (0, p)) for n, p in zip(nets, pad)]))
        self.b2 = nn.Parameter(torch.stack([F.pad(n.fc2.bias.detach(), (0, p)) for n, p in zip(nets, pad)])[:, None])
        self.register_buffer("padded", torch.arange(width, device=self.w1.device) >= (width - torch.tensor(
            pad, device=self.w1.device))[:, None, None])  # (G, 1, width)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Sum over the G networks of each one's mean cross-entropy; x (G, B, in), y (G, B) int64."""
        logits = torch.baddbmm(self.b2, torch.baddbmm(self.b1, x, self.w1).relu(), self.w2)
        logits = logits.float().masked_fill(self.padded, -torch.inf)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten()) * len(y)

    def write_back(self, nets: list[TransferNet]) -> None:
        with torch.no_grad():
            for g, n in enumerate(nets):
                out = n.fc2.out_features
                n.fc1.weight.copy_(self.w1[g].T), n.fc1.bias.copy_(self.b1[g, 0])
                n.fc2.weight.copy_(self.w2[g, :, :out].T), n.fc2.bias.copy_(self.b2[g, 0, :out])


@dataclass(eq=False)
class Transfer:
    """One transfer network to train: HR and LR training features (N, D) of one image set, widths, a reading.

    Raises:
        Nothing itself (a plain record; :func:`train_transfers` checks it)."""

    hr: torch.Tensor
    lr: torch.Tensor
    n1: int
    n2: int
    reading: str = "nearest"


def train_step(stacks: list[_Stack], batches: list[tuple[torch.Tensor, torch.Tensor]],
               optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """One SGD step of every stacked network on its batch (x (G, B, in), y (G, B)): the summed cross-entropy on the
    pseudo-labels, backward, update. Returns the summed loss (detached, never synchronised here).

    Raises:
        ValueError: not one batch per stack (zip's strict check names the shorter list).
    """
    with bf16_autocast(stacks[0].w1.device):
        loss = sum(s.loss(x, y) for s, (x, y) in zip(stacks, batches, strict=True))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _labels(spec: Transfer, seed: int, memo: dict) -> torch.Tensor:
    """The pseudo-labels of ``spec``'s LR features, one k-means per HR feature set and k (memoised)."""
    if spec.reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS}; got {spec.reading!r}")
    lr = spec.lr if spec.reading == "nearest" else None
    if (key := (id(spec.hr), id(lr), spec.n2)) not in memo:
        memo[key] = pseudo_labels(spec.hr, spec.n2, seed=seed, lr=lr)[0]
    return memo[key]


def _train(specs: list[Transfer], schedule: dict, seed: int) -> tuple[nn.ModuleList, dict]:
    """Train every network of ``specs`` in one loop; returns them and their accuracies on their pseudo-labels."""
    device, n = specs[0].lr.device, len(specs[0].lr)
    memo: dict = {}
    labels = [_labels(s, seed, memo) for s in specs]
    torch.manual_seed(seed)
    nets = nn.ModuleList([TransferNet(s.lr.shape[1], s.n1, s.n2) for s in specs]).to(device)
    groups: dict[tuple, list[int]] = {}
    for i, s in enumerate(specs):
        groups.setdefault((s.lr.shape[1], s.n1, s.n2 <= 256), []).append(i)  # few or many outputs: little padding
    stacks = [_Stack([nets[i] for i in members]) for members in groups.values()]
    inputs = [torch.stack([specs[i].lr for i in m]) if len({id(specs[i].lr) for i in m}) > 1
              else specs[m[0]].lr[None] for m in groups.values()]
    targets = [torch.stack([labels[i] for i in m]) for m in groups.values()]
    batch = min(schedule["batch_size"], n)
    optimizer = torch.optim.SGD([p for s in stacks for p in s.parameters()], lr=schedule["learning_rate"], momentum=0.9,
                                weight_decay=5e-4)
    steps = torch.optim.lr_scheduler.StepLR(optimizer, schedule["step"], gamma=0.1)
    gen, order, loss = torch.Generator(device).manual_seed(seed), torch.empty(0, dtype=torch.long), None
    for _ in range(schedule["iterations"]):
        if len(order) == 0:
            order = torch.randperm(n, generator=gen, device=device)
        idx, order = order[:batch], order[batch:]
        batches = [(x[:, idx].expand(len(y), -1, -1), y[:, idx]) for x, y in zip(inputs, targets)]
        loss = train_step(stacks, batches, optimizer)
        steps.step()
    for s, members in zip(stacks, groups.values()):
        s.write_back([nets[i] for i in members])
    accuracy = [float((transform(net, s.lr).argmax(1) == y).double().mean()) for net, s, y in zip(nets, specs, labels)]
    return nets, {"train_accuracy": accuracy, "final_loss": None if loss is None else float(loss) / len(specs)}


def train_transfers(specs: list[Transfer], schedule: dict, *, seed: int = 0,
                    cache: RunCache | None = None) -> tuple[list[TransferNet], list[float]]:
    """Train (or load from ``cache``) transfer networks in one loop on the LR features' device (paper Sec. 4.2: SGD,
    momentum 0.9, weight decay 5e-4, lr / 10 every ``schedule["step"]`` of ``["iterations"]``, ``["batch_size"]``
    capped at N, ``["learning_rate"]``). Networks of one input width and ``n1`` are stacked (:class:`_Stack`); all see the same
    mini-batches (one shuffle per epoch, from ``seed``), each its own MSRA initialisation. All specs need one N.

    Returns (networks in eval mode, each one's accuracy on its own pseudo-labels over its training features).

    Raises:
        ValueError: no spec, feature sets of different N or on different devices, an unknown reading, a schedule
            without those keys, and as :func:`pseudo_labels`.
    """
    if not specs:
        raise ValueError("specs is empty: pass at least one Transfer")
    if len({(len(s.lr), len(s.hr), s.lr.device) for s in specs}) != 1:
        raise ValueError(f"every spec needs HR and LR features of the same N on one device; got "
                         f"{sorted({(len(s.hr), len(s.lr), str(s.lr.device)) for s in specs})}")
    if missing := {"iterations", "step", "batch_size", "learning_rate"} - set(schedule):
        raise ValueError(f"schedule lacks {sorted(missing)}; e.g. dict(zip(('iterations', 'step'), same_epochs(N)), "
                         f"batch_size=1000, learning_rate=0.01)")
    key = {"method": "transfer", "schedule": schedule, "seed": seed, "version": VERSION,
           "specs": [(fingerprint(s.hr), fingerprint(s.lr), s.n1, s.n2, s.reading) for s in specs]}
    build = lambda: nn.ModuleList([TransferNet(s.lr.shape[1], s.n1, s.n2) for s in specs]).to(specs[0].lr.device)
    record, nets = (cache or RunCache(None)).train_or_load(key, lambda: _train(specs, schedule, seed), build=build)
    return [net.eval() for net in nets], record["train_accuracy"]


@torch.no_grad()
def transform(net: TransferNet, x: torch.Tensor) -> torch.Tensor:
    """The transferred features (N, n2) float32 of x (N, in_dim), in eval mode, on ``net``'s device.

    Raises:
        ValueError: x not finite float (N, in_dim).
    """
    return net(check_features("x", x, net.fc1.in_features).to(net.fc1.weight.device).float())


def pca_features(train: torch.Tensor, others: list[torch.Tensor], dims: int) -> list[torch.Tensor]:
    """The PCA control: ``train`` (N, D) and each of ``others`` projected onto the first ``dims`` principal axes of
    ``train`` (centred by its mean; an SVD in float64). Returns [train, *others], each (., dims) float32.

    Raises:
        ValueError: ``dims`` not an int in [1, min(N, D)], features that are not finite float (., D).
    """
    x = check_features("train", train).double()
    if check_int("dims", dims) > min(x.shape):
        raise ValueError(f"dims must be at most min(N, D) = {min(x.shape)}; got {dims}")
    mean = x.mean(0)
    axes = torch.linalg.svd(x - mean, full_matrices=False).Vh[:dims].T
    return [((check_features("features", f, x.shape[1]).double() - mean) @ axes).float() for f in [train, *others]]
