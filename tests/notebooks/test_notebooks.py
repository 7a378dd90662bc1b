"""Execute every tutorial notebook headlessly against a real, token-protected Jupyter server.

The notebooks run with nbclient in a ``python3`` kernel whose working directory is inside the
server's root and whose ``JUPYTER_RUNTIME_DIR`` is the server's: ``jupyter_rt.client`` finds the
server the way it does in a kernel started by Jupyter. Widgets display without a browser; the
Python-client cells do real exchanges, checked in the outputs and in the server's log.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from jupyter_rt.testing import JupyterServer
from tests.helpers import REPO, require_binary, unavailable

pytestmark = [pytest.mark.notebooks, pytest.mark.jupyter, pytest.mark.slow]

NOTEBOOKS = REPO / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))

#: Text each notebook's outputs must contain: proof of real exchanges, not just no errors.
EXPECTED: dict[str, list[str]] = {
    "01-tick.ipynb": [
        r"ticks received from Python: \[0, 1, 2",
        r"ticks received with await: \[\{'tick': 0\}, \{'tick': 1\}",
    ],
    "02-chat.ipynb": [
        r"listener heard: py-bot: Hello from Python!",
        r"rename: \{'success': True, 'name': 'py-bot'\}",
        r"the Lobby heard: \['py-bot has left Lobby\.'\]",
        r"rooms: \[.*'Cellar'.*\]",
    ],
    "03-events-and-acks.ipynb": [
        r"Hello, Ada!",
        r"no answer within 0\.5 s",
        r"finally done",
        r"callback got: \['Hello, Grace!'\]",
        r"'answer': 42",
        r"\{'ok': True, 'room': 'acks'\}",
        r"timeout: no ack",
    ],
    "04-rooms-and-namespaces.ipynb": [
        r"bob got: \[\('is ready', \{'courses': 3\}\)\]",
        r"bob got after leaving: \[\]",
        r"rooms on /hub: \{.*'kitchen': 2",
        r"a tick via /tick: \[\{'tick': \d+\}\]",
        r"red1 heard: \['.{4} joined red', 'Blue says hi'\]",
        r"blue heard: \[\]",
    ],
    "05-scaling-with-redis.ipynb": [
        r"server A on port \d+: Sharing rooms through Redis at 127\.0\.0\.1:\d+/0 \(pubsub\), "
        r"prefix 'demo-",
        r"bob, on server B, heard: \['alice: Hello from server A!'\]",
        r"alice, on server A, heard: \['bob: Hi alice, this is server B\.'\]",
        r"servers that got it: 2",
        r"alice heard it: True\nbob heard it: True",
        r"members of training, seen from server A: 2",
        r"step 5 of 5: 2 server\(s\) got it",
        r"progress seen on server A: \[0\.2, 0\.4, 0\.6, 0\.8, 1\.0\]",
        r"progress seen on server B: \[0\.2, 0\.4, 0\.6, 0\.8, 1\.0\]",
        r"stopped 3 processes",
    ],
    "06-serve-from-a-notebook.ipynb": [
        r"<HostedNamespace /poll 0 sockets>",
        r"ada votes tabs: \{'ok': True\}",
        r"bob votes emacs: \{'ok': False, 'error': \"'emacs' is not a choice\"\}",
        r"bob heard the tally: \{'tabs': 2, 'spaces': 1\}",
        r"in the room: 2 voters",
        r"ada heard the new question: \{'text': 'Tabs or spaces\? One vote each.*'both'\]\}",
        r"ada changes her mind: \{'ok': True, 'yours': 'both'\}",
        r"the tally now: \{'tabs': 0, 'spaces': 1, 'both': 1\}",
        r"while /poll is not served, ada: \['disconnected: transport close'\]",
        r"once it is served again, ada: \['disconnected: transport close', 'connected'\]",
        r"a new socket id: True",
        r"closed: True",
    ],
    "07-surviving-a-dropped-connection.ipynb": [
        r"ada connected while bob spoke: False",
        r"ada's life: \['connected', 'disconnected: transport close', 'connected'\]",
        r"recovered: True \| same socket id: True",
        r"ada heard while away: \['bob: are you there\?', 'bob: the meeting moved to 3 pm', "
        r"'bob: see you then'\]",
        r"bob heard: \['ada: back, what did I miss\?'\]",
        r"tick client recovered: False \| new socket id: True",
        r"first tick after coming back: 0",
        r"stopped the server: True",
    ],
    "08-seeing-into-the-server.ipynb": [
        r"Admin UI, once turned on: http://127\.0\.0\.1:\d+/.*socket\.io/admin/",
        r"knows kernel actions: True \| contents: True",
        r"subscribe kernel_status \{'ok': True\}",
        r"contents events: \[.*\('save', 'notes-08\.txt'\)",
        r"kernel actions: \[.*'start'.*'shutdown'",
        r"its states, first and last: \w+ \.\.\. dead",
        r"\{'ok': True\}",
        r'jupyter_rt_connected_sockets\{namespace="/hub",transport="\w+"\} 1\.0',
        r"jupyter_rt figures: 1\d",
    ],
}

#: Binaries a notebook starts itself, passed to it as environment variables.
NEEDS: dict[str, dict[str, str]] = {
    "05-scaling-with-redis.ipynb": {"REDIS_SERVER": "redis-server"},
}


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        unavailable(f"{module} is not installed")


def test_every_tutorial_is_tested() -> None:
    assert sorted(EXPECTED) == NAMES, "add the new notebook's expected outputs to EXPECTED"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(
    name: str,
    notebook_server: JupyterServer,
    monkeypatch: pytest.MonkeyPatch,
    artifacts: Path,
) -> None:
    nbformat = _require("nbformat")
    nbclient = _require("nbclient")
    _require("ipykernel")
    for variable in ("JUPYTER_RT_URL", "JUPYTER_RT_TOKEN", "JPY_PARENT_PID", "REDIS_URL"):
        monkeypatch.delenv(variable, raising=False)
    for variable, binary in NEEDS.get(name, {}).items():
        monkeypatch.setenv(variable, require_binary(binary))
    # What a kernel started by that server would see: its runtime dir and a cwd under its root.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(notebook_server.runtime_dir))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    path = notebook_server.root_dir / name
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.kernelspec.name == "python3"
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        f"{name} was committed with outputs"
    )
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=60,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    finally:
        nbformat.write(notebook, artifacts / name)
    text = _outputs(notebook)
    for pattern in EXPECTED[name]:
        assert re.search(pattern, text), f"{name}: no output matching {pattern!r} in:\n{text}"
    if name == "01-tick.ipynb":
        # The Python client's answers reached the server's /tick app.
        sid = re.search(r"our socket id on /tick: (\S+)", text)
        assert sid is not None, text
        notebook_server.process.wait_for_output(rf"Socket {re.escape(sid.group(1))} got 2", 10)


def _outputs(notebook: Any) -> str:
    lines: list[str] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines.append(output.get("text", ""))
            elif "data" in output:
                lines.append(str(output["data"].get("text/plain", "")))
    return "\n".join(lines)
