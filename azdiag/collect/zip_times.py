"""A zip member's modification time: in UTC when an extra field carries it, else zone-less.

A zip entry's own date and time fields (the MS-DOS ones) are the local time of the machine that
zipped it, in a zone the archive does not record: a collection re-zipped in UTC+5:30 reads
5.5 hours late. Two extra fields carry a UTC time (PKWARE APPNOTE.TXT §4.5.5 and Info-ZIP's
extrafld.txt; all integers little-endian):

- ``0x5455`` extended timestamp ("UT", Info-ZIP and most Unix zippers): a flags byte, then the
  modification time as signed 32-bit Unix seconds when bit 0 is set (the central directory copy
  holds the modification time only);
- ``0x000a`` NTFS (Windows' own zip tools, 7-Zip): 4 reserved bytes, then tagged attributes;
  tag ``0x0001`` (24 bytes) holds the modification, access and creation times as FILETIMEs
  (100-nanosecond ticks since 1601-01-01 UTC).
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

EXTENDED_TIMESTAMP = 0x5455
NTFS = 0x000A
_NTFS_TIMES = 0x0001
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def member_utc_time(info: zipfile.ZipInfo) -> datetime | None:
    """The member's modification time (aware, UTC) from its NTFS or extended-timestamp extra
    field; None when it has neither (its DOS time has no zone) or they are malformed. Never
    raises."""
    found: dict[int, datetime] = {}
    for header, data in _fields(info.extra):
        try:
            if header == NTFS and NTFS not in found:
                stamp = _ntfs_mtime(data)
            elif header == EXTENDED_TIMESTAMP and EXTENDED_TIMESTAMP not in found:
                stamp = _unix_mtime(data)
            else:
                continue
        except (ValueError, OverflowError, OSError, struct.error):
            continue
        if stamp is not None:
            found[header] = stamp
    # NTFS first: its ticks are finer than the extended timestamp's whole seconds
    return found.get(NTFS) or found.get(EXTENDED_TIMESTAMP)


def member_local_time(info: zipfile.ZipInfo) -> datetime:
    """The member's DOS date and time (naive: the zipping machine's local time, zone unknown)."""
    return datetime(*info.date_time)


def _fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    """(header id, data) of each extra field block; a truncated last block is dropped."""
    at = 0
    while at + 4 <= len(extra):
        header, size = struct.unpack_from("<HH", extra, at)
        data = extra[at + 4 : at + 4 + size]
        if len(data) < size:
            return
        yield header, data
        at += 4 + size


def _unix_mtime(data: bytes) -> datetime | None:
    if len(data) < 5 or not data[0] & 1:
        return None
    (seconds,) = struct.unpack_from("<i", data, 1)
    return datetime.fromtimestamp(seconds, UTC)


def _ntfs_mtime(data: bytes) -> datetime | None:
    at = 4  # reserved
    while at + 4 <= len(data):
        tag, size = struct.unpack_from("<HH", data, at)
        if tag == _NTFS_TIMES and size >= 8 and at + 4 + 8 <= len(data):
            (ticks,) = struct.unpack_from("<Q", data, at + 4)
            # 0 means "not set"
            return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10) if ticks else None
        at += 4 + size
    return None
