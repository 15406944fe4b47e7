"""The experiments of notebook 05 (lrlib.studies.dog_sr_sift) on small real photos."""

import numpy as np
import pandas as pd
import pytest
import skimage.data
import torch

from lrlib import sift
from lrlib.studies import dog_sr_sift
from lrlib.degrade import low_resolution
from lrlib.studies.dog_sr_sift import DoGSR
from lrlib.matching import project
from lrlib.papers import DOG_PSNR
from lrlib.profiles import SETTINGS
from lrlib.sr import build_sr, upsample


def _camera(size: int = 128) -> torch.Tensor:
    """skimage's camera photo, (1, size, size) uint8 grey."""
    image = torch.from_numpy(skimage.data.camera())[None, None].float()
    return torch.nn.functional.interpolate(image, size=(size, size), mode="area").round().to(torch.uint8)[0]


def _untrained(scale: int) -> dict:
    small = dict(width=16, cascade=False)
    return {"method1": DoGSR(1, scale, blocks=[1] * 4, **small).eval(),
            "method2": DoGSR(2, scale, blocks=[1] * 5, **small).eval(),
            "srcnn": build_sr("srcnn", scale, channels=1).eval(),
            "edsr": build_sr("edsr", scale, channels=1, blocks=1, width=16).eval()}


def test_to_grey_float_and_crop():
    rgb = torch.from_numpy(skimage.data.astronaut()[:50, :61]).permute(2, 0, 1).contiguous()
    grey = dog_sr_sift.to_grey_float(rgb)
    expected = (0.299 * rgb[0].double() + 0.587 * rgb[1].double() + 0.114 * rgb[2].double()) / 255
    assert grey.shape == (1, 1, 50, 61)
    np.testing.assert_allclose(grey[0, 0].numpy(), expected.numpy(), atol=1e-6)
    assert dog_sr_sift.crop_to_scale(grey, 4).shape == (1, 1, 48, 60)
    with pytest.raises(ValueError, match="scale must be an integer from 1 to the image's shorter side \\(50 px\\); got 0"):
        dog_sr_sift.crop_to_scale(grey, 0)
    with pytest.raises(ValueError, match=r"must be uint8 \(1, H, W\) or \(3, H, W\).*got torch.float32 \(50, 61\)"):
        dog_sr_sift.to_grey_float(grey[0, 0])


def test_stacks_of_the_fixed_methods_are_the_stacks_of_their_images():
    hr = dog_sr_sift.to_grey_float(_camera())
    models = _untrained(2)
    levels, dogs = dog_sr_sift.stacks("original", hr, 2, models, cascade=False)
    torch.testing.assert_close(levels, sift.gaussian_stack(hr[0, 0], cascade=False))
    torch.testing.assert_close(dogs, levels[1:] - levels[:-1])
    bicubic = upsample(low_resolution(hr, 2, keep_size=False), 2)
    levels, dogs = dog_sr_sift.stacks("bicubic", hr, 2, models, cascade=False)
    torch.testing.assert_close(dogs, sift.dog_stack(bicubic[0, 0], cascade=False))
    # Method 1 starts as its bicubic predictor, so untrained it must give the bicubic DoGs.
    _, dogs1 = dog_sr_sift.stacks("method1", hr, 2, models, cascade=False)
    torch.testing.assert_close(dogs1, dogs, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="unknown method 'vdsr'"):
        dog_sr_sift.stacks("vdsr", hr, 2, models, cascade=False)


def test_warped_pairs_carry_the_true_homography():
    photos = [("camera", _camera(96))]
    (name, a, b, h), = dog_sr_sift.warped_pairs(photos, strength=0.1, seed=3)
    assert name == "camera (warped)" and a.shape == b.shape
    # The warped copy at the projection of a pixel holds that pixel's value (up to interpolation).
    xy = torch.tensor([[30.0, 40.0], [50.0, 45.0], [60.0, 30.0]], dtype=torch.float64)
    uv = project(xy, h).round().long()
    inside = (uv >= 0).all(1) & (uv[:, 0] < 96) & (uv[:, 1] < 96)
    assert inside.all()
    values_a = a[0, xy[:, 1].long(), xy[:, 0].long()].int()
    values_b = b[0, uv[:, 1], uv[:, 0]].int()
    assert (values_a - values_b).abs().float().mean() < 40  # same structure, not a different image
    again = dog_sr_sift.warped_pairs(photos, strength=0.1, seed=3)[0][3]
    torch.testing.assert_close(again, h)  # seeded


