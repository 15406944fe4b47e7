"""The method of Wu, Zhang, Wang (ICCV-W 2019): k-means on a frozen backbone's HR features gives pseudo-labels
(:func:`pseudo_labels`, two readings), a two-layer :class:`TransferNet` learns to map LR features onto them
(:func:`train_transfers`: many networks in one batched loop), :func:`transform` applies it; :func:`pca_features` is
the control of the same width."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...checks import LOSS_CHECK_EVERY, check_features, check_int, check_losses, check_positive, check_weights
from ...device import bf16_autocast
from ...results import RunCache, fingerprint

__all__ = ["VERSION", "READINGS", "PAPER_SCHEDULE", "PAPER_LENGTHS", "same_epochs", "schedule_note", "pseudo_labels",
           "label_stats", "TransferNet", "Transfer", "train_step", "train_transfers", "transform", "pca_features"]

VERSION = 2  # bumped whenever this module's training code changes; part of every cache key here
#: The LR pseudo-labels: each LR feature's nearest HR centroid (the paper's sentence), or its own HR image's cluster.
READINGS = ("nearest", "paired")
#: The paper's SGD schedule (Sec. 4.2): 31,561 iterations at batch 1,000 over VOC2007 trainval, lr / 10 every 15,000.
PAPER_SCHEDULE = {"iterations": 31_561, "step": 15_000, "batch_size": 1_000, "images": 5_011}
_SGD = {"momentum": 0.9, "weight_decay": 5e-4}  # the paper's, for every schedule
#: The paper's two statements of the schedule's length ("batch size 1,000, epoch 1,000, total iteration 31,561"), in
#: epochs over its 5,011 training images; they disagree: 31,561 iterations at batch 1,000 are 6,298 epochs.
PAPER_LENGTHS = {"31,561 iterations": PAPER_SCHEDULE["iterations"] * PAPER_SCHEDULE["batch_size"]
                 / PAPER_SCHEDULE["images"], "1,000 epochs": 1_000.0}
#: Why a profile follows one statement or the other (:func:`schedule_note` says it in the notebook).
_WHY = {"31,561 iterations": "the iteration count, which the paper gives with its step (15,000) and which the "
                             "paper profile reproduces",
        "1,000 epochs": "the shorter one, to keep the quick run within its GPU budget (the whole notebook in about "
                        "1.5 minutes on one H200, for the grid's 30 networks and Table 1's)"}


def same_epochs(n_images: int, batch_size: int = 1_000, epochs: float | str = "31,561 iterations") -> tuple[int, int]:
    """(iterations, lr step) of ``epochs`` passes over ``n_images`` at ``batch_size``: a number of epochs, or one of
    the paper's two statements (a key of :data:`PAPER_LENGTHS`: 6,298 or 1,000 epochs). The step keeps the paper's
    ratio (15,000 of 31,561), so the learning rate is divided by 10 twice in either reading.

    Raises:
        ValueError: ``n_images`` or ``batch_size`` not an int >= 1, ``epochs`` neither a positive number nor a key of
            :data:`PAPER_LENGTHS`.
    """
    check_int("n_images", n_images), check_int("batch_size", batch_size)
    if isinstance(epochs, str) and epochs not in PAPER_LENGTHS:
        raise ValueError(f"epochs must be a positive number or one of {list(PAPER_LENGTHS)}; got {epochs!r}")
    count = PAPER_LENGTHS[epochs] if isinstance(epochs, str) else check_positive("epochs", epochs)
    iterations = max(1, round(count * n_images / batch_size))
    return iterations, max(1, round(iterations * PAPER_SCHEDULE["step"] / PAPER_SCHEDULE["iterations"]))


def schedule_note(schedule: dict, epochs: float | str, n_images: int) -> str:
    """The notebook's sentence on the transfer networks' schedule, computed from ``schedule`` (as
    :func:`train_transfers` takes it) and ``epochs`` (as :func:`same_epochs` takes it) over ``n_images``: its numbers,
    how often the learning rate is divided, and which of the paper's two statements of the length it follows, and why.

    Raises:
        ValueError: a schedule without ``iterations``, ``step``, ``batch_size`` and ``learning_rate``.
    """
    if missing := {"iterations", "step", "batch_size", "learning_rate"} - set(schedule):
        raise ValueError(f"schedule lacks {sorted(missing)}; build it as the notebook does, from same_epochs")
    iterations, step, batch = schedule["iterations"], schedule["step"], min(schedule["batch_size"], n_images)
    both = " and ".join(f'"{k}" ({v:,.0f} epochs)' for k, v in PAPER_LENGTHS.items())
    follows = (f'This run follows "{epochs}": {_WHY[epochs]}.' if isinstance(epochs, str) else
               f"This run sets its own length ({epochs:g} epochs), which follows neither: it only exercises the code.")
    return (f"**Schedule.** SGD, momentum {_SGD['momentum']:g}, weight decay {_SGD['weight_decay']:g}, batch "
            f"{batch:,}, learning rate {schedule['learning_rate']:g} divided by 10 every {step:,} iterations "
            f"({(iterations - 1) // step} times), {iterations:,} iterations: {iterations * batch / n_images:,.0f} "
            f"epochs over our {n_images:,} training images. The paper's text gives the length twice, {both} over its "
            f"{PAPER_SCHEDULE['images']:,} images, and the two disagree. {follows}")


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


def _kmeans(hr, k: int, seed: int, max_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the checked HR features (N, D), the k-means centroids (k, D) float64) of :func:`pseudo_labels`.

    Raises:
        ValueError: as :func:`pseudo_labels`.
    """
    x = check_features("hr", hr)
    if check_int("k", k) > len(x):
        raise ValueError(f"k must be at most the number of HR features, {len(x)}; got {k}: use fewer clusters")
    check_int("max_iter", max_iter)
    return x, _lloyd(x, _kmeans_pp(x, k, torch.Generator().manual_seed(seed)), max_iter)


