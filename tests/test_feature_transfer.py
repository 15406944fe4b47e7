"""The feature-transfer study of notebook 03 (lrlib.studies.feature_transfer), against independent computations."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, average_precision_score

from lrlib import data
from lrlib.checks import TrainingDiverged
from lrlib.papers import CITATIONS, TRANSFER_TABLE1, TRANSFER_TABLE2
from lrlib.profiles import SETTINGS
from lrlib.results import RunCache
from lrlib.studies import feature_transfer as ft
from lrlib.svm import fit_svms, svm_scores
from lrlib.studies.feature_transfer import Transfer, TransferNet, class_aps, pseudo_labels
from test_data_benchmarks import write_voc


def _blobs(n_per: int = 40, k: int = 4, dim: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (k, dim))
    truth = np.repeat(np.arange(k), n_per)
    return centres[truth] + rng.normal(0, 1, (len(truth), dim)), truth


def test_pseudo_labels_find_the_partition_sklearn_finds():
    x, _ = _blobs()
    labels, centres = pseudo_labels(torch.tensor(x), 4, seed=3)
    ref = KMeans(4, init="k-means++", n_init=1, random_state=3).fit(x)
    assert labels.dtype == torch.int64 and labels.shape == (len(x),) and centres.shape == (4, x.shape[1])
    assert adjusted_rand_score(ref.labels_, labels.numpy()) == 1.0
    order = [int(np.argmin(((ref.cluster_centers_ - c) ** 2).sum(1))) for c in centres.numpy()]
    np.testing.assert_allclose(centres.numpy(), ref.cluster_centers_[order], atol=1e-9)


def test_pseudo_labels_are_a_fixed_point_consistent_with_the_centroids_and_deterministic():
    x = torch.randn(300, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    labels, centres = pseudo_labels(x, 7, seed=0)
    d = ((x[:, None] - centres[None]) ** 2).sum(2)
    assert torch.equal(labels, d.argmin(1))  # each point's own nearest centroid
    for c in labels.unique():  # each centroid the mean of its points (Lloyd converged)
        torch.testing.assert_close(centres[c], x[labels == c].mean(0))
    again = pseudo_labels(x, 7, seed=0)
    assert torch.equal(again[0], labels) and torch.equal(again[1], centres)
    ref = KMeans(7, n_init=10, random_state=0).fit(x.numpy())
    assert float(d.min(1).values.sum()) <= 1.05 * ref.inertia_  # a local optimum as good as sklearn's


def test_nearest_centroid_labels_against_a_brute_force_loop():
    gen = torch.Generator().manual_seed(2)
    hr, lr = torch.randn(120, 8, generator=gen), torch.randn(50, 8, generator=gen) * 2
    labels, centres = pseudo_labels(hr, 5, seed=4, lr=lr)
    assert labels.shape == (50,) and torch.equal(pseudo_labels(hr, 5, seed=4)[1], centres)
    for i, row in enumerate(lr.tolist()):
        dist = [sum((a - b) ** 2 for a, b in zip(row, c)) for c in centres.tolist()]
        assert labels[i] == dist.index(min(dist))


def test_pseudo_labels_refuse_bad_input():
    with pytest.raises(ValueError, match="at most the number of HR features, 10; got 11"):
        pseudo_labels(torch.randn(10, 3), 11)
    with pytest.raises(ValueError, match=r"lr must be non-empty float features \(N, 3\)"):
        pseudo_labels(torch.randn(10, 3), 2, lr=torch.randn(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        pseudo_labels(torch.tensor([[0.0, float("nan")]] * 3), 2)


def test_transfer_net_has_the_papers_parameter_count_and_msra_init():
    net = TransferNet()
    assert sum(p.numel() for p in net.parameters()) == 8_802_404
    assert net(torch.randn(3, 2048)).shape == (3, 100)
    assert float(net.fc1.bias.detach().abs().max()) == 0.0
    assert abs(float(net.fc1.weight.detach().std()) - (2 / 2048) ** 0.5) < 0.01 * (2 / 2048) ** 0.5
    with pytest.raises(ValueError, match="n2 must be an int >= 1; got 0"):
        TransferNet(8, 4, 0)


def _reference_training(net, x, y, schedule, seed):
    """The paper's loop written plainly for one network: SGD, momentum 0.9, weight decay 5e-4, step decay,
    one shuffle per epoch from a generator seeded with ``seed``."""
    opt = torch.optim.SGD(net.parameters(), lr=schedule["learning_rate"], momentum=0.9, weight_decay=5e-4)
    decay = torch.optim.lr_scheduler.StepLR(opt, schedule["step"], gamma=0.1)
    gen, order = torch.Generator().manual_seed(seed), []
    for _ in range(schedule["iterations"]):
        if len(order) == 0:
            order = torch.randperm(len(x), generator=gen)
        idx, order = order[: schedule["batch_size"]], order[schedule["batch_size"]:]
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay.step()
    return net


def test_stacked_training_equals_a_plain_loop_for_each_network():
    """Networks of different widths and readings in one loop end where a plain loop of each one (fp32, CPU) ends:
    the padding of narrower outputs and the stacking change nothing."""
    gen = torch.Generator().manual_seed(0)
    hr, lr = torch.randn(40, 6, generator=gen), torch.randn(40, 6, generator=gen)
    schedule = dict(iterations=12, step=5, batch_size=16, learning_rate=0.05)
    specs = [Transfer(hr, lr, 8, 3, "nearest"), Transfer(hr, lr, 8, 5, "paired"), Transfer(hr, lr * 2, 4, 3)]
    together, acc = ft.train_transfers(specs, schedule, seed=1)
    torch.manual_seed(1)  # the networks are built in order from the seed
    fresh = [TransferNet(6, s.n1, s.n2) for s in specs]
    labels = [pseudo_labels(hr, 3, seed=1, lr=lr)[0], pseudo_labels(hr, 5, seed=1)[0],
              pseudo_labels(hr, 3, seed=1, lr=lr * 2)[0]]
    for net, ref, spec, y, a in zip(together, fresh, specs, labels, acc):
        _reference_training(ref, spec.lr, y, schedule, seed=1)
        for p, q in zip(net.parameters(), ref.parameters()):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
        assert a == pytest.approx(float((ref(spec.lr).argmax(1) == y).double().mean()))


def test_training_fits_the_pseudo_labels_and_the_cache_returns_the_same_networks(tmp_path):
    gen = torch.Generator().manual_seed(0)
    hr = torch.randn(60, 5, generator=gen)
    specs = [Transfer(hr, hr + 0.05 * torch.randn(60, 5, generator=gen), 32, 4)]
    schedule = dict(iterations=300, step=200, batch_size=20, learning_rate=0.1)
    cache = RunCache(tmp_path)
    nets, acc = ft.train_transfers(specs, schedule, seed=0, cache=cache)
    assert acc[0] >= 0.9
    reopened = RunCache(tmp_path)
    again, acc2 = ft.train_transfers(specs, schedule, seed=0, cache=reopened)
    assert acc2 == acc and reopened.ledger()["loaded"] == 1 and reopened.ledger()["trained"] == 0
    torch.testing.assert_close(ft.transform(again[0], hr), ft.transform(nets[0], hr))
    with pytest.raises(ValueError, match="reading must be one of"):
        ft.train_transfers([Transfer(hr, hr, 4, 2, "closest")], schedule)
    with pytest.raises(ValueError, match=r"schedule lacks \['learning_rate'\]"):
        ft.train_transfers(specs, dict(iterations=1, step=1, batch_size=2))


def test_a_transfer_training_that_diverges_stops_and_bad_schedules_are_refused(tmp_path):
    gen = torch.Generator().manual_seed(0)
    hr = torch.randn(60, 5, generator=gen)
    specs = [Transfer(hr, hr + 0.05 * torch.randn(60, 5, generator=gen), 32, 4)]
    schedule = dict(iterations=300, step=200, batch_size=20, learning_rate=1e4)
    with pytest.raises(TrainingDiverged, match=r"step \d+ is nan; lower schedule\['learning_rate'\] \(now 10000\)"):
        ft.train_transfers(specs, schedule, cache=RunCache(tmp_path))
    assert list(tmp_path.iterdir()) == []
    for name, bad in (("learning_rate", float("inf")), ("learning_rate", float("nan")), ("iterations", 0),
                      ("batch_size", 2.5)):
        with pytest.raises(ValueError, match=rf"schedule\['{name}'\]"):
            ft.train_transfers(specs, {**schedule, name: bad})


def _three_parts(seed: int = 0) -> tuple[dict, dict, tuple]:
    """HR features of three classes (train 60, val 30, test 30), noisier LR copies, and one-vs-rest targets."""
    gen = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(3, 6, generator=gen)
    sizes = dict(zip(ft.PARTS, (60, 30, 30)))
    hr = {k: means[torch.arange(n) % 3] + torch.randn(n, 6, generator=gen) for k, n in sizes.items()}
    lr = {k: v + 2 * torch.randn(v.shape, generator=gen) for k, v in hr.items()}
    return hr, lr, tuple(ft.one_vs_rest(torch.arange(n) % 3, 3) for n in sizes.values())


def test_table1_reuses_the_grids_network_so_both_tables_report_one_configuration(tmp_path):
    hr, lr, targets = _three_parts()
    schedule = dict(iterations=20, step=10, batch_size=32, learning_rate=0.05)
    points = [(8, 3), (16, 3), (8, 5)]
    grid_specs = [Transfer(hr["train"], lr["train"], a, b) for a, b in points]
    grid_nets, grid_acc = ft.train_transfers(grid_specs, schedule, seed=0)
    other_lr = lr["train"] + 1.0  # a second block: another LR size
    specs = [Transfer(hr["train"], lr["train"], 16, 3, r) for r in ft.READINGS] + [
        Transfer(hr["train"], other_lr, 16, 3, r) for r in ft.READINGS]
    cache = RunCache(tmp_path)
    nets, accuracy = ft.train_transfers(specs, schedule, seed=0, cache=cache,
                                        trained=(grid_specs, grid_nets, grid_acc))
    assert nets[0] is grid_nets[1] and accuracy[0] == grid_acc[1]  # not trained twice
    assert cache.ledger()["trained"] == 1  # one loop, for the three new networks only
    alone, alone_acc = ft.train_transfers(specs[1:], schedule, seed=0)
    assert alone_acc == accuracy[1:]
    for net, ref in zip(nets[1:], alone):
        for p, q in zip(net.parameters(), ref.parameters()):
            assert torch.equal(p, q)
    cs = [0.1, 1.0, 10.0]
    grid, grid_scores = ft.evaluate_spaces({f"N1={a}, N2={b}": tuple(ft.transform(n, lr[k]) for k in ft.PARTS)
                                            for (a, b), n in zip(points, grid_nets)}, targets, cs, list("xyz"))
    table, scores = ft.evaluate_spaces(ft.table1_spaces(hr, lr, dict(zip(ft.READINGS, nets[:2])), [2, 4]), targets,
                                       cs, list("xyz"))
    row, cell = table.loc["transfer (nearest)"], grid.loc["N1=16, N2=3"]
    assert row["C"] == cell["C"] and row["val mAP"] == pytest.approx(cell["val mAP"], abs=1e-9)
    assert row["mAP"] == pytest.approx(cell["mAP"], abs=1e-9)  # Table 1 and Table 2 agree
    torch.testing.assert_close(scores["transfer (nearest)"], grid_scores["N1=16, N2=3"], atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match=r"one length; got lengths \[3, 3, 2\]"):
        ft.train_transfers(specs, schedule, trained=(grid_specs, grid_nets, grid_acc[:2]))


def test_label_stats_count_the_clusters_used_and_their_entropy_and_show_a_collapse():
    from scipy.stats import entropy

    x, _ = _blobs(n_per=30, k=4)
    hr = torch.tensor(x)
    lr = hr + torch.tensor(np.random.default_rng(1).normal(0, 3, hr.shape))
    collapsed = hr[:1].expand(len(hr), -1).clone()  # every LR feature the same: one nearest centroid
    specs = [Transfer(hr, lr, 8, 6, "nearest"), Transfer(hr, lr, 8, 6, "paired"), Transfer(hr, collapsed, 8, 6)]
    stats = ft.label_stats(specs, seed=2)
    for spec, (_, row) in zip(specs, stats.iterrows()):
        labels = pseudo_labels(hr, 6, seed=2, lr=spec.lr if spec.reading == "nearest" else None)[0].numpy()
        counts = np.bincount(labels, minlength=6)
        assert row["N2"] == 6 and row["distinct labels"] == (counts > 0).sum() and row["uniform (bits)"] == np.log2(6)
        assert row["entropy (bits)"] == pytest.approx(entropy(counts, base=2))
    assert stats.loc[2, "distinct labels"] == 1 and stats.loc[2, "entropy (bits)"] == 0
    assert stats.loc[1, "distinct labels"] == 6  # k-means leaves no cluster empty here


def test_resampled_aps_are_class_aps_of_the_repeated_images():
    from lrlib.studies.feature_transfer.bootstrap import resampled_aps

    rng = np.random.default_rng(0)
    scores = torch.tensor(rng.normal(size=(60, 3)))
    scores[5] = scores[7]  # a tie between two images
    targets = torch.tensor(rng.choice([1, 0, -1], size=(60, 3), p=[0.3, 0.2, 0.5]))
    targets[:3] = 1
    counts = torch.tensor(rng.integers(0, 4, size=(6, 60)))
    counts[0] = 1  # the test set itself
    aps = resampled_aps(scores, targets, counts)
    for b in range(len(counts)):
        rows = np.repeat(np.arange(60), counts[b].numpy())
        np.testing.assert_allclose(aps[b].numpy(), class_aps(scores[rows], targets[rows]), atol=1e-12)
    none = targets.clone()
    none[:, 1] = -1  # no positive at all: NaN for that class, numbers for the others
    assert resampled_aps(scores, none, counts[:1])[0].isnan().tolist() == [False, True, False]


def test_paired_bootstrap_on_cases_with_a_known_answer(monkeypatch):
    from lrlib.studies.feature_transfer import bootstrap

    gen = torch.Generator().manual_seed(0)
    targets = ft.one_vs_rest(torch.arange(300) % 3, 3)
    noise = torch.randn(300, 3, generator=gen)
    same = ft.paired_bootstrap(noise, noise.clone(), targets, resamples=200)
    assert same == {"gap": 0.0, "low": 0.0, "high": 0.0, "used": 200, "within noise": True}
    clear = ft.paired_bootstrap(targets + noise, noise, targets, resamples=200, seed=1)
    assert 0 < clear["low"] < clear["gap"] < clear["high"]
    assert clear["gap"] == pytest.approx(100 * (class_aps(targets + noise, targets).mean()
                                                - class_aps(noise, targets).mean()))
    monkeypatch.setattr(bootstrap, "_CHUNK", 5000)  # a few resamples at a time: the same draws, the same answer
    assert ft.paired_bootstrap(targets + noise, noise, targets, resamples=200, seed=1) == clear
    table = ft.gap_table({"a": targets + noise, "b": noise, "c": noise}, targets, [("a", "b"), ("b", "c")],
                         resamples=100)
    assert table["within noise"].tolist() == [False, True] and list(table.index) == ["a - b", "b - c"]
    with pytest.raises(KeyError, match=r"no scores for \['d'\]"):
        ft.gap_table({"a": noise}, targets, [("a", "d")])
    with pytest.raises(ValueError, match=r"like targets \(300, 3\); got \{'b': \(300, 2\)\}"):
        ft.gap_table({"a": noise, "b": noise[:, :2]}, targets, [("a", "b")])
    few = torch.tensor([[1], [-1], [-1]])
    rare = ft.paired_bootstrap(torch.randn(3, 1), torch.randn(3, 1), few, resamples=300)
    assert 0 < rare["used"] < 300  # draws without the one positive are left out
    with pytest.raises(ValueError, match="no draw of the 3 test images has a positive in every class"):
        ft.paired_bootstrap(torch.randn(3, 1), torch.randn(3, 1), -few.abs(), resamples=10)


def test_the_pca_width_is_chosen_on_validation_among_the_grids_widths():
    hr, lr, targets = _three_parts()
    gen = torch.Generator().manual_seed(1)
    nets = {"nearest": TransferNet(6, 8, 3)}
    spaces = ft.table1_spaces(hr, lr, nets, [2, 3, 100, 6])
    assert [k for k in spaces if k.startswith("PCA")] == ["PCA-2 of LR", "PCA-3 of LR", "PCA-6 of LR"]
    table = pd.DataFrame({"dims": [6, 2, 3, 6], "val mAP": [1.0, 50.004, 50.006, 49.0], "mAP": [1.0, 2.0, 3.0, 4.0]},
                         index=["LR", "PCA-2 of LR", "PCA-3 of LR", "PCA-6 of LR"])
    scores = {name: torch.randn(4, 2, generator=gen) for name in table.index}
    picked, kept = ft.pick_pca(table, scores)
    assert list(picked.index) == ["LR", ft.PCA_ROW] and picked.loc[ft.PCA_ROW, "dims"] == 3
    assert list(kept) == ["LR", ft.PCA_ROW] and kept[ft.PCA_ROW] is scores["PCA-3 of LR"]
    with pytest.raises(ValueError, match="no PCA-<k> row"):
        ft.pick_pca(table.loc[["LR"]], scores)
    with pytest.raises(ValueError, match="at least one PCA width"):
        ft.table1_spaces(hr, lr, nets, [])


def test_class_aps_against_sklearn_and_a_hand_computed_11_point_ap():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 3))
    targets = rng.choice([1, 0, -1], size=(50, 3), p=[0.3, 0.2, 0.5])
    targets[0] = 1
    aps = class_aps(scores, targets, voc07=False)
    for c in range(3):
        keep = targets[:, c] != 0
        assert aps[c] == pytest.approx(average_precision_score(targets[keep, c] == 1, scores[keep, c]))
    # ranking: +, -, +, difficult, - -> precision at recalls 0.5 and 1: 1 and 2/3; 11-point: 6 x 1 + 5 x 2/3
    s, t = np.array([[0.9], [0.8], [0.7], [0.65], [0.6]]), np.array([[1], [-1], [1], [0], [-1]])
    assert class_aps(s, t)[0] == pytest.approx((6 + 5 * 2 / 3) / 11)
    with pytest.raises(ValueError, match=r"in \{1, 0, -1\}"):
        class_aps(s, t * 2)


def test_evaluate_spaces_picks_c_on_validation_and_flags_the_grids_edge():
    rng = np.random.default_rng(2)
    means = rng.normal(0, 2, (3, 5))
    splits = [torch.tensor(means[np.arange(n) % 3] + rng.normal(size=(n, 5))) for n in (60, 30, 30)]
    targets = tuple(ft.one_vs_rest(torch.arange(n) % 3, 3) for n in (60, 30, 30))
    cs = [0.01, 1.0, 100.0]
    table, scores = ft.evaluate_spaces({"a": tuple(splits), "noise": tuple(torch.randn(n, 3) for n in (60, 30, 30))},
                                       targets, cs, ["x", "y", "z"])
    w = fit_svms([splits[0]], targets[0], cs)[0]
    val = [class_aps(s, targets[1]).mean() for s in svm_scores(w, splits[1])]
    best = int(np.argmax(val))
    assert table.loc["a", "C"] == cs[best] and table.loc["a", "C at edge"] == (best in (0, 2))
    assert table.loc["a", "val mAP"] == pytest.approx(100 * val[best], abs=1e-9)  # unrounded
    torch.testing.assert_close(scores["a"], svm_scores(w, splits[2])[best], atol=1e-9, rtol=0)
    expected = 100 * class_aps(svm_scores(w, splits[2])[best], targets[2])
    assert table.loc["a", "mAP"] == pytest.approx(expected.mean(), abs=1e-9)
    assert table.loc["a", "mAP"] > table.loc["noise", "mAP"]
    with pytest.raises(ValueError, match="3 values of C"):
        ft.evaluate_spaces({"a": tuple(splits)}, targets, [1.0], ["x", "y", "z"])


def test_pca_control_matches_sklearn():
    from sklearn.decomposition import PCA

    x = torch.randn(50, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ours, other = ft.pca_features(x, [x[:5]], 3)
    ref = PCA(3).fit(x.numpy())
    np.testing.assert_allclose(np.abs(ours.numpy()), np.abs(ref.transform(x.numpy())), atol=1e-5)
    torch.testing.assert_close(other, ours[:5])
    with pytest.raises(ValueError, match="dims must be at most min"):
        ft.pca_features(x, [], 9)


def test_same_epochs_reads_the_papers_two_statements_of_its_length():
    assert ft.same_epochs(5011) == (31_561, 15_000)  # the iteration count over the paper's own 5,011 images
    iterations, step = ft.same_epochs(4000)
    assert iterations == round(31_561 * 4000 / 5011) == 25_193 and step == round(iterations * 15_000 / 31_561)
    assert ft.same_epochs(4000, 1000, "1,000 epochs") == (4000, round(4000 * 15_000 / 31_561))  # 1,000 passes
    assert ft.same_epochs(5011, 1000, "1,000 epochs")[0] == 5011
    assert ft.same_epochs(30, 30, 30) == (30, round(30 * 15_000 / 31_561))
    for reading in ft.PAPER_LENGTHS:  # the learning rate is divided twice in either reading, as in the paper
        iterations, step = ft.same_epochs(4000, 1000, reading)
        assert (iterations - 1) // step == (31_561 - 1) // 15_000 == 2
    with pytest.raises(ValueError, match="epochs must be a positive number"):
        ft.same_epochs(10, epochs=0)
    with pytest.raises(ValueError, match=r"one of \['31,561 iterations', '1,000 epochs'\]; got '1000'"):
        ft.same_epochs(10, epochs="1000")


def test_schedule_note_says_what_the_schedule_does_and_which_reading_it_follows():
    iterations, step = ft.same_epochs(4000, 1000, "1,000 epochs")
    schedule = dict(iterations=iterations, step=step, batch_size=1000, learning_rate=0.01)
    note = ft.schedule_note(schedule, "1,000 epochs", 4000)
    assert "learning rate 0.01 divided by 10 every 1,901 iterations (2 times), 4,000 iterations: 1,000 epochs" in note
    assert '"31,561 iterations" (6,298 epochs) and "1,000 epochs" (1,000 epochs)' in note
    assert 'This run follows "1,000 epochs": the shorter one, to keep the quick run within its GPU budget' in note
    paper = ft.schedule_note(dict(schedule, iterations=25_193, step=11_973), "31,561 iterations", 4000)
    assert "every 11,973 iterations (2 times), 25,193 iterations: 6,298 epochs" in paper
    smoke = ft.schedule_note(dict(schedule, iterations=30, step=14, batch_size=1000), 30, 30)
    assert "batch 30," in smoke and "(2 times), 30 iterations: 30 epochs" in smoke and "follows neither" in smoke
    with pytest.raises(ValueError, match=r"schedule lacks \['learning_rate'\]"):
        ft.schedule_note(dict(iterations=1, step=1, batch_size=2), 1.0, 10)


def test_grid_tables_choose_on_validation_only():
    results = {(n1, n2): {"val mAP": float(n1 + n2), "mAP": float(n1 - n2)} for n1 in (4, 8) for n2 in (1, 2)}
    val, test, choice = ft.grid_tables(results)
    assert choice == (8, 2) and test.loc[2, 8] == 6.0 and list(val.columns) == [4, 8] and val.index.name == "N2"
    close = {(4, 1): {"val mAP": 50.004, "mAP": 1.0}, (8, 1): {"val mAP": 50.001, "mAP": 2.0}}
    assert ft.grid_tables(close)[2] == (4, 1)  # unrounded: 50.00 and 50.00 would tie


def _table(rows: dict[str, float], classes=("a", "b")) -> pd.DataFrame:
    """A Table 1 frame as pick_pca leaves it, every class at the row's mAP."""
    return pd.DataFrame.from_dict({k: {"dims": 4, "C": 1.0, "C at edge": k == "LR", **{c: v for c in classes},
                                       "mAP": v} for k, v in rows.items()}, orient="index")


