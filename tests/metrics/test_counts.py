"""The counts' labels stay few whatever clients do: dynamic children go under their pattern,
namespaces past the cap under ``"other"``; received bytes are UTF-8 bytes."""

from __future__ import annotations

import re

from jupyter_rt.metrics import MAX_NAMESPACE_LABELS, Counts
from jupyter_rt.server import Server
from tests.server.fakes import FakeSession, settle


async def test_dynamic_children_share_their_patterns_label() -> None:
    io = Server()
    io.of(re.compile(r"^/doc-\w+$"))
    counts = Counts(io)
    io.add_observer(counts)
    for name in ("/doc-alice", "/doc-bob"):
        session = FakeSession(io).open()
        session.connect(name)
        session.receive(f'2{name},["edit","é"]')
    await settle()
    labels = counts.namespaces()
    assert set(labels) == {"", "<dynamic ^/doc-\\w+$>"}
    assert labels["<dynamic ^/doc-\\w+$>"].events_received == 2
    assert "alice" not in str(list(labels))
    frame = '2/doc-bob,["edit","é"]'
    assert counts.received_bytes >= 2 * len(frame.encode()) > 2 * len(frame)


async def test_namespaces_past_the_cap_count_as_other() -> None:
    io = Server()
    names = [f"/room-{i}" for i in range(MAX_NAMESPACE_LABELS + 8)]
    for name in names:
        io.of(name)
    counts = Counts(io)
    io.add_observer(counts)
    for name in names:
        session = FakeSession(io).open()
        session.connect(name)
        session.receive(f'2{name},["hello"]')
    await settle()
    labels = counts.namespaces()
    assert len(labels) == MAX_NAMESPACE_LABELS + 2  # the first ones, "other" and ""
    assert labels["other"].events_received == 8
    kept = names[:MAX_NAMESPACE_LABELS]
    assert [labels[name].events_received for name in kept] == [1] * MAX_NAMESPACE_LABELS
    assert not set(names[MAX_NAMESPACE_LABELS:]) & set(labels)
