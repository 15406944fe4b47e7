"""Linear SVMs, many at once: per-class one-vs-rest classifiers for several feature spaces and values of C,
solved on the features' device (LinearSVC's squared-hinge problem, checked against scikit-learn in the tests).

Targets follow VOC's convention, (N, C) in {1, 0, -1}: 1 positive, -1 negative, 0 difficult (left out). Not 0/1
labels, which :func:`lrlib.metrics.average_precision` takes: there a 0 is an irrelevant item, here it is left out,
so a 0/1 matrix would train every SVM on positives only (:func:`fit_svms` refuses it; convert with ``2 * y - 1``)."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from .checks import check_features, check_int, check_positive

__all__ = ["SVM_GRADIENT_TOLERANCE", "check_targets", "fit_svms", "svm_scores"]

SVM_GRADIENT_TOLERANCE = 1e-6
"""A solved SVM's gradient (of its objective divided by C N) is below this for every problem, else fit_svms warns."""
_CG_STEPS = 500  # conjugate-gradient steps at most per Newton step (an inexact step still descends)
_HALVINGS = 40  # step halvings at most per line search


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


def fit_svms(train: list[torch.Tensor], targets, cs: list[float], *, max_iter: int = 100) -> list[torch.Tensor]:
    """Per-class linear SVMs for every feature space (N, D_s) and every C, on the features' device. Each is
    LinearSVC's default problem (squared hinge, intercept_scaling = 1), ``min 0.5 ||w||^2 + C sum_i
    max(0, 1 - y_i w.[1, x_i])^2`` over the items whose target (N, C) is not 0, on L2-normalised rows.

    Every (space, class) problem is solved by its own Newton iterations (conjugate gradients on the generalised
    Hessian, a backtracking line search), batched: each space is turned onto its principal axes (an orthogonal
    change of basis, which leaves the problem as it is and makes a diagonal preconditioner work), the spaces are
    zero-padded to one width (padded weights get no gradient and stay 0), and each problem stops on its own
    gradient, so its result does not depend on which other spaces are solved with it. The values of C are solved
    in increasing order, each from the solution of the one before (a warm start). A problem whose gradient is still
    above :data:`SVM_GRADIENT_TOLERANCE` after ``max_iter`` Newton steps warns, naming C (raise ``max_iter``).

    Returns per space the weights (len(cs), C, D_s + 1) in the order of ``cs``, the bias first; :func:`svm_scores`
    applies them.

    Raises:
        ValueError: no space, spaces of different N, targets not (N, C) in {1, 0, -1} with those N rows, a class
            without a negative (-1; 0/1 labels read as positive / difficult), no C or a C <= 0, a bad ``max_iter``
            (all checked before any solve).
    """
    if not train or len({len(x) for x in train}) != 1:
        raise ValueError(f"train must be feature spaces of one N; got {[tuple(x.shape) for x in train]}")
    if not cs:
        raise ValueError("cs is empty: give at least one value of C")
    cs = [check_positive("C", c) for c in cs]
    check_int("max_iter", max_iter)
    width, device = max(x.shape[1] for x in train), train[0].device
    designs = [_design(check_features(f"space {i}", s).to(device), s.shape[1]) for i, s in enumerate(train)]
    y = check_targets("targets", targets).to(device).double()  # (N, C)
    if len(y) != len(designs[0]):
        raise ValueError(f"targets must have one row per training item; got {len(y)} rows for {len(designs[0])} "
                         f"items")
    if unopposed := torch.nonzero(~(y == -1).any(0)).flatten().tolist():
        raise ValueError(f"targets: classes {unopposed[:5]} have no negative (-1), so their SVMs would learn from "
                         f"positives only; targets are {{1, -1, 0=difficult}}; 0/1 labels? pass 2*y-1")
    axes = [torch.linalg.eigh(d.T @ d).eigenvectors for d in designs]  # each space's principal axes (D_s + 1)^2
    x = torch.stack([F.pad(d @ v, (0, width + 1 - d.shape[1])) for d, v in zip(designs, axes)])  # (S, N, width + 1)
    w = torch.zeros(len(x), width + 1, y.shape[1], dtype=torch.float64, device=device)  # (S, width + 1, C)
    solved = {}
    for i in sorted(range(len(cs)), key=cs.__getitem__):
        w = solved[i] = _newton(x, y, cs[i], w, max_iter)
    weights = torch.stack([solved[i] for i in range(len(cs))], 1)  # (S, len(cs), width + 1, C), on the axes
    return [(v @ weights[i, :, : len(v)]).mT for i, v in enumerate(axes)]


