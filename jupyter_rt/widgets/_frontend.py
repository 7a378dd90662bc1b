"""The npm module the widgets' models and views live in (``labextension/package.json``).

``MODULE_VERSION`` is a semver range on the npm package version; a test keeps the two in
step.
"""

from __future__ import annotations

MODULE_NAME = "jupyter-rt"
MODULE_VERSION = "^0.1.0"
