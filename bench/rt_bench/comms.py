"""The comms scenario: a kernel sends 100-byte messages to pages as fast as it can, through
jupyter_rt or as a comm, and a page asks the kernel something while a cell is busy.

    python bench/run.py comms          # 1 receiver, then 20; 3 fresh runs each, medians

Each run is a fresh ``jupyter server`` with jupyter_rt (no app) and a kernel started through
its REST API; the cells run over the kernel's channels WebSocket, as JupyterLab runs them:

- ``jupyter_rt``: the kernel hosts ``/comms`` (:func:`jupyter_rt.kernel.host`) and emits
  ``m`` to it in a loop; the pages are the official ``socket.io-client`` on ``/comms``;
- ``comm``: the kernel opens a comm (``comm.create_comm``) and ``send``\\s in a loop; the pages
  are clients of ``/api/kernels/<id>/channels`` that read ``comm_msg`` on iopub, as
  JupyterLab does (the Jupyter server's defaults, its iopub rate limit included).

Messages/s and p50/p99 are measured where the pages receive them (``comms.mjs``, pinned to the
load core). Then a cell sleeps in a loop (``time.sleep``) and a page asks the kernel for its
time: a Socket.IO event with an ack (the handler runs on the hosting thread) or a
``comm_msg`` on the shell channel (its ``on_msg`` answers): the milliseconds until the
kernel-side handler ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from typing import Any

from . import BENCH, RESULTS
from .jupyter import JupyterBench
from .servers import Pinning, Settings

KINDS = ("jupyter_rt", "comm")
SCENARIOS = ("comms-1", "comms-20")
"""``comms-<receivers>``."""
BUSY_SECONDS = 2.0

SETUP = {
    "jupyter_rt": """
import time
from jupyter_rt.kernel import host

page = host("/comms")

@page.on("connection")
def on_connection(socket):
    @socket.on("ping")
    def ping():
        return time.time()
""",
    "comm": """
import time
from comm import create_comm

channel = create_comm(target_name="jupyter_rt_bench", data={})

def on_msg(msg):
    channel.send({"pong": time.time()})

channel.on_msg(on_msg)
print("COMM_ID", channel.comm_id)
""",
}
SEND = {
    "jupyter_rt": """
for s in range({count}):
    page.emit("m", {{"s": s, "t": time.time(), "p": {pad!r}}})
""",
    "comm": """
for s in range({count}):
    channel.send({{"s": s, "t": time.time(), "p": {pad!r}}})
""",
}
BUSY = """
import time
end = time.time() + {seconds}
while time.time() < end:
    time.sleep(0.01)
"""


def messages_for(receivers: int, settings: Settings) -> int:
    """Messages the kernel sends per run (each reaches every receiver): a quarter as many
    for 20 receivers."""
    return settings.comms_messages if receivers == 1 else max(100, settings.comms_messages // 4)


def run_comms(kind: str, receivers: int, settings: Settings, pinning: Pinning) -> dict[str, Any]:
    """One fresh Jupyter server and kernel: the send rate to ``receivers`` pages, then the
    page → kernel time while a cell is busy."""
    try:
        server = JupyterBench("comms", pinning, RESULTS / f"server-comms-{kind}.log")
    except (RuntimeError, OSError) as exc:
        return {"error": str(exc)}
    receiver: subprocess.Popen[str] | None = None
    try:
        text = server.run_cell(SETUP[kind])
        comm_id = next((ln.split()[1] for ln in text.splitlines() if ln.startswith("COMM_ID")), "")
        mode = "sio" if kind == "jupyter_rt" else "comm"
        argv = ["node", str(BENCH / "comms.mjs"), "--mode", mode]
        argv += ["--url", server.jupyter.url, "--kernel", server.kernel_id]
        argv += ["--receivers", str(receivers), "--timeout", str(settings.timeout)]
        receiver = subprocess.Popen(
            pinning.wrap(argv, pinning.load_core),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=BENCH,
            env=dict(os.environ, **server.load_env),
            start_new_session=True,
        )
        expect(receiver, "@ready")
        count = messages_for(receivers, settings)
        command(receiver, f"expect {count}")
        payload = "x" * max(0, settings.payload - 45)  # {"s": …, "t": …, "p": …}: ~100 bytes
        server.run_cell(SEND[kind].format(count=count, pad=payload), timeout=settings.timeout)
        result: dict[str, Any] = expect(receiver, "@received")
        result["messages_sent"] = count
        result["busy_ms"] = busy_ping(server, receiver, comm_id)
        return result
    except (RuntimeError, OSError, TimeoutError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        if receiver is not None:
            if receiver.poll() is None:
                receiver.kill()
            receiver.wait(5)
        server.stop()


def busy_ping(server: JupyterBench, receiver: subprocess.Popen[str], comm_id: str) -> float:
    """Milliseconds from a page's request to the kernel-side handler, while a cell sleeps."""
    errors: list[BaseException] = []

    def busy() -> None:
        try:
            server.run_cell(BUSY.format(seconds=BUSY_SECONDS), timeout=BUSY_SECONDS + 60)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    cell = threading.Thread(target=busy, daemon=True)
    cell.start()
    time.sleep(0.5)  # the cell is running (a comm message now waits for its end)
    command(receiver, f"ping {comm_id or '-'}")
    answer = expect(receiver, "@pong")
    cell.join(BUSY_SECONDS + 60)
    if errors:
        raise RuntimeError(f"the busy cell failed: {errors[0]}")
    return round(float(answer["ms"]), 2)


def command(receiver: subprocess.Popen[str], line: str) -> None:
    assert receiver.stdin is not None
    receiver.stdin.write(line + "\n")
    receiver.stdin.flush()


def expect(receiver: subprocess.Popen[str], tag: str) -> dict[str, Any]:
    """The JSON after the receiver's next line starting with ``tag``."""
    assert receiver.stdout is not None
    for line in receiver.stdout:
        if line.startswith(tag):
            rest = line[len(tag) :].strip()
            return json.loads(rest) if rest else {}
    raise RuntimeError(f"the receivers ended before {tag} (exit {receiver.wait(5)})")
