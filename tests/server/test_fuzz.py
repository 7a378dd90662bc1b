"""Whatever a client sends, the server raises nothing and closes at most that client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_rt.engine.session import EngineListener
from jupyter_rt.server import Server, Socket
from tests.server.fakes import FakeSession


def as_listener(io: Server) -> EngineListener:
    """Checked by mypy: the server is the engine's listener."""
    return io


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
frames = st.one_of(
    st.text(max_size=30),
    st.binary(max_size=6),
    st.builds(
        lambda t, head, body: f"{t}{head}{body}",
        st.sampled_from("0123456"),
        st.sampled_from(["", "/", "/chat,", "/dyn-1,", "/nope,", "1-", "2-/chat,", "3", "1-7"]),
        st.one_of(
            json_value.map(json.dumps),
            st.lists(json_value, min_size=1, max_size=3).map(lambda v: json.dumps(["echo", *v])),
            st.just('["echo",{"_placeholder":true,"num":0}]'),
            st.just('{"token":"x"}'),
        ),
    ),
)


async def scenario(sent: list[str | bytes]) -> None:
    io = Server(connect_timeout=60)
    io.of("/chat")
    io.of(lambda name: name.startswith("/dyn-"))

    @io.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.join("r")

        @socket.on("echo")
        async def echo(*args: Any) -> Any:
            await socket.broadcast.emit("echoed", *args)
            return args

    fuzzed = FakeSession(io).open()
    bystander = FakeSession(io).open()
    bystander.connect()
    fuzzed.connect()
    for frame in sent:
        io.on_engine_message(fuzzed, frame)  # must never raise
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not bystander.closed
    if fuzzed.closed:
        assert fuzzed.close_reason == "parse error"
    await io.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, max_size=8))
def test_no_client_input_raises_inside_the_server(sent: list[str | bytes]) -> None:
    asyncio.run(scenario(sent))
