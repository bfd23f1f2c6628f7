"""Archive member times as the collection time: only a UTC time from an extra field measures it;
a bare DOS time is the zipping machine's local time in an unknown zone."""

from __future__ import annotations

import json
import struct
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.cli import main
from azdiag.collect.zip_times import member_utc_time
from azdiag.timeline.analysis import analyze
from tests.conftest import ntfs_extra, unix_extra

MEMBER = "Resources/Directory/x.ContosoWeb.DiagnosticStore/WaHostBootstrapper.log"
LINE = "[00003604:00002604, 2024/06/10, {t}, {level}] {message}\n"
# a simple startup task started 1.5 minutes before the newest line (08:02:04 UTC) and no exit
BOOTSTRAPPER = "".join(
    LINE.format(t=t, level=level, message=message)
    for t, level, message in [
        ("08:00:34.000", "WARN ", 'Executing Startup Task type=0 cmd="E:\\approot\\setup.cmd"'),
        ("08:00:34.100", "WARN ", 'Executing "E:\\approot\\setup.cmd" .'),
        ("08:02:04.000", "ERROR", "<- WapGetAppHostConfig=0x1"),
    ]
)
NEWEST_LINE = datetime(2024, 6, 10, 8, 2, 4, tzinfo=UTC)
# re-zipped in UTC+5:30 two minutes after the newest line: the DOS time reads 13:34 local
IST_DOS_TIME = (2024, 6, 10, 13, 34, 4)


def zipped(path: Path, date_time: tuple[int, ...], extra: bytes = b"") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(MEMBER, date_time)
        info.extra = extra
        zf.writestr(info, BOOTSTRAPPER)
    return path


def read_back(path: Path) -> zipfile.ZipInfo:
    with zipfile.ZipFile(path) as zf:
        return zf.getinfo(MEMBER)


# -- reading the extra fields ------------------------------------------------------------------


def test_extended_timestamp_is_utc_whatever_the_dos_time_says(tmp_path):
    taken = datetime(2024, 6, 10, 8, 4, 4, tzinfo=UTC)
    info = read_back(zipped(tmp_path / "z.zip", IST_DOS_TIME, unix_extra(taken)))
    assert member_utc_time(info) == taken


def test_ntfs_field_is_utc_to_the_microsecond(tmp_path):
    taken = datetime(2024, 6, 10, 8, 4, 4, 123456, tzinfo=UTC)
    info = read_back(zipped(tmp_path / "z.zip", IST_DOS_TIME, ntfs_extra(taken)))
    assert member_utc_time(info) == taken


def test_ntfs_field_is_preferred_to_the_extended_timestamp(tmp_path):
    fine = datetime(2024, 6, 10, 8, 4, 4, 500000, tzinfo=UTC)
    extra = unix_extra(datetime(2024, 6, 10, 8, 4, 4, tzinfo=UTC)) + ntfs_extra(fine)
    assert member_utc_time(read_back(zipped(tmp_path / "z.zip", IST_DOS_TIME, extra))) == fine


@pytest.mark.parametrize(
    "extra",
    [
        b"",  # DOS time only
        struct.pack("<HHBi", 0x5455, 5, 0, 1718006644),  # no modification-time flag
        struct.pack("<HHB", 0x5455, 1, 1),  # flag set, time missing
        struct.pack("<HHIHHQQQ", 0x000A, 32, 0, 1, 24, 0, 0, 0),  # FILETIME 0: not set
        struct.pack("<HHIHH", 0x000A, 8, 0, 2, 0),  # an unknown NTFS tag only
        struct.pack("<HH", 0xCAFE, 2) + b"\x00\x00",  # some other field
    ],
)
def test_no_utc_field_gives_no_utc_time(tmp_path, extra):
    assert member_utc_time(read_back(zipped(tmp_path / "z.zip", IST_DOS_TIME, extra))) is None


