"""Super-resolving Difference-of-Gaussian images to keep SIFT keypoints (Noor et al.), notebook 05.

**The method.** Instead of the HR image, the networks predict what SIFT looks at: the Gaussian levels
L_1..L_5 of the HR image, or their differences D_k = L_(k+1) - L_k (:mod:`lrlib.sift`; note that the
paper's Eq. 11 writes L_k - L_(k+1), the opposite sign). One :class:`LevelNet` per output image:

* method 1: four nets, each predicting D_k as a residual on a predictor, the DoG of the bicubic
  up-sampled LR image; ResBlocks 16, 12, 10, 8 (fewer for the smoother, larger-sigma levels);
* method 2: five nets predicting L_1..L_5 directly, no predictor; ResBlocks 16, 12, 10, 8, 6.

Both are trained with the MSE to the HR image's own stack (the paper's Eqs. 5 and 9), on aligned
LR / HR patches cut once from whole photos (:func:`patch_pool`, :func:`train_dogsr`), and judged
by the PSNR of the DoG images, under one of several conventions (:func:`dog_psnr`): the paper
does not say which, and its 30-48 dB cannot be PSNRs of DoGs of [0, 1] images with peak 1.

**The experiments** (Tables 3-8). Every method turns an LR grey image into a Gaussian stack L1..L5
and a DoG stack D1..D4 at the HR size, which are then judged two ways: the PSNR of each DoG level
against the HR image's own (Tables 3-5), and the SIFT matches that keypoints found in those stacks
give between the two images of a pair (Tables 6-8).

| method     | where its stacks come from                                                     |
|------------|--------------------------------------------------------------------------------|
| original   | the HR image itself (the upper bound, the paper's "Original" column)           |
| bicubic    | the bicubic-upsampled LR image through the Gaussians                           |
| srcnn      | an SRCNN output through the Gaussians (pixel-domain SR baseline)               |
| edsr       | an EDSR-baseline output through the Gaussians (pixel-domain SR baseline)       |
| method1    | :class:`DoGSR` method 1: four networks predict D1..D4                          |
| method2    | :class:`DoGSR` method 2: five networks predict L1..L5                          |

Images here are grey, float, (1, 1, H, W) in [0, 1]; HR images are cropped to a multiple of the
scale first, so LR and HR pixels line up and HR coordinates stay valid for the homographies.

The study is a package because it is three things of some length: ``method`` (the paper's networks,
their training target and the DoG PSNR), ``experiments`` (the tables of notebook 05) and ``stand_in``
(whether our SIFT, which runs on predicted stacks, is a fair stand-in for OpenCV's).
"""

from .experiments import (LEARNED, METHODS, PairTuple, convention_fit, crop_to_scale, findings, graf_pairs,
                          match_summary, match_table, photo_set, prediction_speed, psnr_table, psnr_wide, spectra,
                          stacks, to_grey_float, train_models, warped_pairs, work)
from .stand_in import (correct_matches_side_by_side, descriptors_at_opencv_keypoints, opencv_agreement,
                       ratio_match_agreement)
from .method import (DEFAULT_BLOCKS, DOG_PSNR_CONVENTIONS, DoGSR, LevelNet, PatchPool, dog_psnr, dog_uint8,
                     dogsr_step, patch_pool, predict_image, train_dogsr)

__all__ = ["DEFAULT_BLOCKS", "LevelNet", "DoGSR", "PatchPool", "patch_pool", "dogsr_step", "train_dogsr", "predict_image",
           "DOG_PSNR_CONVENTIONS", "dog_uint8", "dog_psnr", "METHODS", "LEARNED", "PairTuple", "photo_set",
           "graf_pairs", "warped_pairs", "to_grey_float", "crop_to_scale", "opencv_agreement", "spectra",
           "train_models", "stacks", "psnr_table", "convention_fit", "psnr_wide", "match_table", "match_summary",
           "prediction_speed", "findings", "work", "descriptors_at_opencv_keypoints", "ratio_match_agreement",
           "correct_matches_side_by_side"]
