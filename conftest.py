"""Test-wide settings: the smoke profile, no progress bars, results kept out of the repository."""

import os
import tempfile

os.environ["LRLIB_PROFILE"] = "smoke"
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("PYTHONWARNINGS", "ignore")
os.environ["LRLIB_RESULTS"] = tempfile.mkdtemp(prefix="lrlib-results-")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collectstart(collector):
    # nbval: stderr (warnings, progress) differs between machines; never compare it. text/markdown: the
    # Markdown form of DataFrames (viz.style) says what their text/plain, which is compared, says.
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("text/html", "text/markdown", "application/javascript", "stderr")