def _gaps(*spans: tuple[float, float, float]) -> pd.DataFrame:
    """A gap_table frame of GAPS from (gap, low, high) spans."""
    table = pd.DataFrame([dict(zip(("gap", "low", "high"), span), used=1000) for span in spans],
                         index=[f"{a} - {b}" for a, b in ft.GAPS])
    return table.assign(**{"within noise": (table["low"] <= 0) & (table["high"] >= 0)})


def test_findings_follow_the_numbers_and_call_a_gap_within_noise_when_its_interval_holds_zero():
    rows = {"HR": 90.0, "LR": 70.0, "transfer (nearest)": 75.0, "transfer (paired)": 75.0, ft.PCA_ROW: 75.2}
    test_grid = pd.DataFrame({4: [70.0, 71.0], 8: [72.0, 69.0]}, index=[2, 4])
    gaps = _gaps((5.0, 3.0, 7.0), (-0.2, -0.9, 0.4), (0.0, 0.0, 0.0))
    text = ft.findings({"cifar10 8x8": _table(rows)}, (8, 2), test_grid, {"net": 0.5}, {"cifar10 8x8": gaps})
    assert "beats the LR baseline (+5.00 points, 95% interval +3.00 to +7.00)" in text
    assert "(paper, VOC2007 with ResNet-101, other data: +1.9)" in text and "paper +1.9" not in text
    assert "is within noise of the PCA control (-0.20 points, 95% interval -0.90 to +0.40)" in text
    assert "the nearest reading is within noise of the paired one (+0.00 points" in text  # an exact tie
    assert "does better" not in text and "PCA 75.2 (4 dims, chosen on validation)" in text
    assert "C at the edge of its grid** for LR" in text and "under-fit" in text
    assert "N1 = 8, N2 = 2 (test mAP 72.0)" in text
    behind = ft.findings({"x 4x4": _table(rows)}, (8, 2), test_grid, {"net": 0.95},
                         {"x 4x4": _gaps((-2.0, -3.0, -1.0), (1.0, 0.5, 1.5), (0.3, -0.1, 0.6))})
    assert "falls behind the LR baseline" in behind and "beats the PCA control" in behind
    assert "none is under-fit" in behind
    with pytest.raises(ValueError, match="findings needs Table 1 frames"):
        ft.findings({"x": _table(rows).drop(index="HR")}, (8, 2), test_grid, {}, {"x": gaps})
    with pytest.raises(ValueError, match=r"findings needs gap_table\(..., GAPS\) for every block"):
        ft.findings({"x": _table(rows)}, (8, 2), test_grid, {"net": 0.5}, {})


