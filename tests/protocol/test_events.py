"""The event rules every layer shares."""

from __future__ import annotations

from typing import get_args

import pytest

from jupyter_rt.protocol.events import (
    RESERVED_EVENTS,
    DisconnectReason,
    Reason,
    ack_args,
    ack_value,
    check_event_name,
    check_server_side_event,
)


def test_the_reason_type_and_the_names_are_the_same_strings() -> None:
    names = {v for k, v in vars(DisconnectReason).items() if k.isupper()}
    assert names == set(get_args(Reason))


def test_event_names() -> None:
    assert check_event_name("x") == "x" and check_event_name("") == ""
    for name in RESERVED_EVENTS:
        with pytest.raises(ValueError, match="reserved"):
            check_event_name(name)
        assert check_event_name(name, allow_reserved=True) == name
    with pytest.raises(ValueError, match="non-empty"):
        check_event_name("", allow_empty=False)
    for error in (TypeError, ValueError):  # clients have raised ValueError, the server TypeError
        with pytest.raises(error, match="must be a str, not int"):
            check_event_name(3)
    for name in ("connection", "connect"):
        with pytest.raises(ValueError, match="reserved"):
            check_server_side_event(name)
    assert check_server_side_event("sum") == "sum"


def test_ack_conversion_round_trips() -> None:
    for value in (None, 1, "a", [1], ("a", 2)):
        assert ack_value(ack_args(value)) == value
    assert ack_args(None) == [] and ack_args((1, 2)) == [1, 2] and ack_args([1, 2]) == [[1, 2]]
