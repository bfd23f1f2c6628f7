"""Cheap timestamp formatting for the simulator.

Times are integer milliseconds since the Unix epoch (UTC). Formatting by table look-ups and a
per-day cache instead of ``datetime.strftime`` keeps the large-collection writer above a million
lines per second.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
SECOND_MS = 1_000

#: Default collection start; never the wall clock, so output depends only on parameters.
DEFAULT_START = datetime(2024, 3, 14, 9, 0, 0, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TWO = [f"{i:02d}" for i in range(100)]
THREE = [f"{i:03d}" for i in range(1000)]


@lru_cache(maxsize=1)
def hms_table() -> list[str]:
    """ "HH:MM:SS" for every second of a day, built on first use (not at import: the CLI
    imports this module and must start fast)."""
    return [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def to_ms(when: datetime) -> int:
    """Convert an aware (or naive = UTC) datetime to epoch milliseconds."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * DAY_MS) + delta.seconds * SECOND_MS + delta.microseconds // 1000


def to_datetime(t: int) -> datetime:
    """Epoch milliseconds back to an aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=t)


def iso(t: int) -> str:
    """UTC ISO-8601 with milliseconds and a ``Z``, the manifest's time format."""
    d = _day(t // DAY_MS)
    r = t % DAY_MS
    return f"{d[2]}T{hms_table()[r // 1000]}.{THREE[r % 1000]}Z"


@lru_cache(maxsize=256)
def _day(day: int) -> tuple[str, str, str, str, str]:
    """Date strings of one day: MM/DD/YYYY, YYYY/MM/DD, YYYY-MM-DD, MM/DD/YY, M/D/YYYY."""
    dt = _EPOCH + timedelta(days=day)
    y, m, d = dt.year, dt.month, dt.day
    return (
        f"{m:02d}/{d:02d}/{y:04d}",
        f"{y:04d}/{m:02d}/{d:02d}",
        f"{y:04d}-{m:02d}-{d:02d}",
        f"{m:02d}/{d:02d}/{y % 100:02d}",
        f"{m}/{d}/{y}",
    )


def agent_ts(t: int) -> str:
    """``03/14/2024 09:26:53.43`` (guest agent, hundredths)."""
    r = t % DAY_MS
    return f"{_day(t // DAY_MS)[0]} {hms_table()[r // 1000]}.{TWO[(r % 1000) // 10]}"


def agent_iso(t: int, frac: bool = False) -> str:
    """``2024-03-14T09:31:05Z`` or ``...05.123Z`` (newer guest agents)."""
    r = t % DAY_MS
    tail = f".{THREE[r % 1000]}Z" if frac else "Z"
    return f"{_day(t // DAY_MS)[2]}T{hms_table()[r // 1000]}{tail}"


def boot_ts(t: int) -> str:
    """``2024/03/14, 09:29:40.118`` (bootstrapper, milliseconds)."""
    r = t % DAY_MS
    return f"{_day(t // DAY_MS)[1]}, {hms_table()[r // 1000]}.{THREE[r % 1000]}"


def trace_ts(t: int) -> str:
    """``03/14/24 09:29:38.41`` (TraceSource logs, two-digit year, hundredths)."""
    r = t % DAY_MS
    return f"{_day(t // DAY_MS)[3]} {hms_table()[r // 1000]}.{TWO[(r % 1000) // 10]}"


def plugin_ts(t: int) -> str:
    """``3/14/2024 9:29:45 AM`` (plugin launcher logs, 12-hour clock)."""
    r = t % DAY_MS // 1000
    h, rest = divmod(r, 3600)
    h12 = h % 12 or 12
    ampm = "AM" if h < 12 else "PM"
    return f"{_day(t // DAY_MS)[4]} {h12}:{rest // 60:02d}:{rest % 60:02d} {ampm}"


def stamp(t: int) -> str:
    """``20240314T092940`` for timestamped file names."""
    r = t % DAY_MS
    return _day(t // DAY_MS)[2].replace("-", "") + "T" + hms_table()[r // 1000].replace(":", "")


def portal_ts(t: int) -> str:
    """``[2024/03/14, 09:31:02.118]`` as in the portal's "Last exit time"."""
    return f"[{boot_ts(t)}]"
