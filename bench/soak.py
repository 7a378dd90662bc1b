"""Memory soak: does a real ``jupyter server`` with jupyter_rt give memory back after a crowd?

Starts ``jupyter server`` (token auth, 127.0.0.1, a free port) with the bench app
``servers/soak_app.py``, connects ``--clients`` idle WebSocket clients to ``/soak`` (a room
broadcast every second), holds them ``--hold`` seconds, closes them all, waits ``--settle``
seconds, then does it all again (``--rounds``). Reports the server's ``VmRSS`` at each step,
whether the second round grew it, and the RSS per idle connection; Node's socket.io
(``servers/node_server.mjs``) is measured the same way for comparison when ``bench/node_modules``
has it.

The load generator is cheap: ``--workers`` processes of raw asyncio clients speaking Engine.IO v4
/ Socket.IO v5 over a hand-made WebSocket (answering pings). Only loopback traffic; every wait is
bounded; the server is stopped by its PID at the end.

    python bench/soak.py                          # 10,000 clients, 10 minutes' hold, 2 rounds
    python bench/soak.py --clients 2000 --hold 30 # quick mode
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SERVERS = BENCH / "servers"


# -- a raw Engine.IO / Socket.IO client over a hand-made WebSocket ---------------------------------


def _frame(text: str, opcode: int = 1) -> bytes:
    """A client frame: masked with a zero key (valid, and the XOR is free)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + b"\0\0\0\0" + data


class RawClient(asyncio.Protocol):
    """One Socket.IO client on ``namespace``: connects, answers pings, counts events, acks."""

    def __init__(self, request: bytes, namespace: str, done: asyncio.Future[bool]) -> None:
        self.request = request
        self.prefix = "" if namespace == "/" else namespace + ","
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.events = 0
        self.closed = False
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:end]).split(b"\r\n", 1)[0]
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self._fail()
                return
            self.upgraded = True
        buf = self.buffer
        while len(buf) >= 2:
            opcode, n, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, at = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, at = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < at + n:
                return
            payload = bytes(buf[at : at + n])
            del buf[: at + n]
            if opcode == 1:
                self._message(payload.decode())
            elif opcode == 9:
                self._send_raw(_frame(payload.decode("latin-1"), 10))
            elif opcode == 8:
                self.close()
                return

    def _message(self, text: str) -> None:
        if text == "2":
            self.send("3")
        elif text.startswith("0"):
            self.send("40" + self.prefix)
        elif text.startswith("40" + self.prefix) or (not self.prefix and text.startswith("40")):
            if not self.done.done():
                self.done.set_result(True)
        elif text.startswith("42"):
            self.events += 1
        elif text.startswith("43" + self.prefix):
            body = text[2 + len(self.prefix) :]
            digits = len(body) - len(body.lstrip("0123456789"))
            future = self.acks.pop(int(body[:digits]), None)
            if future is not None and not future.done():
                future.set_result(json.loads(body[digits:]))
        elif text.startswith("44") or text == "1":
            self._fail()

    def send(self, text: str) -> None:
        self._send_raw(_frame(text))

    def _send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def call(self, event: str, *args: Any, timeout: float = 120) -> Any:
        """Emit ``event(*args)`` with an ack and return the ack's first argument."""
        self.next_ack += 1
        future = asyncio.get_running_loop().create_future()
        self.acks[self.next_ack] = future
        self.send(f"42{self.prefix}{self.next_ack}" + json.dumps([event, *args]))
        return (await asyncio.wait_for(future, timeout))[0]

    def _fail(self) -> None:
        if not self.done.done():
            self.done.set_result(False)
        self.close()

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(_frame("", 8))
            self.closed = True
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.done.done():
            self.done.set_result(False)


