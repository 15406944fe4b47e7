import numpy as np
import pytest
import torch

from lrlib import viz
from lrlib.cli import main
from lrlib.profiles import resolve_profile, setup


def test_tsne_shape_and_determinism():
    x = np.random.default_rng(0).normal(size=(30, 60))
    a, b = viz.tsne(x, seed=1), viz.tsne(x, seed=1)
    assert a.shape == (30, 2) and np.allclose(a, b)
    with pytest.raises(ValueError, match="at least 5"):
        viz.tsne(x[:3])


def test_paper_table_differences():
    t = viz.paper_table({"ours": {"1/4": 0.01, "Average": 0.02}}, {"1/4": 0.007})
    assert list(t.index) == ["paper", "ours", "ours - paper"]
    assert t.loc["ours - paper", "1/4"] == pytest.approx(0.003)
    assert t.loc["paper", "Average"] == "n/a"


def test_profile_resolution(monkeypatch):
    monkeypatch.delenv("LRLIB_PROFILE", raising=False)
    assert resolve_profile() == "quick"
    monkeypatch.setenv("LRLIB_PROFILE", "paper")
    assert resolve_profile() == "paper" and resolve_profile("smoke") == "smoke"
    with pytest.raises(ValueError, match="'fast'"):
        resolve_profile("fast")


def test_setup_seeds_and_exposes_settings():
    run = setup("01_degradation", "smoke", seed=3)
    first = torch.rand(2)
    run = setup("01_degradation", "smoke", seed=3)
    assert torch.equal(first, torch.rand(2)) and run.device.type == "cpu"
    assert run.factors == [2, 3, 4, 5, 6, 7, 8]
    with pytest.raises(AttributeError, match="no setting"):
        run.nonexistent


def test_cli_help_and_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "reproduce" in capsys.readouterr().out
    assert main(["reproduce", "--only", "99", "--profile", "smoke"]) == 2
    assert "no notebook matches" in capsys.readouterr().err


def test_cli_data_list_and_offline_fetch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LRLIB_DATA", str(tmp_path))
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "cifar10" in out and "missing" in out
    assert main(["data", "fetch", "b100"]) == 1  # photo sets cannot be downloaded: say where to put them
    assert "sr/b100" in capsys.readouterr().err


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_distillation_profiles_give_every_data_set_a_student_start(profile):
    from lrlib.distill import INITS
    from lrlib.profiles import SETTINGS

    s = SETTINGS["04_distillation"][profile]
    assert set(s["inits"]) == set(s["datasets"])
    assert all(starts and set(starts) <= set(INITS) for starts in s["inits"].values())
    if profile != "smoke":  # the paper's data set gets both readings of "fine-tuned"
        assert s["inits"]["cifar10"] == list(INITS)