def test_map_summary_puts_the_papers_voc2007_values_beside_ours_under_their_own_heading():
    rows = {"HR": 90.0, "LR": 70.0, "transfer (nearest)": 75.0, "transfer (paired)": 76.0, ft.PCA_ROW: 74.0}
    summary = ft.map_summary({"cifar10 8x8": _table(rows),
                              "cifar10 16x16": _table({k: v + 1 for k, v in rows.items()})})
    paper = "paper: VOC2007, ResNet-101 (other data: not comparable)"
    assert list(summary.columns) == ["cifar10 8x8", "cifar10 16x16", paper]
    assert list(summary.index) == ["HR", "LR", "transfer (nearest)", "transfer (paired)", ft.PCA_ROW]
    assert summary.loc["LR", "cifar10 16x16"] == 71.0
    assert summary[paper].tolist()[:3] == [89.1, 78.1, 80.0] and summary[paper].iloc[3:].isna().all()
    assert list(ft.map_summary({"voc2007 32x32": _table(rows)}).columns)[-1] == "paper: VOC2007, ResNet-101"
    with pytest.raises(KeyError, match=r"lack rows \{'x': \['PCA of LR'\]\}"):
        ft.map_summary({"x": _table(rows).drop(index=ft.PCA_ROW)})


def test_papers_numbers_and_settings():
    assert CITATIONS["transfer"].startswith("Y. Wu, Z. Zhang, G. Wang.")
    assert np.mean(list(TRANSFER_TABLE1["Ours"].values())) == pytest.approx(80.0, abs=0.05)
    assert TRANSFER_TABLE2[4096, 100] == 0.800 and len(TRANSFER_TABLE2) == 30
    quick = SETTINGS["03_feature_transfer"]["quick"]
    assert quick["n1s"] == [256, 512, 1024, 2048, 4096] and quick["n2s"] == [20, 100, 200, 500, 1000, 2048]
    assert quick["epochs"] == "1,000 epochs"
    assert SETTINGS["03_feature_transfer"]["paper"]["epochs"] == "31,561 iterations"
    assert ft.paper_rows("cifar10") is None
    paper = ft.paper_rows("voc2007")
    assert paper.loc["paper: Ours", "mAP"] == 80.0 and list(paper.columns) == [*data.VOC_CLASSES, "mAP"]
    paper_profile = SETTINGS["03_feature_transfer"]["paper"]
    assert paper_profile["sets"] == {"voc2007": (None, 1000)} and paper_profile["input_size"] // 7 == 32


