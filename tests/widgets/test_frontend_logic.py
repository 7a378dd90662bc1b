"""The browser side's lenient readers, run in Node on the compiled labextension.

``labextension/lib/hub.js``, ``lib/binary.js`` and ``lib/panelChart.js`` have no imports, so
Node can load them as they are. They are built by ``jlpm build`` (dev.sh and CI build the
labextension first).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import REPO, require_binary, run_node, unavailable

LIB = REPO / "labextension" / "lib"

pytestmark = pytest.mark.node


def run_module(script: str) -> Any:
    """Run ``script`` as an ES module beside the built frontend; return the JSON it prints."""
    require_binary("node")
    for name in ("hub.js", "binary.js", "panelChart.js"):
        if not (LIB / name).exists():
            unavailable(f"labextension/lib/{name} is not built (jlpm build in labextension/)")
    out = run_node("--input-type=module", "-e", script, cwd=LIB, check=True)
    return json.loads(out.stdout)


def test_hub_acks_and_room_tables() -> None:
    script = """
    import { ackError, roomRows } from './hub.js';
    const out = {
      ok: ackError([{ ok: true, room: 'a' }]),
      refused: ackError([{ ok: false, error: 'bad name' }]),
      nested: ackError([{ error: { message: 'deep' } }]),
      none: ackError([]),
      hub: roomRows({ ok: true, rooms: { '/hub': { b: 2, a: 1 }, '/chat': { Lobby: 3 } } }, '/hub'),
      flat: roomRows({ Lobby: ['s1', 's2'] }, '/chat'),
      list: roomRows([{ namespace: '/x', room: 'r', members: 4 }, 'plain'], '/hub'),
      empty: roomRows({ ok: true, rooms: {} }, '/hub'),
    };
    console.log(JSON.stringify(out));
    """
    out = run_module(script)
    assert out["ok"] is None and out["none"] is None
    assert out["refused"] == "bad name" and out["nested"] == "deep"
    assert out["hub"] == [
        {"namespace": "/chat", "room": "Lobby", "members": 3},
        {"namespace": "/hub", "room": "a", "members": 1},
        {"namespace": "/hub", "room": "b", "members": 2},
    ]
    assert out["flat"] == [{"namespace": "/chat", "room": "Lobby", "members": 2}]
    assert out["list"] == [
        {"namespace": "/hub", "room": "plain", "members": None},
        {"namespace": "/x", "room": "r", "members": 4},
    ]
    assert out["empty"] == []


def test_binary_placeholders_round_trip() -> None:
    script = """
    import { deconstruct, reconstruct } from './binary.js';
    const bytes = new Uint8Array([1, 2, 3]);
    const { json, buffers } = deconstruct({ kind: 'event', args: [bytes, { b: bytes.buffer }] });
    const back = reconstruct(json, buffers);
    console.log(JSON.stringify({
      json,
      count: buffers.length,
      first: Array.from(new Uint8Array(back.args[0])),
      second: Array.from(new Uint8Array(back.args[1].b)),
      forged: reconstruct({ _jrt_buffer: 7 }, buffers),
    }));
    """
    out = run_module(script)
    assert out["json"] == {
        "kind": "event",
        "args": [{"_jrt_buffer": 0}, {"b": {"_jrt_buffer": 1}}],
    }
    assert out["count"] == 2
    assert out["first"] == out["second"] == [1, 2, 3]
    assert out["forged"] == {"_jrt_buffer": 7}


def test_the_realtime_panels_chart_buckets_events_and_holds_the_socket_count() -> None:
    script = """
    import { series, WINDOW_S, BUCKET_S } from './panelChart.js';
    const now = 1000;
    const samples = [
      { time: now - 400, received: 9, sent: 9, sockets: 4 },  // before the window
      { time: now - 12, received: 3, sent: 7, sockets: 5 },
      { time: now - 11, received: 0, sent: 5, sockets: 6 },
      { time: now - 1, received: 1, sent: 0, sockets: 2 },
    ];
    console.log(JSON.stringify({
      buckets: WINDOW_S / BUCKET_S,
      busy: series(samples, now, 0),
      quiet: series([], now, 3),
    }));
    """
    out = run_module(script)
    rates, sockets = out["busy"]["rates"], out["busy"]["sockets"]
    assert len(rates) == len(sockets) == out["buckets"]
    assert rates[-1] == 1 / 5  # one event in the last 5 s
    assert rates[-3] == 15 / 5  # the two samples 11 and 12 s ago share a bucket
    assert sum(rates) == rates[-1] + rates[-3]  # the sample before the window is left out
    assert sockets[0] == 4 and sockets[-3] == 6 and sockets[-2] == 6 and sockets[-1] == 2
    assert out["quiet"]["rates"] == [0] * out["buckets"]
    assert out["quiet"]["sockets"] == [3] * out["buckets"]
