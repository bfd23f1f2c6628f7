"""Clocks that lie: times far outside the rest of their file, and stretches of a file out of order.

A log's lines are written in time order. Two things break that and, left alone, invent a story:
one impossible time (``12/31/9999 23:59:59.99``) stretches the collection's window to years and
opens a "gap" to it; a stretch of lines written while the clock was set wrong (five days back,
one hour back) looks like a restart or a second start-up. So, per file, in line order:

* **far-outlying times**: a time more than ``max(OUTLIER_IQR_FACTOR x IQR, OUTLIER_MIN_MARGIN)``
  outside the file's middle half (its 25 % to 75 % quantiles) is flagged. With the 30-day floor,
  real history (a line from last week before today's incident) is kept; a year-9999 or
  year-1601 time is not.
* **clock jumps**: when a file goes back in time by more than ``BACKWARD_TOLERANCE`` from one
  line to the next (threads writing a few seconds out of order are normal), the lines out of
  order with the rest are flagged: either those behind the newest time before them, or those
  ahead of the oldest time after them, whichever are fewer (the majority is the right clock).

A flagged record is kept, with the time of the good record before it in its file (as a record
whose time could not be read; ``time_filled`` is set), so it stays in sequence but its own time
is used in no window, gap or duration. Each file says how many and where, in its warnings.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from azdiag.parse.ingest import FileReport, Ingested

#: Seconds a file may go back from one line to the next without being a clock change.
BACKWARD_TOLERANCE = 300
#: A time this many inter-quartile ranges outside the middle half of its file is an outlier...
OUTLIER_IQR_FACTOR = 10
#: ...and never closer than this to the middle half (history of a few weeks is real).
OUTLIER_MIN_MARGIN = timedelta(days=30)


def check_clock(ingested: Ingested) -> Ingested:
    """``ingested`` with far-outlying and out-of-order times flagged (see the module docstring).

    Returns the same object when nothing is flagged; otherwise a copy whose events table has the
    flagged records re-timed and re-ordered (instances one after the other, each by time, file,
    line), whose files' ``first``/``last`` leave those times out, and whose warnings say so.
    """
    events = ingested.events
    if events.height == 0:
        return ingested
    numbered = events.lazy().select("instance", "file", "line", "time").with_row_index("_row")
    # the pass over every file reads the columns where they are: no row numbers, and no
    # filtered copy when every record has a time
    columns = events.lazy().select("instance", "file", "line", "time")
    timed = columns.drop_nulls("time") if events["time"].null_count() else columns
    per_file = _file_times(timed)
    # an outlier is at least OUTLIER_MIN_MARGIN from the middle half: only a file spanning
    # more than that can hold one
    floor = OUTLIER_MIN_MARGIN.total_seconds()
    far = per_file.filter(
        (pl.col("high") - pl.col("low") > floor)
        & (
            (pl.col("low") < pl.col("q1") - _margin(floor))
            | (pl.col("high") > pl.col("q3") + _margin(floor))
        )
    )["file"]
    jumping = per_file.filter("back")["file"]
    if far.is_empty() and jumping.is_empty():
        return ingested
    rows = numbered.drop_nulls("time").collect()
    flagged: dict[str, list[int]] = {}  # file -> flagged rows (of the events table)
    notes: dict[str, list[str]] = {}
    suspects = rows.filter(pl.col("file").is_in(far.append(jumping).implode()))
    for name, (found, note) in _outliers(
        suspects.filter(pl.col("file").is_in(far.implode()))
    ).items():
        flagged.setdefault(name, []).extend(found)
        notes.setdefault(name, []).append(note)
    outlying = [row for found in flagged.values() for row in found]
    rest = suspects.filter(~pl.col("_row").is_in(outlying)) if outlying else suspects
    others = rows.filter(pl.col("instance").is_in(suspects["instance"].unique().implode()))
    for name, (found, note) in _jumps(rest, others).items():
        flagged.setdefault(name, []).extend(found)
        notes.setdefault(name, []).append(note)
    if not flagged:
        return ingested
    bad = sorted({row for found in flagged.values() for row in found})
    fixed = _retimed(events, bad)
    files = [_with_range(f, fixed, notes.get(f.path, [])) for f in ingested.files]
    warnings = list(ingested.warnings) + [
        f"{name}: {note}" for name in sorted(notes) for note in notes[name]
    ]
    return replace(ingested, events=fixed, files=files, warnings=warnings)


def _file_times(timed: pl.LazyFrame) -> pl.DataFrame:
    """Per file (its timed records): ``low``, ``high``, ``q1``, ``q3`` (its 25 % quantile,
    lower, and 75 %, higher) in epoch seconds, and ``back``: whether it goes back in time by
    more than BACKWARD_TOLERANCE from one line to the next.

    The events table holds each instance in one block ordered by time: then every file's
    records are in time order and its range and quantiles are records at a position, found in
    the same pass that sorts by line (a table not so ordered gets a sort per file for them).
    """
    if not _in_time_order(timed.select("instance", "time").collect()):
        return _exact_times(timed)
    last = (pl.len() - 1).cast(pl.Float64)  # positions as polars' quantile takes them
    return (
        timed.group_by("file")
        .agg(
            low=pl.col("time").first(),
            high=pl.col("time").last(),
            q1=pl.col("time").get((last * 0.25).floor().cast(pl.UInt32)),
            q3=pl.col("time").get((last * 0.75).ceil().cast(pl.UInt32)),
            back=_goes_back(pl.col("time").dt.epoch("s").sort_by("line")),
        )
        .with_columns(pl.col("low", "high", "q1", "q3").dt.epoch("s"))
        .collect()
    )


def _in_time_order(timed: pl.DataFrame) -> bool:
    """Whether each instance's records (``instance``, ``time``, no null time) are one block of
    rows in time order. Each block is checked in place, a slice at a time: no shifted copy of
    the columns."""
    runs = timed["instance"].rle()
    if runs.struct.field("value").is_duplicated().any():  # an instance in several blocks
        return False
    times, offset = timed["time"], 0
    for length in runs.struct.field("len").to_list():  # one step per instance, not per record
        if not times.slice(offset, length).is_sorted():
            return False
        offset += length
    return True


def _exact_times(timed: pl.LazyFrame) -> pl.DataFrame:
    """``_file_times`` with a sort per file, for a table in any order."""
    seconds = pl.col("time").dt.epoch("s")
    return (
        timed.group_by("file")
        .agg(
            low=seconds.min(),
            high=seconds.max(),
            q1=seconds.quantile(0.25, "lower"),
            q3=seconds.quantile(0.75, "higher"),
            back=_goes_back(seconds.sort_by("line")),
        )
        .collect()
    )


def _goes_back(seconds: pl.Expr) -> pl.Expr:
    return (seconds.diff().min() < -BACKWARD_TOLERANCE).fill_null(False)


def _margin(floor: float) -> pl.Expr:
    """How far outside the middle half (q1..q3, epoch seconds) a time must be to be an outlier."""
    return pl.max_horizontal((pl.col("q3") - pl.col("q1")) * OUTLIER_IQR_FACTOR, pl.lit(floor))


def _outliers(timed: pl.DataFrame) -> dict[str, tuple[list[int], str]]:
    """Rows of each file whose time is far outside the file's middle half."""
    seconds = pl.col("time").dt.epoch("s")
    bounds = timed.group_by("file").agg(
        q1=seconds.quantile(0.25, "lower"), q3=seconds.quantile(0.75, "higher")
    )
    margin = _margin(OUTLIER_MIN_MARGIN.total_seconds())
    far = (
        timed.join(bounds, on="file")
        .filter((seconds < pl.col("q1") - margin) | (seconds > pl.col("q3") + margin))
        .sort("file", "line")
    )
    out: dict[str, tuple[list[int], str]] = {}
    for (name,), group in far.group_by("file", maintain_order=True):
        # formatted by polars: a year past 9999 has no Python datetime
        first = group.select("line", time=pl.col("time").dt.strftime("%Y-%m-%d %H:%M:%S")).row(
            0, named=True
        )
        note = (
            f"{group.height} record(s) with a time far outside the rest of the file (first: "
            f"{first['time']} at line {first['line']}): kept, that time left out of "
            "windows and gaps"
        )
        out[str(name)] = (group["_row"].to_list(), note)
    return out