def test_splits_hold_out_a_stratified_validation_set():
    parts, classes = ft.splits("samples", None, 10, seed=0)
    train, val, test = (parts[k] for k in ft.PARTS)
    assert len(val.labels) == 10 and len(train.labels) == 30 and len(test.labels) == 40 and len(classes) == 10
    assert torch.bincount(val.labels, minlength=10).tolist() == [1] * 10  # one per class, in proportion
    for part in parts.values():  # single-label: one class against the rest
        assert torch.equal(part.targets, ft.one_vs_rest(part.labels, 10).to(torch.int8))
    train_rows, val_rows = {x.numpy().tobytes() for x in train.images}, {x.numpy().tobytes() for x in val.images}
    assert not train_rows & val_rows
    with pytest.raises(ValueError, match="1 <= n_val < 40; got 40"):
        ft.splits("samples", None, 40)
    with pytest.raises(ValueError, match="set5 .photos. has no training and test splits; use one of cifar10"):
        ft.splits("set5", None, 10)


VOC_SPLITS = {"trainval": [f"{i:06d}" for i in range(0, 120, 2)], "test": [f"{i:06d}" for i in range(1, 61, 2)]}


@pytest.fixture
def voc(root) -> dict[str, np.ndarray]:
    """A miniature VOC2007 devkit under $LRLIB_DATA (60 trainval, 30 test photos): split -> written targets."""
    written = write_voc(root / "voc2007", VOC_SPLITS, seed=3)
    assert all(len({tuple(r) for r in t}) == len(t) for t in written.values())  # rows tell the photos apart
    return written