async def open_client(
    host: str, port: int, path: str, token: str, namespace: str, timeout: float = 60
) -> RawClient | None:
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    query = "EIO=4&transport=websocket" + (f"&token={token}" if token else "")
    request = (
        f"GET {path}?{query} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()
    client = RawClient(request, namespace, done)
    try:
        await asyncio.wait_for(loop.create_connection(lambda: client, host, port), timeout)
        ok = await asyncio.wait_for(done, timeout)
    except (OSError, asyncio.TimeoutError):
        ok = False
    if not ok:
        client.close()
        return None
    return client


# -- worker: one process holding a share of the clients -------------------------------------------


async def worker(args: argparse.Namespace) -> None:
    """Connect ``--count`` clients, then obey stdin: ``STATS`` prints ``STATS alive events``,
    ``CLOSE`` closes every client, prints ``CLOSED`` and exits. Exits by itself after
    ``--max-seconds``."""
    loop = asyncio.get_running_loop()
    clients: list[RawClient] = []
    failed = 0
    limit = asyncio.Semaphore(args.in_flight)

    async def one() -> None:
        nonlocal failed
        async with limit:
            client = await open_client(
                "127.0.0.1", args.port, args.path, args.token, args.namespace
            )
        if client is None:
            failed += 1
        else:
            clients.append(client)

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(args.count)))
    print(f"CONNECTED {len(clients)} {failed} {time.monotonic() - started:.2f}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    deadline = started + args.max_seconds
    while True:
        try:
            line = await asyncio.wait_for(reader.readline(), max(1.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            line = b"CLOSE"
        command = line.decode().strip() or "CLOSE"  # EOF: the parent is gone
        if command == "STATS":
            alive = sum(1 for c in clients if not c.closed)
            print(f"STATS {alive} {sum(c.events for c in clients)}", flush=True)
        else:
            for client in clients:
                client.close()
            await asyncio.sleep(0.5)
            print("CLOSED", flush=True)
            return


class Workers:
    """The load generator processes of one round."""

    def __init__(self, port: int, path: str, token: str, namespace: str, clients: int, n: int):
        self.procs: list[subprocess.Popen[str]] = []
        shares = [clients // n + (1 if i < clients % n else 0) for i in range(n)]
        for share in shares:
            if share == 0:
                continue
            argv = [
                sys.executable, __file__, "--worker", "--port", str(port), "--path", path,
                "--token", token, "--namespace", namespace, "--count", str(share),
            ]  # fmt: skip
            self.procs.append(
                subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
                )
            )

    def _lines(self, prefix: str) -> list[list[str]]:
        out = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith(prefix):
                raise RuntimeError(f"load generator said {line!r}, expected {prefix}")
            out.append(line.split()[1:])
        return out

    def connected(self) -> tuple[int, int, float]:
        lines = self._lines("CONNECTED")
        return (
            sum(int(x[0]) for x in lines),
            sum(int(x[1]) for x in lines),
            max(float(x[2]) for x in lines),
        )

    def _say(self, command: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()

    def stats(self) -> tuple[int, int]:
        self._say("STATS")
        lines = self._lines("STATS")
        return sum(int(x[0]) for x in lines), sum(int(x[1]) for x in lines)

    def close(self) -> None:
        try:
            self._say("CLOSE")
            self._lines("CLOSED")
        finally:
            for proc in self.procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# -- servers -------------------------------------------------------------------------------------


def raise_nofile(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server not listening on {port} after {timeout} s")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def start_jupyter(home: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[Any], int, str]:
    port, token = free_port(), secrets.token_hex(16)
    for name in ("config", "runtime", "root", "data"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for name in ("JUPYTER_RT_URL", "JUPYTER_RT_TOKEN", "JUPYTER_TOKEN"):
        env.pop(name, None)
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO), str(SERVERS), env.get("PYTHONPATH")])
            ),
            "SOAK_BROADCAST_INTERVAL": str(args.interval),
        }
    )
    if args.tracemalloc:
        env["PYTHONTRACEMALLOC"] = os.environ.get("SOAK_TRACEMALLOC_FRAMES", "1")
    argv = [
        sys.executable, "-m", "jupyter_server", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={home / 'root'}", f"--IdentityProvider.token={token}",
        "--ServerApp.jpserver_extensions=jupyter_rt=True",
        "--RealtimeApp.apps=soak_app:setup", "--ServerApp.log_level=WARN",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    with open(home / "server.log", "w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(argv, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
    except BaseException:
        stop(proc)
        raise
    return proc, port, token


async def control(port: int, token: str) -> RawClient:
    client = await open_client("127.0.0.1", port, "/socket.io/", token, "/soak-debug")
    if client is None:
        raise RuntimeError("the control client could not connect to /soak-debug")
    return client


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


# -- the runs ------------------------------------------------------------------------------------


def warm_up(port: int, token: str, namespace: str) -> None:
    workers = Workers(port, "/socket.io/", token, namespace, 50, 1)
    workers.connected()
    workers.close()


async def wait_for_sockets(ctl: RawClient, want: int, timeout: float) -> dict[str, Any]:
    """Poll ``stats`` until ``/soak`` has ``want`` sockets (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        stats: dict[str, Any] = await ctl.call("stats")
        if stats["soak_sockets"] == want or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.5)


async def run_jupyter(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    proc, port, token = start_jupyter(home, args)
    result: dict[str, Any] = {"rounds": [], "pid": proc.pid}
    try:
        ctl = await control(port, token)
        await asyncio.to_thread(warm_up, port, token, "/soak")
        await asyncio.sleep(2)
        result["start"] = await ctl.call("stats", True)
        for number in range(1, args.rounds + 1):
            row: dict[str, Any] = {"round": number}
            row["baseline"] = rss_kib(proc.pid)
            workers = Workers(port, "/socket.io/", token, "/soak", args.clients, args.workers)
            try:
                ok, failed, seconds = await asyncio.to_thread(workers.connected)
                row.update(connected=ok, failed=failed, connect_seconds=seconds)
                await wait_for_sockets(ctl, ok, 30)
                await asyncio.sleep(2)
                row["connected_rss"] = rss_kib(proc.pid)
                print(
                    f"  round {number}: {ok} connected ({failed} failed) in {seconds:.1f} s, "
                    f"RSS {mib(row['connected_rss'])} MiB; holding {args.hold:.0f} s",
                    flush=True,
                )
                _, events_before = await asyncio.to_thread(workers.stats)
                held_from = time.monotonic()
                await asyncio.sleep(args.hold)
                alive, events = await asyncio.to_thread(workers.stats)
                row.update(alive=alive, events=events - events_before)
                row["beats_per_client"] = (events - events_before) / max(1, alive)
                row["held_seconds"] = time.monotonic() - held_from
                row["hold_rss"] = rss_kib(proc.pid)
            finally:
                await asyncio.to_thread(workers.close)
            stats = await wait_for_sockets(ctl, 0, 60)
            row["left_rss"] = rss_kib(proc.pid)
            row["left_sockets"] = stats["soak_sockets"]
            await asyncio.sleep(args.settle)
            row["settled_rss"] = rss_kib(proc.pid)
            deep = await ctl.call("stats", True)
            row["objects"] = deep.get("objects")
            row["engine_sessions"] = deep.get("engine_sessions")
            print(
                f"  round {number}: left, RSS {mib(row['left_rss'])} MiB; after {args.settle:.0f}"
                f" s {mib(row['settled_rss'])} MiB; live objects {row['objects']}",
                flush=True,
            )
            if args.tracemalloc:
                for line in await ctl.call("snapshot"):
                    print("    " + line)
            result["rounds"].append(row)
        ctl.close()
    finally:
        stop(proc)
    return result


async def run_node(args: argparse.Namespace, home: Path) -> dict[str, Any] | None:
    node = shutil.which("node")
    if node is None or not (BENCH / "node_modules" / "socket.io").is_dir():
        return None
    with open(home / "node.log", "w") as log:
        proc = subprocess.Popen(
            [node, str(SERVERS / "node_server.mjs"), "0"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"node server said {line!r}")
        port = int(line.split()[1])
        await asyncio.to_thread(warm_up, port, "", "/")
        await asyncio.sleep(2)
        baseline = rss_kib(proc.pid)
        workers = Workers(port, "/socket.io/", "", "/", args.clients, args.workers)
        try:
            ok, failed, _ = await asyncio.to_thread(workers.connected)
            await asyncio.sleep(2)
            connected = rss_kib(proc.pid)
        finally:
            await asyncio.to_thread(workers.close)
        await asyncio.sleep(min(args.settle, 10))
        return {
            "baseline": baseline,
            "connected_rss": connected,
            "connected": ok,
            "failed": failed,
            "left_rss": rss_kib(proc.pid),
        }
    finally:
        stop(proc)


def kept_share(row: dict[str, Any]) -> float:
    """What a round kept of its growth: (settled - baseline) / (connected - baseline)."""
    kept: int = row["settled_rss"] - row["baseline"]
    growth: int = row["connected_rss"] - row["baseline"]
    return kept / max(1, growth)


def has_grown(row: dict[str, Any]) -> bool:
    """Whether a round grew RSS by 1 MiB or more (what it kept is a share of that)."""
    return bool(row["connected_rss"] - row["baseline"] >= 1024)


def report(args: argparse.Namespace, jupyter: dict[str, Any], node: dict[str, Any] | None) -> bool:
    rounds = jupyter["rounds"]
    print()
    print(
        f"jupyter server + jupyter_rt, {args.clients} idle WebSocket clients on /soak, a room "
        f"broadcast every {args.interval:g} s, held {args.hold:g} s, settle {args.settle:g} s"
    )
    header = ["VmRSS (MiB)"] + [f"round {r['round']}" for r in rounds]
    lines = [
        ("baseline (before connecting)", "baseline"),
        ("all connected (+2 s)", "connected_rss"),
        ("end of hold", "hold_rss"),
        ("all left", "left_rss"),
        (f"all left + {args.settle:g} s", "settled_rss"),
    ]
    table = [header]
    for label, key in lines:
        table.append([label] + [mib(r[key]) for r in rounds])
    table.append(
        ["growth (connected - baseline)"]
        + [mib(r["connected_rss"] - r["baseline"]) for r in rounds]
    )
    table.append(
        ["kept (settled - baseline)"] + [mib(r["settled_rss"] - r["baseline"]) for r in rounds]
    )
    table.append(
        ["kept / growth"] + [f"{100 * kept_share(r):.0f}%" if has_grown(r) else "-" for r in rounds]
    )
    table.append(
        ["clients connected / failed"] + [f"{r['connected']} / {r['failed']}" for r in rounds]
    )
    table.append(["clients alive at end of hold"] + [str(r["alive"]) for r in rounds])
    table.append(
        ["broadcasts received per client"] + [f"{r['beats_per_client']:.1f}" for r in rounds]
    )
    table.append(["connect time (s)"] + [f"{r['connect_seconds']:.1f}" for r in rounds])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print(
            "  ".join(
                cell.ljust(w) if j == 0 else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    first = rounds[0]
    growth = first["connected_rss"] - first["baseline"]
    ok: bool = True
    kept = first["settled_rss"] - first["baseline"]
    within = kept <= 0.25 * growth
    ok &= within
    verdict = "OK" if within else "NOT OK"
    print(f"\nround 1 kept {mib(kept)} of its {mib(growth)} MiB: {verdict} (target: 25% at most)")
    if len(rounds) > 1:
        last = rounds[-1]
        grew = last["settled_rss"] - first["settled_rss"]
        steady = grew <= 0.25 * growth
        ok &= steady
        print(
            f"round {last['round']} ended {mib(grew)} MiB above round 1's end: "
            f"{'OK, no growth' if steady else 'GREW'} (threshold: 25% of round 1's growth)"
        )
    print("\nRSS per idle connection (connected - baseline) / clients:")
    per = (first["connected_rss"] - first["baseline"]) / max(1, first["connected"])
    print(f"  jupyter_rt in Jupyter (round 1):  {per:.1f} KiB")
    for r in rounds[1:]:
        per = (r["connected_rss"] - r["baseline"]) / max(1, r["connected"])
        print(f"  (round {r['round']}, on the memory round 1 kept: {per:.1f} KiB)")
    if node is not None:
        per = (node["connected_rss"] - node["baseline"]) / max(1, node["connected"])
        print(
            f"  Node socket.io 4.8 (node:http):   {per:.1f} KiB  "
            f"({node['connected']} clients, {node['failed']} failed)"
        )
    else:
        print("  Node socket.io: not measured (no node, or no bench/node_modules: jlpm install)")
    print("\nRSS figures on a shared machine are noisy: compare rounds of one run, not runs.")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=600, help="seconds (default 600)")
    parser.add_argument("--settle", type=float, default=30, help="seconds after all left")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between broadcasts")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--no-node", action="store_true", help="do not measure Node's socket.io")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="PYTHONTRACEMALLOC=1 in the server; print snapshot diffs (RSS is then not comparable)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "soak.json")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", default="/socket.io/", help=argparse.SUPPRESS)
    parser.add_argument("--token", default="", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default="/soak", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--in-flight", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=7200, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        raise_nofile(args.count + 256)
        asyncio.run(worker(args))
        return
    limit = raise_nofile(args.clients + 1024)  # inherited by the server and the workers
    if limit < args.clients + 256:
        sys.exit(f"ulimit -n is {limit}: too low for {args.clients} clients")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jupyter-rt-soak-") as tmp:
        home = Path(tmp)
        node = None
        if not args.no_node:
            print(f"Node socket.io: {args.clients} idle clients ...", flush=True)
            node = asyncio.run(run_node(args, home))
        print(
            f"jupyter server + jupyter_rt: {args.rounds} rounds of {args.clients} clients ...",
            flush=True,
        )
        jupyter = asyncio.run(run_jupyter(args, home))
        log = (home / "server.log").read_text()
    args.out.write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "jupyter": jupyter, "node": node},
            indent=1,
        )
    )
    ok = report(args, jupyter, node)
    errors = [line for line in log.splitlines() if "Traceback" in line or " E " in line[:40]]
    if errors:
        print(f"\nthe server logged {len(errors)} error lines; first: {errors[0]}")
    print(f"\nresults: {args.out}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
