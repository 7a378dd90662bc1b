"""The kernel side of the widgets: traits, and message routing through a recording comm.

There is no browser here: a fake comm records what the kernel sends, and the tests feed
the widget the messages the browser model (labextension/src/model.ts) would send. The
browser side is tested with Playwright in the browser tests.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import comm
import pytest
import traitlets

from jupyter_rt.errors import AckTimeout, NotConnected, RealtimeError
from jupyter_rt.widgets import (
    MODULE_NAME,
    MODULE_VERSION,
    ChatWidget,
    RealtimeClient,
    RoomsView,
    SocketWidget,
    TickWidget,
)
from jupyter_rt.widgets._messages import deconstruct, reconstruct
from jupyter_rt.widgets.client import hub_error

REPO = Path(__file__).resolve().parents[2]


class FakeKernel:
    """The kernel as a widget sees it: the request it handles comes from ``page``."""

    def __init__(self) -> None:
        self.page = ""

    def get_parent(self) -> dict[str, Any]:
        return {"header": {"session": self.page}} if self.page else {}


KERNEL = FakeKernel()


class RecordingComm:
    """Stands in for the kernel's comm: keeps every message the widget sends."""

    kernel = KERNEL

    def __init__(self, **kwargs: Any) -> None:
        self.comm_id = uuid.uuid4().hex
        self.opened_with = kwargs
        self.sent: list[tuple[dict[str, Any], list[bytes]]] = []
        self.closed = False

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.sent.append((data, list(buffers or [])))

    def on_msg(self, callback: Any) -> None:
        self.callback = callback

    def on_close(self, callback: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.closed = True

    # What the tests read.
    def custom(self) -> list[dict[str, Any]]:
        """The custom messages sent so far (content without ``to``), and forget them."""
        return [{k: v for k, v in m.items() if k != "to"} for m in self.addressed()]

    def addressed(self) -> list[dict[str, Any]]:
        """The custom messages sent so far, with the page each names (``to``), and forget them."""
        out = [m["content"] for m, _ in self.sent if m.get("method") == "custom"]
        self.sent = [(m, b) for m, b in self.sent if m.get("method") != "custom"]
        return out

    def custom_with_buffers(self) -> list[tuple[dict[str, Any], list[bytes]]]:
        return [(m["content"], b) for m, b in self.sent if m.get("method") == "custom"]

    def updates(self) -> dict[str, Any]:
        """Every state key sent by `update` messages, merged."""
        state: dict[str, Any] = {}
        for m, _ in self.sent:
            if m.get("method") == "update":
                state.update(m["state"])
        return state


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: RecordingComm(**kwargs))
    KERNEL.page = ""
    yield


def comm_of(widget: SocketWidget) -> RecordingComm:
    assert isinstance(widget.comm, RecordingComm)
    return widget.comm


def from_browser(widget: SocketWidget, content: dict[str, Any], buffers: Any = None) -> None:
    """Deliver a custom message as the browser model would send it."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []}
    )


def browser_sets(widget: SocketWidget, **state: Any) -> None:
    """Deliver a state update from the browser (status traits)."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state}}, "buffers": []})


# ---------------------------------------------------------------- module and traits


def test_module_version_matches_the_npm_package() -> None:
    package = json.loads((REPO / "labextension" / "package.json").read_text())
    assert package["name"] == MODULE_NAME == "jupyter-rt"
    assert f"^{package['version']}" == MODULE_VERSION


@pytest.mark.parametrize(
    ("cls", "model", "view", "namespace"),
    [
        (RealtimeClient, "RealtimeClientModel", "RealtimeClientView", "/hub"),
        (TickWidget, "TickModel", "TickView", "/tick"),
        (ChatWidget, "ChatModel", "ChatView", "/chat"),
        (RoomsView, "RoomsModel", "RoomsView", "/hub"),
    ],
)
def test_widgets_name_their_browser_classes(
    cls: type[SocketWidget], model: str, view: str, namespace: str
) -> None:
    widget = cls()
    state = comm_of(widget).opened_with["data"]["state"]
    assert state["_model_module"] == state["_view_module"] == "jupyter-rt"
    assert state["_model_module_version"] == MODULE_VERSION
    assert (state["_model_name"], state["_view_name"]) == (model, view)
    assert state["namespace"] == namespace
    assert state["connected"] is False
    assert state["transports"] is None
    assert state["_listen"] == []