def _rows(targets: torch.Tensor, written: np.ndarray) -> list[int]:
    """The row of ``written`` that each row of ``targets`` is."""
    where = {tuple(r): i for i, r in enumerate(written.tolist())}
    return [where[tuple(r)] for r in targets.tolist()]


def test_splits_of_voc2007_hold_out_part_of_trainval_and_test_on_test(voc):
    parts, classes = ft.splits("voc2007", None, 20, seed=1, size=16)
    train, val, test = (parts[k] for k in ft.PARTS)
    assert classes == data.VOC_CLASSES and len(val.labels) == 20 and len(train.labels) == 40
    rows_train, rows_val = _rows(train.targets, voc["trainval"]), _rows(val.targets, voc["trainval"])
    assert not set(rows_train) & set(rows_val) and sorted(rows_train + rows_val) == list(range(60))
    assert np.array_equal(test.targets.numpy(), voc["test"]) and test.targets.dtype == torch.int8
    pool = data.load_multilabel("voc2007", "trainval", size=16)
    assert torch.equal(train.images, pool.images[rows_train]) and torch.equal(val.images, pool.images[rows_val])
    for part in parts.values():  # the label: the first present class, else the first difficult one
        for t, y in zip(part.targets.tolist(), part.labels.tolist()):
            assert y == (t.index(1) if 1 in t else t.index(0))
    again = ft.splits("voc2007", None, 20, seed=1, size=16)[0]["val"]
    assert torch.equal(again.targets, val.targets)
    assert not torch.equal(ft.splits("voc2007", None, 20, seed=2, size=16)[0]["val"].targets, val.targets)
    assert ft.is_multilabel("voc2007") and not ft.is_multilabel("cifar10")
    with pytest.raises(ValueError, match=r"rows \[1\] \(1 images\) are absent from every class"):
        ft.first_positive(torch.tensor([[1, -1], [-1, -1]]))


