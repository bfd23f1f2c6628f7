"""Start-up cycles: each instance's history cut into start attempts, with stages and outcome.

A cycle opens at a boundary event (agent start, container start, new bootstrapper generation;
the ranks are data in rules/workflow/stages.toml). Its progress is the highest workflow stage
its events reached, its outcome one of ready / failed / hung / running, where "now" for the last
cycle is the newest line of the instance's files (see timeline.instance_ends).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import polars as pl

from azdiag.common.frames import run_number, with_aligned
from azdiag.knowledge.workflow import Workflow

#: Cycle number of the events before an instance's first boundary (its start was not collected).
BEFORE_FIRST_BOUNDARY = 0

CYCLE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "instance": pl.String,
    "cycle": pl.UInt32,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "observed_start": pl.Boolean,
    "opened_by": pl.String,
    "last_stage": pl.String,
    "last_stage_order": pl.Int32,
    "stages": pl.List(pl.String),
    "ready_at": pl.Datetime("us", "UTC"),
    "failure_event": pl.String,
    "failure_at": pl.Datetime("us", "UTC"),
    "last_progress": pl.Datetime("us", "UTC"),
    "outcome": pl.String,
    "events": pl.UInt32,
    "seconds": pl.Float64,
}


#: Columns of the stage timings (see stage_timings); seconds are wall-clock seconds.
STAGE_TIME_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "instance": pl.String,
    "cycle": pl.UInt32,
    "stage": pl.String,
    "order": pl.Int32,
    "entered": pl.Datetime("us", "UTC"),
    "left": pl.Datetime("us", "UTC"),
    "seconds": pl.Float64,
}


def assign_cycles(events: pl.DataFrame, workflow: Workflow) -> pl.DataFrame:
    """Add a ``cycle`` column (per instance, 0 = before the first boundary) to ``events``."""
    ranks = workflow.boundaries
    rows = (
        events.lazy()
        .with_row_index("_row")
        .filter(pl.col("event").is_in(list(ranks)) & pl.col("time").is_not_null())
        .select(
            "_row",
            pl.col("instance").cast(pl.String),
            pl.col("event").cast(pl.String),
            pl.col("time"),
        )
        .collect()
    )
    starts: list[int] = []
    highest: dict[str, int] = {}
    previous: dict[str, datetime] = {}
    merge = timedelta(seconds=workflow.merge_within_seconds)
    # one step per boundary event (a handful per start attempt), not per line
    for row, instance, event, time in rows.iter_rows():
        rank = ranks[event]
        close = instance in previous and time is not None and time - previous[instance] <= merge
        if instance not in highest or (rank <= highest[instance] and not close):
            starts.append(row)
            highest[instance] = rank
        else:
            highest[instance] = max(highest[instance], rank)
        if time is not None:
            previous[instance] = time
    return with_aligned(events, [_cycle_numbers(events, starts)])


def _cycle_numbers(events: pl.DataFrame, starts: list[int]) -> pl.Series:
    """Per row, how many of the cycle starts (ascending row numbers) its instance had so far.

    The events table holds each instance's rows together (see ingest), so the numbers are a
    few hundred runs of one value, laid down at once; a window over the whole table (for a
    table that interleaves instances) costs several passes more.
    """
    runs = events["instance"].to_physical().rle()
    if runs.struct.field("value").is_duplicated().any():  # an instance in several runs
        is_start = pl.repeat(False, events.height, eager=True)
        if starts:
            is_start.scatter(starts, True)
        return (
            events.select("instance")
            .with_columns(_start=is_start)
            .select(pl.col("_start").cast(pl.UInt32).cum_sum().over("instance").alias("cycle"))
            .to_series()
        )
    values: list[int] = []
    lengths: list[int] = []
    position, pending = 0, iter(starts)
    start = next(pending, None)
    for run in runs.struct.field("len").to_list():
        end, cycle = position + run, 0
        while start is not None and start < end:
            if start > position:
                values.append(cycle)
                lengths.append(start - position)
                position = start
            cycle += 1
            start = next(pending, None)
        if end > position:
            values.append(cycle)
            lengths.append(end - position)
            position = end
    return pl.Series("cycle", values, pl.UInt32).repeat_by(pl.Series(lengths)).explode()


def failure_expr(workflow: Workflow) -> pl.Expr:
    """True for an event (with its fields) that ends a start-up cycle in failure."""
    event = pl.col("event").cast(pl.String)
    conditions = []
    for rule in workflow.failures:
        condition = event == rule.event
        if rule.field and rule.not_in:
            condition &= ~pl.col(rule.field).is_in(list(rule.not_in)).fill_null(False)
        if rule.field and rule.in_:
            condition &= pl.col(rule.field).is_in(list(rule.in_)).fill_null(False)
        conditions.append(condition)
    return pl.any_horizontal(conditions) if conditions else pl.lit(False)


def cycle_spans(events: pl.DataFrame) -> pl.DataFrame:
    """(instance, cycle, start, last, events): each cycle's first and last line, and its size.

    The one pass over every event that cycles need (``events`` carry ``cycle``, see
    assign_cycles); the newest line of each instance is read from it too (timeline.instance_ends).
    ``last`` leaves out times that are not a record's own (``time_filled``: inherited, or
    re-timed after a clock jump, see timeline.clock) where the cycle has one of its own: a
    re-timed run at a file's end is an estimate, and it made an instance's "now" later than any
    line (a heartbeat pause "until the end of the collection" that no line shows).
    """
    filled = ["time_filled"] if "time_filled" in events.columns else []
    own = pl.col("time").filter(~pl.col("time_filled")) if filled else pl.col("time")
    # by runs of rows (see run_number), then the few runs merged per (instance, cycle)
    return (
        events.lazy()
        .select("instance", "cycle", "time", *filled, _run=run_number("instance", "cycle"))
        .group_by("_run")
        .agg(
            pl.col("instance", "cycle").first(),
            pl.col("time").min().alias("start"),
            pl.col("time").max().alias("_any_last"),
            own.max().alias("last"),
            pl.len().alias("events"),
        )
        .group_by("instance", "cycle")
        .agg(
            pl.col("start").min(),
            pl.coalesce(pl.col("last").max(), pl.col("_any_last").max()).alias("last"),
            pl.col("events").sum().cast(pl.UInt32),
        )
        .collect()
    )


def build_cycles(
    events: pl.DataFrame,
    details: pl.DataFrame,
    workflow: Workflow,
    ends: pl.DataFrame,
    spans: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per (instance, cycle); ``events`` must carry ``cycle`` (see assign_cycles) and
    ``details`` a ``failure`` flag per ``sig`` (see failure_expr). ``spans`` are the events'
    cycle_spans, when already at hand."""
    if events.height == 0:
        return pl.DataFrame(schema=CYCLE_SCHEMA)
    orders = workflow.stage_orders
    boundaries = list(workflow.boundaries)
    # spans over every event; the rest only over the few events that carry a stage, open a
    # cycle or fail one (heartbeats and probes are the bulk and say nothing of progress)
    spans = (cycle_spans(events) if spans is None else spans).rename({"last": "_last_event"})
    failing = list({rule.event for rule in workflow.failures})
    reports = list(workflow.repeated_reports)
    failing_sigs = details.filter(pl.col("failure"))["sig"].to_list()
    # event and stage stay categories (a string each only for the few hundred cycles)
    telling = (
        events.lazy()
        .filter(
            pl.col("stage").is_not_null()
            | pl.col("event").is_in(boundaries)
            | pl.col("event").is_in(failing)
        )
        .select(
            "instance",
            "cycle",
            "time",
            "event",
            "stage",
            pl.col("stage")
            .replace_strict(orders, default=None, return_dtype=pl.Int32)
            .alias("_order"),
            pl.col("sig").is_in(failing_sigs).fill_null(False).alias("_failure"),
        )
        .collect()
    )
    ready_time = pl.col("time").filter(pl.col("stage") == "ready")
    reported = pl.col("event").is_in(reports)
    progress = (
        telling.group_by("instance", "cycle")
        .agg(
            pl.col("event").filter(pl.col("event").is_in(boundaries)).first().alias("opened_by"),
            pl.col("_order").max().alias("last_stage_order"),
            pl.col("stage").filter(pl.col("_order").is_not_null()).unique().alias("_stages"),
            ready_time.min().alias("ready_at"),
            # the failure a cycle's own lines show; a report of it (the agent's status) only
            # when they show none (an untimed host log, a host log not collected)
            pl.coalesce(
                pl.col("event").filter(pl.col("_failure") & ~reported).last(),
                pl.col("event").filter(pl.col("_failure")).last(),
            ).alias("failure_event"),
            pl.coalesce(
                pl.col("time").filter(pl.col("_failure") & ~reported).last(),
                pl.col("time").filter(pl.col("_failure")).last(),
            ).alias("failure_at"),
            # a repeated report of a stage (the agent's status) shows it, but is no progress
            pl.col("time")
            .filter(pl.col("_order").is_not_null() & ~pl.col("event").is_in(reports))
            .max()
            .alias("last_progress"),
        )
        .with_columns(
            pl.col("opened_by", "failure_event").cast(pl.String),
            pl.col("_stages").cast(pl.List(pl.String)),
        )
    )
    cycles = (
        spans.join(progress, on=["instance", "cycle"], how="left")
        .with_columns(pl.col("instance").cast(pl.String))
        .sort("instance", "cycle")
        .join(ends, on="instance", how="left")
    )
    by_order = {s.order: s.id for s in workflow.stages.values()}
    now_lit = pl.coalesce(pl.col("now"), pl.col("_last_event"))
    next_start = pl.col("start").shift(-1).over("instance")
    is_last = next_start.is_null()
    failed_after_ready = pl.col("failure_at").is_not_null() & (
        pl.col("ready_at").is_null() | (pl.col("failure_at") >= pl.col("ready_at"))
    )
    quiet_for = (now_lit - pl.col("last_progress").fill_null(pl.col("start"))).dt.total_seconds()
    # a finished cycle failed unless it was Ready and nothing failed after; the last cycle of
    # an instance is hung when it made no progress for hang_after_seconds before "now"
    outcome = (
        pl.when(failed_after_ready & ~is_last)
        .then(pl.lit("failed"))
        .when(pl.col("ready_at").is_not_null() & ~failed_after_ready)
        .then(pl.lit("ready"))
        .when(~is_last)
        .then(pl.lit("failed"))
        .when(quiet_for > workflow.hang_after_seconds)
        .then(pl.lit("hung"))
        .when(pl.col("failure_at").is_not_null())
        .then(pl.lit("failed"))
        .otherwise(pl.lit("running"))
    )
    return (
        cycles.with_columns(
            end=pl.coalesce(next_start, now_lit),
            observed_start=pl.col("cycle") != BEFORE_FIRST_BOUNDARY,
            last_stage=pl.col("last_stage_order").replace_strict(
                by_order, default=None, return_dtype=pl.String
            ),
            stages=pl.col("_stages").list.eval(
                pl.element().sort_by(
                    pl.element().replace_strict(orders, default=None, return_dtype=pl.Int32)
                )
            ),
            outcome=outcome,
        )
        .with_columns(
            seconds=(pl.col("end") - pl.col("start")).dt.total_microseconds() / 1e6,
        )
        .select(list(CYCLE_SCHEMA))
    )