def test_realtime_client_arguments() -> None:
    client = RealtimeClient(namespace="chat", rooms=["a", "b", "a"], transports=("polling",))
    assert client.namespace == "/chat"
    assert client.rooms == ["a", "b"]
    assert client.transports == ["polling"]
    with pytest.raises(traitlets.TraitError):
        RealtimeClient(transports=["carrier-pigeon"])


def test_status_traits_come_from_the_browser_only() -> None:
    client = RealtimeClient()
    browser_sets(client, connected=True, transport="websocket", sid="abc", rooms=["x"])
    assert (client.connected, client.transport, client.sid, client.rooms) == (
        True,
        "websocket",
        "abc",
        ["x"],
    )
    with pytest.raises(traitlets.TraitError):
        client.connected = False
    with pytest.raises(traitlets.TraitError):
        client.sid = "forged"


def test_tick_and_rooms_traits_sync_back() -> None:
    tick = TickWidget()
    browser_sets(tick, tick=7, received=8)
    assert (tick.tick, tick.received) == (7, 8)
    rooms = RoomsView(interval=0.5)
    browser_sets(rooms, table=[["/chat", "Lobby", 2]], updated="2026-01-01T00:00:00Z")
    assert rooms.table == [["/chat", "Lobby", 2]]
    with pytest.raises(traitlets.TraitError):
        RoomsView(interval=0.01)


# ---------------------------------------------------------------- kernel -> browser


def test_emit_without_ack() -> None:
    client = RealtimeClient()
    client.emit("hello", 1, {"a": [True, None]})
    assert comm_of(client).custom() == [
        {
            "kind": "emit",
            "event": "hello",
            "args": [1, {"a": [True, None]}],
            "ack": None,
            "timeout": None,
        }
    ]
    assert client.pending_acks == 0


@pytest.mark.parametrize("event", ["connect", "disconnect", "newListener", ""])
def test_emit_refuses_reserved_names(event: str) -> None:
    with pytest.raises(ValueError):
        RealtimeClient().emit(event)


def test_emit_with_ack_calls_back_once() -> None:
    client = RealtimeClient(ack_timeout=3)
    got: list[tuple[object, ...]] = []
    client.emit("sum", 1, 2, callback=lambda *args: got.append(args))
    [msg] = comm_of(client).custom()
    assert msg["ack"] == 1 and msg["timeout"] == 3.0
    assert client.pending_acks == 1
    from_browser(client, {"kind": "ack", "ack": 1, "args": [3, "ok"], "error": None})
    from_browser(client, {"kind": "ack", "ack": 1, "args": [4], "error": None})  # second tab
    assert got == [(3, "ok")]
    assert client.pending_acks == 0


def test_emit_ack_timeout_and_disconnect_reach_on_error() -> None:
    client = RealtimeClient()
    errors: list[RealtimeError] = []
    client.emit("slow", callback=lambda *a: None, timeout=0.5, on_error=errors.append)
    client.emit("gone", callback=lambda *a: None, on_error=errors.append)
    first, second = comm_of(client).custom()
    assert first["timeout"] == 0.5 and second["timeout"] == 10.0
    from_browser(client, {"kind": "ack", "ack": first["ack"], "args": [], "error": "timeout"})
    from_browser(client, {"kind": "ack", "ack": second["ack"], "args": [], "error": "disconnected"})
    assert [type(e) for e in errors] == [AckTimeout, NotConnected]
    assert "slow" in str(errors[0])


def test_connect_and_disconnect_messages() -> None:
    client = RealtimeClient()
    client.disconnect()
    client.connect()
    assert comm_of(client).custom() == [{"kind": "disconnect"}, {"kind": "connect"}]


