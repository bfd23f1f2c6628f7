"""The collection time ("now"): when the logs were taken, and what says so.

What is still open at the end of a collection (a startup task with no exit line, a cycle with no
progress) is judged against "now". In order of trust (log-formats.md §7):

1. ``user``: ``--now TIME``, read by python-dateutil (zone-less times are in ``--tz``);
2. ``archive``: the newest modification time of the archive members that hold the logs, only
   from members whose extra fields carry a UTC time (azdiag.collect.zip_times): a bare DOS time
   is the zipping machine's local time in an unknown zone (a re-zip in UTC+5:30 reads 5.5 hours
   late), so it measures nothing. One within 14 hours of the newest line (the widest UTC offsets)
   is named in the description as an archive time in an unknown zone, and not used;
3. ``files``: the newest modification time of the log files on disk;
4. ``newest line``: the newest time of any line — only a lower bound of when the logs were taken.

2 and 3 count only when later than the newest line (a log's last write is its last line, so an
earlier one says nothing) and no more than ``trust_mtime_within_seconds`` later (rules/workflow/
stages.toml): a later time is a copy's (a checkout, a re-zip), not the collection's.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azdiag.collect.discover import LogSource
from azdiag.collect.zip_times import member_local_time, member_utc_time
from azdiag.common.times import iso

USER = "user"
ARCHIVE = "archive"
FILES = "files"
NEWEST_LINE = "newest line"
UNKNOWN = "unknown"

#: Sources that measure when the logs were taken (not only a lower bound of it).
MEASURED = (USER, ARCHIVE, FILES)

#: The widest distance between a local time and UTC (UTC-12 to UTC+14): a zone-less archive
#: time further than this from the newest line cannot be the collection's, in any zone.
ANY_ZONE = timedelta(hours=14)

#: Where "now" comes from, in a few words (for rule placeholders).
SOURCE_NAMES = {
    USER: "given with --now",
    ARCHIVE: "the archive's newest member time",
    FILES: "the log files' newest modification time",
    NEWEST_LINE: "the newest line of the logs",
    UNKNOWN: "unknown",
}
_DESCRIPTIONS = {
    USER: "given with --now",
    ARCHIVE: "the newest UTC modification time of the archive's log members (their extra fields)",
    FILES: "the newest modification time of the log files",
    NEWEST_LINE: "the newest line of any log (a lower bound: when the logs were taken is unknown)",
    UNKNOWN: "unknown: no line carries a time and no file time could be read",
}


@dataclass(frozen=True)
class CollectionTime:
    """``at`` (aware UTC, or None when nothing tells), ``source`` (one of the names above),
    ``newest_line`` (aware UTC or None) and ``archive_local`` (naive: the archive's newest member
    time when it has no zone, is within ``ANY_ZONE`` of the newest line and nothing measured
    "now"; named in reports, never used as a time)."""

    at: datetime | None
    source: str
    newest_line: datetime | None = None
    archive_local: datetime | None = None
    set_aside: datetime | None = None  # a --now before the newest line: not used, only named
    #: a file or archive time that was not used, and why (before the newest line, too late)
    unused: tuple[datetime, str] | None = None

    @property
    def measured(self) -> bool:
        """True when "now" is when the logs were taken, not just their newest line."""
        return self.source in MEASURED and self.at is not None

    def describe(self) -> str:
        """One sentence for reports: the time and where it comes from."""
        if self.at is None:
            return f"Collection time: {_DESCRIPTIONS[UNKNOWN]}."
        said = f"Collection time: {self.at:%Y-%m-%d %H:%M:%S} UTC, {_DESCRIPTIONS[self.source]}"
        if self.set_aside is not None:
            said += (
                f"; the --now given, {self.set_aside:%Y-%m-%d %H:%M:%S} UTC, is before it, so the "
                "logs were taken later than that: set aside (was it meant in another zone? --tz)"
            )
        if self.unused is not None:
            moment, why = self.unused
            said += f"; the newest modification time, {moment:%Y-%m-%d %H:%M:%S} UTC, is {why}"
        if self.archive_local is not None:
            said += (
                f"; the archive's newest member time, {self.archive_local:%Y-%m-%d %H:%M:%S}, "
                "is an archive time in an unknown zone (the zipping machine's local time), "
                "so it does not say when the logs were taken: give --now to set it"
            )
        return said + "."

    def to_dict(self) -> dict[str, str | None]:
        return {
            "at": iso(self.at),
            "source": self.source if self.at is not None else UNKNOWN,
            "newest_line": iso(self.newest_line),
            "archive_local_time": (
                None if self.archive_local is None else self.archive_local.isoformat()
            ),
            "description": self.describe(),
        }


def collection_time(
    sources: list[LogSource],
    newest_line: datetime | None,
    *,
    user: datetime | None = None,
    trust_mtime_within_seconds: float = 7 * 86400,
) -> CollectionTime:
    """The collection's "now" (see the module docstring). Never raises: an unreadable file
    time is skipped."""
    if user is not None:
        given = user.astimezone(UTC)
        if newest_line is not None and given < newest_line:
            # the logs hold a later line than "now": a hang measured to it would be too short
            return CollectionTime(newest_line, NEWEST_LINE, newest_line, set_aside=given)
        return CollectionTime(given, USER, newest_line)
    found = _newest_modification(sources)
    unused = None
    if found.measured is not None and newest_line is not None:
        later = (found.measured - newest_line).total_seconds()
        if 0 < later <= trust_mtime_within_seconds:
            return CollectionTime(found.measured, found.kind, newest_line)
        # said in the report, so that a reader knows why a time the files carry was not used
        days = trust_mtime_within_seconds / 86400
        unused = (
            found.measured,
            "not after the newest line, so not when the logs were taken"
            if later <= 0
            else f"more than {days:g} days after it: a later copy's time, not the collection's",
        )
    if newest_line is None:
        return CollectionTime(None, UNKNOWN, None)
    local = found.zoneless
    if local is not None and abs(local - newest_line.replace(tzinfo=None)) > ANY_ZONE:
        local = None
    return CollectionTime(newest_line, NEWEST_LINE, newest_line, local, unused=unused)


@dataclass(frozen=True)
class _Modified:
    """The newest file or member time in UTC (``kind``: "archive" or "files"), and the newest
    archive member time with no zone (naive)."""

    kind: str = FILES
    measured: datetime | None = None
    zoneless: datetime | None = None


def _newest_modification(sources: list[LogSource]) -> _Modified:
    newest: datetime | None = None
    zoneless: datetime | None = None
    kind = FILES
    zips: dict[str, zipfile.ZipFile | None] = {}
    try:
        for source in sources:
            # the source's own location (collect keeps it private: it is read here only)
            location = getattr(source, "_location", None)
            if location is None:
                continue
            is_member = bool(location.steps) and location.steps[0][0] == "zip"
            found, local = _modified(location.path, location.steps, zips)
            if local is not None and (zoneless is None or local > zoneless):
                zoneless = local
            if found is not None and (newest is None or found > newest):
                newest, kind = found, ARCHIVE if is_member else FILES
    finally:
        for handle in zips.values():
            if handle is not None:
                handle.close()
    return _Modified(kind, newest, zoneless)


def _modified(
    path: str,
    steps: tuple[tuple[str, str], ...],
    zips: dict[str, zipfile.ZipFile | None],
) -> tuple[datetime | None, datetime | None]:
    """(a file's modification time in UTC, None), or for an archive member (its outermost
    member's UTC time from an extra field or None, its DOS time when it has no UTC one or
    None)."""
    try:
        if not steps or steps[0][0] != "zip":
            return datetime.fromtimestamp(os.stat(path).st_mtime, UTC), None
        if path not in zips:
            try:
                zips[path] = zipfile.ZipFile(path)
            except (OSError, zipfile.BadZipFile):
                zips[path] = None
        archive = zips[path]
        if archive is None:
            return None, None
        info = archive.getinfo(steps[0][1])
        utc = member_utc_time(info)
        return (utc, None) if utc is not None else (None, member_local_time(info))
    except (OSError, KeyError, ValueError, OverflowError):
        return None, None
