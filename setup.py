"""Compatibility shim: jupyter_rt is built by hatchling from pyproject.toml.

Tools that still call ``python setup.py`` (or ``jupyter labextension develop``, which asks
``setup.py --name`` when it cannot read pyproject.toml) are forwarded to pip.
"""

import subprocess
import sys

if __name__ == "__main__":
    if sys.argv[1:] == ["--name"]:
        print("jupyter_rt")
        sys.exit(0)
    if sys.argv[1:2] == ["develop"]:
        sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-e", "."]))
    sys.exit(
        "jupyter_rt is built with hatchling from pyproject.toml; use "
        "`pip install .` (or `pip install -e .` for development) instead of setup.py."
    )
