"""Warnings and errors of hosted namespaces, shown where the notebook's author looks.

Handlers run on the hosting thread; what the server logs there (a handler's traceback, a limit
hit, a handler that held the loop) is written to the output of the cell that hosted the
namespace (ipykernel's thread parent), and to the kernel's own stderr (the Jupyter server's
log). Records of other threads are left as Python would leave them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["CellOutput", "cell_parent"]

_FORMAT = "[jupyter_rt %(levelname)s] %(message)s"


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def cell_parent() -> Any:
    """The message of the cell running in this thread (ipykernel), or ``None``."""
    shell = _shell()
    get_parent = getattr(shell, "get_parent", None)
    return get_parent() if get_parent is not None else None


class CellOutput(logging.Handler):
    """A handler on the ``jupyter_rt`` logger for the records of one thread (the hosting one).

    :meth:`remember` notes the cell that hosted a namespace; a record about that namespace (its
    ``where`` attribute, set by the server's error reports) goes to that cell's output, any
    other one to the last cell that hosted something.
    """

    def __init__(self, thread_id: int) -> None:
        super().__init__(logging.WARNING)
        self.thread_id = thread_id
        self.parents: dict[str, Any] = {}
        self.latest: Any = None
        self.setFormatter(logging.Formatter(_FORMAT))

    def remember(self, name: str, parent: Any) -> None:
        """Records about namespace ``name`` go to the cell of ``parent`` (a message)."""
        self.parents[name] = parent
        self.latest = parent

    def handle(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread_id:
            last = logging.lastResort
            unhandled = last is not None and not _handled_elsewhere(record, self)
            if unhandled and last is not None and record.levelno >= last.level:
                last.handle(record)
            return False
        return super().handle(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
            where = getattr(record, "where", None)
            name = where[0] if isinstance(where, tuple) and where else None
            _write(text, self.parents.get(name, self.latest) if name else self.latest)
            kernel_log = sys.__stderr__
            if kernel_log is not None and kernel_log is not sys.stderr:
                kernel_log.write(text)
                kernel_log.flush()
        except Exception:
            self.handleError(record)


def _write(text: str, parent: Any) -> None:
    shell = _shell()
    set_parent = getattr(shell, "set_thread_parent", None)
    reset_parent = getattr(shell, "reset_thread_parent", None)
    if parent is None or set_parent is None or reset_parent is None:
        sys.stderr.write(text)
        sys.stderr.flush()
        return
    tokens = set_parent(parent)
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    finally:
        reset_parent(tokens)


def _handled_elsewhere(record: logging.LogRecord, this: logging.Handler) -> bool:
    """Whether another handler on the record's way up takes it (else Python's last resort
    would have)."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(handler is not this for handler in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False
