"""A pytest plugin: no secret of the test run in any log line (issue 8, "no secret in any log").

Registered from ``tests/conftest.py``. It keeps every log record the run creates (all loggers,
whatever their handlers: through the record factory) and the output of every
:class:`tests.helpers.Process`; after each test it formats them (with tracebacks) and looks for
the secrets known so far: the token of pytest-jupyter's ``jp_serverapp``, any
``--IdentityProvider.token=`` given to a subprocess, and what tests pass to :func:`add_secret`
(login cookies, generated tokens). Jupyter's own startup banner (the lines that are a URL with
``?token=``) is allowed: that one is Jupyter's, printed by design. A leak fails the run at its
end, naming the test and the line, with the secret masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

_secrets: set[str] = set()
_records: list[logging.LogRecord] = []
_files: dict[Path, int] = {}
_leaks: list[str] = []
_BANNER = re.compile(r"^\s*(?:or\s+)?https?://\S+[?&]token=\S+\s*$")
"""A line of Jupyter's startup banner: its URL with the token, alone on its line."""
_MIN_SECRET = 6  # shorter values (an empty cookie) would match anywhere
_formatter = logging.Formatter("%(message)s")
_CONFIG_DUMP = "/traitlets/config/application.py"


def add_secret(*values: str | None) -> None:
    """Make the run fail if any of ``values`` appears in a log line or a subprocess's output."""
    _secrets.update(v for v in values if v and len(v) >= _MIN_SECRET)


def watch_file(path: Path) -> None:
    """Scan ``path`` (a subprocess's log) from its start, after each test and at the end."""
    _files.setdefault(Path(path), 0)


def mask(secret: str) -> str:
    return secret[:2] + "…" if len(secret) > 2 else "…"


def _lines(where: str) -> Iterator[tuple[str, str]]:
    """``(origin, text)`` of what was logged or written since the last scan (a record's text is
    its message and traceback, so that Jupyter's banner lines are recognized)."""
    records, _records[:] = list(_records), []
    for record in records:
        try:
            text = _formatter.format(record)
        except Exception as exc:  # a record whose arguments do not format
            text = f"{record.msg!r} {record.args!r} ({exc})"
        if record.pathname.endswith(_CONFIG_DUMP) and text.startswith("Config changed"):
            continue  # traitlets' DEBUG dump of the config Jupyter started with: Jupyter's own
        yield (
            f"log record {record.levelname} {record.name} ({record.pathname}:{record.lineno})",
            text,
        )
    for path, offset in list(_files.items()):
        try:
            with open(path, "rb") as file:
                file.seek(offset)
                data = file.read()
        except OSError:
            continue
        _files[path] = offset + len(data)
        yield f"output of {path.name}", data.decode("utf-8", "replace")


def leaks_in(text: str, secrets: Iterable[str]) -> list[str]:
    """The lines of ``text`` holding one of ``secrets`` (masked, numbered), Jupyter's startup
    banner excepted."""
    secrets = [s for s in secrets if s in text]
    out = []
    if secrets:
        for number, line in enumerate(text.splitlines(), 1):
            found = [s for s in secrets if s in line]
            if not found or _BANNER.match(line.split("] ", 1)[-1]):
                continue
            for secret in found:
                line = line.replace(secret, mask(secret))
            out.append(f"line {number}: {line.strip()[:300]}")
    return out


def _scan(where: str) -> None:
    if not _secrets:
        _records.clear()
        return
    for origin, text in _lines(where):
        _leaks.extend(f"{where}: {origin}, {leak}" for leak in leaks_in(text, _secrets))


_factory = logging.getLogRecordFactory()


def _record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _factory(*args, **kwargs)
    _records.append(record)
    return record


def pytest_configure(config: pytest.Config) -> None:
    logging.setLogRecordFactory(_record)


def pytest_unconfigure(config: pytest.Config) -> None:
    if logging.getLogRecordFactory() is _record:
        logging.setLogRecordFactory(_factory)


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Iterator[None]:
    outcome = yield
    if fixturedef.argname == "jp_serverapp" and outcome.excinfo is None:
        provider = getattr(outcome.get_result(), "identity_provider", None)
        add_secret(getattr(provider, "token", None))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    yield
    _scan(item.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    _scan("session end")
    if _leaks and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _leaks:
        terminalreporter.section("secrets in logs", red=True, bold=True)
        terminalreporter.line(
            f"{len(_leaks)} log line(s) of this run hold a test token, cookie or XSRF value "
            "(masked here); every URI and header that reaches a log must be scrubbed:"
        )
        for leak in _leaks[:50]:
            terminalreporter.line("  " + leak)
