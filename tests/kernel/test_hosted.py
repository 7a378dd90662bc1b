"""``jupyter_rt.kernel.host`` end to end: a real Jupyter server, a real kernel running cells,
the official npm socket.io-client."""

from __future__ import annotations

import asyncio
import time

import pytest
from tornado import httpclient, websocket

from jupyter_rt.client import AsyncClient
from jupyter_rt.testing import JupyterServer, wait_until
from tests.kernel.support import STEP, JsClients, Kernel, js_bytes

pytestmark = [pytest.mark.jupyter, pytest.mark.timeout(120)]

POLL = """
from jupyter_rt.kernel import host

poll = host("/poll")
votes = {}

@poll.on("connection")
def on_connection(socket):
    socket.join("voters")

    @socket.on("vote")
    def vote(choice):
        votes[choice] = votes.get(choice, 0) + 1
        poll.to("voters").emit("tally", votes)   # a broadcast, fanned out by the server
        return {"ok": True}                       # the acknowledgement
"""


async def test_the_issues_poll_served_from_a_cell(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(POLL)
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/poll")
        await js.open("bob", "/poll")
        start = js.mark()
        assert await js.call("ada", "vote", "yes") == [{"ok": True}]
        assert await js.event("bob", "tally", start) == [{"yes": 1}]
        assert await js.event("ada", "tally", start) == [{"yes": 1}]
        assert await js.call("bob", "vote", "no") == [{"ok": True}]
        assert await kernel.value("votes") == {"yes": 1, "no": 1}


APP = """
import asyncio, time
from jupyter_rt import AckTimeout, ConnectionRefused
from jupyter_rt.kernel import host

app = host("/app")
seen = []

@app.use
def check(socket):
    name = socket.handshake.auth.get("name", "anon")
    if name == "mallory":
        raise ConnectionRefused("not you", {"who": name})
    if name == "crash":
        raise RuntimeError("a middleware bug")
    socket.data["name"] = name

@app.on("connection")
def on_connection(socket):
    @socket.on("whoami")
    def whoami():
        user = socket.handshake.user or {}
        return {
            "name": socket.data["name"],
            "user": sorted(user),
            "username": user.get("username"),
            "query": sorted(socket.handshake.query),
            "transport": socket.transport,
            "sid": socket.id,
        }

    @socket.on("join")
    def join(room):
        socket.join(room)
        return sorted(socket.rooms - {socket.id})

    @socket.on("leave")
    def leave(room):
        socket.leave(room)
        return sorted(socket.rooms - {socket.id})

    @socket.on("say")
    def say(room, text):
        socket.to(room).emit("said", socket.data["name"], text)

    @socket.on("shout")
    def shout(text):
        socket.broadcast.emit("shouted", text)

    @socket.on("notice")
    def notice(room, text):
        app.except_(room).emit("notice", text)

    @socket.on("ask")
    async def ask(value):
        return {"answer": await socket.call("question", value, timeout=5)}

    @socket.on("ask_nobody")
    async def ask_nobody():
        try:
            await socket.call("silence", timeout=0.3)
        except AckTimeout:
            return "timed out"

    @socket.on("echo")
    def echo(*args):
        return args

    @socket.on("boom")
    def boom():
        raise ValueError("boom from a handler")

    @socket.on("members")
    async def members(room):
        return sorted(s.data["name"] for s in await app.in_(room).fetch_sockets())

    @socket.on("kick")
    def kick():
        socket.disconnect()

    @socket.on("sleep")
    def sleep(seconds):
        time.sleep(seconds)

    @socket.on("disconnect")
    def on_disconnect(reason):
        seen.append([socket.data["name"], reason])
"""


async def test_middleware_data_and_handshake(jupyter_server: JupyterServer, kernel: Kernel) -> None:
    await kernel.run(APP)
    async with JsClients(jupyter_server) as js:
        start = js.mark()
        await js.open("mallory", "/app", wait=False, auth={"name": "mallory"})
        refused = await js.refused("mallory", start)
        assert (refused["message"], refused["data"]) == ("not you", {"who": "mallory"})
        await js.open("crash", "/app", wait=False, auth={"name": "crash"})
        assert (await js.refused("crash", start))["message"] == "Internal server error"
        await js.open("ada", "/app", auth={"name": "ada"}, transports=["websocket"])
        [who] = await js.call("ada", "whoami")
        assert who["name"] == "ada"  # socket.data, filled by the middleware
        assert {"username", "display_name"} <= set(who["user"])  # the Jupyter user
        assert who["username"]
        assert {"EIO", "transport", "token"} <= set(who["query"])
        assert who["transport"] == "websocket"


async def test_rooms_join_leave_to_except_and_broadcast(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(APP)
    async with JsClients(jupyter_server) as js:
        for name in ("ada", "bob", "cy"):
            await js.open(name, "/app", auth={"name": name})
        assert await js.call("ada", "join", "red") == [["red"]]
        assert await js.call("bob", "join", "red") == [["red"]]
        start = js.mark()
        js.emit("ada", "say", "red", "hi reds")
        assert await js.event("bob", "said", start) == ["ada", "hi reds"]
        js.emit("cy", "shout", "to everyone else")
        assert await js.event("ada", "shouted", start) == ["to everyone else"]
        assert await js.event("bob", "shouted", start) == ["to everyone else"]
        js.emit("cy", "notice", "red", "not for reds")
        assert await js.event("cy", "notice", start) == ["not for reds"]
        assert await js.call("ada", "members", "red") == [["ada", "bob"]]
        assert await js.call("bob", "leave", "red") == [[]]
        assert await js.call("ada", "members", "red") == [["ada"]]
        assert js.events("ada", "said", start) == []  # not back to the sender
        assert js.events("cy", "shouted", start) == []
        assert js.events("ada", "notice", start) == js.events("bob", "notice", start) == []
        assert await kernel.value("sorted(app.rooms)") == ["/app", "/app/red"]


async def test_acks_both_ways(jupyter_server: JupyterServer, kernel: Kernel) -> None:
    await kernel.run(APP)
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/app", auth={"name": "ada"})
        js.send(op="answer", id="ada", event="question", **{"with": ["forty-two"]})
        assert await js.call("ada", "ask", 6 * 7) == [{"answer": "forty-two"}]
        assert await js.call("ada", "ask_nobody") == ["timed out"]
        assert await js.call("ada", "echo", 1, "two", {"three": 3}) == [1, "two", {"three": 3}]


async def test_binary_arguments_both_ways(jupyter_server: JupyterServer, kernel: Kernel) -> None:
    await kernel.run(APP)
    blob = bytes(range(256)) * 40
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/app", auth={"name": "ada"})
        echoed = await js.call("ada", "echo", js_bytes(blob), {"nested": js_bytes(b"\x00")})
        assert echoed == [blob, {"nested": b"\x00"}]
        start = js.mark()
        await kernel.run(r"app.emit('data', b'\x01\x02', [b'x'])")
        assert await js.event("ada", "data", start) == [b"\x01\x02", [b"x"]]


async def test_disconnect_reasons_reach_the_kernels_handlers(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(APP)
    async with JsClients(jupyter_server) as js:
        # On WebSocket from the start: a disconnect during an upgrade would wait for it to
        # finish, and the client process may exit before (then the server sees a transport close).
        await js.open("ada", "/app", auth={"name": "ada"}, transports=["websocket"])
        await js.open("bob", "/app", auth={"name": "bob"})
        start = js.mark()
        js.send(op="disconnect", id="ada")
        js.emit("bob", "kick")
        assert await js.disconnected("bob", start) == "io server disconnect"
    async with JsClients(jupyter_server) as js:
        await js.open("cy", "/app", auth={"name": "cy"}, transports=["websocket"])
    # leaving the block killed node: cy's WebSocket closed

    async def three_reasons() -> bool:
        return len(await kernel.value("seen")) >= 3

    await wait_until(three_reasons, STEP, 0.2, "three disconnects")
    assert dict(await kernel.value("seen")) == {
        "ada": "client namespace disconnect",
        "bob": "server namespace disconnect",
        "cy": "transport close",
    }


async def test_handler_errors_show_in_the_output_of_the_hosting_cell(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    hosting = await kernel.run(APP)
    later = await kernel.run("other = host('/other-namespace'); print('another cell')")
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/app", auth={"name": "ada"})
        assert await js.call("ada", "boom") == [{"ok": False, "error": "Internal server error"}]
        await wait_until(lambda: "boom from a handler" in hosting.errors, STEP, 0.05, "the error")
    assert "Error in handler __main__.on_connection.<locals>.boom" in hosting.errors
    assert "Traceback" in hosting.errors and "ValueError: boom from a handler" in hosting.errors
    assert "boom" not in later.errors + later.text
    # also in the kernel's log (the server's)
    await jupyter_server.process.await_output(r"ValueError: boom from a handler", STEP)


async def test_handlers_run_while_a_cell_is_busy(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(APP)
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/app", auth={"name": "ada"})
        busy = kernel.submit("import time; time.sleep(6); print('slept')")
        await asyncio.sleep(0.5)
        started = time.monotonic()
        assert await js.call("ada", "echo", "during the sleep") == ["during the sleep"]
        assert time.monotonic() - started < 2
        assert not busy.idle.is_set()
        await kernel.finish(busy, 15)
        assert busy.text == "slept\n"


async def test_several_namespaces_per_kernel_and_the_python_client(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(
        """
        from jupyter_rt.kernel import host

        north, south = host("/north"), host("/south")
        north.on("connection", lambda s: s.on("where", lambda: "north"))
        south.on("connection", lambda s: s.on("where", lambda: "south"))
        """
    )
    async with JsClients(jupyter_server) as js:
        # one connection (one Engine.IO session) for both namespaces
        await js.open("n", "/north", forceNew=False)
        await js.open("s", "/south", forceNew=False)
        assert await js.call("n", "where") == ["north"]
        assert await js.call("s", "where") == ["south"]
    client = AsyncClient()
    await client.connect(
        f"http://127.0.0.1:{jupyter_server.port}",
        path=jupyter_server.path,
        token=jupyter_server.token,
        namespaces=["/north", "/south"],
    )
    try:
        assert await client.call("where", namespace="/north") == "north"
        assert await client.call("where", namespace="/south") == "south"
    finally:
        await client.disconnect()


async def test_fetch_sockets_and_rooms_from_a_cell(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(APP)
    async with JsClients(jupyter_server) as js:
        ada = await js.open("ada", "/app", auth={"name": "ada"})
        await js.open("bob", "/app", auth={"name": "bob"})
        await js.call("ada", "join", "blue")
        execution = await kernel.run(
            """
            sockets = await app.in_("blue").fetch_sockets()
            print([(s.id, s.data["name"], sorted(s.rooms)) for s in sockets])
            print(sorted(s.data["name"] for s in await app.fetch_sockets()))
            app.in_("blue").sockets_join("green")
            print(sorted(app.rooms))
            """
        )
        lines = execution.text.splitlines()
        assert lines[0] == repr([(ada["sid"], "ada", sorted([ada["sid"], "blue"]))])
        assert lines[1] == "['ada', 'bob']"
        assert lines[2] == "['/app', '/app/blue', '/app/green']"
        assert await js.call("ada", "members", "green") == [["ada"]]


VERSION = """
from jupyter_rt.kernel import host

demo = host("/rerun")
calls = []

@demo.on("connection")
def on_connection(socket):
    calls.append("connection {v}")
    socket.join("lobby")

    @socket.on("version")
    def version():
        calls.append("{v}")
        return "{v}"
"""


async def test_running_the_cell_again_replaces_the_handlers(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(VERSION.format(v="v1"))
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/rerun")
        assert await js.call("ada", "version") == ["v1"]
        start = js.mark()
        await kernel.run(VERSION.format(v="v2"))  # no "already taken" error
        assert await js.call("ada", "version") == ["v2"]  # the same socket, new logic
        assert await kernel.value("calls") == ["connection v2", "v2"]  # the cell's new list
        assert await kernel.value("sorted(demo.rooms)") == ["/rerun", "/rerun/lobby"]
        assert [m for m in js.seen[start:] if m["type"] in ("disconnect", "connect")] == []
        await js.open("bob", "/rerun")
        assert await js.call("bob", "version") == ["v2"]
        assert await kernel.value("calls") == ["connection v2", "v2", "connection v2", "v2"]


async def test_close_frees_the_name_and_clients_come_back_when_it_is_hosted_again(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    cell = """
    from jupyter_rt.kernel import host

    closing = host("/closing")
    closing.on("connection", lambda socket: socket.on("ping", lambda: "{answer}"))
    """
    await kernel.run(cell.format(answer="pong"))
    async with JsClients(jupyter_server) as js:
        first = await js.open("ada", "/closing")  # the default reconnection
        assert await js.call("ada", "ping") == ["pong"]
        start = js.mark()
        await kernel.run("closing.close(); print(closing.closed)")
        assert await js.disconnected("ada", start) == "transport close"
        await asyncio.sleep(2)  # it reconnected meanwhile, and waits
        assert [m for m in js.seen[start:] if m["type"] in ("connect", "connect_error")] == []
        await kernel.run(cell.format(answer="pong again"))
        again = await js.connected("ada", start)
        assert again["sid"] != first["sid"]
        assert await js.call("ada", "ping") == ["pong again"]


async def test_unknown_namespaces_are_still_invalid(jupyter_server: JupyterServer) -> None:
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/nobody-hosts-this", wait=False)
        assert (await js.refused("ada"))["message"] == "Invalid namespace"


async def test_clients_that_waited_meet_the_middleware_of_the_new_definition(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    cell = """
    from jupyter_rt import ConnectionRefused
    from jupyter_rt.kernel import host

    guarded = host("/guarded")

    @guarded.use
    def only_ada(socket):
        if socket.handshake.auth.get("name") != "ada":
            raise ConnectionRefused("ada only")

    guarded.on("connection", lambda socket: socket.on("ping", lambda: "pong"))
    """
    await kernel.run(cell)
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/guarded", auth={"name": "ada"})
        start = js.mark()
        await kernel.run("guarded.close()")
        await js.disconnected("ada", start)
        await js.open("eve", "/guarded", wait=False, auth={"name": "eve"})  # waits: vacant
        await asyncio.sleep(1.5)
        await kernel.run(cell)
        await js.connected("ada", start)
        assert (await js.refused("eve", start))["message"] == "ada only"
        assert await js.call("ada", "ping") == ["pong"]


async def test_long_polling_clients_and_upgrades(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(APP)
    async with JsClients(jupyter_server) as js:
        await js.open("poller", "/app", auth={"name": "poller"}, transports=["polling"])
        [who] = await js.call("poller", "whoami")
        assert who["transport"] == "polling"
        assert await js.call("poller", "echo", js_bytes(b"\x00\xff")) == [b"\x00\xff"]
        start = js.mark()
        await js.open("upgrader", "/app", auth={"name": "upgrader"})
        await js.wait_for(lambda m: m["type"] == "upgrade", "the upgrade", start=start)
        [who] = await js.call("upgrader", "whoami")
        assert who["transport"] == "websocket"  # the kernel heard of the upgrade


async def test_what_a_client_sends_is_checked_before_it_reaches_the_kernel(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(APP)
    await kernel.run("seen.clear()")
    request = httpclient.HTTPRequest(
        f"ws://127.0.0.1:{jupyter_server.port}{jupyter_server.path}?EIO=4&transport=websocket",
        headers={"Authorization": f"token {jupyter_server.token}"},
    )
    ws = await websocket.websocket_connect(request)
    try:
        assert str(await ws.read_message()).startswith("0{")
        ws.write_message('40/app,{"name":"raw"}')
        assert str(await ws.read_message()).startswith('40/app,{"sid":')
        ws.write_message('42/app,["connect"]')  # a reserved event name: a protocol error
        while await asyncio.wait_for(ws.read_message(), STEP) is not None:
            pass  # the server closes the connection
    finally:
        ws.close()

    async def parse_error_seen() -> bool:
        return await kernel.value("seen") == [["raw", "parse error"]]

    await wait_until(parse_error_seen, STEP, 0.2, "the kernel to see the parse error")
