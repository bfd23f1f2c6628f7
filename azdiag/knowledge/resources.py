"""Where the knowledge folders (parsers/, rules/, reports/, fixtures/) live.

In a checkout (or an editable install) they sit beside the package; in a wheel they are shipped
inside it as ``azdiag/_data/<name>``. Code asks here instead of guessing paths.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # azdiag/, above knowledge/


def data_dir(name: str) -> Path:
    """Return the folder holding the shipped knowledge ``name`` (e.g. ``"parsers"``)."""
    shipped = _PACKAGE_DIR / "_data" / name
    if shipped.is_dir():
        return shipped
    return _PACKAGE_DIR.parent / name
