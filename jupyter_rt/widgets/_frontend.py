"""The npm module the widgets' models and views live in (``labextension/package.json``).

``MODULE_VERSION`` is a semver range on the npm package version, which is also the Python
package's (``labextension/package.json`` is the one source of both).
"""

from __future__ import annotations

from packaging.version import Version

from jupyter_rt import __version__

MODULE_NAME = "jupyter-rt"
MODULE_VERSION = f"^{Version(__version__).base_version}"