def test_binary_arguments_travel_as_buffers() -> None:
    client = RealtimeClient()
    client.emit("blob", b"\x00\x01", {"nested": [bytearray(b"xy")]})
    [(content, buffers)] = comm_of(client).custom_with_buffers()
    assert content["args"] == [{"_jrt_buffer": 0}, {"nested": [{"_jrt_buffer": 1}]}]
    assert buffers == [b"\x00\x01", b"xy"]

    got: list[object] = []
    client.on("file", lambda data: got.append(data))
    from_browser(
        client,
        {"kind": "event", "event": "file", "args": [{"_jrt_buffer": 0}], "ack": None},
        [memoryview(b"\xff")],
    )
    assert got == [b"\xff"]


def test_placeholders_are_only_replaced_when_valid() -> None:
    value = [{"_jrt_buffer": 5}, {"_jrt_buffer": 0, "x": 1}, {"_jrt_buffer": 0}]
    assert reconstruct(value, [b"a"]) == [{"_jrt_buffer": 5}, {"_jrt_buffer": 0, "x": 1}, b"a"]
    assert deconstruct(("a", (b"b",))) == (["a", [{"_jrt_buffer": 0}]], [b"b"])


# ---------------------------------------------------------------- browser -> kernel


def test_on_registers_the_event_with_the_browser() -> None:
    client = RealtimeClient()

    @client.on("news")
    def news(*args: object) -> None:
        pass

    client.on("connect", lambda: None)
    assert client._listen == ["connect", "news"]
    assert comm_of(client).updates()["_listen"] == ["connect", "news"]
    client.off("news", news)
    assert client._listen == ["connect"]
    client.off("connect")
    assert client._listen == []


def test_events_run_kernel_handlers_in_order() -> None:
    client = RealtimeClient()
    seen: list[tuple[str, tuple[object, ...]]] = []
    client.on("news", lambda *args: seen.append(("first", args)))
    client.on("news", lambda *args: seen.append(("second", args)))
    client.on("*", lambda event, *args: seen.append((f"any:{event}", args)))
    from_browser(client, {"kind": "event", "event": "news", "args": ["a", 1], "ack": None})
    from_browser(client, {"kind": "event", "event": "other", "args": [], "ack": None})
    assert seen == [
        ("first", ("a", 1)),
        ("second", ("a", 1)),
        ("any:news", ("a", 1)),
        ("any:other", ()),
    ]
    assert comm_of(client).custom() == []  # no ack asked, no reply


def test_server_ack_gets_the_handler_return_value() -> None:
    client = RealtimeClient()
    client.on("question", lambda x: x * 2)
    client.on("pair", lambda: ("a", 1))
    client.on("nothing", lambda: None)
    from_browser(client, {"kind": "event", "event": "question", "args": [21], "ack": 4})
    from_browser(client, {"kind": "event", "event": "pair", "args": [], "ack": 5})
    from_browser(client, {"kind": "event", "event": "nothing", "args": [], "ack": 6})
    assert comm_of(client).custom() == [
        {"kind": "reply", "ack": 4, "args": [42]},
        {"kind": "reply", "ack": 5, "args": ["a", 1]},
        {"kind": "reply", "ack": 6, "args": []},
    ]


def test_a_failing_handler_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    client = RealtimeClient()
    seen: list[object] = []

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    client.on("ev", broken)
    client.on("ev", seen.append)
    from_browser(client, {"kind": "event", "event": "ev", "args": ["x"], "ack": 1})
    assert seen == ["x"]
    assert comm_of(client).custom() == [{"kind": "reply", "ack": 1, "args": []}]
    assert "boom" in caplog.text


def test_lifecycle_messages_run_lifecycle_handlers() -> None:
    client = RealtimeClient()
    seen: list[tuple[str, tuple[object, ...]]] = []
    client.on("disconnect", lambda *a: seen.append(("disconnect", a)))
    client.on("connect_error", lambda *a: seen.append(("connect_error", a)))
    client.on("*", lambda *a: seen.append(("*", a)))
    from_browser(client, {"kind": "lifecycle", "event": "disconnect", "args": ["ping timeout"]})
    from_browser(
        client,
        {"kind": "lifecycle", "event": "connect_error", "args": [{"message": "forbidden"}]},
    )
    assert seen == [
        ("disconnect", ("ping timeout",)),
        ("connect_error", ({"message": "forbidden"},)),
    ]


