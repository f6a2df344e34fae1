"""`explorer-app`: start the Streamlit app (app.py) of this checkout, as `streamlit run app.py` would.

Imports nothing but the standard library: the console script must start quickly, and `explorer` never imports
streamlit (the app's own process does).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The checkout that holds this package: app.py, pages/, assets/ and .streamlit/config.toml live there
# (`pip install -e .` keeps the package in place; the library reads assets/ from there too).
PROJECT = Path(__file__).resolve().parents[1]


def command(argv: list[str]) -> list[str]:
    """The command line that runs the app; `argv` goes to `streamlit run` (e.g. --server.port 8080)."""
    return [sys.executable, "-m", "streamlit", "run", str(PROJECT / "app.py"), *argv]


def main(argv: list[str] | None = None) -> int:
    """Replace this process with the Streamlit server, started in the checkout so that its classroom
    settings (.streamlit/config.toml) apply and runs/ and data/ are the checkout's, as the README says."""
    if not (PROJECT / "app.py").is_file():
        print(f"error: no app.py in {PROJECT}; explorer-app runs the app of a source checkout "
              "(install it with `pip install -e .` there)", file=sys.stderr)
        return 2
    args = command(sys.argv[1:] if argv is None else argv)
    os.chdir(PROJECT)
    os.execv(args[0], args)
    return 0  # not reached: execv does not return
