"""Deep feature distillation (DFD; Zhu et al., ICASSP 2019): an LR student learns to classify while
its last feature layer imitates a frozen HR teacher's."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["dfd_loss"]


def dfd_loss(logits: torch.Tensor, labels: torch.Tensor, f_student: torch.Tensor, f_teacher: torch.Tensor,
             lam: float, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """``CE + lam * 0.5 * ||f_s(I_lr) - f_t(I_hr)||^2``, each term averaged over the batch (paper Eq. 4).

    Args:
        logits: (N, classes) student logits on the LR images; labels: (N,) int64.
        f_student: (N, D) student features (input of its final classifier) on the LR images.
        f_teacher: (N, D) teacher features on the matching HR images; no gradient flows into them.
        lam: the weight lambda >= 0 (0 gives the LR baseline's plain cross-entropy).
        label_smoothing: passed to the cross-entropy (0 in the paper).

    Returns:
        A scalar tensor (float32).
    """
    if lam < 0:
        raise ValueError(f"lam must be >= 0; got {lam}")
    if f_student.shape != f_teacher.shape:
        raise ValueError(f"student and teacher features differ in shape: {tuple(f_student.shape)} "
                         f"vs {tuple(f_teacher.shape)}; DFD needs the same feature layer size")
    ce = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    sq = (f_student.float() - f_teacher.detach().float()).pow(2).sum(dim=1).mean()
    return ce + 0.5 * lam * sq
