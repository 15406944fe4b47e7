"""Feature super-resolution with a GAN (FSR-GAN; Tan, Yan, Bare, CVPR 2018), notebook 02: a generator G maps the
deep feature of a low-resolution (LR) image to a "super-resolved" feature close to that of its high-resolution (HR)
original; a WGAN critic and the paper's "focal loss" (the distance raised to a power r) train it.

* ``method``: :class:`FeatureGenerator` (Table 2), :class:`FeatureCritic` (Table 3), :func:`focal_loss`,
  :func:`critic_loss`, :func:`generator_loss`, one step of each network, :func:`train_generator` (one G for
  all ratios mixed; the CNN-Baseline is the same loop without the critic) and its :func:`budget` of updates.
* ``experiments``: features per ratio, training pairs split by image or by photo, Fig. 4's generators, image SR
  (with its PSNR against bicubic), :func:`evaluate` (SR-HR distance, retrieval mAP with and without distractors,
  k-NN accuracy, the constant control), class retrieval with each query's HR twin ignored
  (:func:`class_retrieval`), PNG bits (Fig. 8) and :func:`findings` against the paper's two printed numbers,
  FSR-GAN's seed spread the yardstick of every difference.
* ``benchmarks``: the paper's benchmarks (:func:`unrelated_rows` train G, :func:`benchmark_table` tests it,
  :func:`benchmark_references` gives Fig. 5's "similar" / "different" lines from the ground truth,
  :func:`distractor_features` Fig. 7's distractors chunk by chunk).
* ``figures``: one colour per method (:data:`COLOURS`), the per-ratio panels with FSR-GAN's seed band, the
  paper's 0.62 as one point, the training curves with the losses.
"""

from .benchmarks import benchmark_references, benchmark_table, distractor_features, unrelated_rows
from .experiments import (CNN, CONSTANT, FSR, GAN_MSE, GAN_R3, RAW, class_retrieval, constant_distance, evaluate,
                          feature_bank, findings, fsr_queries, image_sr_features, photo_crops, photo_retrieval,
                          query_bits, train_variants, training_pairs, variants, work)
from .figures import COLOURS, colour, figure_frame, paper_distance, ratio_panel, training_figure
from .method import (VERSION, FeatureCritic, FeatureGenerator, GanConfig, budget, clip_weights, critic_loss,
                     critic_step, enhance, focal_loss, generator_loss, generator_step, gradient_penalty,
                     train_generator, unit)

__all__ = ["VERSION", "FeatureGenerator", "FeatureCritic", "focal_loss", "critic_loss", "generator_loss",
           "clip_weights", "gradient_penalty", "GanConfig", "critic_step", "generator_step", "budget",
           "train_generator", "unit", "enhance", "RAW", "CNN", "FSR", "GAN_MSE", "GAN_R3", "CONSTANT", "variants",
           "work", "feature_bank", "training_pairs", "train_variants", "fsr_queries", "image_sr_features", "photo_crops",
           "photo_retrieval", "class_retrieval", "query_bits", "constant_distance", "evaluate", "findings",
           "unrelated_rows", "benchmark_table", "benchmark_references", "distractor_features", "COLOURS", "colour",
           "figure_frame", "ratio_panel", "paper_distance", "training_figure"]
