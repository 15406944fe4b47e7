import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio
from sklearn.metrics import average_precision_score

from lrlib import metrics


def _rows(n=50, d=16, seed=0):
    g = np.random.default_rng(seed)
    return g.normal(size=(n, d)), g.normal(size=(n, d))


def test_distance_stats_against_a_loop():
    a, b = _rows()
    dists = []
    for x, y in zip(a, b):  # brute force, one pair at a time
        dists.append(np.linalg.norm(x / np.linalg.norm(x) - y / np.linalg.norm(y)))
    mean, var = metrics.distance_stats(a, b)
    assert mean == pytest.approx(np.mean(dists), abs=1e-12)
    assert var == pytest.approx(np.var(dists), abs=1e-12)  # population variance
    t_mean, _ = metrics.distance_stats(torch.tensor(a).float(), torch.tensor(b).float())
    assert t_mean == pytest.approx(mean, abs=1e-5)


def test_distance_stats_scale_invariant_and_zero_for_same():
    a, _ = _rows()
    assert metrics.distance_stats(a, 3 * a) == pytest.approx((0.0, 0.0), abs=1e-12)
    with pytest.raises(ValueError, match=r"\(50, 16\) and \(49, 16\)"):
        metrics.distance_stats(a, a[:49])


def test_average_precision_against_sklearn():
    g = np.random.default_rng(1)
    for _ in range(20):
        scores, labels = g.random(40), g.random(40) < 0.3
        labels[0] = True
        assert metrics.average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores))


def test_voc07_against_a_hand_computation():
    # ranking: rel, not, rel  -> precision at recall 0.5 is 1, at recall 1 is 2/3
    ap = metrics.average_precision([0.9, 0.8, 0.7], [1, 0, 1], voc07=True)
    expected = (6 * 1.0 + 5 * (2 / 3)) / 11  # t = 0..0.5 -> 1, t = 0.6..1 -> 2/3
    assert ap == pytest.approx(expected)
    with pytest.raises(ValueError, match="no relevant"):
        metrics.average_precision([0.1, 0.2], [0, 0])


def test_retrieval_map_against_sklearn_per_query():
    g = np.random.default_rng(2)
    q, db = g.normal(size=(7, 5)), g.normal(size=(30, 5))
    rel = g.random((7, 30)) < 0.2
    rel[3] = False  # a query with no relevant item is skipped
    dist = np.linalg.norm(q[:, None] - db[None], axis=2)
    aps = [average_precision_score(rel[i], -dist[i]) for i in range(7) if rel[i].any()]
    assert metrics.retrieval_map(q, db, rel) == pytest.approx(np.mean(aps))
    with pytest.raises(ValueError, match=r"\(7, 30\)"):
        metrics.retrieval_map(q, db, rel[:, :5])


def test_psnr_against_skimage():
    g = np.random.default_rng(3)
    a, b = g.random((16, 16, 3)), g.random((16, 16, 3))
    assert metrics.psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0))
    assert metrics.psnr(a * 255, b * 255, data_range=255) == pytest.approx(metrics.psnr(a, b))
    assert metrics.psnr(a, a) == float("inf")


def test_class_distances_against_a_loop():
    g = np.random.default_rng(4)
    f, y = g.normal(size=(12, 4)), np.repeat(np.arange(3), 4)
    n = f / np.linalg.norm(f, axis=1, keepdims=True)
    same = [np.linalg.norm(n[i] - n[j]) for i in range(12) for j in range(12) if i != j and y[i] == y[j]]
    diff = [np.linalg.norm(n[i] - n[j]) for i in range(12) for j in range(12) if y[i] != y[j]]
    s, d = metrics.class_distances(f, y, max_pairs=200_000)
    assert s == pytest.approx(np.mean(same), rel=0.02) and d == pytest.approx(np.mean(diff), rel=0.02)