def _assign(x: torch.Tensor, centres: torch.Tensor, lr) -> torch.Tensor:
    """The label (N,) or (M,) of each row of ``x`` (``lr`` None) or of ``lr``: its nearest of the centroids.

    Raises:
        ValueError: ``lr`` not finite float features of ``x``'s width.
    """
    target = x if lr is None else check_features("lr", lr, x.shape[1]).to(x.device)
    return _sq_distances(target, centres).argmin(1)


_LLOYD_ITER = 300  # Lloyd's iterations at most, unless the centroids stop moving before


def pseudo_labels(hr, k: int, *, seed: int = 0, lr=None,
                  max_iter: int = _LLOYD_ITER) -> tuple[torch.Tensor, torch.Tensor]:
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
    x, centres = _kmeans(hr, k, seed, max_iter)
    return _assign(x, centres, lr), centres.to(x.dtype)


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
    """The pseudo-labels of ``spec``'s LR features, :func:`pseudo_labels` of its reading, with one k-means per HR
    feature set and k (memoised: both readings and every LR size share it)."""
    if spec.reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS}; got {spec.reading!r}")
    if (key := (id(spec.hr), spec.n2)) not in memo:
        memo[key] = _kmeans(spec.hr, spec.n2, seed, _LLOYD_ITER)
    return _assign(*memo[key], spec.lr if spec.reading == "nearest" else None)


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
    optimizer = torch.optim.SGD([p for s in stacks for p in s.parameters()], lr=schedule["learning_rate"], **_SGD)
    steps = torch.optim.lr_scheduler.StepLR(optimizer, schedule["step"], gamma=0.1)
    gen, order = torch.Generator(device).manual_seed(seed), torch.empty(0, dtype=torch.long)
    losses, checked = [], 0
    fix = f"lower schedule['learning_rate'] (now {schedule['learning_rate']:g})"
    for _ in range(schedule["iterations"]):
        if len(order) == 0:
            order = torch.randperm(n, generator=gen, device=device)
        idx, order = order[:batch], order[batch:]
        batches = [(x[:, idx].expand(len(y), -1, -1), y[:, idx]) for x, y in zip(inputs, targets)]
        losses.append(train_step(stacks, batches, optimizer))
        steps.step()
        if len(losses) - checked == LOSS_CHECK_EVERY:
            checked = check_losses("train_transfers", losses, fix, since=checked)
    check_losses("train_transfers", losses, fix, since=checked)
    for s, members in zip(stacks, groups.values()):
        s.write_back([nets[i] for i in members])
    check_weights("train_transfers", nets, fix)
    accuracy = [float((transform(net, s.lr).argmax(1) == y).double().mean()) for net, s, y in zip(nets, specs, labels)]
    return nets, {"train_accuracy": accuracy, "final_loss": float(losses[-1]) / len(specs) if losses else None}


def _identity(spec: Transfer) -> tuple:
    """What defines a transfer network's training besides the schedule and seed: its data, widths and reading."""
    return fingerprint(spec.hr), fingerprint(spec.lr), spec.n1, spec.n2, spec.reading


