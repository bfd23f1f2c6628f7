"""The timeline reconstructor: parsed events -> classified events, cycles, states and gaps.

The events come ordered by (time, file, line) across all sources; here they get their semantic
``event`` kind, workflow ``stage`` and ``cycle``. Everything time-relative uses "now" = the
newest line of the collection, and the timeline says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from azdiag.cycles import (
    assign_cycles,
    build_cycles,
    cycle_spans,
    failure_expr,
    stage_timings,
)
from azdiag.formats import FormatSet
from azdiag.gaps import find_gaps
from azdiag.signatures import SignatureSet, classify, load_signatures
from azdiag.states import build_states
from azdiag.workflow import Workflow, load_workflow

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
    classified = assign_cycles(classified, workflow)
    spans = cycle_spans(classified)
    ends = instance_ends(spans)
    # the logs were taken at measured_now: a start-up cycle still open then was open until then
    # (states and gaps keep to the logs' own lines: a file's silence after it is not measured)
    cycle_ends = ends
    if measured_now is not None:
        cycle_ends = ends.with_columns(pl.max_horizontal("now", pl.lit(measured_now)))
    cycles = build_cycles(classified, details, workflow, cycle_ends, spans)
    warnings = shifted_clock_warnings(classified)
    if now is not None and measured_now is None:
        warnings.append(
            f"'now' is the newest line of the collection ({now:%Y-%m-%d %H:%M:%S} UTC); for "
            "what is still open in an instance, the newest line of that instance's files"
        )
    return Timeline(
        events=classified,
        details=details,
        cycles=cycles,
        stage_times=stage_timings(classified, cycles, workflow),
        states=build_states(classified, details, ends),
        gaps=find_gaps(classified, workflow, ends),
        now=now,
        warnings=warnings,
    )


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
