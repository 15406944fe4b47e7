"""Linear SVMs, many at once: per-class one-vs-rest classifiers for several feature spaces and values of C,
solved on the features' device (LinearSVC's squared-hinge problem, checked against scikit-learn in the tests).

Targets follow VOC's convention, (N, C) in {1, 0, -1}: 1 positive, -1 negative, 0 difficult (left out)."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from .checks import check_features, check_int, check_positive

__all__ = ["SVM_GRADIENT_TOLERANCE", "check_targets", "fit_svms", "svm_scores"]

SVM_GRADIENT_TOLERANCE = 1e-6
"""A solved SVM's gradient (of its objective divided by C N) is below this for every problem, else fit_svms warns."""


def check_targets(name: str, t) -> torch.Tensor:
    """``t`` as a tensor if it is (N, C) in {1, 0, -1} (VOC: 1 positive, 0 difficult, -1 negative).

    Raises:
        ValueError: another shape or another value.
    """
    t = torch.as_tensor(t)
    if t.ndim != 2 or not ((t == 1) | (t == 0) | (t == -1)).all():
        raise ValueError(f"{name} must be (N, C) in {{1, 0, -1}} (VOC: 1 positive, 0 difficult, -1 negative); got "
                         f"shape {tuple(t.shape)}, values {torch.unique(t)[:6].tolist()}")
    return t


def _design(x: torch.Tensor, width: int) -> torch.Tensor:
    """[1, x / ||x||, 0 ...]: (N, width + 1) float64, rows L2-normalised, the constant first (the bias)."""
    x = F.normalize(x.double(), dim=1)
    return F.pad(torch.cat([torch.ones_like(x[:, :1]), x], 1), (0, width - x.shape[1]))


def fit_svms(train: list[torch.Tensor], targets, cs: list[float], *, max_iter: int = 500) -> list[torch.Tensor]:
    """Per-class linear SVMs for every feature space (N, D_s) and every C, on the features' device. Each is
    LinearSVC's default problem (squared hinge, intercept_scaling = 1), ``min 0.5 ||w||^2 + C sum_i
    max(0, 1 - y_i w.[1, x_i])^2`` over the items whose target (N, C) is not 0, on L2-normalised rows. One L-BFGS
    solve per C takes every space and class together (narrower spaces zero-padded: their padded weights get no
    gradient and stay 0); separate solves per C keep the problems of one solve alike in conditioning. A solve
    whose gradient is not near zero for every problem at the end warns, naming C (raise ``max_iter``).

    Returns per space the weights (len(cs), C, D_s + 1), the bias first; :func:`svm_scores` applies them.

    Raises:
        ValueError: no space, spaces of different N, targets not (N, C) in {1, 0, -1}, no C or a C <= 0, a bad
            ``max_iter`` (all checked before any solve).
    """
    if not train or len({len(x) for x in train}) != 1:
        raise ValueError(f"train must be feature spaces of one N; got {[tuple(x.shape) for x in train]}")
    if not cs:
        raise ValueError("cs is empty: give at least one value of C")
    cs = [check_positive("C", c) for c in cs]
    check_int("max_iter", max_iter)
    width, device = max(x.shape[1] for x in train), train[0].device
    x = torch.stack([_design(check_features(f"space {i}", s).to(device), width) for i, s in enumerate(train)])
    y = check_targets("targets", targets).to(device).double()  # (N, C)
    w = torch.stack([_svms_at(x, y, c, max_iter) for c in cs], 1)  # (S, len(cs), C, width + 1)
    return [w[i, :, :, : s.shape[1] + 1] for i, s in enumerate(train)]


def _svms_at(x: torch.Tensor, y: torch.Tensor, c: float, max_iter: int) -> torch.Tensor:
    """The SVMs of every space (S, N, width + 1) and class (y: (N, C)) at one C -> weights (S, C, width + 1)."""
    w = torch.zeros(len(x), y.shape[1], x.shape[2], dtype=torch.float64, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=max_iter, history_size=20, tolerance_grad=1e-12,
                            tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:  # each problem's objective divided by C N: the same minimiser, one scale
        opt.zero_grad()
        hinge = (1 - y * torch.bmm(x, w.transpose(1, 2))).clamp_min(0) * (y != 0)
        loss = ((0.5 / c * (w * w).sum(2)).sum() + (hinge * hinge).sum()) / len(y)
        loss.backward()
        return loss

    opt.step(objective)
    objective()
    worst = float(w.grad.norm(dim=2).max())
    if worst > SVM_GRADIENT_TOLERANCE:
        warnings.warn(f"the SVMs at C={c:g} stopped before converging (largest gradient norm {worst:.2g} > "
                      f"{SVM_GRADIENT_TOLERANCE:g}); raise max_iter", stacklevel=2)
    return w.detach()


def svm_scores(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Decision values (len(cs), N, C) of :func:`fit_svms` weights w (len(cs), C, D + 1) on features x (N, D)."""
    return _design(x.to(w.device), x.shape[1]) @ w.transpose(1, 2)
