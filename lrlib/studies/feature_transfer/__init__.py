"""Unsupervised deep feature transfer (Wu, Zhang, Wang, ICCV-W 2019), notebook 03: k-means on a frozen backbone's
HR features gives pseudo-labels, a two-layer network learns to map LR features onto them, and per-class linear SVMs
(:func:`lrlib.svm.fit_svms`, batched) classify the transferred features.

* ``method``: :func:`pseudo_labels` (two readings), :class:`TransferNet`, :func:`train_transfers` (many networks in
  one batched loop), :func:`transform`, the PCA control and the paper's schedule (:func:`same_epochs`).
* ``experiments``: :func:`splits` (single-label sets and VOC2007 alike: every :class:`Part` carries targets (N, C)
  in {1, 0, -1}), :func:`class_aps`, :func:`evaluate_spaces` (every space tuned alike), Table 1's spaces and the
  paper's rows, Table 2 (:func:`grid_tables`) and :func:`findings`.
"""

from .experiments import (PARTS, Part, class_aps, evaluate_spaces, findings, first_positive, grid_tables,
                          is_multilabel, one_vs_rest, paper_rows, splits, table1_spaces)
from .method import (PAPER_SCHEDULE, READINGS, VERSION, Transfer, TransferNet, pca_features, pseudo_labels,
                     same_epochs, train_step, train_transfers, transform)

__all__ = ["VERSION", "READINGS", "PAPER_SCHEDULE", "same_epochs", "pseudo_labels", "TransferNet", "Transfer",
           "train_step", "train_transfers", "transform", "pca_features", "PARTS", "Part", "is_multilabel",
           "first_positive", "one_vs_rest", "class_aps", "splits", "evaluate_spaces", "table1_spaces", "grid_tables",
           "paper_rows", "findings"]
