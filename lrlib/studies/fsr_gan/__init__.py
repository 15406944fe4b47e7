"""Feature super-resolution with a GAN (FSR-GAN; Tan, Yan, Bare, CVPR 2018), notebook 02: a generator G maps the
deep feature of a low-resolution (LR) image to a "super-resolved" feature close to that of its high-resolution (HR)
original; a WGAN critic and the paper's "focal loss" (the distance raised to a power r) train it.

* ``method``: :class:`FeatureGenerator` (Table 2), :class:`FeatureCritic` (Table 3), :func:`focal_loss`,
  :func:`critic_loss`, :func:`generator_loss`, one step of each network and :func:`train_generator` (one G for
  all ratios mixed; the CNN-Baseline is the same loop without the critic).
* ``experiments``: features per ratio, Fig. 4's generators, image SR, :func:`evaluate` (SR-HR distance,
  retrieval mAP with and without distractors, k-NN accuracy, the constant control), class retrieval with each
  query's HR twin ignored (:func:`class_retrieval`), the paper's benchmarks (:func:`unrelated_rows` train G,
  :func:`benchmark_table` tests it, :func:`benchmark_references` gives Fig. 5's "similar" / "different" lines from
  the ground truth, :func:`distractor_features` Fig. 7's distractors chunk by chunk), PNG bits (Fig. 8) and
  :func:`findings` against the paper's two printed numbers.
"""

from .experiments import (CNN, CONSTANT, FSR, GAN_MSE, GAN_R3, RAW, benchmark_references, benchmark_table,
                          class_retrieval, distractor_features, evaluate, feature_bank, figure_frame, findings,
                          fsr_queries, image_sr_features, photo_crops, photo_retrieval, query_bits, train_variants,
                          training_pairs, unrelated_rows, variants)
from .method import (VERSION, FeatureCritic, FeatureGenerator, GanConfig, clip_weights, critic_loss, critic_step,
                     enhance, focal_loss, generator_loss, generator_step, gradient_penalty, train_generator, unit)

__all__ = ["VERSION", "FeatureGenerator", "FeatureCritic", "focal_loss", "critic_loss", "generator_loss",
           "clip_weights", "gradient_penalty", "GanConfig", "critic_step", "generator_step", "train_generator",
           "unit", "enhance", "RAW", "CNN", "FSR", "GAN_MSE", "GAN_R3", "CONSTANT", "variants", "feature_bank",
           "training_pairs", "train_variants", "fsr_queries", "image_sr_features", "photo_crops", "photo_retrieval",
           "class_retrieval", "unrelated_rows", "query_bits", "evaluate", "benchmark_table", "benchmark_references",
           "distractor_features", "figure_frame", "findings"]
