"""The tunnel's batches: what one turn of the loop sends leaves as one message, in order, and
what a batch may not carry (attachments, requests with an answer) is kept out of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jupyter_rt.kernel import tunnel


class Wire:
    """What an :class:`~jupyter_rt.kernel.tunnel.Outbox` emitted, and its scheduled flushes."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.scheduled: list[Callable[[], None]] = []

    def emit(self, *message: Any) -> None:
        self.sent.append(message)

    def schedule(self, callback: Callable[[], None]) -> None:
        self.scheduled.append(callback)

    def end_of_turn(self) -> None:
        callbacks, self.scheduled = self.scheduled, []
        for callback in callbacks:
            callback()

    def applied(self) -> list[list[Any]]:
        """The messages as the other side applies them (batches opened), checked as it does."""
        out: list[list[Any]] = []
        for event, *args in self.sent:
            if event == tunnel.BATCH:
                for item in args:
                    name, _ = tunnel.parse_batched(tunnel.KERNEL_SHAPES, item)  # checks it
                    out.append([name, *item[1:]])
            else:
                out.append([event, *args])
        return out


@pytest.fixture
def wire() -> Wire:
    return Wire()


def test_the_messages_of_one_turn_leave_as_one_batch_in_order(wire: Wire) -> None:
    outbox = tunnel.Outbox(wire.emit, wire.schedule)
    outbox.send(tunnel.J_OPEN, "e1", {"x": 1})
    outbox.send(tunnel.J_MSG, "e1", '40/poll,{"name":"ada"}')
    outbox.send(tunnel.J_MSG, "e2", '42/poll,["vote","yes"]')
    assert wire.sent == []  # nothing before the end of the turn
    wire.end_of_turn()
    assert wire.sent == [
        (
            tunnel.BATCH,
            [tunnel.J_OPEN, "e1", {"x": 1}],
            [tunnel.J_MSG, "e1", '40/poll,{"name":"ada"}'],
            [tunnel.J_MSG, "e2", '42/poll,["vote","yes"]'],
        )
    ]


def test_a_lone_message_is_sent_as_itself(wire: Wire) -> None:
    outbox = tunnel.Outbox(wire.emit, wire.schedule)
    outbox.send(tunnel.J_CLOSED, "e1", "transport close")
    wire.end_of_turn()
    assert wire.sent == [(tunnel.J_CLOSED, "e1", "transport close")]


def test_a_message_with_an_attachment_goes_alone_after_what_came_before(wire: Wire) -> None:
    outbox = tunnel.Outbox(wire.emit, wire.schedule)
    outbox.send(tunnel.J_MSG, "e1", "first")
    outbox.send(tunnel.J_MSG, "e1", "second")
    outbox.send(tunnel.J_MSG, "e1", "451-third", b"\x00\x01")
    outbox.send(tunnel.J_MSG, "e1", "fourth")
    wire.end_of_turn()
    assert wire.applied() == [
        [tunnel.J_MSG, "e1", "first"],
        [tunnel.J_MSG, "e1", "second"],
        [tunnel.J_MSG, "e1", "451-third", b"\x00\x01"],
        [tunnel.J_MSG, "e1", "fourth"],
    ]
    assert wire.sent[1] == (tunnel.J_MSG, "e1", "451-third", b"\x00\x01")
    assert not any(
        isinstance(arg, bytes)
        for message in wire.sent
        if message[0] == tunnel.BATCH
        for item in message[1:]
        for arg in item
    )


def test_batches_stay_within_an_eighth_of_the_receivers_payload_limit(wire: Wire) -> None:
    outbox = tunnel.Outbox(wire.emit, wire.schedule, max_payload=8_000)
    assert outbox.max_chars == 1_000
    text = "x" * 300
    for n in range(10):
        outbox.send(tunnel.J_MSG, f"e{n}", text)
    big = "y" * 2_000
    outbox.send(tunnel.J_MSG, "big", big)
    wire.end_of_turn()
    assert [m[1] for m in wire.applied()] == [*(f"e{n}" for n in range(10)), "big"]
    for message in wire.sent:
        if message[0] == tunnel.BATCH:
            assert sum(len(item[2]) for item in message[1:]) <= 1_000
    assert wire.sent[-1] == (tunnel.J_MSG, "big", big)  # too big for a batch: alone


def test_a_batch_holds_at_most_max_batch_messages(wire: Wire) -> None:
    outbox = tunnel.Outbox(wire.emit, wire.schedule)
    for n in range(tunnel.MAX_BATCH + 5):
        outbox.send(tunnel.J_MSG, "e", str(n))
    wire.end_of_turn()
    assert [len(m) - 1 for m in wire.sent] == [tunnel.MAX_BATCH, 5]
    assert [m[2] for m in wire.applied()] == [str(n) for n in range(tunnel.MAX_BATCH + 5)]


def test_flush_sends_what_is_kept_before_a_request(wire: Wire) -> None:
    outbox = tunnel.Outbox(wire.emit, wire.schedule)
    outbox.send(tunnel.K_ADD, "/poll", "sid", "e1", ["voters"])
    outbox.flush()
    wire.emit(tunnel.K_FETCH, "/poll", {})  # a request goes after the join it depends on
    wire.end_of_turn()  # the scheduled flush finds nothing left
    assert wire.sent == [
        (tunnel.K_ADD, "/poll", "sid", "e1", ["voters"]),
        (tunnel.K_FETCH, "/poll", {}),
    ]


@pytest.mark.parametrize(
    "item",
    [
        "msg",
        [],
        [3, "e1"],
        [tunnel.K_CLAIM, "/poll", "kernel"],  # has an answer
        [tunnel.J_SS_CALL, "/poll", '2["x"]'],
        [tunnel.BATCH, [tunnel.J_MSG, "e1", "4"]],
        [tunnel.J_MSG, 7, "40"],  # the message's own shape is checked too
        ["nope"],
    ],
)
def test_a_malformed_or_forbidden_batched_message_is_refused(item: Any) -> None:
    with pytest.raises(tunnel.TunnelError):
        tunnel.parse_batched(tunnel.KERNEL_SHAPES, item)