def test_a_truncated_extra_field_is_ignored_not_raised():
    info = zipfile.ZipInfo(MEMBER, IST_DOS_TIME)
    info.extra = unix_extra(NEWEST_LINE)[:6]  # header says 5 bytes, 2 follow
    assert member_utc_time(info) is None


# -- the collection time -----------------------------------------------------------------------


def test_dos_time_only_is_not_a_measured_collection_time(tmp_path):
    taken = analyze(zipped(tmp_path / "z.zip", IST_DOS_TIME)).collection_time
    assert taken.source == "newest line" and not taken.measured
    assert taken.at == NEWEST_LINE
    # named, not used: an archive time in an unknown zone
    assert taken.archive_local == datetime(*IST_DOS_TIME)
    assert "2024-06-10 13:34:04, is an archive time in an unknown zone" in taken.describe()
    assert taken.to_dict()["archive_local_time"] == "2024-06-10T13:34:04"


def test_dos_time_further_than_any_zone_from_the_logs_is_not_named(tmp_path):
    taken = analyze(zipped(tmp_path / "z.zip", (2024, 6, 11, 2, 5, 0))).collection_time
    assert taken.source == "newest line" and taken.archive_local is None
    assert "unknown zone" not in taken.describe()


@pytest.mark.parametrize("field", [unix_extra, ntfs_extra])
def test_utc_extra_field_is_a_measured_collection_time(tmp_path, field):
    taken_at = datetime(2024, 6, 10, 8, 4, 4, tzinfo=UTC)
    archive = zipped(tmp_path / "z.zip", IST_DOS_TIME, field(taken_at))
    taken = analyze(archive).collection_time
    assert (taken.source, taken.at, taken.measured) == ("archive", taken_at, True)
    assert taken.archive_local is None


@pytest.mark.parametrize(
    ("taken_at", "why"),
    [
        (datetime(2024, 6, 10, 7, 0, tzinfo=UTC), "is not after the newest line"),
        (datetime(2025, 1, 1, tzinfo=UTC), "is more than 7 days after it"),
    ],
)
def test_a_utc_time_that_cannot_be_the_collections_is_named_with_why(tmp_path, taken_at, why):
    # a re-check found such a time dropped without a word: the report says why it is not used
    archive = zipped(tmp_path / "z.zip", IST_DOS_TIME, unix_extra(taken_at))
    taken = analyze(archive).collection_time
    assert (taken.source, taken.measured) == ("newest line", False)
    assert f"the newest modification time, {taken_at:%Y-%m-%d %H:%M:%S} UTC, {why}" in (
        taken.describe()
    )


# -- end to end: the re-zipped hung-task collection --------------------------------------------


def report(path: Path) -> dict:
    args = ["report", str(path), "--format", "json", "--no-timestamp"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return json.loads(result.stdout)


def test_rezipped_in_another_zone_a_recent_task_is_not_called_hung(tmp_path):
    data = report(zipped(tmp_path / "rezipped_IST.zip", IST_DOS_TIME))
    verdict = data["verdict"]
    assert verdict["severity"] != "critical" and verdict["rule"] != "startup-task-hangs"
    assert verdict["outcome"] == "inconclusive", verdict["summary"]
    time = data["collection"]["time"]
    assert time["source"] == "newest line"
    assert "unknown zone" in time["description"]


def test_a_utc_archive_time_an_hour_later_still_proves_the_hang(tmp_path):
    taken_at = datetime(2024, 6, 10, 9, 2, 4, tzinfo=UTC)
    data = report(zipped(tmp_path / "z.zip", (2024, 6, 10, 14, 32, 4), ntfs_extra(taken_at)))
    verdict = data["verdict"]
    assert (verdict["rule"], verdict["severity"], verdict["confidence"]) == (
        "startup-task-hangs",
        "critical",
        "high",
    )
    assert "2024-06-10 09:02 UTC, the archive's newest member time" in verdict["summary"]