def test_malformed_browser_messages_are_ignored() -> None:
    client = RealtimeClient()
    client.on("ev", lambda *a: pytest.fail("must not run"))
    from_browser(client, {"kind": "event", "event": 5, "args": []})
    from_browser(client, {"kind": "ack", "ack": "x"})
    from_browser(client, {"kind": "ack", "ack": 99, "args": [], "error": None})
    from_browser(client, {"kind": "unknown"})
    client._handle_msg(
        {"content": {"data": {"method": "custom", "content": [1, 2]}}, "buffers": []}
    )
    assert comm_of(client).custom() == []


# ---------------------------------------------------------------- several pages on one kernel


def shows(widget: SocketWidget, page: str, shown: bool = True) -> None:
    from_browser(widget, {"kind": "views", "page": page, "shown": shown})


def sent_to(widget: SocketWidget) -> list[str | None]:
    return [m["to"] for m in comm_of(widget).addressed()]


def test_commands_go_to_the_page_that_ran_the_cell_when_no_page_shows_the_widget() -> None:
    KERNEL.page = "bob"
    chat = ChatWidget()
    chat.say("one line from the kernel")
    assert comm_of(chat).addressed() == [
        {"kind": "chat", "text": "one line from the kernel", "to": "bob"}
    ]
    assert chat._driver == "bob"
    assert comm_of(chat).updates()["_driver"] == "bob"
    KERNEL.page = "ada"  # another page runs a cell: nobody shows it, so that page drives
    chat.say("again")
    assert sent_to(chat) == ["ada"]
    KERNEL.page = ""  # no request (a thread): the current page
    chat.say("from a thread")
    assert sent_to(chat) == ["ada"]


def test_a_page_showing_the_widget_is_preferred() -> None:
    KERNEL.page = "bob"
    client = RealtimeClient()
    shows(client, "bob")
    KERNEL.page = "ada"  # Ada runs a cell using Bob's widget; her page does not show it
    client.emit("ping")
    client.connect()
    assert sent_to(client) == ["bob", "bob"]
    shows(client, "ada")  # now it does: her cells speak through her page
    client.emit("ping")
    assert sent_to(client) == ["ada"]
    KERNEL.page = "carol"  # a page that does not show it: the current one
    client.emit("ping")
    assert sent_to(client) == ["ada"]
    assert client._driver == "ada"


def test_the_first_page_showing_the_widget_takes_over_from_a_page_without_a_view() -> None:
    KERNEL.page = "ada"
    client = RealtimeClient()
    client.on("news", lambda: None)  # Ada's page opens a socket to listen with
    assert client._driver == "ada"
    KERNEL.page = ""
    shows(client, "bob")
    shows(client, "carol")
    assert client._driver == "bob"
    shows(client, "bob", False)
    assert client._driver == "carol"
    shows(client, "carol", False)  # nobody shows it: the last one keeps listening for the kernel
    assert client._driver == "carol"
    from_browser(client, {"kind": "views", "shown": True})  # no page: ignored
    assert client._driver == "carol"


def test_only_the_driving_page_reaches_kernel_handlers() -> None:
    KERNEL.page = "bob"
    client = RealtimeClient()
    seen: list[tuple[str, object]] = []
    client.on("question", lambda x: seen.append(("question", x)) or x * 2)
    client.on("connect", lambda: seen.append(("connect", None)))
    assert client._driver == "bob"
    event = {"kind": "event", "event": "question", "args": [21], "ack": 3}
    from_browser(client, {**event, "page": "ada"})
    from_browser(client, {"kind": "lifecycle", "event": "connect", "args": [], "page": "ada"})
    assert seen == []
    # Ada's page gets an empty answer for the server, from nobody's handler.
    assert comm_of(client).addressed() == [{"kind": "reply", "ack": 3, "args": [], "to": "ada"}]
    from_browser(client, {**event, "page": "bob"})
    from_browser(client, {"kind": "lifecycle", "event": "connect", "args": [], "page": "bob"})
    assert seen == [("question", 21), ("connect", None)]
    assert comm_of(client).addressed() == [{"kind": "reply", "ack": 3, "args": [42], "to": "bob"}]


