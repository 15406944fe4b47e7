"""``lrlib lab``: a real JupyterLab server on 127.0.0.1 lists the course notebooks and runs the project's kernel.

Every Jupyter folder (data, runtime, config) and IPython's are temporary: the user's own are never touched.
The whole test is bounded by ``DEADLINE_S``, so it cannot hang CI.
"""

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

for module in ("jupyterlab", "jupyter_server"):
    pytest.importorskip(module, reason=f"{module} is not installed; the dev extra installs it (make env)")

from jupyter_client import BlockingKernelClient  # noqa: E402

from lrlib import runner  # noqa: E402
from lrlib.cli import KERNEL_DISPLAY_NAME, KERNEL_NAME, install_kernel, lab_command  # noqa: E402
from lrlib.paths import repo_root  # noqa: E402

DEADLINE_S = 60


class Server:
    """The REST API of a Jupyter server at ``http://127.0.0.1:port``, authenticated with ``token``."""

    def __init__(self, port: int, token: str, deadline: float):
        self.url, self.token, self.deadline = f"http://127.0.0.1:{port}", token, deadline
        self._open = urllib.request.build_opener(urllib.request.ProxyHandler({})).open  # never through a proxy

    def left(self) -> float:
        """Seconds left before the test's deadline (at least 1)."""
        return max(1.0, self.deadline - time.monotonic())

    def api(self, method: str, path: str, body: dict | None = None):
        """The decoded JSON answer (None when empty) of ``method path``."""
        request = urllib.request.Request(
            self.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with self._open(request, timeout=min(10.0, self.left())) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def wait_ready(self, process: subprocess.Popen, log: Path) -> None:
        while time.monotonic() < self.deadline:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        pytest.fail(f"jupyter lab did not answer within {DEADLINE_S} s:\n{log.read_text()[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary Jupyter and IPython folders for this test; returns the runtime folder (connection files)."""
    folders = {name: tmp_path / name.lower() for name in
               ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR")}
    for name, folder in folders.items():
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    install_kernel(folders["JUPYTER_DATA_DIR"] / "kernels")
    return folders["JUPYTER_RUNTIME_DIR"]


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A JupyterLab server started with ``lrlib lab``'s command line (no browser, a free port, a token)."""
    runtime = _jupyter_env(tmp_path, monkeypatch)
    port, token = _free_port(), secrets.token_hex(16)
    argv = lab_command(port, browser=False) + [f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"]
    log = tmp_path / "lab.log"
    server = Server(port, token, time.monotonic() + DEADLINE_S)
    with log.open("w") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        server.wait_ready(process, log)
        yield server, runtime
    finally:
        try:
            server.api("POST", "/api/shutdown")
        except OSError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _run(client: BlockingKernelClient, code: str, timeout: float) -> str:
    """Execute ``code`` in the kernel; returns what it printed to stdout. Fails on an error reply."""
    printed = []

    def keep(message: dict) -> None:
        if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
            printed.append(message["content"]["text"])

    reply = client.execute_interactive(code, output_hook=keep, timeout=timeout)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(printed)


def test_lab_lists_the_notebooks_and_runs_the_lrlib_kernel(lab):
    server, runtime = lab
    listed = {item["name"] for item in server.api("GET", "/api/contents/notebooks")["content"]}
    assert {path.name for path in runner.notebooks()} <= listed

    specs = server.api("GET", "/api/kernelspecs")["kernelspecs"]
    assert specs[KERNEL_NAME]["spec"]["display_name"] == KERNEL_DISPLAY_NAME

    kernel = server.api("POST", "/api/kernels", {"name": KERNEL_NAME})
    client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{kernel['id']}.json"))
    try:
        client.load_connection_file()
        client.start_channels()
        client.wait_for_ready(timeout=server.left())
        printed = _run(client, "import sys, lrlib\nprint(lrlib.__file__)\nprint(sys.executable)", server.left())
    finally:
        client.stop_channels()
        server.api("DELETE", f"/api/kernels/{kernel['id']}")
    module, python = printed.split()
    assert Path(module) == repo_root() / "lrlib" / "__init__.py"
    assert python == sys.executable  # the kernel spec's Python: this environment's
    assert server.api("GET", "/api/kernels") == []
