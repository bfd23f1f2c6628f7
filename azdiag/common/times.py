"""Time helpers shared by the engine and the CLI: zones, user-given times, ISO text."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def iso(value: datetime | None) -> str | None:
    """``2024-03-14T09:26:53.430000Z`` for a UTC datetime (naive ones are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


#: What the reports say for a time the logs do not give (untimed records, empty collections).
NO_TIME = "an unknown time (the logs give none)"


def say_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """``value`` in ``fmt``, or NO_TIME in words: never "None" or "?" in a report's text."""
    return NO_TIME if value is None else value.strftime(fmt)


def check_zone(name: str) -> str:
    """Return ``name`` if it is a time zone polars and the OS both know; raise ValueError."""
    if name.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from exc
    return name


def parse_user_time(text: str, tz: str = "UTC") -> datetime:
    """A time typed by a person ("2024-03-14 09:30", "14 Mar 2024 9:30pm") as aware UTC."""
    from dateutil import parser as date_parser

    try:
        value = date_parser.parse(text)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"cannot read {text!r} as a time") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz) if tz != "UTC" else UTC)
    return value.astimezone(UTC)
