"""Generation numbers of rotated log files: which copy of a log is current, which older.

Agents rotate their logs in several ways (``.old``, ``.N``, ``.oldN``, timestamped names), and a
collection may hold any mix of them. The timeline needs one order per (instance, format), so the
names are read here, apart from discovery, with nothing but the file names as input.
"""

from __future__ import annotations

import re

__all__ = ["generations"]

_OLD = re.compile(r"^.+\.log\.old(\d*)$")
_NUMBERED = re.compile(r"^.+\.log\.(\d{1,6})$|^.+\.(\d{1,3})\.log$")
_STAMPED = re.compile(
    r"^.+?[._-](\d{4}-?\d{2}-?\d{2}"  # date, then an optional time of day
    r"(?:[t_ .-]?\d{2}[-:.]?\d{2}(?:[-:.]?\d{2})?(?:[.,]?\d+)?)?)\.log$"
)
_OTHER_SUFFIX = re.compile(r"^.+\.log\.[^.]+$")


def _age(name: str) -> tuple[str, int | str]:
    """How a file name marks its generation: current, numbered (.old/.N/.oldN) or stamped."""
    lower = name.lower()
    if match := _OLD.match(lower):
        return "numbered", max(int(match.group(1) or 1), 1)
    if match := _STAMPED.match(lower):
        return "stamped", re.sub(r"\D", "", match.group(1)).ljust(20, "0")
    if match := _NUMBERED.match(lower):
        return "numbered", max(int(match.group(1) or match.group(2)), 1)
    if _OTHER_SUFFIX.match(lower):
        return "numbered", 1
    return "current", 0


def generations(names: list[str]) -> list[int]:
    """Generation numbers for the files of one (instance, format): 0 current, bigger older.

    .old is 1 and .N / .oldN are N; timestamped names rank newest first, after the numbered
    ones when a current file exists (else the newest stamped file is the current one).
    """
    ages = [_age(n) for n in names]
    literal = [int(v) for kind, v in ages if kind != "stamped"]
    has_current = any(kind == "current" for kind, _ in ages)
    stamps = sorted({str(v) for kind, v in ages if kind == "stamped"}, reverse=True)
    base = (max(literal) + 1) if has_current else 0
    return [base + stamps.index(str(v)) if kind == "stamped" else int(v) for kind, v in ages]