def test_knn_accuracy_against_sklearn():
    from sklearn.neighbors import KNeighborsClassifier

    g = np.random.default_rng(5)
    centres = g.normal(size=(3, 8)) * 3
    y = np.repeat(np.arange(3), 40)
    x = centres[y] + g.normal(size=(120, 8))
    tr, te = np.arange(0, 120, 2), np.arange(1, 120, 2)
    ref = KNeighborsClassifier(5, metric="cosine").fit(x[tr], y[tr]).score(x[te], y[te])
    assert metrics.knn_accuracy(x[tr], y[tr], x[te], y[te], k=5) == pytest.approx(ref, abs=0.02)
    with pytest.raises(ValueError, match="k must"):
        metrics.knn_accuracy(x[tr], y[tr], x[te], y[te], k=0)


def test_radial_power_spectrum_against_a_loop():
    g = np.random.default_rng(0)
    img = g.normal(size=(12, 10))
    freq, power = metrics.radial_power_spectrum(img, bins=5)
    p = np.abs(np.fft.fft2(img)) ** 2 / img.size
    sums, counts = np.zeros(5), np.zeros(5)
    for i, fy in enumerate(np.fft.fftfreq(12)):  # brute force, one frequency at a time
        for j, fx in enumerate(np.fft.fftfreq(10)):
            ring = int(np.hypot(fy, fx) / 0.5 * 5)
            if ring < 5:
                sums[ring] += p[i, j]
                counts[ring] += 1
    np.testing.assert_allclose(power, sums / counts, rtol=1e-12)
    np.testing.assert_allclose(freq, (np.arange(5) + 0.5) / 10)


def test_power_spectrum_of_white_noise_is_flat_and_blur_lowers_it():
    g = np.random.default_rng(1)
    noise = g.normal(size=(8, 64, 64))
    _, power = metrics.radial_power_spectrum(noise, bins=8)
    np.testing.assert_allclose(power[1:], 1.0, rtol=0.15)  # E|FFT|^2 / (HW) = variance = 1 at every frequency
    from scipy.ndimage import gaussian_filter
    blurred = np.stack([gaussian_filter(n, 2) for n in noise])
    assert metrics.mean_log_power(blurred) < metrics.mean_log_power(noise) - 10
    with pytest.raises(ValueError, match="grey images"):
        metrics.radial_power_spectrum(np.zeros((2, 3, 8, 8)))


def test_metrics_refuse_what_they_cannot_mean():
    g = np.random.default_rng(6)
    scores = g.random(6)
    # VOC-style targets: -1 used to count as relevant
    with pytest.raises(ValueError, match=r"booleans or 0/1.*targets == 1"):
        metrics.average_precision(scores, [1, -1, 0, 1, -1, -1])
    nan_scores = scores.copy()
    nan_scores[2] = np.nan
    with pytest.raises(ValueError, match="scores holds 1 NaN"):
        metrics.average_precision(nan_scores, [1, 0, 0, 1, 0, 0])
    q, db = g.normal(size=(3, 4)), g.normal(size=(5, 4))
    q[1, 2] = np.inf
    with pytest.raises(ValueError, match="query holds 1 NaN or infinite"):
        metrics.retrieval_map(q, db, np.ones((3, 5), bool))
    with pytest.raises(ValueError, match="relevant must be booleans or 0/1"):
        metrics.retrieval_map(db[:3], db, np.full((3, 5), 2))
    # more labels than features used to give an accuracy of 0.0
    x, y = g.normal(size=(10, 4)), np.arange(10) % 2
    with pytest.raises(ValueError, match="train_labels must hold one label per feature, 10; got 12"):
        metrics.knn_accuracy(x, np.arange(12) % 2, x, y, k=3)
    with pytest.raises(ValueError, match="integer class indices"):
        metrics.knn_accuracy(x, y + 0.5, x, y, k=3)
    # all-zero rows used to give a distance of 1.0
    with pytest.raises(ValueError, match=r"f_lr has 2 all-zero row\(s\) \(first: \[0, 3\]\)"):
        z = x.copy()
        z[[0, 3]] = 0
        metrics.distance_stats(x, z)
    with pytest.raises(ValueError, match="all-zero"):
        metrics.class_distances(np.zeros((4, 3)), [0, 0, 1, 1])


