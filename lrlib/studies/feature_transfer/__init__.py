"""Unsupervised deep feature transfer (Wu, Zhang, Wang, ICCV-W 2019), notebook 03: k-means on a frozen backbone's
HR features gives pseudo-labels, a two-layer network learns to map LR features onto them, and per-class linear SVMs
(:func:`lrlib.svm.fit_svms`, batched) classify the transferred features.

* ``method``: :func:`pseudo_labels` (two readings) and :func:`label_stats`, :class:`TransferNet`,
  :func:`train_transfers` (many networks in one batched loop, reusing networks trained before), :func:`transform`,
  the PCA control and the paper's schedule in its two readings (:func:`same_epochs`, :func:`schedule_note`).
* ``experiments``: :func:`splits` (single-label sets and VOC2007 alike: every :class:`Part` carries targets (N, C)
  in {1, 0, -1}), :func:`class_aps`, :func:`evaluate_spaces` (every space tuned alike), Table 1's spaces with the
  PCA width chosen on validation (:func:`pick_pca`), :func:`map_summary` beside the paper, Table 2
  (:func:`grid_tables`) and :func:`findings`.
* ``bootstrap``: :func:`gap_table`, a paired bootstrap over test images of the mAP gap between two spaces.
"""

from .bootstrap import gap_table, paired_bootstrap, resampled_aps
from .experiments import (GAPS, PARTS, PCA_ROW, Part, class_aps, evaluate_spaces, findings, first_positive,
                          grid_tables, is_multilabel, map_summary, one_vs_rest, paper_rows, pick_pca, splits,
                          table1_spaces, work)
from .method import (PAPER_LENGTHS, PAPER_SCHEDULE, READINGS, VERSION, Transfer, TransferNet, label_stats,
                     pca_features, pseudo_labels, same_epochs, schedule_note, train_step, train_transfers, transform)

__all__ = ["VERSION", "READINGS", "PAPER_SCHEDULE", "PAPER_LENGTHS", "same_epochs", "schedule_note", "pseudo_labels",
           "label_stats", "TransferNet", "Transfer", "train_step", "train_transfers", "transform", "pca_features",
           "PARTS", "PCA_ROW", "GAPS", "Part", "is_multilabel", "first_positive", "one_vs_rest", "class_aps", "splits",
           "work", "evaluate_spaces", "table1_spaces", "pick_pca", "grid_tables", "paper_rows", "map_summary", "findings",
           "resampled_aps", "paired_bootstrap", "gap_table"]
