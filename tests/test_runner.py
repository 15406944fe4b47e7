import json

import nbformat
import pytest

from lrlib import runner


def _executed_notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = None", metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell('profile = "quick"', metadata={"tags": ["injected-parameters"]})
    work = nbformat.v4.new_code_cell("print(1)", metadata={"papermill": {"duration": 1.0}, "tags": ["report"]})
    work.outputs = [nbformat.v4.new_output("stream", name="stderr", text="100%|####|"),
                    nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells = [params, injected, work]
    nb.metadata["papermill"] = {"parameters": {"profile": "quick"}}
    nbformat.write(nb, path)


def test_clean_notebook_strips_papermill_residue(tmp_path):
    path = tmp_path / "nb.ipynb"
    _executed_notebook(path)
    runner.clean_notebook(path)
    nb = json.loads(path.read_text())
    assert "papermill" not in nb["metadata"]
    assert [c["metadata"].get("tags") for c in nb["cells"]] == [["parameters"], ["report"]]
    outputs = nb["cells"][1]["outputs"]
    assert [(o["name"], "".join(o["text"])) for o in outputs] == [("stdout", "1\n")]


def test_report_collects_tagged_outputs(tmp_path):
    path = tmp_path / "01_x.ipynb"
    _executed_notebook(path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].outputs.append(nbformat.v4.new_output("stream", name="stdout", text="2\n"))
    nbformat.write(nb, path)
    report = runner.write_report([runner.Executed("01_x", path, 1.5)], tmp_path, "smoke")
    text = report.read_text()
    assert "| 01_x | 1.5 |" in text and "## 01_x" in text
    assert "```\n1\n2\n```" in text and "100%" not in text  # one block for the pieces of stdout; no stderr


def _tiny_notebook(path):
    """A notebook whose ``report`` cells print, warn, show progress, tables and two figures in one section."""
    code, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    report = {"tags": ["report"]}
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        code("%matplotlib inline\nimport sys\nimport matplotlib.pyplot as plt\nimport pandas as pd\n"
             "from IPython.display import display\nfrom tqdm import tqdm\nfrom lrlib import viz\nviz.style()"),
        md("# 01 · A tiny notebook\n\n## Table 1: two numbers\n\nSome text."),
        code('print("real text")\nprint("a warning", file=sys.stderr)\n'
             "for _ in tqdm(range(3), file=sys.stdout, disable=False, desc='stdout bar'): pass\n"
             "for _ in tqdm(range(3), disable=False, desc='stderr bar'): pass\n"
             'pd.DataFrame({"a": [1.5, None]}, index=pd.Index(["x", "y"], name="row"))', metadata=report),
        code('display({"text/html": "<style>td {color: red}</style><table></table>", "text/plain": "plain table"},'
             " raw=True)", metadata=report),
        code("plt.plot([0, 1])\nplt.show()"),  # not tagged: not in the report
        md("## Fig. 2: the weight lambda"),
        code("for k in (1, 2):\n    plt.figure(figsize=(2, 2))\n    plt.plot([0, k])\n    plt.show()",
             metadata=report),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_report_of_an_executed_notebook(tmp_path, capfd):
    path = tmp_path / "01_tiny.ipynb"
    _tiny_notebook(path)
    run = runner.execute(path, tmp_path / "run", "smoke", timeout=120)
    assert "without encryption" not in capfd.readouterr().err  # the kernel's start-up warning is silenced
    text = runner.write_report([run], tmp_path / "run", "smoke").read_text()
    assert f"| 01_tiny | {run.seconds:.1f} |" in text
    table = "| row | a |\n| --- | ---: |\n| x | 1.5 |\n| y |  |\n"
    assert f"### Table 1: two numbers\n\n```\nreal text\n```\n\n{table}" in text
    assert "```\nplain table\n```" in text
    for noise in ("a warning", "bar", "%|", "it/s", "<style>", "<table>"):
        assert noise not in text, noise
    nb = nbformat.read(tmp_path / "run" / "01_tiny.ipynb", as_version=4)
    durations = [c.metadata["papermill"]["duration"] for c in nb.cells if c.cell_type == "code"]
    parts = {"(before the first heading)": durations[0], "Table 1: two numbers": sum(durations[1:4]),
             "Fig. 2: the weight lambda": durations[4]}
    assert "| part | seconds |\n| --- | ---: |\n" + "".join(f"| {k} | {v:.1f} |\n" for k, v in parts.items()) in text
    figures = [f"01_tiny-fig-2-the-weight-lambda-{k}.png" for k in (1, 2)]
    assert sorted(p.name for p in (tmp_path / "run" / "figures").iterdir()) == figures
    assert "### Fig. 2: the weight lambda\n\n" + "".join(f"![Fig. 2: the weight lambda](figures/{f})\n\n"
                                                          for f in figures) in text


def test_failure_names_notebook_and_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('bad scale 0')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "07_fail.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(runner.NotebookFailed, match=r"07_fail failed in cell 2 .*: ValueError: bad scale 0"):
        runner.execute(path, tmp_path / "out", "smoke", timeout=120)


def test_a_timeout_names_the_cell_by_its_position(tmp_path):
    """A cell that runs too long used to be reported as 'failed before any cell ran'; execution counts are not
    positions either (Markdown cells have none), so the position is what a reader can find."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_markdown_cell("text"), nbformat.v4.new_code_cell("import time; time.sleep(60)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "08_slow.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(runner.NotebookFailed, match=r"08_slow failed in cell 4 .*past the limit of 3 s per cell"):
        runner.execute(path, tmp_path / "out", "smoke", timeout=3)


def test_publish_copies_the_cleaned_notebook_and_its_results(tmp_path):
    out = tmp_path / "run"
    (out / "results").mkdir(parents=True)
    executed = out / "03_x.ipynb"
    _executed_notebook(executed)
    run = runner.Executed("03_x", executed, 2.0)
    with pytest.raises(ValueError, match="03_x wrote no results file"):
        runner.publish(run, out, notebooks_dir=tmp_path / "nbs", results=tmp_path / "res")
    (out / "results" / "03_x.json").write_text('{"numbers": {"a": 1}}')
    (tmp_path / "nbs").mkdir()
    written = runner.publish(run, out, notebooks_dir=tmp_path / "nbs", results=tmp_path / "res")
    assert written == [tmp_path / "nbs" / "03_x.ipynb", tmp_path / "res" / "03_x.json"]
    nb = json.loads(written[0].read_text())
    assert "papermill" not in nb["metadata"]
    assert all("injected-parameters" not in c["metadata"].get("tags", []) for c in nb["cells"])
    assert json.loads(written[1].read_text()) == {"numbers": {"a": 1}}


@pytest.mark.parametrize("profile", [None, "smoke", "paper"])
def test_cli_publish_needs_the_cpu_or_quick_profile(capsys, profile):
    from lrlib.cli import main

    assert main(["reproduce", *(["--profile", profile] if profile else []), "--publish", "--only", "01"]) == 2
    assert "--publish needs --profile cpu" in capsys.readouterr().err


def _photos(folder, n=2):
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (48, 40), (i * 40, 90, 200)).save(folder / f"{i}.png")


def _cifar_pickles(root):
    """torchvision's CIFAR-10 layout with one tiny batch per split: what ``status`` counts as ready."""
    import pickle

    import numpy as np

    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a", b"b"]}))


def test_datasets_needed_reads_the_settings():
    assert runner.datasets_needed("01_degradation", "cpu") == ["b100", "cifar10", "urban100"]
    assert runner.datasets_needed("01_degradation", "smoke") == ["samples"]
    assert set(runner.datasets_needed("05_dog_sr_sift", "cpu")) >= {"t91", "set5", "graf"}


def test_choose_profile_without_gpu(root, monkeypatch, capsys):
    """No GPU: cpu where its data are there; a missing set fetched when that works (online); else smoke, with a
    banner for the report and the missing set named."""
    from lrlib import data

    only = runner.notebooks(["01"])
    assert runner.choose_profile(only, gpu=True) == ("quick", None)
    profile, banner = runner.choose_profile(only, gpu=False, progress=False)  # an empty root, offline
    assert profile == "smoke" and "numbers mean nothing" in banner and "b100" in banner and "cifar10" in banner
    out = capsys.readouterr().out
    assert "b100" in out and "could not be fetched" in out
    _cifar_pickles(root)
    _photos(root / "sr" / "b100")
    _photos(root / "sr" / "urban100-subset")
    assert runner.choose_profile(only, gpu=False) == ("cpu", None)
    (root / "sr" / "b100" / "0.png").unlink(), (root / "sr" / "b100" / "1.png").unlink()
    fetched = []

    def fetch(name, progress=True):  # stands in for a download: the files arrive
        fetched.append(name)
        _photos(root / "sr" / name / "new")
        return root / "sr" / name

    monkeypatch.setattr(data, "fetch", fetch)
    assert runner.choose_profile(only, gpu=False) == ("cpu", None) and fetched == ["b100"]


def test_report_starts_with_the_banner(tmp_path):
    path = tmp_path / "01_x.ipynb"
    _executed_notebook(path)
    text = runner.write_report([runner.Executed("01_x", path, 1.5)], tmp_path, "smoke", banner="**meaningless**")
    assert text.read_text().splitlines()[2] == "> **meaningless**"
