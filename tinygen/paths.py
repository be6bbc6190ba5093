"""Where tinygen's data files are: `boards/`, `firmware/` and `templates/`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from tinygen.errors import TinygenError

# Names of the sub-directories that make a directory a tinygen data directory.
_DATA_SUBDIRS = ("boards", "firmware", "templates")


def data_dir() -> Path:
    """Directory holding `boards/`, `firmware/` and `templates/`.

    Looked up, in order: `$TINYGEN_DATA_DIR`; the parent of the `tinygen` package
    (a source checkout or an editable install); `tinygen/data/` inside the package;
    `<sys.prefix>/share/tinygen` (a wheel's data files).
    """
    package_dir = Path(__file__).resolve().parent   # tinygen/
    candidates = []
    env = os.environ.get("TINYGEN_DATA_DIR")
    if env:
        candidates.append(Path(env))
    candidates += [
        package_dir.parent,
        package_dir / "data",
        Path(sys.prefix) / "share" / "tinygen",
    ]
    for cand in candidates:
        if (cand / "boards").is_dir():
            return cand
    tried = ", ".join(str(c) for c in candidates)
    raise TinygenError(f"tinygen data files (boards/, firmware/, templates/) not found; looked in {tried}")