def test_match_table_original_pairs_match_correctly():
    pairs = dog_sr_sift.warped_pairs([("camera", _camera(160))], strength=0.08, seed=0)
    table = dog_sr_sift.match_table(pairs, [2], {2: _untrained(2)}, cascade=False, methods=["original", "bicubic"],
                                progress=False)
    assert list(table.method) == ["original", "bicubic"]
    original = table.iloc[0]
    assert original["matches"] >= 10 and original["precision"] > 0.8
    summary = dog_sr_sift.match_summary(table, {pairs[0][0]: "warped"})
    assert summary.loc[("warped", 2, "original"), "matches"] == original["matches"]


def test_match_table_keeps_the_strongest_keypoints_when_capped():
    pairs = dog_sr_sift.warped_pairs([("camera", _camera(160))], strength=0.08, seed=0)
    every = dog_sr_sift.match_table(pairs, [2], {2: _untrained(2)}, cascade=False, methods=["original"],
                                    progress=False)
    capped = dog_sr_sift.match_table(pairs, [2], {2: _untrained(2)}, cascade=False, methods=["original"],
                                     max_keypoints=10, progress=False)
    # ten detections, each described at one or more orientations (SIFT's secondary peaks)
    image = dog_sr_sift.crop_to_scale(dog_sr_sift.to_grey_float(pairs[0][1]), 2)
    ten, _ = sift.features_from_stacks(*dog_sr_sift.stacks("original", image, 2, {}, cascade=False), cascade=False,
                                       max_keypoints=10)
    assert capped.loc[0, "keypoints_a"] == len(ten) < every.loc[0, "keypoints_a"]
    assert len(ten) < 20


def test_convention_fit_prefers_the_convention_closest_to_the_paper():
    paper_bicubic = {key: np.mean([t[key]["bicubic"] for t in DOG_PSNR.values()]) for key in DOG_PSNR["CDVS"]}
    rows = []
    for (level, scale), value in paper_bicubic.items():
        rows += [{"set": "a", "scale": scale, "method": "bicubic", "level": level, "convention": "near", "psnr": value + 0.5},
                 {"set": "a", "scale": scale, "method": "bicubic", "level": level, "convention": "far", "psnr": value - 9}]
    fit = dog_sr_sift.convention_fit(pd.DataFrame(rows), DOG_PSNR)
    assert list(fit.index) == ["near", "far"]
    assert fit.loc["near", "rms"] == pytest.approx(0.5) and fit.loc["far", "bias"] == pytest.approx(-9)


def test_convention_fit_breaks_the_straddling_tie():
    # "a" lies 2 dB above the paper at x2 and 2 dB below at x4; "b" is "a" + 1 dB everywhere: the same
    # mean |diff| (2 dB), but "a" is centred on the paper and must win on RMS.
    rows = []
    for (level, scale), table in DOG_PSNR["Oxford"].items():
        value = np.mean([t[level, scale]["bicubic"] for t in DOG_PSNR.values()]) + (2 if scale == 2 else -2)
        rows += [{"set": "s", "scale": scale, "method": "bicubic", "level": level, "convention": c, "psnr": v}
                 for c, v in (("a", value), ("b", value + 1))]
    fit = dog_sr_sift.convention_fit(pd.DataFrame(rows), DOG_PSNR)
    assert fit["mean |diff|"].tolist() == pytest.approx([2, 2])
    assert list(fit.index) == ["a", "b"] and fit.loc["a", "bias"] == pytest.approx(0)


def test_psnr_table_and_wide_layout():
    photos = {"camera": [_camera(64)]}
    table = dog_sr_sift.psnr_table(photos, [2], {2: _untrained(2)}, cascade=False, conventions=["raw", "uint8-clipped"],
                               methods=["bicubic", "method1"], progress=False)
    assert set(table.level) == {"D1", "D2", "D3", "D4"} and len(table) == 2 * 2 * 4
    raw = table[table.convention == "raw"].set_index(["method", "level"])["psnr"]
    # Untrained method 1 is the bicubic predictor: the same PSNR.
    np.testing.assert_allclose(raw["method1"].values, raw["bicubic"].values, atol=1e-3)
    wide = dog_sr_sift.psnr_wide(table, "raw")
    assert list(wide.columns) == ["bicubic", "method1"] and ("mean", "D1", 2) in wide.index