def _newton(x: torch.Tensor, y: torch.Tensor, c: float, w: torch.Tensor, max_iter: int) -> torch.Tensor:
    """The SVMs of every space (x: (S, N, W)) and class (y: (N, C)) at one C from the start w (S, W, C) -> the
    solution (S, W, C). The objective is divided by C N (the same minimiser, one scale for every C):
    f(w) = (0.5 ||w||^2 / C + sum_i m_i h_i^2) / N with h_i = max(0, 1 - y_i x_i.w) and m_i = (y_i != 0)."""
    n, lam, kept, xt = x.shape[1], 1 / c, (y != 0).double(), x.mT
    for step_count in range(max_iter + 1):
        margin = y * torch.bmm(x, w)  # (S, N, C)
        hinge = (1 - margin).clamp_min(0) * kept
        grad = (lam * w - 2 * torch.bmm(xt, y * hinge)) / n  # (S, W, C)
        norm = grad.norm(dim=1)  # (S, C)
        todo = norm > SVM_GRADIENT_TOLERANCE
        if not todo.any() or step_count == max_iter:
            break
        step = _cg(x, (hinge > 0).double(), lam, -n * grad, todo, norm.sqrt().clamp(max=0.1))
        w = w + _line_search(x, y, kept, lam, w, step, margin, hinge, grad, todo)[:, None] * step
    if todo.any():
        warnings.warn(f"the SVMs at C={c:g} stopped before converging (largest gradient norm {float(norm.max()):.2g} "
                      f"> {SVM_GRADIENT_TOLERANCE:g}); raise max_iter", stacklevel=3)
    return w


def _cg(x: torch.Tensor, active: torch.Tensor, lam: float, b: torch.Tensor, todo: torch.Tensor,
        forcing: torch.Tensor) -> torch.Tensor:
    """Preconditioned conjugate gradients, each problem on its own, for the Newton step d (S, W, C) of
    (lam I + 2 X^T diag(active) X) d = b: Jacobi-preconditioned (on the principal axes that :func:`fit_svms` turns
    the spaces onto, where the matrix is close to diagonal), from d = 0, until the residual is below ``forcing``
    (S, C) times its start (an inexact Newton step) or :data:`_CG_STEPS`; problems not ``todo`` get d = 0."""
    diagonal = lam + 2 * torch.bmm((x * x).mT, active)
    d, r, going = torch.zeros_like(b), torch.where(todo[:, None], b, 0), todo.clone()
    z = r / diagonal
    p, rz, stop = z, (r * z).sum(1), forcing * forcing * (r * r).sum(1)
    for _ in range(_CG_STEPS):
        hp = lam * p + 2 * torch.bmm(x.mT, active * torch.bmm(x, p))
        alpha = torch.where(going, rz / torch.where(going, (p * hp).sum(1), 1), 0)[:, None]
        d, r = d + alpha * p, r - alpha * hp
        going &= (r * r).sum(1) > stop
        if not going.any():
            break
        z = r / diagonal
        rz, before = (r * z).sum(1), rz
        p = z + torch.where(going, rz / torch.where(going, before, 1), 0)[:, None] * p
    return d


def _line_search(x: torch.Tensor, y: torch.Tensor, kept: torch.Tensor, lam: float, w: torch.Tensor, d: torch.Tensor,
                 margin: torch.Tensor, hinge: torch.Tensor, grad: torch.Tensor, todo: torch.Tensor) -> torch.Tensor:
    """Armijo backtracking from the full step, each problem on its own: t (S, C) with f(w + t d) - f(w) <=
    1e-4 t grad.d, the difference summed term by term (no cancellation near the optimum); 0 where none is found
    within :data:`_HALVINGS` halvings, and for problems not ``todo``."""
    n, moved = x.shape[1], y * torch.bmm(x, d)  # (S, N, C)
    wd, dd, slope = (w * d).sum(1), (d * d).sum(1), (grad * d).sum(1)
    t, accepted = torch.ones_like(slope), ~todo
    for _ in range(_HALVINGS):
        after = (1 - margin - t[:, None] * moved).clamp_min(0) * kept
        change = (lam * (t * wd + 0.5 * t * t * dd) + ((after - hinge) * (after + hinge)).sum(1)) / n
        accepted |= change <= 1e-4 * t * slope
        if accepted.all():
            break
        t = torch.where(accepted, t, t / 2)
    return torch.where(accepted & todo, t, 0)


def svm_scores(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Decision values (len(cs), N, C) of :func:`fit_svms` weights w (len(cs), C, D + 1) on features x (N, D).

    Raises:
        ValueError: ``w`` not 3-d, ``x`` not non-empty finite float (N, D) features of the width ``w`` was fit on.
    """
    if not isinstance(w, torch.Tensor) or w.ndim != 3:
        raise ValueError(f"w must be fit_svms weights (len(cs), C, D + 1) of one space; got "
                         f"{tuple(getattr(w, 'shape', ())) or type(w).__name__}")
    x = check_features("x", x, w.shape[2] - 1)
    return _design(x.to(w.device), x.shape[1]) @ w.transpose(1, 2)
