"""Start-up cycles as the report shows them: grouped once, runs of alike cycles collapsed.

A support engineer reads "cycles 4–90: failed at startup_tasks, 29–48 s each", not 87 nearly
identical rows. Consecutive cycles of an instance are *alike* when they end the same way (outcome,
last stage, failure event) after the same stages; each run of alike cycles is one row, and the
cycles inside it are listed only on demand (capped). The Gantt overview draws every cycle (the
last :data:`MAX_GANTT_CYCLES` of them) as one thin row, one SVG path per stage kind so that its
size grows by a few bytes per cycle.

The grouping is done in polars, in one pass over the ``cycles`` and ``stage_times`` frames of
:mod:`azdiag.timeline.build`: Python only sees rows the page shows (runs, the latest cycles, the
cycles drawn with their stages), so a month of restarts costs the page what a day does.
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
#: What makes two consecutive cycles alike: how they ended and which stages they went through.
SHAPE = ("outcome", "last_stage", "failure_event", "stages")


def ordered_cycles(cycles: pl.DataFrame) -> pl.DataFrame:
    """The ``cycles`` frame by instance and number (an instance without a name as ``""``), with
    ``_from_end`` (1 for an instance's last cycle) and ``_run`` (the same number for consecutive
    alike cycles of one instance): what :func:`latest_cycles` and :func:`runs_by_instance`
    read."""
    no_stages = pl.lit([], dtype=pl.List(pl.String))
    changed = [pl.col(c).ne_missing(pl.col(c).shift(1)) for c in ("instance", *SHAPE)]
    return (
        cycles.lazy()
        .with_columns(pl.col("instance").fill_null(""), pl.col("stages").fill_null(no_stages))
        .sort("instance", "cycle")
        .with_columns(
            (pl.len() - pl.int_range(pl.len())).over("instance").alias("_from_end"),
            pl.any_horizontal(pl.int_range(pl.len()) == 0, *changed).cum_sum().alias("_run"),
        )
        .collect()
    )


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The report's cycle rows of ``frame`` (ordered rows of the cycles frame): cycle (int),
    start and end (ISO 8601 UTC or None), seconds (float or None), outcome, last_stage,
    failure_event (str or None), observed_start (bool), reached (the ids of the stages reached,
    in order)."""
    return frame.select(
        "cycle",
        iso_text("start"),
        iso_text("end"),
        "seconds",
        "outcome",
        "last_stage",
        "failure_event",
        "observed_start",
        pl.col("stages").alias("reached"),
    ).to_dicts()


def latest_cycles(
    ordered: pl.DataFrame, keep: dict[str, int], default: int
) -> dict[str, dict[str, Any]]:
    """Per instance: ``count`` (all its cycles), ``longest`` (seconds of its longest cycle, or
    None) and ``cycles`` (its latest ``keep[instance]`` cycles, else ``default``, oldest first,
    as rows of :func:`_rows`), from the frame of :func:`ordered_cycles`."""
    wanted = pl.DataFrame(
        {"instance": list(keep), "_keep": list(keep.values())},
        schema={"instance": pl.String, "_keep": pl.Int64},
    )
    totals = ordered.group_by("instance", maintain_order=True).agg(
        pl.len().alias("count"), pl.col("seconds").max().alias("longest")
    )
    latest = ordered.join(wanted, on="instance", how="left", maintain_order="left").filter(
        pl.col("_from_end") <= pl.col("_keep").fill_null(default)
    )
    out = {
        name: {"count": count, "longest": longest or None, "cycles": []}
        for name, count, longest in totals.iter_rows()
    }
    for (name,), frame in latest.partition_by("instance", as_dict=True).items():
        out[str(name)]["cycles"] = _rows(frame)
    return out


