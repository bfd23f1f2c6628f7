"""The collection time ("now"): when the logs were taken, and what says so.

What is still open at the end of a collection (a startup task with no exit line, a cycle with no
progress) is judged against "now". In order of trust (log-formats.md §7):

1. ``user``: ``--now TIME``, read by python-dateutil (zone-less times are in ``--tz``);
2. ``archive``: the newest modification time of the archive members that hold the logs;
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
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from azdiag.collect.discover import LogSource
from azdiag.common.times import iso

USER = "user"
ARCHIVE = "archive"
FILES = "files"
NEWEST_LINE = "newest line"
UNKNOWN = "unknown"

#: Sources that measure when the logs were taken (not only a lower bound of it).
MEASURED = (USER, ARCHIVE, FILES)

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
    ARCHIVE: "the newest modification time of the archive's log members",
    FILES: "the newest modification time of the log files",
    NEWEST_LINE: "the newest line of any log (a lower bound: when the logs were taken is unknown)",
    UNKNOWN: "unknown: no line carries a time and no file time could be read",
}


@dataclass(frozen=True)
class CollectionTime:
    """``at`` (aware UTC, or None when nothing tells), ``source`` (one of the names above) and
    ``newest_line`` (aware UTC or None)."""

    at: datetime | None
    source: str
    newest_line: datetime | None = None

    @property
    def measured(self) -> bool:
        """True when "now" is when the logs were taken, not just their newest line."""
        return self.source in MEASURED and self.at is not None

    def describe(self) -> str:
        """One sentence for reports: the time and where it comes from."""
        if self.at is None:
            return f"Collection time: {_DESCRIPTIONS[UNKNOWN]}."
        return f"Collection time: {self.at:%Y-%m-%d %H:%M:%S} UTC, {_DESCRIPTIONS[self.source]}."

    def to_dict(self) -> dict[str, str | None]:
        return {
            "at": iso(self.at),
            "source": self.source if self.at is not None else UNKNOWN,
            "newest_line": iso(self.newest_line),
            "description": self.describe(),
        }


def collection_time(
    sources: list[LogSource],
    newest_line: datetime | None,
    *,
    user: datetime | None = None,
    tz: str = "UTC",
    trust_mtime_within_seconds: float = 7 * 86400,
) -> CollectionTime:
    """The collection's "now" (see the module docstring). Never raises: an unreadable file
    time is skipped."""
    if user is not None:
        return CollectionTime(user.astimezone(UTC), USER, newest_line)
    source, modified = _newest_modification(sources, tz)
    if modified is not None and newest_line is not None:
        later = (modified - newest_line).total_seconds()
        if 0 < later <= trust_mtime_within_seconds:
            return CollectionTime(modified, source, newest_line)
    if newest_line is not None:
        return CollectionTime(newest_line, NEWEST_LINE, newest_line)
    return CollectionTime(None, UNKNOWN, None)


def _newest_modification(sources: list[LogSource], tz: str) -> tuple[str, datetime | None]:
    """("archive" or "files", the newest modification time of the logs' files or members)."""
    zone: tzinfo = UTC if tz == "UTC" else ZoneInfo(tz)
    newest: datetime | None = None
    kind = FILES
    zips: dict[str, zipfile.ZipFile | None] = {}
    try:
        for source in sources:
            # the source's own location (collect keeps it private: it is read here only)
            location = getattr(source, "_location", None)
            if location is None:
                continue
            found = _modified(location.path, location.steps, zips, zone)
            if found is None:
                continue
            is_member = bool(location.steps) and location.steps[0][0] == "zip"
            if newest is None or found > newest:
                newest, kind = found, ARCHIVE if is_member else FILES
    finally:
        for handle in zips.values():
            if handle is not None:
                handle.close()
    return kind, newest


def _modified(
    path: str,
    steps: tuple[tuple[str, str], ...],
    zips: dict[str, zipfile.ZipFile | None],
    zone: tzinfo,
) -> datetime | None:
    """A file's modification time, or that of its outermost archive member (zip times carry
    no zone: they are the zipping machine's, read in ``--tz`` like the logs)."""
    try:
        if not steps or steps[0][0] != "zip":
            return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
        if path not in zips:
            try:
                zips[path] = zipfile.ZipFile(path)
            except (OSError, zipfile.BadZipFile):
                zips[path] = None
        archive = zips[path]
        if archive is None:
            return None
        stamp = archive.getinfo(steps[0][1]).date_time
        local = datetime(*stamp, tzinfo=zone)
        return local.astimezone(UTC)
    except (OSError, KeyError, ValueError, OverflowError):
        return None
