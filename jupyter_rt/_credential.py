"""The one rule of who may use a capability bound to credentials (an Engine.IO ``sid``, a
recovery ``pid``): the caller presents the credential that opened it.

Any layer may use it (it imports nothing of jupyter_rt).
"""

from __future__ import annotations

import hmac

__all__ = ["same_credential"]


def same_credential(expected: str | None, given: str | None) -> bool:
    """Whether ``given`` may use what was opened with ``expected``.

    ``expected`` is ``None`` when the opener had no credential (a server without auth): anyone
    may. Otherwise ``given`` must be equal, compared in constant time.
    """
    if expected is None:
        return True
    return given is not None and hmac.compare_digest(expected, given)