def _jumps(timed: pl.DataFrame, everything: pl.DataFrame) -> dict[str, tuple[list[int], str]]:
    """Rows of each file in ``timed`` out of order with the rest of it (a clock change);
    ``everything``: the events of their instances, to tell which part of a file is wrong."""
    in_order = timed.sort("file", "line")
    step = pl.col("time").diff().over("file").dt.total_seconds()
    back = in_order.with_columns(_step=step).filter(pl.col("_step") < -BACKWARD_TOLERANCE)
    out: dict[str, tuple[list[int], str]] = {}
    for name in back["file"].unique(maintain_order=True).to_list():
        lines = in_order.filter(pl.col("file") == name)
        tolerance = pl.duration(seconds=BACKWARD_TOLERANCE)
        marked = lines.with_columns(
            behind=(pl.col("time") < pl.col("time").cum_max().shift(1) - tolerance).fill_null(
                False
            ),
            ahead=(
                pl.col("time") > pl.col("time").reverse().cum_min().reverse().shift(-1) + tolerance
            ).fill_null(False),
        )
        others = everything.filter(
            (pl.col("instance") == lines["instance"][0]) & (pl.col("file") != name)
        )["time"]
        column = _the_wrong_ones(marked, others)
        wrong = marked.filter(pl.col(column))
        if wrong.height == 0:
            continue
        steps = back.filter(pl.col("file") == name)["_step"].to_list()
        largest = timedelta(seconds=-round(min(steps)))
        first_line, last_line = wrong["line"].to_list()[0], wrong["line"].to_list()[-1]
        note = (
            f"the clock jumped (back by up to {largest}): {wrong.height} record(s) between lines "
            f"{first_line} and {last_line} are out of order with the rest of "
            "the file; kept, re-timed from the records around them, their own times used for "
            "no window, gap or duration"
        )
        out[str(name)] = (wrong["_row"].to_list(), note)
    return out