def test_psnr_refuses_8_bit_images_with_data_range_1():
    g = np.random.default_rng(7)
    a = g.integers(0, 256, (8, 8)).astype(np.uint8)
    b = np.clip(a.astype(int) + g.integers(-3, 4, (8, 8)), 0, 255).astype(np.uint8)
    with pytest.raises(ValueError, match=r"outside \[0, data_range=1\]; give data_range=255"):
        metrics.psnr(a, b)
    assert metrics.psnr(a, b, data_range=255) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255))
    with pytest.raises(ValueError, match="NaN"):
        metrics.psnr(np.array([0.5, np.nan]), np.array([0.5, 0.5]))


def _ap_loop(ranked_hits, trapezoid=False):
    """AP of a 0/1 list already in ranked order, one item at a time (brute force)."""
    n_rel, found, total = sum(ranked_hits), 0, 0.0
    for r, hit in enumerate(ranked_hits):
        if hit:
            before = 1.0 if r == 0 else found / r
            found += 1
            after = found / (r + 1)
            total += ((before + after) / 2 if trapezoid else after) / n_rel
    return total


def test_retrieval_map_ignore_against_deleting_the_junk():
    g = np.random.default_rng(6)
    q, db = g.normal(size=(6, 5)), g.normal(size=(25, 5))
    rel, junk = g.random((6, 25)) < 0.3, g.random((6, 25)) < 0.2
    rel[:, 0], junk[:, 0] = True, False
    for kind in ("all-point", "trapezoid"):
        aps = []
        for i in range(6):  # delete query i's junk from the database, then rank what is left
            keep = ~junk[i]
            d = np.linalg.norm(db[keep] - q[i], axis=1)
            aps.append(_ap_loop(list(rel[i, keep][np.argsort(d, kind="stable")]), kind == "trapezoid"))
        assert metrics.retrieval_map(q, db, rel, ignore=junk, ap=kind) == pytest.approx(np.mean(aps))
    assert metrics.retrieval_map(q, db, rel, ignore=np.zeros_like(junk)) == metrics.retrieval_map(q, db, rel)
    with pytest.raises(ValueError, match=r"ignore must have shape \(Q, M\) = \(6, 25\)"):
        metrics.retrieval_map(q, db, rel, ignore=junk[:, :3])
    with pytest.raises(ValueError, match="ap must be"):
        metrics.retrieval_map(q, db, rel, ap="11-point")


def test_trapezoid_ap_on_a_hand_computed_ranking():
    # database on a line, query at 0: ranking is items 0, 1, 2, 3 (distances 1, 2, 3, 4); relevant: 0 and 2
    q, db = np.zeros((1, 1)), np.array([[1.0], [2.0], [3.0], [4.0]])
    rel = np.array([[True, False, True, False]])
    # rank 0: (1 + 1/1) / 2 * 1/2 = 0.5; rank 2 with one relevant before: (1/2 + 2/3) / 2 * 1/2 = 7/24
    assert metrics.retrieval_map(q, db, rel, ap="trapezoid") == pytest.approx(0.5 + 7 / 24)
    assert metrics.retrieval_map(q, db, rel) == pytest.approx((1 + 2 / 3) / 2)  # all-point
    # junk at rank 1 removed: both relevant items lead, AP = 1 under either rule
    junk = np.array([[False, True, False, False]])
    assert metrics.retrieval_map(q, db, rel, ignore=junk, ap="trapezoid") == pytest.approx(1.0)


