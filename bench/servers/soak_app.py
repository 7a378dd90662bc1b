"""The realtime app of ``bench/soak.py``, started by the Jupyter extension with
``--RealtimeApp.apps=soak_app:setup`` (``bench/servers`` on ``PYTHONPATH``).

- ``/soak``: every socket joins the room ``soak``; the room gets ``beat({"n": …})`` every
  ``SOAK_BROADCAST_INTERVAL`` seconds (default 1).
- ``/soak-debug``: ``stats(deep)`` acks the engine's session count, the namespaces' socket counts
  and ``VmRSS``; with ``deep``, after ``gc.collect()``, the number of live objects of the types
  that a leak would keep (sessions, sockets, connections, Tornado requests and handlers).
  ``snapshot()`` acks the top lines of a tracemalloc comparison with the previous snapshot (the
  server must run with ``PYTHONTRACEMALLOC``). ``trim()`` calls glibc's ``malloc_trim(0)``.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import tracemalloc
from collections import Counter
from typing import Any

from jupyter_rt.server import Server, Socket

WATCHED = {
    "EngineSession",
    "Handshake",
    "Socket",
    "Client",
    "_SocketConnection",
    "_StreamConnection",
    "RealtimeHandler",
    "HTTP1Connection",
    "HTTP1ServerConnection",
    "HTTPServerRequest",
    "IOStream",
    "_SelectorSocketTransport",
    "TimerHandle",
    "socket",
}


def rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


_engines: list[Any] = []


def _engine() -> Any:
    """The extension's Engine (found once among the live objects: the app only gets the Server)."""
    if not _engines:
        from jupyter_rt.engine import Engine

        _engines.extend(o for o in gc.get_objects() if isinstance(o, Engine))
    return _engines[0] if _engines else None