def test_spectra_and_opencv_agreement():
    photos = [_camera(96), _camera(128)]
    curves, powers = dog_sr_sift.spectra(photos, cascade=False, bins=16)
    assert list(curves.columns) == ["image", "D1", "D2", "D3", "D4"] and len(curves) == 16
    mean = powers.groupby("signal")["mean log power (dB)"].mean()
    assert mean["image"] > mean["D1"] > mean["D4"]  # band-pass levels carry less, less with larger sigma
    agreement = dog_sr_sift.opencv_agreement(photos[1:], cascade=False)
    assert set(agreement) == {"our keypoints per photo", "OpenCV keypoints per photo", "precision", "recall"}
    assert 0 <= agreement["recall"] <= 1 and agreement["precision"] > 0.3


def test_spectra_of_small_photos_use_fewer_rings_and_never_nan():
    """The smoke profile's 85x128 photos left every ring with no frequency in it NaN at the default 64 bins."""
    curves, _ = dog_sr_sift.spectra([_camera(96)[..., :85, :], _camera(128)], cascade=False)
    assert len(curves) == 42 and np.isfinite(curves.to_numpy()).all()  # 85 // 2 rings, for both photos


def test_findings_follow_the_numbers():
    from lrlib.papers import DOG_MATCHES

    gain = {"bicubic": 0.0, "srcnn": 0.2, "edsr": 0.5, "method1": 1.0, "method2": 2.0}
    rows = []
    for (level, scale) in DOG_PSNR["Oxford"]:
        base = np.mean([t[level, scale]["bicubic"] for t in DOG_PSNR.values()])
        for convention, offset in (("near", 0.3), ("far", 6.0)):
            rows += [{"set": "s", "scale": scale, "method": m, "level": level, "convention": convention,
                      "psnr": base + offset + g} for m, g in gain.items()]
    psnr = pd.DataFrame(rows)
    fit = dog_sr_sift.convention_fit(psnr, DOG_PSNR)
    counts = {"original": 100, "bicubic": 60, "srcnn": 0, "edsr": 70, "method1": 80, "method2": 75}
    correct = {"original": 90, "bicubic": 30, "srcnn": 0, "edsr": 49, "method1": 40, "method2": 60}
    matches = pd.DataFrame([{"pair": p, "scale": 2, "method": m, "matches": n,
                             "correct": correct[m] if p == "with h" else np.nan} for p in ("with h", "without")
                            for m, n in counts.items()])
    text = dog_sr_sift.findings(psnr, fit, matches, DOG_PSNR, DOG_MATCHES)
    lines = text.splitlines()
    assert "`near` puts our bicubic column closest" in lines[0] and "`far` 6.00" in lines[0]
    x2 = next(line for line in lines if line.startswith("- **x2, DoG PSNR"))
    paper = {m: np.mean([t[level, 2][m] - t[level, 2]["bicubic"] for t in DOG_PSNR.values()
                         for level in ("D1", "D2", "D3", "D4")]) for m in gain}
    assert f"method2 +2.00 / {paper['method2']:+.2f}" in x2 and f"srcnn +0.20 / {paper['srcnn']:+.2f}" in x2
    assert "best: ours method2, paper method2" in x2
    kept = next(line for line in lines if line.startswith("- **x2, SIFT matches kept"))
    paper_m = {m: np.mean([row[m] for (_, s), row in DOG_MATCHES.items() if s == 2]) for m in counts}
    assert f"method1 80% / {paper_m['method1'] / paper_m['original']:.0%}" in kept
    checked = next(line for line in lines if line.startswith("- **x2, correct matches"))
    assert "(1 pair with" in checked and "original 90%" in checked and "method2 80%" in checked
    assert "srcnn n/a" in checked  # no matches: no precision, rather than 0%
    assert "most matches: method1, most correct matches: method2" in checked
    assert not any(line.startswith("- **x4") for line in lines if "matches" in line)


def test_work_names_the_budget_the_test_sets_and_the_pairs():
    settings = SETTINGS["05_dog_sr_sift"]["smoke"]
    fit = {**settings["fit"], "steps": 7, "batch_size": 3}
    line = dog_sr_sift.work({**settings, "fit": fit, "graf": True, "max_keypoints": 1500,
                             "warped": [dict(name="b100", start=2, stop=5)]})
    assert f"{len(dog_sr_sift.LEARNED)} methods x 1 scale(s) trained for 7 steps of 3" in line
    assert "(21 patches each)" in line and "graf (5 pairs) + b100[2:5] warped" in line
    assert "at most 1,500 keypoints" in line
    assert "every keypoint" in dog_sr_sift.work({**settings, "max_keypoints": None})