def test_bootstrap_interval_matches_a_brute_force_loop():
    """The same draws as a plain loop over resamples, NumPy's statistics and percentiles."""
    from lrlib.metrics import bootstrap_interval

    values = torch.tensor(np.random.default_rng(0).gamma(2.0, size=300))
    idx = torch.randint(0, 300, (500, 300), generator=torch.Generator().manual_seed(3)).numpy()
    v = values.numpy()
    for statistic, fn in (("mean", np.mean), ("var", np.var)):
        stats = [fn(v[row]) for row in idx]
        expected = np.percentile(stats, [2.5, 97.5])
        np.testing.assert_allclose(bootstrap_interval(values, statistic, resamples=500, seed=3), expected, rtol=1e-9)
    low, high = bootstrap_interval(values, "mean", resamples=2000)
    assert low < float(values.mean()) < high
    with pytest.raises(ValueError, match="statistic"):
        bootstrap_interval(values, "median")
    with pytest.raises(ValueError, match="finite"):
        bootstrap_interval(torch.tensor([1.0, float("nan")]))


def test_retrieval_aps_average_to_the_map():
    from lrlib.metrics import retrieval_aps, retrieval_map

    g = torch.Generator().manual_seed(0)
    q, db = torch.randn(20, 8, generator=g), torch.randn(30, 8, generator=g)
    rel = torch.rand(20, 30, generator=g) < 0.2
    aps = retrieval_aps(q, db, rel)
    assert aps.shape == (int(rel.any(1).sum()),)
    assert float(aps.mean()) == pytest.approx(retrieval_map(q, db, rel))
    first = int(rel.any(1).nonzero()[0])  # the first query with a relevant item: the first AP
    assert float(aps[0]) == pytest.approx(metrics.average_precision(-torch.cdist(q[first:first + 1], db)[0], rel[first]))


def test_average_precision_refuses_2d_inputs_instead_of_pooling_them():
    g = np.random.default_rng(8)
    scores, labels = g.random((6, 2)), np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]])
    for s, y, bad in ((scores, labels, "scores"), (scores[:, 0], labels, "labels"), (scores, labels.T, "scores")):
        with pytest.raises(ValueError, match=rf"{bad} must be 1-d, one ranking; got shape .*scores\[:, c\]"):
            metrics.average_precision(s, y)
    assert metrics.average_precision(scores[:, 1], labels[:, 1]) == pytest.approx(
        average_precision_score(labels[:, 1], scores[:, 1]))


def test_psnr_refuses_no_values_and_a_data_range_that_is_not_a_finite_positive_number():
    with pytest.raises(ValueError, match=r"a and b hold no values"):
        metrics.psnr(torch.zeros(0, 3), torch.zeros(0, 3))
    for bad in (float("nan"), float("inf"), 0.0):
        with pytest.raises(ValueError, match=rf"data_range must be a positive number; got {bad}"):
            metrics.psnr(np.full(4, 0.5), np.full(4, 0.25), data_range=bad)


def test_power_spectra_refuse_rings_without_a_frequency_and_one_pixel_images():
    img = np.random.default_rng(9).normal(size=(32, 32))
    with pytest.raises(ValueError, match=r"bins=64 is finer than the frequency step of 32x32 images.*use bins <= 16"):
        metrics.radial_power_spectrum(img)
    _, power = metrics.radial_power_spectrum(img, bins=16)  # the largest the message allows: every ring filled
    assert np.isfinite(power).all()
    with pytest.raises(ValueError, match="1x1 pixel"):
        metrics.mean_log_power(np.ones((3, 1, 1)))


def test_knn_without_test_features_and_class_distances_without_pairs_are_named():
    x, y = np.random.default_rng(10).normal(size=(10, 4)), np.arange(10) % 2
    with pytest.raises(ValueError, match=r"test holds no features \(shape \(0, 4\)\)"):
        metrics.knn_accuracy(x, y, x[:0], y[:0], k=3)
    with pytest.raises(ValueError, match="max_pairs must be an int >= 1; got 0"):
        metrics.class_distances(x, y, max_pairs=0)
    with pytest.raises(ValueError, match="max_pairs=1 sampled .*raise max_pairs"):
        metrics.class_distances(x, y, max_pairs=1)
    with pytest.raises(ValueError, match="two classes and a class with two members"):
        metrics.class_distances(x, np.zeros(10, int))