def test_table1_on_voc2007_targets_gives_the_per_class_aps_of_svms_fitted_by_hand(voc):
    """The notebook's Table 1 cells on tiny random features with the devkit's targets: every row's per-class APs
    are class_aps of SVMs fitted and chosen by hand, and the paper's rows join ours column by column."""
    parts, classes = ft.splits("voc2007", None, 20, seed=0, size=16)
    targets = tuple(parts[k].targets for k in ft.PARTS)
    gen = torch.Generator().manual_seed(0)
    signal = torch.randn(20, 6, generator=gen)
    hr = {k: t.float() @ signal + 0.5 * torch.randn(len(t), 6, generator=gen) for k, t in zip(ft.PARTS, targets)}
    lr = {k: v + 2 * torch.randn(v.shape, generator=gen) for k, v in hr.items()}
    schedule = dict(iterations=5, step=3, batch_size=16, learning_rate=0.05)
    nets, accuracy = ft.train_transfers([Transfer(hr["train"], lr["train"], 8, 4, r) for r in ft.READINGS], schedule)
    cs = [0.1, 1.0, 10.0]
    spaces = ft.table1_spaces(hr, lr, dict(zip(ft.READINGS, nets)), [2, 3])
    table, scores = ft.evaluate_spaces(spaces, targets, cs, classes)
    weights = fit_svms([s[0] for s in spaces.values()], targets[0], cs)
    for (name, (_, val, test)), w in zip(spaces.items(), weights):
        best = int(np.argmax([class_aps(s, targets[1]).mean() for s in svm_scores(w, val)]))
        aps = 100 * class_aps(svm_scores(w, test)[best], targets[2])
        assert table.loc[name, "C"] == cs[best]
        np.testing.assert_allclose(table.loc[name, classes].to_numpy(float), aps, atol=1e-9)
    table, scores = ft.pick_pca(table, scores)
    joined = pd.concat([table, ft.paper_rows("voc2007")])
    assert joined.loc["paper: Ours", classes].notna().all() and joined.loc["HR", classes].notna().all()
    _, test_grid, choice = ft.grid_tables({(8, 4): table.loc["transfer (nearest)"]})
    gaps = ft.gap_table(scores, targets[2], list(ft.GAPS), resamples=50)
    text = ft.findings({"voc2007 4x4": table}, choice, test_grid, dict(zip(ft.READINGS, accuracy)),
                       {"voc2007 4x4": gaps})
    assert "(paper, the same data: +1.9)" in text
    assert f"HR {table.loc['HR', 'mAP']:.1f}, LR {table.loc['LR', 'mAP']:.1f}" in text
    gains = [table.loc["transfer (nearest)", c] - table.loc["LR", c] for c in classes]
    paper = ft.paper_rows("voc2007")
    paper_wins = sum(paper.loc["paper: Ours", c] > paper.loc["paper: Baseline-LR", c] for c in classes)
    assert f"HR {table.loc['HR', 'mAP']:.1f} (paper 89.1)" in text and "11.0 in the paper" in text
    assert f"beats LR in {sum(g > 0 for g in gains)} of 20 classes here" in text
    assert f"and in {paper_wins} of 20 in the paper" in text


