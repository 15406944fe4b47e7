"""Committed notebooks must be publishable: no papermill residue, a literal parameters cell."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean(path):
    nb = json.loads(path.read_text())
    tags = [c.get("metadata", {}).get("tags", []) for c in nb["cells"]]
    # An injected-parameters cell would pin its profile and override $LRLIB_PROFILE in every later run.
    assert not any("injected-parameters" in t for t in tags), "publish with LRLIB_PROFILE=..., not papermill -p"
    assert "papermill" not in nb["metadata"], "strip papermill's notebook metadata"
    assert not any("papermill" in c.get("metadata", {}) for c in nb["cells"]), "strip papermill's cell timings"
    params = [c for c, t in zip(nb["cells"], tags) if "parameters" in t]
    assert len(params) == 1 and params[0] is next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "profile = None" in "".join(params[0]["source"])
