"""Start-up cycles as the report shows them: grouped once, runs of alike cycles collapsed.

A support engineer reads "cycles 4–90: failed at startup_tasks, 29–48 s each", not 87 nearly
identical rows. Consecutive cycles of an instance are *alike* when they end the same way (outcome,
last stage, failure event) after the same stages; each run of alike cycles is one row, and the
cycles inside it are listed only on demand (capped). The Gantt overview draws every cycle (the
last :data:`MAX_GANTT_CYCLES` of them) as one thin row, one SVG path per stage kind so that its
size grows by a few bytes per cycle.

All functions read the ``cycles`` and ``stage_times`` frames of :mod:`azdiag.timeline.build` once:
the cost is linear in cycles whatever the number of instances.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl

#: Cycles listed when the runs of one instance are expanded (the latest first get a place).
MAX_RUN_LIST = 400
#: Rows of the Gantt overview per instance (the latest cycles); the rest are counted.
MAX_GANTT_CYCLES = 300
#: Width of the Gantt overview's drawing (SVG user units; the SVG scales to the page).
GANTT_WIDTH = 1000
#: Height budget of the Gantt overview in pixels: rows get thinner as cycles get more numerous.
GANTT_HEIGHT = 360


def cycles_by_instance(cycles: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Each instance's cycles in order, as plain rows (one pass over the frame).

    Keys of a row: cycle (int), start and end (ISO 8601 UTC or None), seconds (float or None),
    outcome, last_stage, failure_event (str or None), observed_start (bool), reached (the ids of
    the stages reached, in order)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    columns = (
        "instance",
        "cycle",
        "start",
        "end",
        "seconds",
        "outcome",
        "last_stage",
        "failure_event",
        "observed_start",
        "stages",
    )
    table = cycles.sort("instance", "cycle").select(
        *columns[:2], iso_text("start"), iso_text("end"), *columns[4:]
    )
    for row in table.iter_rows(named=True):
        row["reached"] = row.pop("stages") or []
        out[row.pop("instance") or ""].append(row)
    return dict(out)


def iso_text(column: str) -> pl.Expr:
    """``column`` as ISO 8601 UTC text, as :func:`azdiag.common.times.iso` writes it (in polars, not
    one Python call per row)."""
    return (
        pl.col(column)
        .dt.convert_time_zone("UTC")
        .dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .alias(column)
    )


def stage_times_for(
    stage_times: pl.DataFrame, instances: set[str]
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Time spent in each stage, per (instance, cycle), for the given instances only.

    Each item: stage (id), entered (ISO 8601 UTC or None), seconds (float or None)."""
    out: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    if not instances:
        return {}
    mine = (
        stage_times.lazy()
        .filter(pl.col("instance").is_in(list(instances)))
        .sort("instance", "cycle", "order")
        .select("instance", "cycle", "stage", iso_text("entered"), "seconds")
        .collect()
    )
    for instance, cycle, stage, entered, seconds in mine.iter_rows():
        out[(instance, cycle)].append({"stage": stage, "entered": entered, "seconds": seconds})
    return dict(out)


def _shape(cycle: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two cycles alike: how they ended and which stages they went through."""
    return (
        cycle["outcome"],
        cycle["last_stage"],
        cycle["failure_event"],
        tuple(cycle["reached"]),
    )


def runs(cycles: list[dict[str, Any]], listed: int = MAX_RUN_LIST) -> list[dict[str, Any]]:
    """Consecutive alike cycles collapsed into runs, oldest first.

    Each run: first and last (cycle numbers), count, start (of its first cycle), end (of its
    last), outcome, last_stage, failure_event, seconds_min and seconds_max (None when no cycle
    of the run has a duration), label (one sentence), sample (its last cycle, with the stage
    bars) and cycles (each cycle's number, start and seconds; the latest ``listed`` cycles of
    the instance are listed, older runs may list none)."""
    out: list[dict[str, Any]] = []
    for cycle in cycles:
        if out and _shape(out[-1]["sample"]) == _shape(cycle):
            run = out[-1]
        else:
            run = {"members": [], "sample": cycle}
            out.append(run)
        run["members"].append(cycle)
        run["sample"] = cycle
    budget = listed
    collapsed: list[dict[str, Any]] = []
    for run in reversed(out):  # the latest cycles are the ones listed when the budget runs out
        collapsed.append(_run(run["members"], budget))
        budget = max(0, budget - len(run["members"]))
    return collapsed[::-1]


def _run(members: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    first, last = members[0], members[-1]
    durations = [c["seconds"] for c in members if c["seconds"] is not None]
    run = {
        "first": first["cycle"],
        "last": last["cycle"],
        "count": len(members),
        "start": first["start"],
        "end": last["end"],
        "outcome": last["outcome"],
        "last_stage": last["last_stage"],
        "failure_event": last["failure_event"],
        "seconds_min": min(durations) if durations else None,
        "seconds_max": max(durations) if durations else None,
        "sample": last,
        "cycles": [
            {"cycle": c["cycle"], "start": c["start"], "seconds": c["seconds"]}
            for c in (members[-budget:] if budget else [])
        ],
    }
    run["label"] = run_label(run)
    return run


def run_label(run: dict[str, Any]) -> str:
    """'cycles 4–90: failed at startup_tasks, 29–48 s each' (unknown parts said in words)."""
    which = f"cycle {run['first']}" if run["count"] == 1 else f"cycles {run['first']}–{run['last']}"
    stage = run["last_stage"] or "an unknown stage"
    outcome = run["outcome"] or "unknown outcome"
    low, high = run["seconds_min"], run["seconds_max"]
    if low is None or high is None:
        took = "duration unknown"
    elif run["count"] == 1 or round(low) == round(high):
        took = f"{low:.0f} s" + (" each" if run["count"] > 1 else "")
    else:
        took = f"{low:.0f}–{high:.0f} s each"
    return f"{which}: {outcome} at {stage}, {took}"


def gantt(
    cycles: list[dict[str, Any]],
    stages: dict[tuple[str, int], list[dict[str, Any]]],
    instance: str,
    rows: int = MAX_GANTT_CYCLES,
) -> dict[str, Any]:
    """The overview of every cycle of an instance (the latest ``rows`` of them).

    Returns width and height (SVG user units), row (height of one cycle's row), paths (one per
    stage id: ``{"stage", "d"}``, an SVG path of the rectangles of that stage in all cycles),
    shown and total (cycles drawn and cycles in all), longest (seconds of the longest drawn
    cycle, or None)."""
    drawn = cycles[-rows:]
    row = max(2.0, min(14.0, GANTT_HEIGHT / max(len(drawn), 1)))
    longest = max((c["seconds"] or 0 for c in drawn), default=0) or None
    scale = GANTT_WIDTH / (longest or 1)
    shapes: dict[str, list[str]] = defaultdict(list)
    for index, cycle in enumerate(drawn):
        y = index * row
        x = 0.0
        height = max(1.0, row - (1 if row >= 4 else 0))
        for item in stages.get((instance, cycle["cycle"]), []):
            width = max((item["seconds"] or 0) * scale, 1.5)
            shapes[item["stage"]].append(f"M{x:.1f} {y:.1f}h{width:.1f}v{height:.1f}h-{width:.1f}z")
            x += width
    return {
        "width": GANTT_WIDTH,
        "height": round(len(drawn) * row, 1),
        "row": row,
        "paths": [{"stage": stage, "d": "".join(parts)} for stage, parts in shapes.items()],
        "shown": len(drawn),
        "total": len(cycles),
        "longest": longest,
    }
