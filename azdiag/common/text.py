"""Small pieces of the wording the reports and messages share."""

from __future__ import annotations

from collections.abc import Sequence


def first_few(names: Sequence[str], few: int = 5) -> str:
    """``a, b, c, d, e and 3 more``: the first ``few`` of ``names``, and how many are left."""
    more = f" and {len(names) - few} more" if len(names) > few else ""
    return ", ".join(names[:few]) + more
