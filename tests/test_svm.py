"""lrlib.svm: many linear SVMs at once, against scikit-learn's LinearSVC."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.svm import LinearSVC

from lrlib.profiles import SETTINGS
from lrlib.studies import feature_transfer as ft
from lrlib.svm import check_targets, fit_svms, svm_scores


def test_svms_agree_with_sklearns_linear_svc():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 6)) + np.repeat(rng.normal(0, 1.5, (3, 6)), 40, axis=0)
    y = np.repeat(np.arange(3), 40)
    targets = ft.one_vs_rest(torch.tensor(y), 3)
    cs = [0.1, 1.0]
    w_small, w = fit_svms([torch.tensor(x[:, :4]), torch.tensor(x)], targets, cs)
    assert w.shape == (2, 3, 7) and w_small.shape == (2, 3, 5)
    design = np.hstack([np.ones((120, 1)), x / np.linalg.norm(x, axis=1, keepdims=True)])
    for i, c in enumerate(cs):
        for k in range(3):
            ref = LinearSVC(C=c, fit_intercept=False, tol=1e-10, max_iter=100_000).fit(design, targets[:, k].numpy())
            np.testing.assert_allclose(w[i, k].numpy(), ref.coef_[0], atol=2e-4)
    small = np.hstack([np.ones((120, 1)), x[:, :4] / np.linalg.norm(x[:, :4], axis=1, keepdims=True)])
    ref = LinearSVC(C=1.0, fit_intercept=False, tol=1e-10, max_iter=100_000).fit(small, targets[:, 0].numpy())
    np.testing.assert_allclose(w_small[1, 0].numpy(), ref.coef_[0], atol=2e-4)  # padding changes nothing


def test_difficult_items_are_left_out_as_if_they_were_not_there():
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(80, 5)) + np.repeat(rng.normal(0, 2, (2, 5)), 40, axis=0))
    targets = ft.one_vs_rest(torch.arange(80) // 40, 2)
    targets[::7, 0] = 0  # difficult for class 0 only
    w = fit_svms([x], targets, [1.0])[0]
    kept = targets[:, 0] != 0
    alone = fit_svms([x[kept]], targets[kept], [1.0])[0]
    torch.testing.assert_close(w[0, 0], alone[0, 0], atol=1e-5, rtol=0)  # both solved to the tolerance


def test_a_space_gets_the_same_svms_alone_and_in_a_batch():
    """Each (space, class) problem runs its own Newton steps and stops on its own gradient: the other spaces of a
    solve (wider, harder, easier) change nothing."""
    gen = torch.Generator().manual_seed(5)
    labels = torch.arange(150) % 3
    space = torch.randn(150, 7, generator=gen) + 2 * torch.randn(3, 7, generator=gen)[labels]
    others = [torch.randn(150, 20, generator=gen), torch.randn(150, 3, generator=gen) + labels[:, None]]
    targets, cs = ft.one_vs_rest(labels, 3), [0.01, 1.0, 100.0]
    alone = fit_svms([space], targets, cs)[0]
    batched = fit_svms([others[0], space, others[1]], targets, cs)[1]
    torch.testing.assert_close(svm_scores(batched, space), svm_scores(alone, space), atol=1e-9, rtol=0)


def test_the_c_grid_is_solved_in_increasing_order_and_returned_in_the_callers():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(90, 5, generator=gen)
    targets = ft.one_vs_rest(torch.arange(90) % 3, 3)
    ordered = fit_svms([x], targets, [0.1, 1.0, 10.0])[0]
    shuffled = fit_svms([x], targets, [10.0, 0.1, 1.0])[0]
    torch.testing.assert_close(shuffled, ordered[[2, 0, 1]], atol=0, rtol=0)  # the same warm-started path


@pytest.mark.slow
def test_svms_converge_on_features_of_the_quick_size_over_its_c_grid():
    """4,000 x 1,280 features (non-negative, a decaying spectrum, ten classes: like a backbone's pooled features),
    the quick profile's C grid and Newton steps: no solve stops before converging (no warning)."""
    quick = SETTINGS["03_feature_transfer"]["quick"]
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(4000) % 10
    basis = torch.randn(1280, 1280, generator=gen) * torch.arange(1, 1281.0) ** -0.8
    x = (torch.randn(4000, 1280, generator=gen) @ basis.T + 0.5 * torch.randn(10, 1280, generator=gen)[labels]).relu()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = fit_svms([x], ft.one_vs_rest(labels, 10), quick["cs"], max_iter=quick["svm_iter"])[0]
    assert w.shape == (len(quick["cs"]), 10, 1281) and torch.isfinite(w).all()


def test_an_unconverged_solve_warns_and_targets_are_checked():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(60, 8)))
    targets = ft.one_vs_rest(torch.arange(60) % 3, 3)
    with pytest.warns(UserWarning, match=r"C=1000 stopped before converging.*raise max_iter"):
        fit_svms([x], targets, [1000.0], max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a solve to convergence says nothing
        w = fit_svms([x], targets, [1.0, 1000.0])[0]
    assert svm_scores(w, x).shape == (2, 60, 3)
    with pytest.raises(ValueError, match=r"in \{1, 0, -1\}"):
        check_targets("targets", targets * 2)
    with pytest.raises(ValueError, match="positive"):
        fit_svms([x], targets, [0.0])


def test_zero_one_labels_are_refused_with_the_conversion():
    """A 0/1 matrix reads as positive / difficult: every SVM would see its positives only."""
    x = torch.tensor(np.random.default_rng(0).normal(size=(30, 4)))
    labels = ft.one_vs_rest(torch.arange(30) % 3, 3)
    with pytest.raises(ValueError, match=r"classes \[0, 1, 2\] have no negative.*0/1 labels\? pass 2\*y-1"):
        fit_svms([x], (labels == 1).int(), [1.0])
    w = fit_svms([x], 2 * (labels == 1).int() - 1, [1.0])[0]  # the conversion the message gives
    torch.testing.assert_close(w, fit_svms([x], labels, [1.0])[0])


def test_targets_and_features_of_the_wrong_size_are_named():
    x = torch.tensor(np.random.default_rng(0).normal(size=(30, 4)))
    targets = ft.one_vs_rest(torch.arange(30) % 3, 3)
    with pytest.raises(ValueError, match="one row per training item; got 29 rows for 30 items"):
        fit_svms([x], targets[:29], [1.0])
    w = fit_svms([x], targets, [1.0])[0]
    with pytest.raises(ValueError, match=r"x must be non-empty float features \(N, 4\); got .* \(30, 5\)"):
        svm_scores(w, torch.randn(30, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"w must be fit_svms weights"):
        svm_scores(w[0], x)
