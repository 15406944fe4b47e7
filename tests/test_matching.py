import math

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from skimage import data

import lrlib.matching as matching
from lrlib.matching import (Pair, correct_matches, homography_from_points, match, match_pairs, pair_stats, project,
                            random_homography, repeatability, warp)
from lrlib.sift import Keypoints, sift_features


def _brute_force_match(a: np.ndarray, b: np.ndarray, ratio: float) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Lowe's ratio test with numpy loops, in float64; also each row's nearest / second-nearest ratio."""
    pairs, ratios = [], []
    for i, row in enumerate(a):
        distance = np.sqrt(((b - row) ** 2).sum(1))
        first, second = np.argsort(distance, kind="stable")[:2]
        ratios.append(distance[first] / distance[second])
        if distance[first] < ratio * distance[second]:
            pairs.append((i, int(first)))
    return pairs, np.array(ratios)


@pytest.mark.parametrize("chunk_elements", [2**24, 1000])
def test_match_equals_brute_force(monkeypatch, chunk_elements):
    monkeypatch.setattr(matching, "_CHUNK_ELEMENTS", chunk_elements)      # 1000: blocks of 2 rows
    generator = torch.Generator().manual_seed(0)
    b = torch.rand(400, 128, generator=generator)
    a = torch.rand(300, 128, generator=generator)
    a[:100] = b[100:200] + 0.05 * torch.randn(100, 128, generator=generator)   # 100 true partners
    a, b = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    for ratio in (0.6, 0.8, 0.95):
        ours = match(a, b, ratio=ratio)
        assert ours.dtype == torch.int64 and ours.shape[1] == 2
        expected, ratios = _brute_force_match(a.double().numpy(), b.double().numpy(), ratio)
        borderline = set(np.flatnonzero(np.abs(ratios - ratio) < 1e-5).tolist())   # float32 vs float64 ties
        got = {tuple(p) for p in ours.tolist() if p[0] not in borderline}
        assert got == {p for p in expected if p[0] not in borderline}
        assert len(borderline) <= 2
    assert {tuple(p) for p in match(a, b, ratio=0.6).tolist()} >= {(i, 100 + i) for i in range(100)}


def test_match_edge_cases():
    a = torch.rand(5, 128)
    for other in (torch.rand(1, 128), torch.rand(0, 128)):
        assert match(a, other).shape == (0, 2) and match(other, a).shape == (0, 2)
    assert len(match(a, a.clone())) == 5                                  # identical sets: all match themselves
    with pytest.raises(ValueError, match="same length"):
        match(a, torch.rand(5, 64))
    with pytest.raises(ValueError, match=r"\(K, D\)"):
        match(a[0], a)
    with pytest.raises(ValueError, match="ratio"):
        match(a, a, ratio=1.5)


def test_homography_from_points_equals_opencv():
    rng = np.random.default_rng(0)
    corners = np.array([[0, 0], [99, 0], [99, 79], [0, 79]], dtype=np.float64)
    for _ in range(10):
        src = corners + rng.uniform(-10, 10, (4, 2))
        dst = corners + rng.uniform(-20, 20, (4, 2))
        ours = homography_from_points(torch.from_numpy(src), torch.from_numpy(dst))
        assert ours.dtype == torch.float64 and ours.shape == (3, 3)
        reference = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
        np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(project(torch.from_numpy(src), ours), torch.from_numpy(dst))
    with pytest.raises(ValueError, match="general position"):
        homography_from_points(torch.tensor([[0.0, 0], [1, 1], [2, 2], [0, 5]]), corners)
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        homography_from_points(corners[:3], corners[:3])


def test_project_round_trip():
    h = random_homography(200, 300, generator=torch.Generator().manual_seed(3))
    xy = torch.rand(50, 2, dtype=torch.float64) * torch.tensor([300.0, 200.0])
    back = project(project(xy, h), torch.linalg.inv(h))
    torch.testing.assert_close(back, xy)
    torch.testing.assert_close(project(xy.float(), torch.eye(3)), xy.float())
    assert project(xy.float(), h).dtype == torch.float32
    shift = torch.tensor([[1.0, 0, 5], [0, 1, -2], [0, 0, 1]])
    torch.testing.assert_close(project(xy, shift), xy + torch.tensor([5.0, -2.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        project(xy, torch.eye(2))
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        project(xy[:, :1], h)


def test_correct_matches():
    xy_a = torch.tensor([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]])
    shift = torch.tensor([[1.0, 0, 5], [0, 1, 0], [0, 0, 1]])
    xy_b = torch.tensor([[15.0, 10.0], [25.0, 22.5], [0.0, 0.0]])
    assert correct_matches(xy_a, xy_b, shift).tolist() == [True, True, False]
    assert correct_matches(xy_a, xy_b, shift, tol=2.0).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="same number"):
        correct_matches(xy_a, xy_b[:2], shift)


def test_repeatability():
    generator = torch.Generator().manual_seed(0)
    size = (400, 400)
    xy = torch.rand(200, 2, generator=generator) * 399                    # sparse: chance neighbours are rare
    identity = torch.eye(3, dtype=torch.float64)
    assert repeatability(xy, xy, identity, size, size) == 1.0
    assert repeatability(xy, torch.cat([xy, xy]), identity, size, size) == 1.0       # duplicates count once
    direction = torch.randn(200, 2, generator=generator)
    jittered = xy + 5 * direction / direction.norm(dim=1, keepdim=True)             # every point 5 px off
    assert repeatability(xy, jittered, identity, size, size, tol=3.0) < 0.1
    assert repeatability(xy, jittered, identity, size, size, tol=5.5) == 1.0
    half = jittered.clone()
    half[:100] = xy[:100]
    assert repeatability(xy, half, identity, size, size) == pytest.approx(0.5, abs=0.05)
    # a translation by half the image: only the overlapping halves count
    shift = torch.tensor([[1.0, 0, -200], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    moved = project(xy, shift)
    assert repeatability(xy, moved, shift, size, size) == 1.0
    assert repeatability(xy, moved[moved[:, 0] > 100], shift, size, size) == 1.0
    unrelated = torch.rand(200, 2, generator=generator) * 399
    assert repeatability(xy, unrelated, shift, size, size) < 0.1
    assert repeatability(xy, xy, shift @ shift @ shift, size, size) == 0.0           # no overlap
    with pytest.raises(ValueError, match="shape_b"):
        repeatability(xy, xy, identity, size, 100)


def test_random_homography():
    h1 = random_homography(120, 160, strength=0.2, generator=torch.Generator().manual_seed(7))
    h2 = random_homography(120, 160, strength=0.2, generator=torch.Generator().manual_seed(7))
    assert h1.dtype == torch.float64 and h1.shape == (3, 3) and torch.equal(h1, h2)
    corners = torch.tensor([[0.0, 0], [159, 0], [159, 119], [0, 119]], dtype=torch.float64)
    moved = project(corners, h1)
    assert ((moved - corners).abs() <= torch.tensor([0.2 * 160, 0.2 * 120]) + 1e-6).all()
    assert not torch.allclose(moved, corners)
    torch.testing.assert_close(random_homography(120, 160, strength=0.0), torch.eye(3, dtype=torch.float64))
    for bad in (0.25, -0.1, "0.1"):
        with pytest.raises(ValueError, match="strength"):
            random_homography(120, 160, strength=bad)
    with pytest.raises(ValueError, match="height"):
        random_homography(1, 160)


@pytest.mark.parametrize("mode, flag", [("bilinear", cv2.INTER_LINEAR), ("bicubic", cv2.INTER_CUBIC)])
def test_warp_agrees_with_opencv(mode, flag):
    image = cv2.resize(data.camera(), (128, 128), interpolation=cv2.INTER_AREA)
    h = random_homography(128, 128, strength=0.15, generator=torch.Generator().manual_seed(1))
    ys, xs = np.mgrid[:128, :128]
    source = project(torch.from_numpy(np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)), torch.linalg.inv(h))
    inner = ((source >= 3) & (source <= 124)).all(1).numpy().reshape(128, 128)     # taps all inside the image
    for array in (image, image.astype(np.float32) / 255):
        ours = warp(torch.from_numpy(array), h, mode=mode)
        assert ours.dtype == torch.from_numpy(array).dtype and ours.shape == (128, 128)
        reference = cv2.warpPerspective(array, h.numpy(), (128, 128), flags=flag)
        error = np.abs(ours.numpy().astype(np.float64) - reference)[inner] * (255 if array.dtype != np.uint8 else 1)
        assert error.mean() < 0.05 and error.max() <= 1.0                  # grey levels; measured 1e-4 and 1
    colour = torch.from_numpy(np.ascontiguousarray(data.astronaut()[::4, ::4].transpose(2, 0, 1)))
    out = warp(colour, h, out_shape=(100, 90))
    assert out.shape == (3, 100, 90) and out.dtype == torch.uint8


def test_warp_identity_and_outside():
    image = torch.rand(2, 40, 50)
    torch.testing.assert_close(warp(image, torch.eye(3)), image)
    u8 = (image * 255).to(torch.uint8)
    assert torch.equal(warp(u8, torch.eye(3)), u8)
    away = torch.tensor([[1.0, 0, 100], [0, 1, 0], [0, 0, 1]])
    assert (warp(image, away) == 0).all()
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        warp(image[None], torch.eye(3))
    with pytest.raises(ValueError, match="mode"):
        warp(image, torch.eye(3), mode="area")


def test_pair_stats_and_match_pairs():
    image = torch.from_numpy(cv2.resize(data.camera(), (128, 128), interpolation=cv2.INTER_AREA))
    h = random_homography(128, 128, strength=0.1, generator=torch.Generator().manual_seed(0))
    warped = warp(image, h)
    features = lambda img: sift_features(img.float() / 255, cascade=False)  # noqa: E731

    kp_a, desc_a = features(image)
    kp_b, desc_b = features(warped)
    plain = pair_stats(kp_a, desc_a, kp_b, desc_b)
    assert set(plain) == {"keypoints_a", "keypoints_b", "matches"} and plain["matches"] > 5
    full = pair_stats(kp_a, desc_a, kp_b, desc_b, h, image.shape, warped.shape)
    assert full["matches"] == plain["matches"] and 0 <= full["correct"] <= full["matches"]
    assert full["precision"] == full["correct"] / full["matches"] and 0 <= full["repeatability"] <= 1
    nothing = pair_stats(Keypoints.empty(), torch.zeros(0, 128), kp_b, desc_b, h, image.shape, warped.shape)
    assert nothing["matches"] == 0 and math.isnan(nothing["precision"])
    with pytest.raises(ValueError, match="shape_a"):
        pair_stats(kp_a, desc_a, kp_b, desc_b, h)
    with pytest.raises(ValueError, match="one descriptor"):
        pair_stats(kp_a, desc_a[:-1], kp_b, desc_b)

    pairs = [Pair("warp", image, warped, h), ("self", image, image), ("rot", image, torch.rot90(image).contiguous())]
    table = match_pairs(pairs, features, workers=2)
    assert isinstance(table, pd.DataFrame) and table["pair"].tolist() == ["warp", "self", "rot"]
    assert table.loc[0, "matches"] == full["matches"] and table.loc[0, "correct"] == full["correct"]
    assert table.loc[1, "matches"] == len(kp_a) and math.isnan(table.loc[1, "precision"])
    assert (table["seconds"] > 0).all()
    serial = match_pairs(pairs, features, progress=True)
    pd.testing.assert_frame_equal(serial.drop(columns="seconds"), table.drop(columns="seconds"))
    assert list(match_pairs(pairs[1:], features).columns) == ["pair", "keypoints_a", "keypoints_b", "matches",
                                                              "seconds"]
    with pytest.raises(ValueError, match="tuple"):
        match_pairs([("only", image)], features)
    with pytest.raises(ValueError, match="workers"):
        match_pairs(pairs, features, workers=0)


# --- bad input: a clear ValueError, never a silently wrong count or an error from deep inside torch ---------


def test_match_refuses_nan_descriptors_and_mixed_devices():
    desc = torch.nn.functional.normalize(torch.rand(6, 128), dim=1)
    broken = desc.clone()
    broken[2, 5] = math.nan  # its distances compare false: the row would silently lose its match
    with pytest.raises(ValueError, match="desc_b holds 1 NaN"):
        match(desc, broken)
    with pytest.raises(ValueError, match="same device"):
        match(desc, torch.empty(6, 128, device="meta"))


SINGULAR = torch.tensor([[1.0, 2, 0], [2, 4, 0], [0, 0, 1]], dtype=torch.float64)
NAN = torch.tensor([[1.0, 0, math.nan], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)


@pytest.mark.parametrize("homography,message", [(SINGULAR, "invertible"), (NAN, "NaN")])
def test_homographies_must_be_finite_and_invertible(homography, message):
    xy = torch.rand(5, 2) * 30
    with pytest.raises(ValueError, match=message):  # NaN: every match silently "incorrect"
        correct_matches(xy, xy, homography)
    with pytest.raises(ValueError, match=message):  # singular: torch's LinAlgError from inside
        repeatability(xy, xy, homography, (32, 32), (32, 32))
    with pytest.raises(ValueError, match=message):  # NaN: an all-black image
        warp(torch.rand(16, 16), homography)


def test_tolerances_and_points_are_checked():
    xy = torch.rand(5, 2) * 30
    with pytest.raises(ValueError, match="tol"):  # a negative tolerance: no match could ever be correct
        correct_matches(xy, xy, torch.eye(3), tol=-1)
    with pytest.raises(ValueError, match="src holds"):
        homography_from_points(torch.tensor([[0.0, 0], [1, 0], [1, 1], [0, math.nan]]), torch.rand(4, 2))
