"""Silences in sources that are expected to write on a cadence (heartbeats, health probes).

Each gap is classified: explained by planned-stop evidence before it or not, at or beyond the
host agent's restart threshold or not, and mapped to the workflow stage in effect when it began.
A source silent up to the end of the collection has an open gap ending "now".
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from azdiag.common.frames import run_number
from azdiag.knowledge.workflow import Cadence, Workflow

GAP_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "instance": pl.String,
    "kind": pl.String,
    "beat": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "seconds": pl.Float64,
    "open": pl.Boolean,
    "planned": pl.Boolean,
    "planned_by": pl.String,
    "beyond_restart_threshold": pl.Boolean,
    "cycle": pl.UInt32,
    "stage": pl.String,
}


def find_gaps(events: pl.DataFrame, workflow: Workflow, ends: pl.DataFrame) -> pl.DataFrame:
    """All gaps of all cadenced sources, ordered by (instance, start, kind)."""
    frames = [
        frame
        for cadence in workflow.cadences
        if not cadence.never_a_gap and cadence.note_after_seconds > 0
        for frame in [_gaps_of(events, cadence, ends)]
        if frame.height
    ]
    if not frames:
        return pl.DataFrame(schema=GAP_SCHEMA)
    gaps = pl.concat(frames, how="vertical")
    gaps = _mark_planned(gaps.sort("end"), events, workflow)
    gaps = _stage_at_start(gaps.sort("start"), events, workflow)
    return gaps.sort("instance", "start", "kind").select(list(GAP_SCHEMA))


def _gaps_of(events: pl.DataFrame, cadence: Cadence, ends: pl.DataFrame) -> pl.DataFrame:
    if cadence.kind not in events.schema["kind"].categories:  # type: ignore[attr-defined]
        return pl.DataFrame()
    condition = pl.col("kind") == cadence.kind
    if cadence.event:
        condition &= pl.col("event") == cadence.event
    key = ["instance", "cycle"] if cadence.per_cycle else ["instance"]
    beats = events.lazy().filter(condition).select(*key, "time")
    # events hold each instance's rows together in time order, so the beat before is the row
    # before unless the instance (or, per cycle, the cycle) changed
    same = pl.col("instance") == pl.col("instance").shift(1)
    if cadence.per_cycle:
        same &= pl.col("cycle") == pl.col("cycle").shift(1)
    # millions of beats, a handful of silences: the wait is compared as a duration (an integer
    # test) before anything else is computed
    silence = timedelta(seconds=cadence.note_after_seconds)
    inner = (
        beats.with_columns(_wait=pl.col("time").diff())
        .filter(same & (pl.col("_wait") > silence))
        .select(
            pl.col("instance").cast(pl.String),
            start=pl.col("time") - pl.col("_wait"),
            end=pl.col("time"),
            open=pl.lit(False),
        )
    )
    if cadence.per_cycle:
        parts = [inner.collect()]
    else:
        # by runs of rows (see run_number), then the few runs merged per instance
        last = (
            beats.with_columns(_run=run_number("instance"))
            .group_by("_run")
            .agg(pl.col("instance").first(), pl.col("time").max())
            .group_by("instance")
            .agg(pl.col("time").max().alias("start"))
            .with_columns(pl.col("instance").cast(pl.String))
        )
        still = (
            last.join(ends.lazy(), on="instance")
            .with_columns(end=pl.col("now"), open=pl.lit(True))
            .filter(
                (pl.col("end") - pl.col("start")).dt.total_seconds(fractional=True)
                > cadence.note_after_seconds
            )
            .select("instance", "start", "end", "open")
        )
        parts = pl.collect_all([inner, still])  # one pass picks the beats for both
    threshold = cadence.restart_after_seconds
    return (
        pl.concat(parts)
        .with_columns(
            kind=pl.lit(cadence.kind),
            beat=pl.lit(cadence.event or "any record"),
            seconds=(pl.col("end") - pl.col("start")).dt.total_microseconds() / 1e6,
        )
        .with_columns(
            beyond_restart_threshold=(pl.col("seconds") >= threshold)
            if threshold
            else pl.lit(False)
        )
    )


def _mark_planned(gaps: pl.DataFrame, events: pl.DataFrame, workflow: Workflow) -> pl.DataFrame:
    """A gap is planned when planned-stop evidence stands shortly before it or inside it."""
    evidence = (
        events.lazy()
        .filter(pl.col("event").is_in(workflow.planned_evidence))
        .select(
            pl.col("instance").cast(pl.String),
            pl.col("time").alias("_evidence_time"),
            pl.col("event").cast(pl.String).alias("planned_by"),
        )
        .sort("_evidence_time")
        .collect()
    )
    window = workflow.planned_window_seconds
    joined = gaps.join_asof(
        evidence,
        left_on="end",
        right_on="_evidence_time",
        by="instance",
        strategy="backward",
        check_sortedness=False,  # both sides are sorted on the time column above
    )
    explained = (
        (pl.col("_evidence_time") - pl.col("start")).dt.total_seconds(fractional=True) >= -window
    ).fill_null(False)
    return joined.with_columns(
        planned=explained, planned_by=pl.when(explained).then(pl.col("planned_by"))
    ).drop("_evidence_time")


def _stage_at_start(gaps: pl.DataFrame, events: pl.DataFrame, workflow: Workflow) -> pl.DataFrame:
    """The cycle and the furthest stage it had reached when the gap began."""
    orders = workflow.stage_orders
    by_order = {s.order: s.id for s in workflow.stages.values()}
    # the instance keeps the events' type and the stage is mapped per category: no string per
    # progress event (state reports make them many)
    instance = events.schema["instance"]
    progress = (
        events.lazy()
        .filter(pl.col("stage").is_not_null())
        .select(
            "instance",
            pl.col("time").alias("_at"),
            pl.col("cycle").alias("_cycle"),
            pl.col("stage")
            .replace_strict(orders, default=None, return_dtype=pl.Int32)
            .alias("_order"),
        )
        .with_columns(pl.col("_order").cum_max().over("instance", "_cycle"))
        .sort("_at")
        .collect()
    )
    return (
        gaps.with_columns(pl.col("instance").cast(instance))
        .join_asof(progress, left_on="start", right_on="_at", by="instance", check_sortedness=False)
        .with_columns(
            pl.col("instance").cast(pl.String),
            cycle=pl.col("_cycle"),
            stage=pl.col("_order").replace_strict(by_order, default=None, return_dtype=pl.String),
        )
        .drop("_at", "_cycle", "_order")
    )