def runs_by_instance(
    ordered: pl.DataFrame,
    instances: set[str],
    listed: int = MAX_RUN_LIST,
    latest: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Consecutive alike cycles of each of ``instances`` collapsed into runs.

    Per instance: ``count`` (its runs) and ``runs``, oldest first (only the ``latest`` ones when
    given: cycles that alternate give many runs, and the page shows the latest). Each run:
    first and last (cycle numbers), count, start (of its first cycle), end (of its last),
    outcome, last_stage, failure_event, seconds_min and seconds_max (None when no cycle of the
    run has a duration), label (one sentence), sample (its last cycle, a row of :func:`_rows`)
    and cycles (each cycle's number, start and seconds; the latest ``listed`` cycles of the
    instance are listed, older runs list fewer or none). ``ordered`` is the frame of
    :func:`ordered_cycles`."""
    if not instances:
        return {}
    mine = ordered.lazy().filter(pl.col("instance").is_in(list(instances)))
    grouped = (
        mine.group_by("_run", maintain_order=True)
        .agg(
            pl.col("instance").first(),
            pl.col("cycle").first().alias("first"),
            pl.col("cycle").last().alias("last"),
            pl.len().alias("count"),
            pl.col("start").first().alias("run_start"),
            pl.col("end").last().alias("run_end"),
            pl.col("seconds").min().alias("seconds_min"),
            pl.col("seconds").max().alias("seconds_max"),
            pl.all().exclude("instance", "_run", "_from_end").last(),  # the last cycle: sample
        )
        .with_columns(
            pl.len().over("instance").alias("_runs"),
            (pl.len() - pl.int_range(pl.len())).over("instance").alias("_from_end"),
        )
        .filter(pl.col("_from_end") <= (latest if latest is not None else pl.col("_runs")))
        .collect()
    )
    members: dict[int, list[dict[str, Any]]] = defaultdict(list)
    listed_rows = mine.filter(pl.col("_from_end") <= listed).select(
        "_run", "cycle", iso_text("start"), "seconds"
    )
    for run, cycle, start, seconds in listed_rows.collect().iter_rows():
        members[run].append({"cycle": cycle, "start": start, "seconds": seconds})
    heads = grouped.select(
        "_run",
        "_runs",
        "instance",
        "first",
        "last",
        "count",
        iso_text("run_start").alias("start"),
        iso_text("run_end").alias("end"),
        "seconds_min",
        "seconds_max",
    )
    out: dict[str, dict[str, Any]] = {}
    for head, sample in zip(heads.iter_rows(named=True), _rows(grouped), strict=True):
        number, total, instance = head.pop("_run"), head.pop("_runs"), head.pop("instance")
        run = {
            **head,
            "outcome": sample["outcome"],
            "last_stage": sample["last_stage"],
            "failure_event": sample["failure_event"],
            "sample": sample,
            "cycles": members.get(number, []),
        }
        run["label"] = run_label(run)
        out.setdefault(instance, {"count": total, "runs": []})["runs"].append(run)
    return out


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
    stage_times: pl.DataFrame, cycles: set[tuple[str, int]]
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Time spent in each stage, per (instance, cycle), for the given cycles only (a semi join:
    the cost is one pass over the stage table, and Python sees only the rows asked for).

    Each item: stage (id), entered (ISO 8601 UTC or None), seconds (float or None)."""
    out: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    if not cycles:
        return {}
    wanted = pl.DataFrame(
        list(cycles), schema={"instance": pl.String, "cycle": pl.UInt32}, orient="row"
    )
    mine = (
        stage_times.lazy()
        .join(wanted.lazy(), on=["instance", "cycle"], how="semi")
        .sort("instance", "cycle", "order")
        .select("instance", "cycle", "stage", iso_text("entered"), "seconds")
        .collect()
    )
    for instance, cycle, stage, entered, seconds in mine.iter_rows():
        out[(instance, cycle)].append({"stage": stage, "entered": entered, "seconds": seconds})
    return dict(out)


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
    total: int | None = None,
) -> dict[str, Any]:
    """The overview of every cycle of an instance (the latest ``rows`` of them; ``cycles`` may
    hold only the latest ones, ``total`` then counts them all).

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
        "total": len(cycles) if total is None else total,
        "longest": longest,
    }
