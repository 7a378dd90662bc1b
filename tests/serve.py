"""The one launcher of the test servers that run in a subprocess.

    python -m tests.serve tests.interop.server_app --port 3000 [--ping-interval 0.3 ...]

imports the module, calls its ``make_app(**options)`` with every other ``--name value`` pair
(``--ping-interval 0.3`` is ``ping_interval=0.3``: numbers become numbers, anything else stays a
string), serves the Tornado application it returns (or the first item of the tuple it returns)
on ``--host`` (127.0.0.1) and ``--port`` (3000), awaits the module's ``ready(built)`` if it has
one, then prints ``READY`` and serves until stopped. ``--log-level`` (WARNING) sets the root
logger, in the module's ``LOG_FORMAT`` if it has one.

:func:`command` builds this command line for a test's :class:`~tests.helpers.Process`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from tests.helpers import REPO


def command(module: str, port: int, *args: object) -> list[str]:
    """``python -m tests.serve <module> --port <port> <args>``, for this interpreter."""
    return [sys.executable, "-m", "tests.serve", module, "--port", str(port), *map(str, args)]


def server_env() -> dict[str, str]:
    """The environment a test server needs: this checkout first on ``PYTHONPATH``, unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse(argv: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """``(module, options)`` from the command line; options hold host, port and log_level."""
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    module, rest = argv[0], list(argv[1:])
    if len(rest) % 2 or not all(name.startswith("--") for name in rest[::2]):
        raise SystemExit(f"expected --name value pairs, got {rest}")
    options: dict[str, Any] = {"host": "127.0.0.1", "port": 3000, "log_level": "WARNING"}
    for name, value in zip(rest[::2], rest[1::2], strict=True):
        options[name[2:].replace("-", "_")] = _value(value)
    return module, options


async def serve(module_name: str, options: dict[str, Any]) -> None:
    module = importlib.import_module(module_name)
    host, port = options.pop("host"), options.pop("port")
    level = options.pop("log_level")
    logging.basicConfig(
        level=level, stream=sys.stdout, format=getattr(module, "LOG_FORMAT", logging.BASIC_FORMAT)
    )
    built = module.make_app(**options)
    app = built[0] if isinstance(built, tuple) else built
    app.listen(port, address=host)
    ready = getattr(module, "ready", None)
    if ready is not None:
        await ready(built)
    print(f"{module_name} on http://{host}:{port}", flush=True)
    print("READY", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    module, options = parse(sys.argv[1:])
    try:
        asyncio.run(serve(module, options))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
