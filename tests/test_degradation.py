import numpy as np
import pytest
import torch

from lrlib.studies import degradation
from lrlib.backbones import load_backbone


def test_relevance_modes():
    y = torch.tensor([0, 0, 1])
    assert degradation.relevance(y, "instance").equal(torch.eye(3, dtype=torch.bool))
    assert degradation.relevance(y, "class").tolist() == [[False, True, False], [True, False, False],
                                                      [False, False, False]]
    with pytest.raises(ValueError, match="'pixel'"):
        degradation.relevance(y, "pixel")


def test_feature_shift_table():
    torch.manual_seed(0)
    b = load_backbone("resnet18", pretrained=False)
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(12) % 3
    table, feats = degradation.feature_shift(b, images, labels, [2, 4, 8], dataset="t", mode="class",
                                       input_size=32, knn_k=3, progress=False)
    assert list(table.index) == [1, 2, 4, 8] and list(table["lr_side"]) == [32, 16, 8, 4]
    assert table.loc[1, "mean_distance"] == pytest.approx(0, abs=1e-6)
    assert (table.loc[[2, 4, 8], "mean_distance"] > 0).all()
    assert feats[4].shape == (12, 512)
    row = degradation.table1_row(table)
    assert list(row) == ["1/4", "1/16", "1/64", "Average"]
    assert row["Average"] == pytest.approx(table.loc[[2, 4, 8], "var_distance"].mean())


def test_class_retrieval_leaves_the_query_s_own_hr_copy_out_of_the_ranking():
    """Class mode's mAP is the all-point AP, by brute force, of each LR query over the other HR images only: its
    own HR copy (usually its nearest item) neither counts as relevant nor pushes the relevant items down."""
    torch.manual_seed(0)
    b = load_backbone("resnet18", pretrained=False)
    images = torch.randint(0, 256, (10, 3, 16, 16), dtype=torch.uint8)
    labels = torch.arange(10) % 2
    table, feats = degradation.feature_shift(b, images, labels, [2], dataset="t", mode="class", input_size=16,
                                             knn_k=3, progress=False)
    q, db = feats[2].double(), feats[1].double()
    aps = []
    for i in range(10):
        others = [j for j in range(10) if j != i]
        order = sorted(others, key=lambda j: float((q[i] - db[j]).norm()))
        hits = [labels[j] == labels[i] for j in order]
        aps.append(np.mean([sum(hits[:r + 1]) / (r + 1) for r, h in enumerate(hits) if h]))
    assert table.loc[2, "map"] == pytest.approx(float(np.mean(aps)), abs=1e-6)


def test_instance_mode_hr_against_itself_is_perfect():
    b = load_backbone("resnet18", pretrained=False)
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    table, _ = degradation.feature_shift(b, images, torch.arange(6), [2], dataset="t", mode="instance",
                                   input_size=16, progress=False)
    assert table.loc[1, "map"] == pytest.approx(1.0) and table["knn_accuracy"].isna().all()
    refs = degradation.reference_distances(torch.randn(6, 4), torch.arange(6))
    assert refs["similar"] is None and refs["different"] > 0


# --- bad input: refused before minutes of feature extraction, never a silently wrong table -----------------


def _no_extraction(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("features were extracted before the arguments were checked")

    monkeypatch.setattr(degradation, "features", fail)


@pytest.mark.parametrize("kwargs,message", [(dict(mode="pixel"), "'pixel'"),
                                            (dict(labels=torch.arange(5)), "one per image"),
                                            (dict(factors=[2, 0]), "factor"),
                                            (dict(images=torch.rand(6, 3, 16, 16) * 255), "divide by 255")])
def test_feature_shift_checks_its_arguments_before_extracting(monkeypatch, kwargs, message):
    _no_extraction(monkeypatch)
    args = dict(images=torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8), labels=torch.arange(6),
                factors=[2], mode="instance")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        degradation.feature_shift(load_backbone("resnet18", pretrained=False), dataset="t", progress=False, **args)


def test_table1_row_and_relevance_refuse_what_they_cannot_use():
    import pandas as pd

    hr_only = pd.DataFrame({"ratio": ["1/1"], "var_distance": [0.0]}, index=pd.Index([1], name="factor"))
    with pytest.raises(ValueError, match="factor > 1"):  # the average would be NaN
        degradation.table1_row(hr_only)
    with pytest.raises(ValueError, match="1-d"):  # (N, 1) labels would give an (N, N, N) "relevance"
        degradation.relevance(torch.arange(4)[:, None], "class")