def _the_wrong_ones(marked: pl.DataFrame, others: pl.Series) -> str:
    """ "behind" or "ahead": the records that, left out, make the file agree with its instance's
    other files (its median time nearest theirs); without other files, the fewer records."""
    behind, ahead = int(marked["behind"].sum()), int(marked["ahead"].sum())
    if not behind or not ahead:
        return "behind" if behind else "ahead"
    if others.len():  # epoch seconds: a year past 9999 has no Python datetime
        reference = others.dt.epoch("s").cast(pl.Float64).median()

        def distance(column: str) -> float:
            kept = marked.filter(~pl.col(column)).select(pl.col("time").dt.epoch("s").median())
            return abs(kept.item() - reference)

        return "behind" if distance("behind") <= distance("ahead") else "ahead"
    return "behind" if behind <= ahead else "ahead"


def _retimed(events: pl.DataFrame, bad: list[int]) -> pl.DataFrame:
    """Flagged rows re-timed from the good records around them in their file; re-ordered.

    A run of flagged lines keeps its inner spacing and is moved to start at the good record
    before it (a clock set wrong shifts every line by the same amount), never past the good
    record after it; a run at the start of a file ends at the first good record.
    """
    marked = events.with_columns(_row=pl.int_range(pl.len())).with_columns(
        _bad=pl.col("_row").is_in(bad)
    )
    in_order = marked.sort("file", "line")
    good = pl.when(~pl.col("_bad")).then(pl.col("time"))
    run = (pl.col("_bad") != pl.col("_bad").shift(1)).fill_null(True).cum_sum().over("file")
    with_runs = in_order.with_columns(
        _before=good.forward_fill().over("file"),
        _after=good.backward_fill().over("file"),
        _run=run,
    )
    run_first = pl.col("time").first().over("file", "_run")
    run_last = pl.col("time").last().over("file", "_run")
    estimate = (
        pl.when(pl.col("_before").is_not_null())
        .then(pl.col("time") + (pl.col("_before") - run_first))
        .otherwise(pl.col("time") + (pl.col("_after") - run_last))
    )
    bounded = pl.when(estimate > pl.col("_after")).then(pl.col("_after")).otherwise(estimate)
    filled = with_runs.with_columns(
        time=pl.when(pl.col("_bad")).then(bounded).otherwise(pl.col("time")),
        time_filled=pl.col("time_filled") | pl.col("_bad"),
    )
    # back to the events order: instances in their order, each by (time, file, line)
    instance_rank = marked.group_by("instance", maintain_order=True).agg(
        _first=pl.col("_row").min()
    )
    ordered = filled.join(instance_rank, on="instance").sort(
        "_first", "time", "file", "line", nulls_last=True, maintain_order=True
    )
    return ordered.select(events.columns)


def _with_range(report: FileReport, events: pl.DataFrame, notes: list[str]) -> FileReport:
    """The file's first and last time without the flagged ones, and its warnings."""
    if not notes:
        return report
    own = events.filter((pl.col("file") == report.path) & ~pl.col("time_filled"))["time"]
    first, last = own.min(), own.max()
    return replace(
        report,
        first=_aware(first) if isinstance(first, datetime) else report.first,
        last=_aware(last) if isinstance(last, datetime) else report.last,
        warnings=[*report.warnings, *notes],
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
