"""lrlib.svm: many linear SVMs at once, against scikit-learn's LinearSVC."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.svm import LinearSVC

from lrlib.studies import feature_transfer as ft
from lrlib.svm import check_targets, fit_svms, svm_scores


def test_svms_agree_with_sklearns_linear_svc():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 6)) + np.repeat(rng.normal(0, 1.5, (3, 6)), 40, axis=0)
    y = np.repeat(np.arange(3), 40)
    targets = ft.one_vs_rest(torch.tensor(y), 3)
    cs = [0.1, 1.0]
    w_small, w = fit_svms([torch.tensor(x[:, :4]), torch.tensor(x)], targets, cs, max_iter=2000)
    assert w.shape == (2, 3, 7) and w_small.shape == (2, 3, 5)
    design = np.hstack([np.ones((120, 1)), x / np.linalg.norm(x, axis=1, keepdims=True)])
    for i, c in enumerate(cs):
        for k in range(3):
            ref = LinearSVC(C=c, fit_intercept=False, tol=1e-10, max_iter=100_000).fit(design, targets[:, k].numpy())
            np.testing.assert_allclose(w[i, k].numpy(), ref.coef_[0], atol=2e-4)
    small = np.hstack([np.ones((120, 1)), x[:, :4] / np.linalg.norm(x[:, :4], axis=1, keepdims=True)])
    ref = LinearSVC(C=1.0, fit_intercept=False, tol=1e-10, max_iter=100_000).fit(small, targets[:, 0].numpy())
    np.testing.assert_allclose(w_small[1, 0].numpy(), ref.coef_[0], atol=2e-4)  # padding changes nothing


def test_an_unconverged_solve_warns_and_targets_are_checked():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(60, 8)))
    targets = ft.one_vs_rest(torch.arange(60) % 3, 3)
    with pytest.warns(UserWarning, match=r"C=1000 stopped before converging.*raise max_iter"):
        fit_svms([x], targets, [1000.0], max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a solve to convergence says nothing
        w = fit_svms([x], targets, [1.0], max_iter=500)[0]
    assert svm_scores(w, x).shape == (1, 60, 3)
    with pytest.raises(ValueError, match=r"in \{1, 0, -1\}"):
        check_targets("targets", targets * 2)
    with pytest.raises(ValueError, match="positive"):
        fit_svms([x], targets, [0.0])
