"""Rule conditions -> hits: the rows of evidence that make a rule fire.

Every condition type turns the timeline's tables into a frame of hits with at least
``instance``, ``time``, ``cycle``, ``file``, ``line``, ``text``, ``stage`` and ``component``;
events bring their signature fields along (``cmd``, ``code``...) for the rule's placeholders.
Selectors filter the events table on its categorical columns first and only then join the
fields, so a rule costs little even on millions of heartbeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import polars as pl

from azdiag.common.frames import run_number
from azdiag.knowledge.rulebook import parse_duration
from azdiag.knowledge.workflow import Workflow
from azdiag.parse.signatures import with_fields

UTC_TIME = pl.Datetime("us", "UTC")

#: Events written every few seconds; selectors that ask for none of them use Facts.notable.
FREQUENT_EVENTS = ("heartbeat", "host_probe", "host_status", "status_check", "trace")

HIT_COLUMNS = ("instance", "time", "cycle", "file", "line", "text", "stage", "component")

#: A boolean hit column: True when the hit stands for something that did not happen (no exit
#: line, no end line): the engine keeps such hits only at their cycle's frontier (see
#: azdiag.diagnosis.findings). ``sequence`` (expect absent) and open ``duration`` hits are
#: marked by the engine; an ``sql`` query marks its own by returning this column.
ABSENT = "absent"


@dataclass
class Facts:
    """What conditions look at: the timeline of one collection."""

    events: pl.DataFrame
    details: pl.DataFrame
    cycles: pl.DataFrame
    gaps: pl.DataFrame
    states: pl.DataFrame
    workflow: Workflow
    #: when the logs were taken, when measured (--now, archive or file times; see
    #: azdiag.collect.collection_time), and where "now" comes from
    now: datetime | None = None
    now_source: str = "newest line"

    @cached_property
    def notable(self) -> pl.DataFrame:
        """The events that are not the bulk (heartbeats, probes, traces): most selectors ask
        for these, and filtering a few thousand rows beats filtering millions per rule."""
        return self.events.filter(
            pl.col("event").is_not_null() & ~pl.col("event").is_in(FREQUENT_EVENTS)
        )

    def prepare(self) -> None:
        """Compute what conditions share before rules run side by side."""
        _ = self.notable, self.instance_ends, self.progress

    @cached_property
    def progress(self) -> pl.DataFrame:
        """(instance, cycle, _at, _reached): each event that names a workflow stage, with its
        time and the stage's order: what a cycle reached, and when."""
        orders = self.workflow.stage_orders
        return (
            self.events.lazy()
            .filter(pl.col("stage").is_not_null())
            .select(
                pl.col("instance").cast(pl.String),
                pl.col("cycle").cast(pl.UInt32),
                pl.col("time").alias("_at"),
                pl.col("stage")
                .cast(pl.String)
                .replace_strict(orders, default=None, return_dtype=pl.Int32)
                .alias("_reached"),
            )
            .collect()
        )

    @cached_property
    def instance_ends(self) -> dict[str, Any]:
        """Each instance's newest time: its "now" (one pass over the events, not one a rule)."""
        if self.events.height == 0:
            return {}
        # by runs of rows (see run_number), then the few runs merged per instance
        ends = (
            self.events.lazy()
            .select("instance", "time", _run=run_number("instance"))
            .group_by("_run")
            .agg(pl.col("instance").first(), pl.col("time").max())
            .group_by("instance", maintain_order=True)
            .agg(pl.col("time").max())
            .collect()
        )
        now = self.now
        # the logs were taken at "now": what is open in an instance stays open until then
        return {
            str(i): (t if now is None or (t is not None and t >= now) else now)
            for i, t in ends.iter_rows()
        }


#: The columns every hit has, with their types.
HIT_SCHEMA: dict[str, Any] = {
    "instance": pl.String,
    "time": UTC_TIME,
    "cycle": pl.UInt32,
    "file": pl.String,
    "line": pl.UInt32,
    "text": pl.String,
    "stage": pl.String,
    "component": pl.String,
}


def empty_hits() -> pl.DataFrame:
    return pl.DataFrame(schema=HIT_SCHEMA)


def _table_hits(
    frame: pl.DataFrame, text: pl.Expr, stage: pl.Expr, component: pl.Expr, *extra: str
) -> pl.DataFrame:
    """Hits from a row of the cycles, gaps or states tables: no file line, a sentence instead."""
    return frame.select(
        "instance",
        pl.col("start").alias("time"),
        pl.col("cycle") if "cycle" in frame.columns else pl.lit(None, pl.UInt32).alias("cycle"),
        pl.lit(None, pl.String).alias("file"),
        pl.lit(None, pl.UInt32).alias("line"),
        text.alias("text"),
        stage.alias("stage"),
        component.alias("component"),
        *extra,
    )