def train_transfers(specs: list[Transfer], schedule: dict, *, seed: int = 0, cache: RunCache | None = None,
                    trained: tuple[list[Transfer], list[TransferNet], list[float]] | None = None
                    ) -> tuple[list[TransferNet], list[float]]:
    """Train (or load from ``cache``) transfer networks in one loop on the LR features' device (paper Sec. 4.2: SGD,
    momentum 0.9, weight decay 5e-4, lr / 10 every ``schedule["step"]`` of ``["iterations"]``, ``["batch_size"]``
    capped at N, ``["learning_rate"]``). Networks of one input width and ``n1`` are stacked (:class:`_Stack`); all see the same
    mini-batches (one shuffle per epoch, from ``seed``), each its own MSRA initialisation. All specs need one N.

    ``trained``: (specs, networks, accuracies) of an earlier call with this schedule and seed; a spec with the same
    features, widths and reading as one of those takes that network instead of training another copy (Table 1
    reuses Table 2's network at the chosen (N1, N2), so the two tables report one network).

    Returns (networks in eval mode, each one's accuracy on its own pseudo-labels over its training features), in the
    order of ``specs``.

    Raises:
        ValueError: no spec, feature sets of different N or on different devices, an unknown reading, a schedule
            without those keys (or with counts not ints >= 1, a learning rate not a finite positive number),
            ``trained`` of unequal lengths, and as :func:`pseudo_labels`.
        TrainingDiverged: a NaN or infinite loss or weight (the message says to lower the learning rate).
    """
    if not specs:
        raise ValueError("specs is empty: pass at least one Transfer")
    if len({(len(s.lr), len(s.hr), s.lr.device) for s in specs}) != 1:
        raise ValueError(f"every spec needs HR and LR features of the same N on one device; got "
                         f"{sorted({(len(s.hr), len(s.lr), str(s.lr.device)) for s in specs})}")
    if missing := {"iterations", "step", "batch_size", "learning_rate"} - set(schedule):
        raise ValueError(f"schedule lacks {sorted(missing)}; e.g. dict(zip(('iterations', 'step'), same_epochs(N)), "
                         f"batch_size=1000, learning_rate=0.01)")
    for name in ("iterations", "step", "batch_size"):
        check_int(f"schedule['{name}']", schedule[name])
    check_positive("schedule['learning_rate']", schedule["learning_rate"])
    if trained is not None and len({len(part) for part in trained}) != 1:
        raise ValueError(f"trained must be (specs, networks, accuracies) of one length; got lengths "
                         f"{[len(part) for part in trained]}")
    known = {_identity(s): (net, acc) for s, net, acc in zip(*trained)} if trained else {}
    ids = [_identity(s) for s in specs]
    new = [(i, s) for i, s in zip(ids, specs) if i not in known]
    if new:
        key = {"method": "transfer", "schedule": schedule, "seed": seed, "version": VERSION,
               "specs": [i for i, _ in new]}
        fresh = [s for _, s in new]
        build = lambda: nn.ModuleList([TransferNet(s.lr.shape[1], s.n1, s.n2) for s in fresh]).to(fresh[0].lr.device)
        record, nets = (cache or RunCache(None)).train_or_load(key, lambda: _train(fresh, schedule, seed), build=build)
        known |= {i: (net.eval(), acc) for (i, _), net, acc in zip(new, nets, record["train_accuracy"])}
    return [known[i][0] for i in ids], [known[i][1] for i in ids]


def label_stats(specs: list[Transfer], *, seed: int = 0) -> pd.DataFrame:
    """How the pseudo-labels of each spec (as :func:`train_transfers` draws them from ``seed``) spread over the N2
    clusters: one row per spec with ``N2``, ``distinct labels`` (how many clusters the N training features use),
    ``entropy (bits)`` of their frequencies and ``uniform (bits)``, log2 N2, the most it can be. A reading that
    collapses onto a few centroids shows as few labels and a low entropy; a network then fits them easily, and its
    high accuracy means little.

    Raises:
        ValueError: an unknown reading, and as :func:`pseudo_labels`.
    """
    memo: dict = {}
    rows = []
    for s in specs:
        share = torch.bincount(_labels(s, seed, memo), minlength=s.n2).double() / len(s.lr)
        entropy = -(share[share > 0] * share[share > 0].log2()).sum()
        rows.append({"N2": s.n2, "distinct labels": int((share > 0).sum()), "entropy (bits)": float(entropy),
                     "uniform (bits)": math.log2(s.n2)})
    return pd.DataFrame(rows)


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
