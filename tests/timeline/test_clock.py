"""Clocks that lie (azdiag.timeline.clock): impossible times and clock jumps change no window
or verdict.

Each hostile collection is the bundled healthy one with its agent log rewritten here.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.cli import main
from azdiag.exit_status import ExitStatus
from tests.conftest import FIXTURES

_TIME = re.compile(rb"\[(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d)")
_AGENT = Path("RuntimeAndAgent") / "WaAppAgent.log"


def _shifted(line: bytes, by: timedelta) -> bytes:
    def moved(match: re.Match[bytes]) -> bytes:
        when = datetime.strptime(match.group(1).decode(), "%m/%d/%Y %H:%M:%S") + by
        return b"[" + when.strftime("%m/%d/%Y %H:%M:%S").encode()

    return _TIME.sub(moved, line, count=1)


def _collection(tmp_path: Path, rewrite: Callable[[list[bytes]], list[bytes]]) -> Path:
    root = tmp_path / "healthy"
    shutil.copytree(FIXTURES / "healthy", root)
    log = root / _AGENT
    log.write_bytes(b"\r\n".join(rewrite(log.read_bytes().split(b"\r\n"))))
    return root


def _report(path: Path) -> dict:
    result = CliRunner().invoke(
        main, ["report", str(path), "--format", "json", "--no-timestamp"], catch_exceptions=False
    )
    assert result.exit_code == ExitStatus.OK, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def pristine() -> dict:
    return _report(FIXTURES / "healthy")


def _impossible(lines: list[bytes]) -> list[bytes]:
    middle = len(lines) // 2
    lines[middle] = _TIME.sub(b"[12/31/9999 23:59:59", lines[middle], count=1)
    return lines


def _stretch_back(by: timedelta, count: int | None) -> Callable[[list[bytes]], list[bytes]]:
    def rewrite(lines: list[bytes]) -> list[bytes]:
        start = len(lines) // 3
        end = len(lines) if count is None else start + count
        return lines[:start] + [_shifted(line, -by) for line in lines[start:end]] + lines[end:]

    return rewrite


def _same_story(report: dict, pristine: dict) -> None:
    window, before = report["collection"]["window"], pristine["collection"]["window"]
    assert window["start"] == before["start"]
    # a file whose clock is wrong to its end ends at its last trusted record
    assert before["end"][:16] == window["end"][:16] and window["end"] <= before["end"]
    assert report["verdict"] == pristine["verdict"]
    assert not [f for f in report["findings"] if f["severity"] in ("critical", "error")]
    events = [sum(f["records"] for f in r["collection"]["files"]) for r in (report, pristine)]
    assert events[0] == events[1]  # every record kept


def test_an_impossible_time_changes_no_window_and_is_named(tmp_path: Path, pristine: dict) -> None:
    report = _report(_collection(tmp_path, _impossible))
    _same_story(report, pristine)
    [warning] = [w for w in report["collection"]["warnings"] if "far outside" in w]
    assert warning.startswith(f"{_AGENT.as_posix()}: 1 record(s) with a time far outside")
    assert "9999-12-31 23:59:59" in warning


@pytest.mark.parametrize(
    ("by", "count", "said"),
    [
        (timedelta(days=5), 200, "back by up to 4 days, 23:59:"),
        (timedelta(hours=1), None, "back by up to 0:59:"),
    ],
)
def test_a_clock_jump_is_warned_about_never_a_finding(
    tmp_path: Path, pristine: dict, by: timedelta, count: int | None, said: str
) -> None:
    report = _report(_collection(tmp_path, _stretch_back(by, count)))
    _same_story(report, pristine)
    [warning] = [w for w in report["collection"]["warnings"] if "clock jumped" in w]
    assert said in warning and "out of order with the rest of the file" in warning
    if count:
        assert f"{count} record(s)" in warning


def test_file_times_by_position_equal_the_sorted_ones() -> None:
    """On a table ordered by time per instance (as ingest gives), ranges and quantiles read at
    a position and the line-order steps are those a sort per file gives; and on any other
    order the sorts are made. Times chosen so that the quantiles' rounding and whole-second
    steps matter: a file going back 300.4 s (not past the tolerance in whole seconds)."""
    import polars as pl

    from azdiag.timeline.clock import _exact_times, _file_times

    base = datetime(2024, 3, 14, 9, 0, 0)
    rows = []
    for number in range(7):  # files of 1 to 7 records, one of them going back
        offsets = [i * 61.7 for i in range(number + 1)]
        if number == 4:
            offsets[3] = offsets[2] - 300.4
        if number == 6:
            offsets[5] = offsets[4] - 400.0
        rows += [
            (f"IN_{number % 2}", f"f{number}", line + 1, base + timedelta(seconds=offset))
            for line, offset in enumerate(offsets)
        ]
    table = pl.DataFrame(rows, schema=["instance", "file", "line", "time"], orient="row")
    ordered = table.sort("instance", "time", maintain_order=True)
    expected = _exact_times(table.lazy()).sort("file")
    assert expected.filter("back")["file"].to_list() == ["f6"]
    for frame in (table, ordered):
        found = _file_times(frame.lazy()).sort("file")
        assert found.with_columns(pl.col("q1", "q3").cast(pl.Float64)).equals(
            expected.with_columns(pl.col("q1", "q3").cast(pl.Float64))
        )


def test_time_order_needs_each_instance_in_one_block_in_time_order() -> None:
    """The positional reading of ranges and quantiles is taken only when every instance is one
    block of rows in time order: a block out of order, or an instance in two blocks, is not."""
    import polars as pl

    from azdiag.timeline.clock import _in_time_order

    at = [datetime(2024, 3, 14, 9, 0, second) for second in range(5)]

    def table(instances: list[str], times: list[datetime]) -> pl.DataFrame:
        return pl.DataFrame({"instance": instances, "time": times})

    assert _in_time_order(table(["A", "A", "B", "B", "B"], [at[2], at[3], at[0], at[1], at[4]]))
    assert not _in_time_order(table(["A", "A", "B", "B", "B"], [at[3], at[2], at[0], at[1], at[4]]))
    assert not _in_time_order(table(["A", "B", "A"], [at[0], at[1], at[2]]))
    assert _in_time_order(table([], []))


def test_a_jump_back_at_the_end_of_a_host_log_moves_no_end(tmp_path: Path, pristine: dict) -> None:
    """Three probe lines 19 minutes back in time end the newest bootstrapper log (a newcomer's
    collection): re-timed after the last good record at their own spacing, they ran 80 s past
    every real line, and the agent's heartbeats looked paused "until the end of the
    collection" (a degraded verdict); and the warning was listed twice."""
    root = tmp_path / "healthy"
    shutil.copytree(FIXTURES / "healthy", root)
    log = max(root.rglob("WaHostBootstrapper*.log"), key=lambda p: p.read_bytes()[19:45])
    text = log.read_bytes()
    last = text.rstrip().splitlines()[-1]
    stamp = datetime.strptime(last[20:43].decode(), "%Y/%m/%d, %H:%M:%S.%f")
    probes = [
        last[:20]
        + (stamp - timedelta(minutes=19) + timedelta(seconds=40 * i))
        .strftime("%Y/%m/%d, %H:%M:%S.000")
        .encode()
        + b", INFO ] Getting status from client WaIISHost.exe (4400).\r\n"
        for i in range(3)
    ]
    log.write_bytes(text + b"".join(probes))
    report = _report(root)
    assert report["verdict"] == pristine["verdict"]
    assert [f["rule"] for f in report["findings"]] == [f["rule"] for f in pristine["findings"]]
    markdown = CliRunner().invoke(main, ["report", str(root), "--format", "md"]).stdout
    assert markdown.count("the clock jumped") == 1
