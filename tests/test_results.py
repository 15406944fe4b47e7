import json

import pytest
import torch

from lrlib.results import load_results, provenance, save_results


def test_save_and_load_with_provenance(tmp_path):
    meta = provenance("smoke", "cpu", dataset="samples")
    path = save_results("00_test", {"x": torch.tensor(1.5), "y": [1, 2]}, meta, folder=tmp_path)
    back = load_results("00_test", folder=tmp_path)
    assert back["results"] == {"x": 1.5, "y": [1, 2]}
    for key in ("git_commit", "profile", "device", "torch", "date", "dataset"):
        assert key in back["meta"]
    assert not list(tmp_path.glob("*.tmp")) and path.name == "00_test.json"


def test_other_profile_is_kept_not_overwritten(tmp_path):
    save_results("00_test", {"v": 1}, {"profile": "quick"}, folder=tmp_path)
    save_results("00_test", {"v": 2}, {"profile": "smoke"}, folder=tmp_path)
    kept = list(tmp_path.glob("00_test.quick.*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["results"] == {"v": 1}
    assert load_results("00_test", folder=tmp_path)["results"] == {"v": 2}


def test_missing_results_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 09"):
        load_results("09", folder=tmp_path)