# ---------------------------------------------------------------- /hub helpers


def ack_of(client: RealtimeClient, msg: dict[str, Any], *args: object) -> None:
    from_browser(client, {"kind": "ack", "ack": msg["ack"], "args": list(args), "error": None})


def test_join_and_leave_keep_rooms_up_to_date() -> None:
    client = RealtimeClient(rooms=["a"])
    answers: list[tuple[object, ...]] = []
    client.join("b", lambda *a: answers.append(a))
    client.join("bad room!")
    join_b, join_bad = comm_of(client).custom()
    assert (join_b["event"], join_b["args"]) == ("join", ["b"])
    ack_of(client, join_b, {"ok": True, "room": "b"})
    ack_of(client, join_bad, {"ok": False, "error": "invalid room name"})
    assert client.rooms == ["a", "b"]
    assert answers == [({"ok": True, "room": "b"},)]
    assert comm_of(client).updates()["rooms"] == ["a", "b"]

    client.leave("a")
    [leave] = comm_of(client).custom()
    assert (leave["event"], leave["args"]) == ("leave", ["a"])
    ack_of(client, leave, {"ok": True})
    assert client.rooms == ["b"]


def test_publish_members_and_list_rooms() -> None:
    client = RealtimeClient()
    client.publish("lab", "news", {"n": 1}, "x")
    client.publish("lab", "news", include_self=True)
    client.members("lab", lambda *a: None)
    client.list_rooms(lambda *a: None)
    publish, publish_self, members, rooms = comm_of(client).custom()
    assert (publish["event"], publish["args"]) == ("publish", ["lab", "news", {"n": 1}, "x"])
    assert publish["ack"] is not None  # the hub acknowledges every call
    assert publish_self["args"] == [{"room": "lab", "self": True}, "news"]
    assert (members["event"], members["args"]) == ("members", ["lab"])
    assert (rooms["event"], rooms["args"]) == ("rooms", [])


@pytest.mark.parametrize(
    ("ack", "error"),
    [
        ((), None),
        (({"ok": True},), None),
        (("anything",), None),
        (({"error": "too long"},), "too long"),
        (({"error": {"message": "bad name"}},), "bad name"),
        (({"ok": False, "message": "no"},), "no"),
        (({"ok": False},), "refused"),
    ],
)
def test_hub_error(ack: tuple[object, ...], error: str | None) -> None:
    assert hub_error(ack) == error


# ---------------------------------------------------------------- chat


def test_chat_widget_state_and_input() -> None:
    chat = ChatWidget(room="Cellar", nickname="Ada")
    state = comm_of(chat).opened_with["data"]["state"]
    assert (state["room"], state["nickname"], state["rooms"]) == ("Cellar", "Ada", [])
    chat.say("/nick Grace")
    chat.say("hello <b>all</b>")
    assert comm_of(chat).custom() == [
        {"kind": "chat", "text": "/nick Grace"},
        {"kind": "chat", "text": "hello <b>all</b>"},
    ]
    browser_sets(chat, nickname="Grace", room="Lobby", rooms=["Cellar", "Lobby"])
    assert (chat.nickname, chat.room, chat.rooms) == ("Grace", "Lobby", ["Cellar", "Lobby"])
    with pytest.raises(traitlets.TraitError):
        chat.rooms = []


# ---------------------------------------------------------------- the npm package


def test_labextension_package_shares_widgets_base_and_bundles_the_client() -> None:
    package = json.loads((REPO / "labextension" / "package.json").read_text())
    lab = package["jupyterlab"]
    assert lab["outputDir"] == "../jupyter_rt/labextension"
    assert lab["sharedPackages"]["@jupyter-widgets/base"] == {"bundled": False, "singleton": True}
    assert lab["sharedPackages"]["socket.io-client"] is False  # bundled, never swapped
    assert package["dependencies"]["socket.io-client"].lstrip("~^").startswith("4.8")
    assert "@jupyter/builder" in package["devDependencies"]
    assert "@jupyterlab/builder" not in package["devDependencies"]
    lock = (REPO / "labextension" / "yarn.lock").read_text()
    assert '"socket.io-client@npm:4.8.' in lock
