"""``jupyter_rt.options``: one object holds every server setting, read the same everywhere."""

from __future__ import annotations

import dataclasses

import pytest
from tornado import web
from traitlets import TraitError

from jupyter_rt import Server
from jupyter_rt.extension import RealtimeApp
from jupyter_rt.options import HOOKS, Options
from jupyter_rt.transports import mount

FIELDS = [f.name for f in dataclasses.fields(Options)]


def test_every_option_is_a_traitlet_with_the_same_default_and_help() -> None:
    app = RealtimeApp()
    traits = app.traits(config=True)
    for name in FIELDS:
        assert name in traits, f"c.RealtimeApp.{name} is missing"
        default = getattr(Options(), name)
        value = getattr(app, name)
        if name in HOOKS:  # a function, named "module:function" in the config
            assert (default, value) == (None, ""), name
            assert traits[name].help.startswith(Options.help(name))
            continue
        assert (tuple(value) if isinstance(default, tuple) else value) == default, name
        assert traits[name].help == Options.help(name)
    assert app.server_options() == Options()


def test_function_options_are_imported_from_the_config() -> None:
    app = RealtimeApp(
        allow_request="tests.test_options:refuse_everyone", headers="tests.test_options:no_headers"
    )
    options = app.server_options()
    assert (options.allow_request, options.headers) == (refuse_everyone, no_headers)
    assert options.initial_headers is None
    with pytest.raises(ValueError, match=r"c.RealtimeApp.initial_headers = 'nowhere:x'"):
        RealtimeApp(initial_headers="nowhere:x").server_options()
    with pytest.raises(ValueError, match="allow_request must be a function"):
        Options(allow_request="tests.test_options:refuse_everyone")  # type: ignore[arg-type]


def refuse_everyone(request: object) -> bool:
    return False


def no_headers(headers: object, request: object) -> None:
    return None


def test_traitlets_reach_the_options() -> None:
    app = RealtimeApp(upgrade_timeout=3.0, max_poll_packets=5, max_buffered_bytes=1234)
    options = app.server_options()
    assert (options.upgrade_timeout, options.max_poll_packets, options.max_buffered_bytes) == (
        3.0,
        5,
        1234,
    )


def test_server_and_mount_hand_the_same_options_to_the_engine() -> None:
    io = Server(upgrade_timeout=2.5, max_poll_packets=3, ping_interval=7)
    driver = mount(web.Application(), io)
    engine = driver.engine
    assert engine.options is io.options
    assert (engine.upgrade_timeout, engine.max_poll_packets, engine.ping_interval) == (2.5, 3, 7)
    base = Options(max_payload=10_000)
    assert Server(base, ping_timeout=4).options == dataclasses.replace(base, ping_timeout=4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"transports": ("smoke",)}, "transports"),
        ({"transports": ()}, "transports"),
        ({"ping_interval": 0}, "ping_interval"),
        ({"max_payload": 0}, "max_payload"),
        ({"slow_handler_threshold": -1}, "slow_handler_threshold"),
    ],
)
def test_a_bad_value_is_refused_by_name(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Options(**changes)  # type: ignore[arg-type]


def test_an_unknown_option_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="ping_intervall"):
        Server(ping_intervall=5)


def test_transports_keep_the_upgrade_order() -> None:
    assert Options(transports=("websocket", "polling")).transports == ("polling", "websocket")


def test_a_json_list_given_as_one_string_is_read_as_a_list() -> None:
    # What `--RealtimeApp.apps='["a:b", "c:d"]'` gives the app (traitlets' deferred config).
    app = RealtimeApp(apps=['["a.b:setup", "c:setup"]'], transports=['["websocket"]'])
    assert app.apps == ["a.b:setup", "c:setup"]
    assert app.transports == ["websocket"]
    with pytest.raises(TraitError, match="apps: not a JSON list"):
        RealtimeApp(apps=['["a:b"'])
    with pytest.raises(TraitError, match="list of strings"):
        RealtimeApp(apps=["[1, 2]"])
