"""``jupyter_rt.kernel.host`` end to end: a real Jupyter server, a real kernel running cells,
the official npm socket.io-client."""

from __future__ import annotations

import pytest

from jupyter_rt.testing import JupyterServer
from tests.kernel.support import JsClients, Kernel

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
