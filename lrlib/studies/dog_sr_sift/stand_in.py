"""Is our SIFT a fair stand-in for OpenCV's? Notebook 05 must run SIFT on stacks a network predicted, which
OpenCV cannot take, so :mod:`lrlib.sift` is our own. These checks compare it with ``cv2.SIFT_create`` step by step:

* :func:`opencv_agreement`: our keypoints against OpenCV's (position and scale), on the same photos;
* :func:`descriptors_at_opencv_keypoints`: our orientation and descriptor computed at OpenCV's own keypoints
  (same image, same scale) against OpenCV's angle and descriptor;
* :func:`ratio_match_agreement`: of the ratio-test matches our descriptors make between two images at
  OpenCV's keypoints, the share that OpenCV's descriptors make too;
* :func:`correct_matches_side_by_side`: on pairs with a known homography, the whole chain of each (detect,
  describe, match) and the share of its matches that the homography confirms.

Known differences, by design: ours has one octave at the image's resolution (OpenCV also doubles the image and
halves it, octave after octave) and one refinement step of the extremum (OpenCV up to five).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from ...matching import match, pair_stats
from ...sift import SIGMAS, Keypoints, describe, effective_sigmas, gaussian_stack, opencv_sift_features, sift_features
from .experiments import PairTuple, to_grey_float

__all__ = ["opencv_agreement", "descriptors_at_opencv_keypoints", "ratio_match_agreement",
           "correct_matches_side_by_side"]

COLUMNS = ("keypoints_a", "keypoints_b", "matches", "correct", "precision")

ASSUMED_BLUR = 0.5
"""The blur (pixels) SIFT assumes every image already carries; OpenCV's scales include it, ours do not."""


def opencv_agreement(images: Sequence[torch.Tensor], *, cascade: bool, tol: float = 2.0,
                     scale_ratio: float = 1.5) -> dict[str, float]:
    """How much our detector on the paper's five levels behaves like SIFT: our keypoints
    (:func:`lrlib.sift.sift_features`) against OpenCV's SIFT keypoints (all octaves) on the same photos.

    A keypoint of ours *coincides* with one of OpenCV's when they lie within ``tol`` pixels and their
    scales differ by less than ``scale_ratio`` times (ours: the level's blur combined with the 0.5-pixel
    blur SIFT assumes every image carries; OpenCV's: half its keypoint size).

    Args:
        images: (1, H, W) uint8 grey photos.
        cascade: which reading of the sigmas to test.

    Returns:
        ``keypoints per photo`` (ours and OpenCV's), ``precision`` (share of ours that coincide with one
        of OpenCV's) and ``recall`` (share of OpenCV's that coincide with one of ours), pooled over photos.

    Raises:
        ValueError: no photo, or a photo that is not (1, H, W) or (3, H, W) uint8.
    """
    if not images:
        raise ValueError("images is empty; give at least one (1, H, W) uint8 photo")
    ours_n = cv_n = ours_hit = cv_hit = 0
    for image in images:
        grey = to_grey_float(image)[0, 0]
        ours, _ = sift_features(grey, cascade=cascade)
        theirs, _ = opencv_sift_features(grey)
        if len(ours) and len(theirs):
            near = torch.cdist(ours.xy.double().cpu(), theirs.xy.double()) <= tol
            sigma = torch.sqrt(ours.sigma.double().cpu() ** 2 + ASSUMED_BLUR**2)
            alike = (sigma[:, None] / theirs.sigma.double()[None]).log().abs() < np.log(scale_ratio)
            ours_hit += int((near & alike).any(1).sum())
            cv_hit += int((near & alike).any(0).sum())
        ours_n, cv_n = ours_n + len(ours), cv_n + len(theirs)
    return {"our keypoints per photo": ours_n / len(images), "OpenCV keypoints per photo": cv_n / len(images),
            "precision": ours_hit / max(ours_n, 1), "recall": cv_hit / max(cv_n, 1)}


def _ours_at_opencv_keypoints(grey: torch.Tensor, *, cascade: bool) -> tuple[torch.Tensor, ...]:
    """OpenCV's keypoints of ``grey`` (H, W) that our one octave can describe, with our angle and descriptor there.

    A keypoint is kept when its scale without the assumed blur lies within our levels' blurs; it is described
    on the level of nearest blur. Of the copies our orientation step makes of it (one per orientation peak),
    the one whose angle is closest to OpenCV's stands for ours.

    Returns:
        (angle difference in radians (K,), our descriptors (K, 128), OpenCV's (K, 128), the K keypoints' indices
        among all of OpenCV's, the number of all of OpenCV's keypoints); rows follow OpenCV's kept keypoints,
        those our orientation step dropped (no gradient) left out.
    """
    kp, theirs = opencv_sift_features(grey)
    blur = torch.tensor(effective_sigmas(SIGMAS, cascade=cascade))
    scale = torch.sqrt((kp.sigma.double() ** 2 - ASSUMED_BLUR**2).clamp_min(1e-12)).float()
    keep = (scale >= blur[0]) & (scale <= blur[-1])
    level = (scale[keep].log()[:, None] - blur.log()[None]).abs().argmin(1)
    cv_kept = kp[keep]
    asked = Keypoints(cv_kept.xy, level, scale[keep], cv_kept.response, torch.zeros(len(cv_kept)))
    described, ours = describe(gaussian_stack(grey, cascade=cascade).cpu(), asked, secondary_peaks=True)
    if len(cv_kept) == 0 or len(described) == 0:  # a photo with nothing to compare: no rows
        return torch.zeros(0), ours[:0], theirs[:0], torch.zeros(0, dtype=torch.int64), len(kp)
    # rows of `described` are copies of the asked keypoints, in order: find each one's copies by position
    same = (described.xy[:, None, :] == cv_kept.xy[None]).all(-1)                    # (K', K)
    diff = (described.angle[:, None] - cv_kept.angle[None] + math.pi).remainder(2 * math.pi) - math.pi
    diff = torch.where(same, diff.abs(), torch.full_like(diff, math.inf))
    best, row = diff.min(0)                                                          # per OpenCV keypoint
    found = torch.isfinite(best)
    return best[found], ours[row[found]], theirs[keep][found], keep.nonzero()[:, 0][found], len(kp)


