import inspect

import numpy as np
import pandas as pd
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


@pytest.mark.parametrize("bad", ["-1", "0", "99999", "http"])
def test_cli_lab_refuses_a_port_outside_1_to_65535(capsys, monkeypatch, bad):
    import lrlib.cli

    def never(*args):
        raise AssertionError("the port reached JupyterLab")

    monkeypatch.setattr(lrlib.cli, "install_kernel", never)  # a port that gets through must not start anything
    monkeypatch.setattr(lrlib.cli.os, "execv", never)
    with pytest.raises(SystemExit) as exit_:
        main(["lab", "--port", bad])
    assert exit_.value.code == 2 and "--port" in capsys.readouterr().err


@pytest.mark.parametrize("device", ["mps", "cuda"])
def test_setup_refuses_a_device_this_machine_lacks(device):
    available = torch.backends.mps.is_available() if device == "mps" else torch.cuda.is_available()
    if available:
        pytest.skip(f"this machine has {device}")
    with pytest.raises(ValueError, match=rf"'{device}' asked for, but this machine has no .*: use 'cpu'"):
        setup("01_degradation", "smoke", device=device)


def test_cli_refuses_a_timeout_that_is_no_limit_and_an_out_under_a_file(tmp_path, capsys):
    for bad in ("-5", "0", "ten"):  # papermill would read 0 or less as 'no limit'
        with pytest.raises(SystemExit):
            main(["reproduce", "--profile", "smoke", "--only", "01", "--timeout", bad])
        assert "--timeout" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["reproduce", "--profile", "smoke", "--only", "01", "--out", str(blocker)]) == 2
    assert f"--out {blocker} is a file" in capsys.readouterr().err
    assert main(["reproduce", "--profile", "smoke", "--only", "01", "--out", str(blocker / "run")]) == 2
    assert f"{blocker} is a file, not a folder" in capsys.readouterr().err


def test_cli_data_list_and_offline_fetch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LRLIB_DATA", str(tmp_path))
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "cifar10" in out and "missing" in out
    assert main(["data", "fetch", "b100"]) == 1  # photo sets cannot be downloaded: say where to put them
    assert "sr/b100" in capsys.readouterr().err


def test_markdown_table_by_hand():
    rows = pd.MultiIndex.from_tuples([("set5", "bicubic"), ("set5", "dog|sr")], names=["data", None])
    columns = pd.MultiIndex.from_tuples([("psnr", "x2"), ("psnr", "x4"), ("note", "")])
    frame = pd.DataFrame([[30.1234, np.nan, "ok"], [31.5, 28.0, None]], index=rows, columns=columns)
    assert viz.markdown_table(frame) == "\n".join([
        "| data |  | psnr · x2 | psnr · x4 | note |",
        "| --- | --- | ---: | ---: | --- |",
        "| set5 | bicubic | 30.1234 |  | ok |",
        "| set5 | dog\\|sr | 31.5000 | 28.0 |  |",
    ])
    assert viz.markdown_table(pd.Series([1, 20], index=pd.Index(["a", "b"], name="key"), name="n")) == \
        "| key | n |\n| --- | ---: |\n| a | 1 |\n| b | 20 |"


def test_style_gives_dataframes_markdown_in_ipython():
    from IPython.core.interactiveshell import InteractiveShell

    frame = pd.DataFrame({"a": [1.5]})
    viz.style()  # outside IPython: figure style only
    shell = InteractiveShell.instance()
    try:
        viz.style()
        shown, _ = shell.display_formatter.format(frame)
        assert shown["text/markdown"] == viz.markdown_table(frame) and "text/html" in shown
        with pd.option_context("display.max_rows", 2):  # long tables: HTML only, as pandas truncates them
            assert "text/markdown" not in shell.display_formatter.format(pd.Series(range(3)))[0]
    finally:
        InteractiveShell.clear_instance()


def test_show_source_is_what_runs():
    source = viz.show_source(viz.paper_table)
    code, line = inspect.getsourcelines(viz.paper_table)
    assert source.code == inspect.getsource(viz.paper_table) == "".join(code)
    caption = f"`lrlib.viz.paper_table` (lrlib/viz.py, line {line})"
    assert source._repr_markdown_() == f"{caption}\n\n```python\n{source.code.rstrip()}\n```\n"
    assert repr(source).startswith(f"lrlib.viz.paper_table (lrlib/viz.py, line {line})\n\ndef paper_table(")
    method = viz.show_source(viz.Source._repr_markdown_)
    assert method.name == "lrlib.viz.Source._repr_markdown_" and method.code.startswith("def _repr_markdown_")
    with pytest.raises(TypeError, match="builtins.len has no Python source"):
        viz.show_source(len)


# --- bad input: a clear error naming the argument, never a silently wrong figure or setting ---------------


def test_tsne_refuses_nan_and_flat_features():
    x = np.random.default_rng(0).normal(size=(30, 8))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="features holds 1 NaN"):
        viz.tsne(x)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        viz.tsne(np.zeros(30))


def test_tsne_panels_refuses_labels_without_a_class_name():
    emb = np.zeros((4, 2))
    with pytest.raises(ValueError, match="2 classes"):  # the points of class 2 would silently not be drawn
        viz.tsne_panels({"a": emb}, np.array([0, 1, 2, 1]), ["cat", "dog"])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        viz.tsne_panels({"a": emb[:3]}, np.array([0, 1, 1, 1]), ["cat", "dog"])


def test_figures_and_tables_refuse_what_they_cannot_show():
    with pytest.raises(ValueError, match="uint8"):  # a [0, 1] float image would be shown black
        viz.degradation_grid({"photo": torch.rand(3, 16, 16)}, [2])
    with pytest.raises(ValueError, match="ours is empty"):
        viz.paper_table({}, {"1/4": 0.1})
    with pytest.raises(ValueError, match="no column"):
        viz.ratio_plot({"a": pd.DataFrame({"ratio": ["1/4"], "map": [0.5]})}, "mAP", ylabel="", title="")
    with pytest.raises(TypeError, match="DataFrame"):
        viz.markdown_table([1, 2])


def test_setup_names_a_missing_setting_and_refuses_a_device_it_cannot_use():
    run = setup("01_degradation", "smoke")
    with pytest.raises(AttributeError, match="did you mean 'factors'"):
        run.factor
    with pytest.raises(ValueError, match="'gpu'"):
        setup("01_degradation", "smoke", device="gpu")
    with pytest.raises(ValueError, match="seed"):
        setup("01_degradation", "smoke", seed=-1)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            setup("01_degradation", "quick", device="cuda")
