"""The timeline reconstructor: parsed events -> classified events, cycles, states and gaps.

The events come ordered by (time, file, line) across all sources; here they get their semantic
``event`` kind, workflow ``stage`` and ``cycle``. Everything time-relative uses "now" = the
newest line of the collection, and the timeline says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import polars as pl

from azdiag.knowledge.formats import FormatSet
from azdiag.knowledge.workflow import Workflow, load_workflow
from azdiag.parse.signatures import SignatureSet, classify, load_signatures
from azdiag.timeline.cycles import (
    CYCLE_SCHEMA,
    STAGE_TIME_SCHEMA,
    assign_cycles,
    build_cycles,
    cycle_spans,
    failure_expr,
    place_timeless_files,
    stage_timings,
)
from azdiag.timeline.gaps import GAP_SCHEMA, find_gaps
from azdiag.timeline.states import STATE_SCHEMA, build_states

T = TypeVar("T")

#: A file whose times sit this close to a whole number of hours away from the other sources'
#: is reported as possibly written in another time zone.
_SHIFT_TOLERANCE_SECONDS = 180


@dataclass
class Timeline:
    events: pl.DataFrame
    details: pl.DataFrame  # signature fields per distinct record shape ("sig"), see classify
    cycles: pl.DataFrame
    stage_times: pl.DataFrame
    states: pl.DataFrame
    gaps: pl.DataFrame
    now: datetime | None
    warnings: list[str] = field(default_factory=list)
    failures: list[tuple[str, BaseException]] = field(default_factory=list)  # (step, error)


def build_timeline(
    events: pl.DataFrame,
    formats: FormatSet,
    *,
    now: datetime | None,
    measured_now: datetime | None = None,
    workflow: Workflow | None = None,
    signatures: SignatureSet | None = None,
) -> Timeline:
    """Reconstruct the story of every instance in ``events`` (see the module docstring)."""
    workflow = workflow or load_workflow()
    signatures = signatures or load_signatures(formats)
    classified, details = classify(events, formats, signatures, workflow.stage_components)
    details = details.with_columns(failure=failure_expr(workflow))
    classified, timed, untimed = _split_untimed(assign_cycles(classified, workflow))
    failures: list[tuple[str, BaseException]] = []

    def step(name: str, run: Callable[[], T], empty: T) -> T:
        """A step whose failure loses only its own part: the report says it failed."""
        try:
            return run()
        except Exception as exc:  # reported as a finding by the diagnosis, never raised
            failures.append((name, exc))
            return empty

    spans = cycle_spans(timed)
    ends = instance_ends(spans)
    # the logs were taken at measured_now: a start-up cycle still open then was open until then
    # (states and gaps keep to the logs' own lines: a file's silence after it is not measured)
    cycle_ends = ends
    if measured_now is not None:
        cycle_ends = ends.with_columns(pl.max_horizontal("now", pl.lit(measured_now)))
    cycles = step(
        "cycles",
        lambda: build_cycles(timed, details, workflow, cycle_ends, spans),
        pl.DataFrame(schema=CYCLE_SCHEMA),
    )
    # a file without any time still tells which start attempts it saw: match them to the cycles
    classified = step(
        "placing untimed files",
        lambda: place_timeless_files(classified, cycles, workflow.boundaries),
        classified,
    )
    no_warnings: list[str] = []
    warnings = step("clock check", lambda: shifted_clock_warnings(timed), no_warnings)
    if untimed:
        warnings.append(
            f"{untimed} record(s) have no time azdiag can read, nor one above them in their file "
            "(no time, or one in a form no format knows: see the files' warnings): they are "
            "kept, classified and shown, but left out of the ordering, cycles, gaps, states and "
            "clock checks (the start attempts of a file without any time are matched to the "
            "last start-up cycles that reached the same stage)"
        )
    if now is not None and measured_now is None:
        warnings.append(
            f"'now' is the newest line of the collection ({now:%Y-%m-%d %H:%M:%S} UTC); for "
            "what is still open in an instance, the newest line of that instance's files"
        )
    return Timeline(
        events=classified,
        details=details,
        cycles=cycles,
        stage_times=step(
            "stage timings",
            lambda: stage_timings(timed, cycles, workflow),
            pl.DataFrame(schema=STAGE_TIME_SCHEMA),
        ),
        states=step(
            "states", lambda: build_states(timed, details, ends), pl.DataFrame(schema=STATE_SCHEMA)
        ),
        gaps=step(
            "gaps", lambda: find_gaps(timed, workflow, ends), pl.DataFrame(schema=GAP_SCHEMA)
        ),
        now=now,
        warnings=warnings,
        failures=failures,
    )


def _split_untimed(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """(every event, the timed ones, how many have no time).

    Records without a time stay in the events table (inventory, events, evidence of match
    rules) with no cycle (those of files without any time are placed later, see
    place_timeless_files); the time-based steps see only the timed ones. The events come
    ordered by time with nulls last within each instance (see ingest), so a cycle counted
    before the untimed rows is not disturbed by them.
    """
    untimed = events["time"].null_count()
    if untimed == 0:
        return events, events, 0
    events = events.with_columns(cycle=pl.when(pl.col("time").is_not_null()).then(pl.col("cycle")))
    return events, events.filter(pl.col("time").is_not_null()), untimed


def instance_ends(spans: pl.DataFrame) -> pl.DataFrame:
    """(instance, now): the newest line of each instance's files, from its cycle spans.

    Instances of one collection are copied from different VMs at slightly different moments,
    so what is still open in an instance is measured against its own newest line.
    """
    return (
        spans.group_by("instance")
        .agg(pl.col("last").max().alias("now"))
        .with_columns(pl.col("instance").cast(pl.String))
    )


def shifted_clock_warnings(events: pl.DataFrame) -> list[str]:
    """Files whose whole time range looks shifted by whole hours against their instance.

    Ordering constraint used: the bootstrapper and host logs of an instance are written while its
    guest agent runs, so their records must fall inside the guest agent's time range. A file
    entirely outside it, that would fit after a shift by a whole number of hours, is most likely
    written in local time.
    """
    if events.height == 0:
        return []
    spans = (
        events.group_by("file")
        .agg(
            pl.col("instance").first(),
            pl.col("kind").first(),
            pl.col("time").min().alias("first"),
            pl.col("time").max().alias("last"),
        )
        .with_columns(pl.col("instance", "file", "kind").cast(pl.String))
    )
    agents = (
        spans.filter(pl.col("kind").cast(pl.String).is_in(["WaAppAgent", "AppAgentRuntime"]))
        .group_by("instance")
        .agg(pl.col("first").min().alias("a_first"), pl.col("last").max().alias("a_last"))
    )
    others = spans.filter(
        ~pl.col("kind").cast(pl.String).is_in(["WaAppAgent", "AppAgentRuntime"])
    ).join(agents, on="instance")
    warnings = []
    for row in others.iter_rows(named=True):
        if row["first"] >= row["a_first"] and row["last"] <= row["a_last"]:
            continue
        outside = max(
            (row["a_first"] - row["first"]).total_seconds(),
            (row["last"] - row["a_last"]).total_seconds(),
        )
        sign = 1 if row["last"] > row["a_last"] else -1
        hours = round(outside / 3600)
        if hours == 0:
            continue
        for shift in range(hours, hours + 2):
            delta = shift * 3600 * sign
            first = row["first"].timestamp() - delta
            last = row["last"].timestamp() - delta
            slack = _SHIFT_TOLERANCE_SECONDS
            if (
                first >= row["a_first"].timestamp() - slack
                and last <= row["a_last"].timestamp() + slack
            ):
                warnings.append(
                    f"{row['file']}: its times fall outside the guest agent's for "
                    f"{row['instance']} but fit when shifted by {-sign * shift:+d} h; "
                    "it may be written in local time (see --tz)"
                )
                break
    return sorted(warnings)
