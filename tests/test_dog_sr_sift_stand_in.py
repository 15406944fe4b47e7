"""Is our SIFT a fair stand-in for OpenCV's (lrlib.studies.dog_sr_sift.stand_in)? Checked against cv2.SIFT_create
itself, on a real photo and a copy warped by a known homography."""

import pytest
import skimage.data
import torch

from lrlib.matching import random_homography, warp
from lrlib.studies import dog_sr_sift


@pytest.fixture(scope="module")
def camera_pair():
    camera = torch.from_numpy(skimage.data.camera())[None]  # (1, 512, 512) uint8
    h = random_homography(512, 512, strength=0.1, generator=torch.Generator().manual_seed(0))
    return camera, warp(camera, h), h


def test_our_descriptor_at_opencvs_keypoints_is_opencvs(camera_pair):
    """Same image, same keypoints, same scale: our orientation finds OpenCV's angle, and our descriptor is OpenCV's
    up to rounding (OpenCV stores bytes). Before our orientation bins were counted as OpenCV counts them (v up),
    the median cosine was 0.58."""
    camera, _, _ = camera_pair
    out = dog_sr_sift.descriptors_at_opencv_keypoints([camera], cascade=False)
    assert out["keypoints compared"] > 100
    assert out["median angle difference (deg)"] < 3
    assert out["median cosine"] > 0.97 and out["share with cosine > 0.9"] > 0.85
    with pytest.raises(ValueError, match="images is empty"):
        dog_sr_sift.descriptors_at_opencv_keypoints([], cascade=False)


def test_our_ratio_test_matches_are_mostly_opencvs(camera_pair):
    camera, warped, _ = camera_pair
    out = dog_sr_sift.ratio_match_agreement(camera, warped, cascade=False)
    assert out["our matches"] > 50 and out["share of ours that OpenCV makes"] > 0.8
    assert out["shared"] <= min(out["our matches"], out["OpenCV's matches"])


def test_both_sifts_whole_on_a_pair_with_a_homography(camera_pair):
    camera, warped, h = camera_pair
    table = dog_sr_sift.correct_matches_side_by_side([("camera", camera, warped, h)], cascade=False).set_index("SIFT")
    assert list(table.index) == ["ours", "OpenCV"]
    assert (table["correct"] <= table["matches"]).all()
    assert (table["precision"] > 0.9).all() and table.loc["ours", "correct"] > 100
    with pytest.raises(ValueError, match="has no homography"):
        dog_sr_sift.correct_matches_side_by_side([("x", camera, warped, None)], cascade=False)