def evaluate(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    """The hits of one condition (see the module docstring)."""
    handler = _HANDLERS[condition["type"]]
    return handler(condition, facts)


def select(selector: dict[str, Any], facts: Facts) -> pl.DataFrame:
    """Events matching a selector, as hits with their signature fields."""
    events = facts.events
    if events.height == 0:
        return empty_hits()
    wanted_events = selector.get("event")
    if wanted_events is not None:
        names = [wanted_events] if isinstance(wanted_events, str) else list(wanted_events)
        if not set(names) & set(FREQUENT_EVENTS):
            events = facts.notable
    conditions = []
    for column in ("event", "kind", "stage", "level", "component"):
        if column in selector:
            wanted = selector[column]
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            if column == "kind":  # an unknown kind selects nothing rather than failing
                known = set(events.schema["kind"].categories)  # type: ignore[attr-defined]
                values = [v for v in values if v in known]
            conditions.append(pl.col(column).is_in(values))
    where = selector.get("where", {})
    if where or "text" in selector:  # tested on the distinct record shapes, not every record
        details = facts.details
        tests = [_field_test(n, t, details) for n, t in where.items()]
        if "text" in selector:  # a record's text is its shape's (the message, all its lines)
            tests.append(pl.col("text").str.contains(selector["text"]).fill_null(False))
        keep = details.filter(tests)["sig"]
        conditions.append(pl.col("sig").is_in(keep.implode()))
    chosen = events.lazy().filter(conditions) if conditions else events.lazy()
    picked = chosen.select(
        "instance", "time", "cycle", "file", "line", "message", "stage", "component", "sig"
    ).collect()
    if picked.height == 0:
        return empty_hits()
    # only the fields these records have: a selection of many heartbeats would otherwise carry
    # every field any signature can capture, as columns of nulls as long as the selection
    hits = with_fields(picked, facts.details, present_only=True).with_columns(
        pl.col("instance", "file", "stage", "component").cast(pl.String),
        text=pl.col("message").cast(pl.String),
    )
    return hits.drop("message", "sig", "failure", strict=False)


def _field_test(name: str, test: Any, hits: pl.DataFrame) -> pl.Expr:
    if name not in hits.columns:
        return pl.lit(False)
    column = pl.col(name)
    if not isinstance(test, dict):
        return (column == str(test)).fill_null(False)
    expr = pl.lit(True)
    if "in" in test:
        expr &= column.is_in([str(v) for v in test["in"]]).fill_null(False)
    if "not_in" in test:
        expr &= column.is_not_null() & ~column.is_in([str(v) for v in test["not_in"]])
    if "regex" in test:
        expr &= column.str.contains(test["regex"]).fill_null(False)
    if "not_regex" in test:
        expr &= ~column.str.contains(test["not_regex"]).fill_null(True)
    if test.get("present") is True:
        expr &= column.is_not_null()
    if test.get("present") is False:
        expr &= column.is_null()
    return expr


def _match(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    hits = select(condition.get("select", {}), facts)
    return _at_least(hits, int(condition.get("min_count", 1)))


def _at_least(hits: pl.DataFrame, count: int) -> pl.DataFrame:
    if count <= 1 or hits.height == 0:
        return hits
    return hits.filter(pl.len().over("instance") >= count)


def _sequence(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    """``first`` followed (expect=present) or not followed (expect=absent) by ``then``."""
    first = select(condition["first"], facts)
    if first.height == 0:
        return empty_hits()
    then = select(condition["then"], facts)
    within = parse_duration(condition.get("within", "100d"), "within")
    scope = ["instance", *(["cycle"] if condition.get("scope", "cycle") == "cycle" else [])]
    keys = [*scope, *condition.get("same", [])]
    for name in keys:  # a side that selected nothing has no field columns
        if name not in first.columns:
            first = first.with_columns(pl.lit(None, pl.String).alias(name))
        if name not in then.columns:
            then = then.with_columns(pl.lit(None, pl.String).alias(name))
    first = first.with_row_index("_first")
    later = (
        first.select("_first", "time", *keys)
        .join(then.select(*keys, pl.col("time").alias("_then")), on=keys, how="inner")
        .filter(
            (pl.col("_then") >= pl.col("time"))
            & ((pl.col("_then") - pl.col("time")).dt.total_seconds(fractional=True) <= within)
        )
    )
    followed = later["_first"].unique().implode()
    if condition.get("expect", "absent") == "present":
        hits = first.filter(pl.col("_first").is_in(followed))
    else:
        ends = facts.instance_ends
        end = pl.col("instance").replace_strict(ends, default=None, return_dtype=UTC_TIME)
        waited = (end - pl.col("time")).dt.total_seconds(fractional=True) >= within
        hits = first.filter(~pl.col("_first").is_in(followed) & waited).with_columns(
            pl.lit(True).alias(ABSENT)
        )
    return _at_least(hits.drop("_first"), int(condition.get("min_count", 1)))


def _repeat(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    """N or more start-up cycles ending the same way (within T of each other)."""
    cycles = facts.cycles
    chosen = pl.lit(True)
    for column in ("outcome", "last_stage"):
        if column in condition:
            wanted = condition[column]
            chosen &= pl.col(column).is_in([wanted] if isinstance(wanted, str) else wanted)
    matching = cycles.filter(chosen)
    if "require_no" in condition:  # cycles where a kind of event never shows (silent loops)
        noisy = select(condition["require_no"], facts).select("instance", "cycle").unique()
        matching = matching.join(noisy, on=["instance", "cycle"], how="anti")
    needed = int(condition.get("min_cycles", 2))
    if "within" in condition:
        window = parse_duration(condition["within"], "within")
        spans = (pl.col("start") - pl.col("start").shift(needed - 1)).over("instance")
        dense = matching.sort("instance", "start").with_columns(_dense=spans.dt.total_seconds())
        qualifying = dense.filter(pl.col("_dense") <= window)["instance"].unique().to_list()
        matching = matching.filter(pl.col("instance").is_in(qualifying))
    matching = matching.filter(pl.len().over("instance") >= needed)
    stages = facts.workflow.stage_components
    return _table_hits(
        matching,
        pl.format(
            "start-up cycle {} ({}) ended {} at stage {}",
            "cycle",
            pl.col("start").dt.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "outcome",
            pl.col("last_stage").fill_null("?"),
        ),
        pl.col("last_stage"),
        pl.col("last_stage").replace_strict(stages, default=None),
        "outcome",
        "failure_event",
    )


def _gap(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    gaps = facts.gaps
    chosen = pl.lit(True)
    if "kind" in condition:
        chosen &= pl.col("kind") == condition["kind"]
    if "min_seconds" in condition:
        chosen &= pl.col("seconds") >= parse_duration(condition["min_seconds"], "min_seconds")
    for flag in ("planned", "open", "beyond_restart_threshold"):
        if flag in condition:
            chosen &= pl.col(flag) == bool(condition[flag])
    stages = facts.workflow.stage_components
    return _table_hits(
        gaps.filter(chosen),
        pl.format(
            "{} silent for {} s from {} to {}{}",
            "kind",
            pl.col("seconds").round(1),
            pl.col("start").dt.strftime("%Y-%m-%d %H:%M:%S"),
            pl.col("end").dt.strftime("%H:%M:%S UTC"),
            pl.when(pl.col("open")).then(pl.lit(" (end of collection)")).otherwise(pl.lit("")),
        ),
        pl.col("stage"),
        pl.col("stage").replace_strict(stages, default=None),
        "seconds",
        "planned_by",
    )


def _duration(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    """From the first ``start`` event to the first ``end`` event after it, in one cycle."""
    starts = select(condition["start"], facts)
    if starts.height == 0:
        return empty_hits()
    keys = ["instance", "cycle"]
    first = starts.sort("time").group_by(keys, maintain_order=True).first()
    ends = select(condition["end"], facts).select(*keys, pl.col("time").alias("_end"))
    later = pl.col("_end").filter(pl.col("_end") >= pl.col("time"))
    joined = (
        first.join(ends, on=keys, how="left", nulls_equal=True)
        .group_by(keys, maintain_order=True)
        .agg(pl.all().exclude("_end").first(), later.min().alias("_end"))
    )
    joined = joined.with_columns(pl.col("_end").is_null().alias(ABSENT))
    if condition.get("open_ends_at_now", True):
        now = facts.instance_ends
        end_of = pl.col("instance").replace_strict(now, default=None, return_dtype=UTC_TIME)
        joined = joined.with_columns(_end=pl.coalesce("_end", end_of))
    limit = parse_duration(condition["longer_than"], "longer_than")
    return (
        joined.with_columns(
            seconds=(pl.col("_end") - pl.col("time")).dt.total_seconds(fractional=True)
        )
        .filter(pl.col("seconds") > limit)
        .drop("_end")
    )


def _state(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    states = facts.states
    wanted = condition["state"]
    chosen = pl.col("state").is_in([wanted] if isinstance(wanted, str) else wanted)
    if "longer_than" in condition:
        chosen &= pl.col("seconds") > parse_duration(condition["longer_than"], "longer_than")
    if "open" in condition:
        chosen &= pl.col("open") == bool(condition["open"])
    return _table_hits(
        states.filter(chosen),
        pl.format(
            "reported {} for {} s since {} ({})",
            "state",
            pl.col("seconds").round(0),
            pl.col("start").dt.strftime("%Y-%m-%d %H:%M:%S UTC"),
            pl.col("detail").fill_null(""),
        ),
        pl.lit(None, pl.String),
        pl.lit(None, pl.String),
        "state",
        "detail",
        "seconds",
    )


def _sql(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    """The escape hatch: a polars SQL query over events or only the notable ones (with their
    fields), cycles, gaps, states.

    The query must return ``instance`` and ``time``; other hit columns are optional.
    """
    # lazy: the query's filters run before the fields are joined and before any cast
    fields = facts.details.drop("event", "stage", "component", "text").lazy()
    # in the events' order (time, file, line): a query's FIRST or LIMIT gives the same row
    # on every run
    events = facts.events.lazy().join(fields, on="sig", how="left", maintain_order="left")
    notable = facts.notable.lazy().join(fields, on="sig", how="left", maintain_order="left")
    # the small tables take the events' instance type, so joins on instance need no cast of
    # the large one (its text columns stay categorical: compare them with =, or CAST them)
    same = pl.col("instance").cast(facts.events.schema["instance"])
    context = pl.SQLContext(
        events=events,
        notable=notable,
        cycles=facts.cycles.lazy().with_columns(same),
        gaps=facts.gaps.lazy().with_columns(same),
        states=facts.states.lazy().with_columns(same),
    )
    result = context.execute(condition["query"]).collect()
    result = result.with_columns(
        pl.col(name).cast(pl.String)
        for name, dtype in result.schema.items()
        if isinstance(dtype, pl.Categorical | pl.Enum)
    )
    missing = {"instance", "time"} - set(result.columns)
    if missing:
        raise ValueError(f"the sql query must return {sorted(missing)}")
    for column, dtype in empty_hits().schema.items():
        if column not in result.columns:
            result = result.with_columns(pl.lit(None, dtype).alias(column))
    if ABSENT in result.columns:
        result = result.with_columns(pl.col(ABSENT).cast(pl.Boolean).fill_null(False))
    return result.with_columns(pl.col("instance").cast(pl.String))


def _now(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    """One hit per instance when the collection's "now" comes from one of ``source`` (user,
    archive, files, newest line): rules use it to say how sure a time-based inference is.

    With ``last`` (a selector) and ``longer_than``: the hit is instead the instance's last
    selected event, when it comes more than ``longer_than`` before the instance's "now" (a log
    that stops well before the logs were taken), with the fields ``seconds`` and ``minutes``
    (whole minutes, rounded down) of silence up to "now" (the finding's ``{collection_time}``).
    """
    wanted = condition["source"]
    sources = [wanted] if isinstance(wanted, str) else list(wanted)
    if facts.now_source not in sources or not facts.instance_ends:
        return empty_hits()
    if "last" in condition:
        return _silent_until_now(condition, facts)
    ends = pl.DataFrame(
        {"instance": list(facts.instance_ends), "time": list(facts.instance_ends.values())},
        schema={"instance": pl.String, "time": UTC_TIME},
    )
    return _table_hits(
        ends.with_columns(start=pl.col("time")),
        pl.lit(f"the collection time comes from: {facts.now_source}"),
        pl.lit(None, pl.String),
        pl.lit(None, pl.String),
    )


def _silent_until_now(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    """The last ``last`` event of each instance, when "now" comes ``longer_than`` after it."""
    chosen = select(condition["last"], facts)
    if chosen.height == 0:
        return empty_hits()
    limit = parse_duration(condition.get("longer_than", 0), "longer_than")
    now = pl.col("instance").replace_strict(
        facts.instance_ends, default=None, return_dtype=UTC_TIME
    )
    return (
        chosen.sort("time")
        .group_by("instance", maintain_order=True)
        .last()
        .with_columns(seconds=(now - pl.col("time")).dt.total_seconds(fractional=True))
        .filter(pl.col("seconds") > limit)
        .with_columns(minutes=(pl.col("seconds") // 60).cast(pl.Int64))
    )


def _unrecognised(condition: dict[str, Any], facts: Facts) -> pl.DataFrame:
    """Error, critical and exception records no signature explains, one hit per template."""
    from azdiag.diagnosis.unrecognised import unrecognised_templates  # it builds on this module

    return unrecognised_templates(facts.events, facts.workflow, condition)


_HANDLERS = {
    "match": _match,
    "sequence": _sequence,
    "repeat": _repeat,
    "gap": _gap,
    "duration": _duration,
    "state": _state,
    "sql": _sql,
    "now": _now,
    "unrecognised": _unrecognised,
}
