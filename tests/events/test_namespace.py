"""``/jupyter`` in a real Jupyter server: its events and its kernels' state, live, for the
server's own token only, with python-socketio as the client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import socketio
from jupyter_server.auth.authorizer import Authorizer

from jupyter_rt.events import KERNEL_ACTIONS, KERNEL_STATUS, MAX_SUBSCRIPTIONS, NAMESPACE
from tests.jupyter.support import STEP, Inbox, Jupyter, LogRecords, sio_client

pytestmark = pytest.mark.jupyter

CONTENTS = "https://events.jupyter.org/jupyter_server/contents_service/v1"


async def ask(sio: socketio.AsyncClient, event: str, *args: Any) -> Any:
    return await sio.call(event, *args, namespace=NAMESPACE, timeout=STEP)


async def next_matching(inbox: Inbox, event: str, **expected: Any) -> dict[str, Any]:
    """The next ``event`` whose fields include ``expected`` (``data`` fields for ``event``)."""
    while True:
        message = await inbox.next(event)
        fields = message["data"] if event == "event" else message
        if all(fields.get(k) == v for k, v in expected.items()):
            return dict(message)


async def refusal(jupyter: Jupyter, headers: dict[str, str] | None = None) -> str:
    sio = socketio.AsyncClient(reconnection=False)
    query = "" if headers else f"?token={jupyter.token}"
    with pytest.raises(socketio.exceptions.ConnectionError) as refused:
        await sio.connect(
            jupyter.origin + query,
            headers=headers or {},
            namespaces=[NAMESPACE],
            socketio_path=jupyter.path,
            wait_timeout=STEP,
        )
    await sio.disconnect()
    return str(refused.value)


async def test_topics_list_the_servers_schemas_and_unknown_ones_are_refused(
    jupyter: Jupyter, jp_serverapp: Any
) -> None:
    async with sio_client(jupyter, [NAMESPACE]) as sio:
        answer = await ask(sio, "topics")
        assert answer["ok"] is True
        assert {KERNEL_ACTIONS, CONTENTS, KERNEL_STATUS} <= set(answer["topics"])
        assert await ask(sio, "subscribe", "https://example.org/nothing/v1") == {
            "ok": False,
            "error": "unknown topic",
        }
        assert (await ask(sio, "subscribe", 42))["ok"] is False
        assert (await ask(sio, "subscribe"))["ok"] is False


async def test_a_schema_registered_later_is_served_up_to_the_cap(
    jupyter: Jupyter, jp_serverapp: Any
) -> None:
    logger = jp_serverapp.event_logger
    ids = [f"https://example.org/later/{n}/v1" for n in range(MAX_SUBSCRIPTIONS + 1)]
    for schema_id in ids:
        logger.register_event_schema(
            {
                "$id": schema_id,
                "version": "1",
                "type": "object",
                "properties": {"n": {"type": "integer"}},
            }
        )
    inbox = Inbox()
    async with sio_client(jupyter, [NAMESPACE], setup=inbox.listener(NAMESPACE, "event")) as sio:
        for schema_id in ids[:-1]:
            assert await ask(sio, "subscribe", schema_id) == {"ok": True}
        over = await ask(sio, "subscribe", ids[-1])
        assert over == {"ok": False, "error": f"at most {MAX_SUBSCRIPTIONS} topics per socket"}
        assert await ask(sio, "subscribe", ids[0]) == {"ok": True}  # again: no new room

        logger.emit(schema_id=ids[0], data={"n": 7})
        event = await inbox.next("event")
        assert event["schema_id"] == ids[0]
        assert event["version"] in ("1", 1)
        assert event["data"] == {"n": 7}
        assert event["timestamp"].endswith("+00:00")


async def test_a_kernel_start_its_execution_state_and_unsubscribe(
    jupyter: Jupyter, jp_serverapp: Any
) -> None:
    inbox = Inbox()
    listen = inbox.listener(NAMESPACE, "event", KERNEL_STATUS)
    async with sio_client(jupyter, [NAMESPACE], setup=listen) as sio:
        assert await ask(sio, "subscribe", KERNEL_ACTIONS) == {"ok": True}
        assert await ask(sio, "subscribe", KERNEL_STATUS) == {"ok": True}

        response = await jupyter.fetch(
            jupyter.url("api/kernels"), "POST", jupyter.auth_header, body="{}"
        )
        assert response.code == 201, response.code
        kernel_id = json.loads(response.body)["id"]
        started = await next_matching(inbox, "event", kernel_id=kernel_id, action="start")
        assert started["schema_id"] == KERNEL_ACTIONS
        assert started["data"]["status"] == "success"
        await next_matching(inbox, KERNEL_STATUS, kernel_id=kernel_id, execution_state="starting")

        client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=STEP)
            client.execute("import time; time.sleep(0.3)")
            # The cell's busy spell, told from a kernel_info's short one by its length.
            loop = asyncio.get_running_loop()
            busy_since: float | None = None
            busy_for = 0.0
            while busy_for < 0.25:
                status = await next_matching(inbox, KERNEL_STATUS, kernel_id=kernel_id)
                if status["execution_state"] == "busy":
                    busy_since = loop.time()
                elif status["execution_state"] == "idle" and busy_since is not None:
                    busy_for, busy_since = loop.time() - busy_since, None
        finally:
            client.stop_channels()

        assert await ask(sio, "unsubscribe", KERNEL_ACTIONS) == {"ok": True}
        inbox.pending("event")
        response = await jupyter.fetch(
            jupyter.url(f"api/kernels/{kernel_id}"), "DELETE", jupyter.auth_header
        )
        assert response.code == 204, response.code
        await next_matching(inbox, KERNEL_STATUS, kernel_id=kernel_id, execution_state="dead")
        await ask(sio, "topics")  # whatever was sent before its answer has arrived
        assert inbox.pending("event") == []


async def test_a_contents_save_arrives_until_the_extension_stops_listening(
    jupyter: Jupyter, jp_serverapp: Any
) -> None:
    inbox = Inbox()
    async with sio_client(jupyter, [NAMESPACE], setup=inbox.listener(NAMESPACE, "event")) as sio:
        assert await ask(sio, "subscribe", CONTENTS) == {"ok": True}
        body = json.dumps({"type": "file", "format": "text", "content": "hello"})
        url = jupyter.url("api/contents/hello.txt")
        response = await jupyter.fetch(url, "PUT", jupyter.auth_header, body=body)
        assert response.code in (200, 201), response.code
        saved = await next_matching(inbox, "event", action="save", path="hello.txt")
        assert saved["schema_id"] == CONTENTS

        (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_rt"]
        app.events.close()  # what stopping the extension does
        response = await jupyter.fetch(url, "PUT", jupyter.auth_header, body=body)
        assert response.code == 200, response.code
        await ask(sio, "topics")
        assert inbox.pending("event") == []


async def test_other_credentials_are_refused_and_served_elsewhere(
    jupyter: Jupyter, rt_log: LogRecords
) -> None:
    login = await jupyter.login()  # a login cookie: not the server's own token
    assert NAMESPACE in await refusal(jupyter, login.header())
    assert rt_log.matching("Refused a /jupyter connection from .*: only this server's own")
    async with sio_client(jupyter, ["/chat"], headers=login.header(), token_in_url=False):
        pass


class NoEventsAuthorizer(Authorizer):
    """Allows everything but reading events."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "events"


@pytest.mark.parametrize("server_config", [{"authorizer_class": NoEventsAuthorizer}], indirect=True)
async def test_without_the_events_permission_the_token_is_refused(
    jupyter: Jupyter, rt_log: LogRecords
) -> None:
    assert NAMESPACE in await refusal(jupyter)
    assert rt_log.matching("Refused a /jupyter connection from .*: the authorizer")
    async with sio_client(jupyter, ["/chat"]):
        pass


@pytest.mark.parametrize("rt_config", [{"jupyter_events": False}], indirect=True)
async def test_the_namespace_can_be_turned_off(jupyter: Jupyter) -> None:
    assert NAMESPACE in await refusal(jupyter)