def stage_timings(events: pl.DataFrame, cycles: pl.DataFrame, workflow: Workflow) -> pl.DataFrame:
    """Time spent in each stage of each cycle: from entering it to entering the next one."""
    orders = workflow.stage_orders
    entered = (
        events.lazy()
        .filter(pl.col("stage").is_not_null())
        .group_by("instance", "cycle", "stage")
        .agg(pl.col("time").min().alias("entered"))
        .with_columns(pl.col("instance", "stage").cast(pl.String))
        .collect()
        .with_columns(
            order=pl.col("stage").replace_strict(orders, default=None, return_dtype=pl.Int32)
        )
        .sort("instance", "cycle", "order")
    )
    return (
        entered.join(cycles.select("instance", "cycle", "end"), on=["instance", "cycle"])
        .with_columns(
            left=pl.coalesce(pl.col("entered").shift(-1).over("instance", "cycle"), pl.col("end"))
        )
        .with_columns(seconds=(pl.col("left") - pl.col("entered")).dt.total_microseconds() / 1e6)
        .select("instance", "cycle", "stage", "order", "entered", "left", "seconds")
    )


def place_timeless_files(
    events: pl.DataFrame, cycles: pl.DataFrame, boundaries: Iterable[str] = ()
) -> pl.DataFrame:
    """``events`` with a ``cycle`` for the records of files that give no time at all.

    Such a file (a host log written without times, log-formats.md §7) cannot be laid on the
    time axis, but its start attempts can be matched to the cycles the timed logs show. The
    file is cut, in line order, at each repeat of its first workflow event (the event with a
    stage on its first such record, e.g. ``roleenv_init`` for a host log: one per host process
    start); its attempts are paired, the latest with the latest, with the instance's cycles
    that reached that event's stage. Pairing from the end holds when the file lost its oldest
    part or was written anew at some start; attempts beyond the cycles (older than the timed
    logs) and records before the first attempt keep no cycle. A file whose first workflow event
    is one of ``boundaries`` (the events that open a cycle: an agent start...) is left as it
    is: such a start may be one the timed logs never show, so it says nothing of their cycles.
    Files with any time keep their records as they are: there a record without a time of its
    own took the time above it.

    Columns read: ``instance``, ``file``, ``line``, ``time``, ``event``, ``stage``, ``cycle``
    of ``events``; ``instance`` (str), ``cycle``, ``stages`` of ``cycles``. Nothing else changes.
    """
    if events.height == 0 or cycles.height == 0 or events["time"].null_count() == 0:
        return events
    rows = events.with_row_index("_row")
    timeless = (
        rows.group_by("file")
        .agg(pl.col("time").is_null().all().alias("_none"))
        .filter(pl.col("_none"))["file"]
    )
    if timeless.len() == 0:
        return events
    rows = rows.filter(pl.col("file").is_in(timeless.implode())).select(
        "_row",
        pl.col("instance").cast(pl.String),
        pl.col("file").cast(pl.String),
        "line",
        pl.col("event").cast(pl.String),
        pl.col("stage").cast(pl.String),
    )
    placed_rows: list[int] = []
    placed_cycles: list[int] = []
    for (_file, instance), group in rows.group_by("file", "instance", maintain_order=True):
        group = group.sort("line")
        opening = group.filter(pl.col("stage").is_not_null() & pl.col("event").is_not_null())
        if opening.height == 0:
            continue
        first = opening.row(0, named=True)
        event, stage = first["event"], first["stage"]
        if event in boundaries:
            continue
        attempt = (group["event"] == event).fill_null(False).cast(pl.UInt32).cum_sum()
        reached = cycles.filter(
            (pl.col("instance") == instance) & pl.col("stages").list.contains(stage)
        )["cycle"].sort()
        attempts = int(attempt.max() or 0)
        # attempt k of n goes with the (n - k + 1)-th last cycle that reached the stage
        pairs = {
            attempts - back: int(cycle)
            for back, cycle in enumerate(reversed(reached.to_list()))
            if attempts - back >= 1
        }
        if not pairs:
            continue
        cycle_of = attempt.replace_strict(pairs, default=None, return_dtype=pl.UInt32)
        placed = cycle_of.is_not_null()
        placed_rows += group["_row"].filter(placed).to_list()
        placed_cycles += cycle_of.filter(placed).to_list()
    if not placed_rows:
        return events
    cycle = events["cycle"].cast(pl.UInt32).scatter(placed_rows, placed_cycles)
    return events.with_columns(cycle.cast(events.schema["cycle"]))