def setup(io: Server) -> None:
    soak = io.of("/soak")
    debug = io.of("/soak-debug")
    interval = float(os.environ.get("SOAK_BROADCAST_INTERVAL", "1"))
    state: dict[str, Any] = {"beats": 0, "snapshot": None}

    @soak.on("connection")
    def on_connection(socket: Socket) -> None:
        socket.join("soak")

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval)
            state["beats"] += 1
            await soak.to("soak").emit("beat", {"n": state["beats"]})

    started: list[asyncio.Task[None]] = []

    @debug.on("connection")
    def on_debug(socket: Socket) -> None:
        if not started:  # the loop runs by now; the task lives as long as the server
            started.append(asyncio.ensure_future(beat()))

        @socket.on("stats")
        def stats(deep: bool = False) -> dict[str, Any]:
            engine = _engine()
            reply: dict[str, Any] = {
                "rss_kib": rss_kib(),
                "beats": state["beats"],
                "soak_sockets": len(soak.sockets),
                "engine_sessions": len(engine.sessions) if engine is not None else None,
            }
            if deep:
                gc.collect()
                counts = Counter(
                    type(o).__name__ for o in gc.get_objects() if type(o).__name__ in WATCHED
                )
                reply["objects"] = dict(sorted(counts.items()))
                reply["gc_objects"] = len(gc.get_objects())
            return reply

        @socket.on("snapshot")
        def snapshot(limit: int = 25, key: str = "lineno") -> list[str]:
            if not tracemalloc.is_tracing():
                tracemalloc.start(int(os.environ.get("SOAK_TRACEMALLOC_FRAMES", "1")))
            gc.collect()
            new = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            old, state["snapshot"] = state["snapshot"], new
            stats: list[Any]
            if old is None:
                stats = new.statistics("lineno")
            else:
                stats = sorted(new.compare_to(old, key), key=lambda s: -s.count_diff)
            total = sum(s.size for s in new.statistics("filename"))
            lines = [f"traced {total / 1024:.0f} KiB"]
            for stat in stats[:limit]:
                lines.append(str(stat))
                if key == "traceback":
                    lines.extend("      " + line for line in stat.traceback.format()[-16:])
            return lines

        @socket.on("mallocstats")
        def mallocstats() -> dict[str, int]:
            """pymalloc's arenas (from sys._debugmallocstats, written to stderr)."""
            gc.collect()
            import re
            import sys
            import tempfile

            with tempfile.TemporaryFile("w+") as out:
                saved = os.dup(2)
                os.dup2(out.fileno(), 2)
                try:
                    sys._debugmallocstats()
                finally:
                    os.dup2(saved, 2)
                    os.close(saved)
                out.seek(0)
                text = out.read()
            found = {}
            for key, pattern in (
                ("arenas_allocated_total", r"# arenas allocated total\s+=\s+([\d,]+)"),
                ("arenas_reclaimed", r"# arenas reclaimed\s+=\s+([\d,]+)"),
                ("arenas_highwater", r"# arenas highwater mark\s+=\s+([\d,]+)"),
                ("arenas_now", r"# arenas allocated current\s+=\s+([\d,]+)"),
                ("arena_bytes", r"bytes in allocated blocks\s+=\s+([\d,]+)"),
                ("free_block_bytes", r"bytes in available blocks\s+=\s+([\d,]+)"),
                ("total_bytes", r"Total\s+=\s+([\d,]+)"),
            ):
                m = re.search(pattern, text)
                if m:
                    found[key] = int(m.group(1).replace(",", ""))
            return found

        @socket.on("holders")
        def holders(limit: int = 10) -> list[str]:
            """Who holds WebSocket keys (24-character base64 strings ending in '==')."""

            def is_key(x: object) -> bool:
                return type(x) is str and len(x) == 24 and x.endswith("==")

            found: Counter[str] = Counter()
            examples: list[str] = []

            def has_key(x: object, depth: int = 0) -> bool:
                if is_key(x):
                    return True
                if depth < 2 and isinstance(x, (dict, list, tuple, set, frozenset)):
                    items = list(x.keys()) + list(x.values()) if isinstance(x, dict) else list(x)
                    return any(has_key(i, depth + 1) for i in items)
                return False

            for o in gc.get_objects():
                if isinstance(o, (dict, list, tuple, set, frozenset)):
                    continue
                try:
                    refs = gc.get_referents(o)
                except Exception:
                    continue
                if any(has_key(r) for r in refs):
                    desc = type(o).__module__ + "." + type(o).__qualname__
                    found[desc] += 1
                    if len(examples) < limit:
                        examples.append(desc + " " + repr(o)[:200])
            return [f"{n} {d}" for d, n in found.most_common(limit)] + examples

        @socket.on("referrers")
        def referrers(name: str, depth: int = 4) -> list[str]:
            """Referrer chains of the live objects whose type is named ``name``."""
            gc.collect()
            targets = [o for o in gc.get_objects() if type(o).__name__ == name][:3]
            lines: list[str] = []
            skip = {id(targets)}

            def walk(o: object, level: int) -> None:
                if level >= depth:
                    return
                for r in gc.get_referrers(o):
                    if id(r) in skip or type(r).__name__ == "frame":
                        continue
                    what = type(r).__name__
                    if isinstance(r, dict):
                        what += " keys=" + ",".join(map(str, list(r)[:6]))
                    lines.append("  " * level + what[:160])
                    walk(r, level + 1)

            for target in targets:
                lines.append(repr(target)[:120])
                walk(target, 1)
            return lines[:200]

        @socket.on("typecounts")
        def typecounts() -> list[list[Any]]:
            """Live gc-tracked objects by type (for diffs between two moments)."""
            gc.collect()
            counts = Counter(
                f"{getattr(type(o), '__module__', '?')}.{type(o).__qualname__}"
                for o in gc.get_objects()
            )
            return [[name, n] for name, n in counts.items()]

        @socket.on("holding")
        def holding(needle: str, limit: int = 12) -> list[str]:
            """The containers (and their holders) of live strings that contain ``needle``."""
            gc.collect()
            found: Counter[str] = Counter()
            lines: list[str] = []
            for o in gc.get_objects():
                hits = [r for r in gc.get_referents(o) if type(r) is str and needle in r]
                if not hits:
                    continue
                desc = type(o).__qualname__
                up = [type(r).__qualname__ for r in gc.get_referrers(o)][:4]
                found[f"{desc} <- {','.join(up)}"] += len(hits)
                if len(lines) < limit:
                    lines.append(f"{desc} {repr(o)[:150]} <- {up} e.g. {hits[0][:60]!r}")
            return [f"{n} {d}" for d, n in found.most_common(limit)] + lines

        @socket.on("purge")
        def purge() -> dict[str, int]:
            """Drop the loop's cancelled timers (asyncio keeps them until their time)."""
            loop = asyncio.get_running_loop()
            scheduled = loop._scheduled  # type: ignore[attr-defined]
            before = len(scheduled)
            scheduled[:] = [h for h in scheduled if not h._cancelled]
            import heapq

            heapq.heapify(scheduled)
            loop._timer_cancelled_count = 0  # type: ignore[attr-defined]
            gc.collect()
            return {"before": before, "after": len(scheduled), "rss_kib": rss_kib()}

        @socket.on("clear_type_cache")
        def clear_type_cache() -> int:
            import sys

            sys._clear_type_cache()
            gc.collect()
            return rss_kib()

        @socket.on("trim")
        def trim() -> dict[str, int]:
            before = rss_kib()
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            return {"before_kib": before, "after_kib": rss_kib()}