@pytest.mark.parametrize("n, classes, n_val", [(1000, 10, 300), (90, 3, 60), (50, 5, 7)])
def test_the_held_out_draw_takes_every_class_in_proportion(n, classes, n_val):
    """Whatever N and n_val: picks spread over the class-sorted order (a cut of every (N // n_val)-th item used to
    leave the last classes out when N / n_val was not whole)."""
    from lrlib.studies.feature_transfer.experiments import _held_out

    labels = torch.arange(n) % classes
    kept, held = _held_out(labels, n_val, seed=0)
    assert len(held) == n_val and len(set(held.tolist())) == n_val
    assert sorted(kept.tolist() + held.tolist()) == list(range(n))
    counts = torch.bincount(labels[held], minlength=classes)
    assert counts.max() - counts.min() <= 1  # equal classes: equal shares, give or take one


def test_work_counts_the_extractions_and_the_networks():
    line = ft.work({"a": 30, "b": 20}, 12, [2, 4], [8, 16], [2, 4, 6], epochs=10, batch_size=5, cs=[0.1, 1.0])
    iterations, _ = ft.same_epochs(12, 5, 10)
    assert "150 feature extractions" in line  # 50 images at HR and 2 factors
    assert f"6 + 8 transfer networks of {iterations:,} iterations of 5" in line  # 2 sets x 2 factors x 2 readings