def descriptors_at_opencv_keypoints(images: Sequence[torch.Tensor], *, cascade: bool) -> dict[str, float]:
    """Our orientation and descriptor at OpenCV's own keypoints, against OpenCV's, pooled over photos.

    Args:
        images: (1, H, W) or (3, H, W) uint8 photos.
        cascade: which reading of the sigmas builds our levels.

    Returns:
        ``keypoints compared`` (OpenCV keypoints within our scales), ``share of OpenCV's keypoints`` they are,
        ``median angle difference (deg)``, ``median cosine`` of the two descriptors (both unit vectors) and
        ``share with cosine > 0.9``.

    Raises:
        ValueError: no photo, a photo that is not uint8 (1 or 3, H, W), or no OpenCV keypoint within our scales.
    """
    if not images:
        raise ValueError("images is empty; give at least one (1, H, W) uint8 photo")
    angles, cosines, total = [], [], 0
    for image in images:
        angle, ours, theirs, _, n = _ours_at_opencv_keypoints(to_grey_float(image)[0, 0].cpu(), cascade=cascade)
        angles.append(angle)
        cosines.append((ours * theirs).sum(1))
        total += n
    angle, cosine = torch.cat(angles), torch.cat(cosines)
    if not len(cosine):
        raise ValueError("no OpenCV keypoint of these photos lies within the scales of our five levels")
    return {"keypoints compared": len(cosine), "share of OpenCV's keypoints": len(cosine) / total,
            "median angle difference (deg)": math.degrees(float(angle.median())),
            "median cosine": float(cosine.median()), "share with cosine > 0.9": float((cosine > 0.9).double().mean())}


def ratio_match_agreement(a: torch.Tensor, b: torch.Tensor, *, cascade: bool, ratio: float = 0.8) -> dict[str, float]:
    """At OpenCV's keypoints of two photos, our descriptors and OpenCV's each match a to b (Lowe's ratio test):
    the share of our matches that OpenCV's descriptors make too (the same keypoint of a to the same of b).

    Args:
        a, b: (1 or 3, H, W) uint8 photos of one scene.

    Returns:
        ``our matches``, ``OpenCV's matches``, ``shared`` and ``share of ours that OpenCV makes``.

    Raises:
        ValueError: as :func:`descriptors_at_opencv_keypoints`; ``ratio`` outside (0, 1].
    """
    kept = []
    for image in (a, b):
        _, ours, theirs, index, _ = _ours_at_opencv_keypoints(to_grey_float(image)[0, 0].cpu(), cascade=cascade)
        kept.append((ours, theirs, index))
    pairs = {}
    for who, column in (("ours", 0), ("OpenCV", 1)):
        found = match(kept[0][column], kept[1][column], ratio=ratio)
        pairs[who] = {(int(kept[0][2][i]), int(kept[1][2][j])) for i, j in found.tolist()}
    shared = len(pairs["ours"] & pairs["OpenCV"])
    return {"our matches": len(pairs["ours"]), "OpenCV's matches": len(pairs["OpenCV"]), "shared": shared,
            "share of ours that OpenCV makes": shared / max(len(pairs["ours"]), 1)}


def correct_matches_side_by_side(pairs: Sequence[PairTuple], *, cascade: bool, ratio: float = 0.8,
                                 tol: float = 3.0) -> pd.DataFrame:
    """Our SIFT and ``cv2.SIFT_create``, each whole (detect, describe, ratio-test match), on pairs with a known
    homography: matches, the correct ones (within ``tol`` pixels of where the homography sends them) and their share.

    Args:
        pairs: (name, a, b, homography); a and b (1 or 3, H, W) uint8; the homography maps a to b.

    Returns:
        One row per pair and SIFT (``ours``, ``OpenCV``): keypoints in a and b, matches, correct, precision.

    Raises:
        ValueError: a pair without a homography; as :func:`lrlib.matching.pair_stats`.
    """
    rows = []
    for name, a, b, homography in pairs:
        if homography is None:
            raise ValueError(f"pair {name!r} has no homography: correct matches need one")
        greys = [to_grey_float(x)[0, 0].cpu() for x in (a, b)]
        for who, features in (("ours", lambda g: sift_features(g, cascade=cascade)), ("OpenCV", opencv_sift_features)):
            (kp_a, d_a), (kp_b, d_b) = (features(g) for g in greys)
            stats = pair_stats(kp_a, d_a, kp_b, d_b, homography, greys[0].shape, greys[1].shape, ratio=ratio, tol=tol)
            rows.append({"pair": name, "SIFT": who, **{k: stats[k] for k in COLUMNS}})
    return pd.DataFrame(rows)
