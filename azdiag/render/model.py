"""The data behind the human reports (HTML and Markdown), built once from the analysis.

Everything here is plain JSON-able data: the templates only lay it out, the page's script only
draws and filters it. Sizes are bounded whatever the collection: time bins, capped markers and
events, instances drawn in full only while they are few (the others are rows of the instance
summary), findings in full only up to a count (the others as table rows), capped inventory and
lists; each cap is said on the page, and the JSON report keeps everything. Per-instance data is
grouped in one pass over each frame, so the cost grows linearly with instances and cycles.

Longer than 500 lines on purpose: it is one schema, the one the templates and the page's script
read, and its caps are set against each other; split, a reader would chase it across modules.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import polars as pl

from azdiag import __version__
from azdiag.common.times import iso
from azdiag.diagnosis.engine import Diagnosis
from azdiag.diagnosis.findings import Finding, value_texts
from azdiag.diagnosis.verdict import OUTCOMES as VERDICT_OUTCOMES
from azdiag.knowledge.workflow import load_workflow
from azdiag.render.cycles import (
    gantt,
    latest_cycles,
    ordered_cycles,
    runs_by_instance,
    stage_times_for,
)
from azdiag.render.json import finding_dict
from azdiag.render.requests_view import traffic_chart
from azdiag.timeline.analysis import Analysis

#: Time bins per swimlane: the timeline's resolution at full zoom-out (fewer, down to
#: :data:`MIN_TIME_BINS`, when more than two instances share the page).
TIME_BINS = 1500
MIN_TIME_BINS = 300
#: Individual event markers kept per instance for the timeline (the earliest first) ...
MAX_MARKERS = 1500
#: ... and over all the instances drawn.
MAX_MARKERS_TOTAL = 4000
#: Rows of the events table embedded in the page; the rest is named, not lost.
MAX_EVENTS = 20_000
#: Characters of a message shown in the events table.
MESSAGE_CHARS = 240
#: Bytes of events table data embedded in the page at most (with the default row cap): with the
#: rest of the page this keeps the HTML under 5 MB whatever the collection.
EVENT_BYTES = 3_000_000
#: JSON bytes of an events row besides its message, instance and event (time, kind, level...).
ROW_OVERHEAD_BYTES = 70
#: Lines of context around each evidence line.
CONTEXT_LINES = 2
#: Events that say "still alive" rather than "something happened": binned, never listed first.
ROUTINE_EVENTS = (
    "heartbeat",
    "host_probe",
    "host_status",
    "status_check",
    "trace",
    "state",
    "http_minute",  # IIS minutes: the request chart shows them; only erroneous ones are listed
    "httperr_minute",
)
#: Instances drawn in full (workflow, cycles, timeline). Up to this many instances all are; above
#: it only those that are not healthy, the first ones of the summary's order.
MAX_DETAILED = 12
#: Findings shown with explanation, advice and evidence; the others are rows of a table ...
MAX_FULL_FINDINGS = 30
#: ... of at most this many rows.
MAX_FINDING_ROWS = 1000
#: Rows of the instance summary (instances that are not healthy come first).
MAX_SUMMARY_ROWS = 1000
#: Healthy instances named in the collapsed list.
MAX_HEALTHY_NAMES = 5000
#: Rows of the cycles section over all the instances drawn (each gets its share, at least 20):
#: runs of alike cycles, cycles listed inside the runs, and rows of the Gantt overviews.
RUN_ROWS_TOTAL = 300
LISTED_CYCLES_TOTAL = 400
#: Latest cycles kept per instance that is not drawn in full (the Markdown report lists them).
RECENT_CYCLES = 30
GANTT_ROWS_TOTAL = 1200
#: Files in the inventory table (files with an error, then the least parsed, first).
MAX_INVENTORY_ROWS = 400
#: Items of the skipped-files and warnings lists.
MAX_LISTED = 200

LEVELS = ("debug", "info", "warning", "error", "critical")
#: Order of instance outcomes in the summary: the ones that need a look first.
#: The outcomes, most concern first (the order of the instance summary).
OUTCOMES = tuple(reversed(VERDICT_OUTCOMES))


def build_model(
    analysis: Analysis,
    diagnosis: Diagnosis,
    *,
    max_events: int = MAX_EVENTS,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as JSON-able data.

    Keys: tool, generated_at, input, time_zone, window, overall, instances (every instance, in the
    verdicts' order; ``detailed`` says whether it is drawn in full; ``cycle_count`` counts its
    cycles, ``cycles`` holds the latest :data:`RECENT_CYCLES` of them, or the Gantt's share when
    drawn in full, with ``runs`` and ``run_count``), summary (instance rows in reading order,
    capped, with ``healthy``: the healthy instances' names), workflow, findings (in full,
    capped) and more_findings (the rest as rows), timeline, events, inventory, warnings and
    counts (totals for the table of contents)."""
    ingested = analysis.ingested
    start, end = ingested.window
    findings_of: dict[str | None, list[Finding]] = defaultdict(list)
    for finding in diagnosis.findings:
        findings_of[finding.instance].append(finding)
    instances = [_instance(v, findings_of[v.instance]) for v in diagnosis.verdicts]
    _cycles(instances, analysis)
    detailed = [inst for inst in instances if inst["detailed"]]
    full = diagnosis.findings[:MAX_FULL_FINDINGS]
    contexts = _contexts(full, analysis)
    inventory = _inventory(analysis)
    events = _events(analysis, max_events)
    # what a file lost or had repaired (lines cut at 64 KiB, times unreadable, NULs removed)
    # changes what the verdict could see: listed with the collection's own warnings
    # a file's note the collection repeats (the clock check's) is listed once
    warnings = list(
        dict.fromkeys(
            [*analysis.warnings, *(f"{f.path}: {w}" for f in ingested.files for w in f.warnings)]
        )
    )
    summary = _summary(instances)
    return {
        "tool": {"name": "azdiag", "version": __version__, "rules": len(diagnosis.rules)},
        "generated_at": iso(generated_at),
        "input": ingested.input,
        "time_zone": ingested.tz,
        "window": {"start": iso(start), "end": iso(end)},
        "collection_time": analysis.collection_time.to_dict(),
        "overall": diagnosis.overall.to_dict(),
        "instances": instances,
        "detailed": detailed,
        "summary": summary,
        "workflow": _workflow(),
        "findings": [_finding(f, contexts) for f in full],
        "more_findings": [
            _finding_row(f) for f in diagnosis.findings[MAX_FULL_FINDINGS:][:MAX_FINDING_ROWS]
        ],
        "timeline": _timeline(analysis, diagnosis, detailed, start, end),
        "traffic": traffic_chart(analysis),  # IIS logs: azdiag/render/requests_view.py
        "events": events,
        "inventory": inventory,
        "warnings": warnings[:MAX_LISTED],
        "counts": {
            "instances": len(instances),
            "detailed": len(detailed),
            "findings": len(diagnosis.findings),
            "cycles": analysis.cycles.height,
            "events": events["total"],
            "files": len(ingested.files),
            "warnings": len(warnings),
        },
    }


def _workflow() -> dict[str, Any]:
    workflow = load_workflow()
    return {
        "components": workflow.components,
        "steps": workflow.steps,
        "stages": [
            {
                "id": s.id,
                "order": s.order,
                "component": s.component,
                "step": s.step,
                "name": s.name,
                "label": s.label,
            }
            for s in workflow.stages.values()
        ],
    }


def _instance(verdict: Any, findings: list[Finding]) -> dict[str, Any]:
    """An instance's row; its cycles are added by :func:`_cycles`."""
    finding = verdict.finding
    return {
        "id": verdict.instance,
        "verdict": verdict.to_dict(),
        "outcome": verdict.outcome,
        "finding": _finding_head(finding),
        # "ok" only for a healthy instance: an inconclusive one without a finding says so
        "severity": finding.rule.severity
        if finding
        else ("ok" if verdict.outcome == "healthy" else verdict.outcome),
        "completeness": verdict.completeness.to_dict() if verdict.completeness else None,
        "cycles": [],
        "cycle_count": 0,
        "last_cycle": None,
        "failing_stage": finding.stage.get("id") if finding else None,
        "counts": {level: sum(f.rule.severity == level for f in findings) for level in LEVELS},
        "detailed": False,
    }


def _summary(instances: list[dict[str, Any]]) -> dict[str, Any]:
    """The instance summary: rows needing a look first (capped), healthy ones by name only."""
    looked = _needing_a_look(instances)
    healthy = [i["id"] for i in instances if i["outcome"] == "healthy"]
    few = len(instances) <= MAX_DETAILED
    rows = [*looked, *([i for i in instances if i["outcome"] == "healthy"] if few else [])]
    by_outcome: dict[str, int] = defaultdict(int)
    for inst in instances:
        by_outcome[inst["outcome"]] += 1
    return {
        "rows": rows[:MAX_SUMMARY_ROWS],
        "omitted": max(0, len(rows) - MAX_SUMMARY_ROWS),
        "healthy": [] if few else healthy[:MAX_HEALTHY_NAMES],
        "healthy_total": 0 if few else len(healthy),
        "by_outcome": [{"outcome": o, "count": by_outcome[o]} for o in OUTCOMES if by_outcome[o]],
    }


def _needing_a_look(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The instances that are not healthy, failing first (then in the verdicts' order)."""
    rank = {name: i for i, name in enumerate(OUTCOMES)}
    return sorted(
        (i for i in instances if i["outcome"] != "healthy"),
        key=lambda i: rank.get(i["outcome"], len(OUTCOMES)),
    )


def _cycles(instances: list[dict[str, Any]], analysis: Analysis) -> None:
    """Give every instance its cycle count and latest cycles, and the instances drawn in full
    (marked ``detailed``) their runs of alike cycles, a Gantt overview and stage bars.

    The cycles frame is ordered and cut into runs once (:mod:`azdiag.render.cycles`); stage
    times are read only for the cycles drawn with their stages (each shown run's sample, the
    Gantt's rows), in one pass over the stage table."""
    chosen = (
        instances if len(instances) <= MAX_DETAILED else _needing_a_look(instances)[:MAX_DETAILED]
    )
    gantt_rows = _share(GANTT_ROWS_TOTAL, len(chosen))
    ordered = ordered_cycles(analysis.cycles)
    names = {inst["id"] or "" for inst in chosen}
    latest = latest_cycles(ordered, dict.fromkeys(names, gantt_rows), RECENT_CYCLES)
    shown = _share(RUN_ROWS_TOTAL, len(chosen))
    runs_of = runs_by_instance(
        ordered, names, _share(LISTED_CYCLES_TOTAL, len(chosen)), latest=shown
    )
    for inst in instances:
        mine = latest.get(inst["id"] or "", {"count": 0, "longest": None, "cycles": []})
        inst["cycles"] = mine["cycles"]
        inst["cycle_count"] = mine["count"]
        inst["last_cycle"] = mine["cycles"][-1] if mine["cycles"] else None
        inst["longest"] = mine["longest"]
    for inst in chosen:
        mine = runs_of.get(inst["id"] or "", {"count": 0, "runs": []})
        inst["detailed"] = True
        inst["runs"] = mine["runs"]  # the latest RUN_ROWS_TOTAL / len(chosen)
        inst["run_count"] = mine["count"]
    # a run's sample and the same cycle among the latest are two rows: both get the bars
    drawn = [
        ((inst["id"] or "", cycle["cycle"]), cycle)
        for inst in chosen
        for cycle in [*(run["sample"] for run in inst["runs"]), *inst["cycles"][-gantt_rows:]]
    ]
    stages = stage_times_for(analysis.stage_times, {key for key, _ in drawn})
    for key, cycle in drawn:
        cycle["stages"] = stages.get(key, [])
    for inst in chosen:
        inst["gantt"] = gantt(
            inst["cycles"], stages, inst["id"] or "", gantt_rows, total=inst["cycle_count"]
        )


def _share(total: int, among: int) -> int:
    """One instance's part of a budget shared by ``among`` instances (at least 20)."""
    return max(20, total // max(1, among))


def _finding_head(finding: Finding | None) -> dict[str, Any] | None:
    if finding is None:
        return None
    return {
        "rule": finding.rule.id,
        "title": finding.rule.title,
        "count": finding.count,
        "cycles": len(finding.cycles),
        "first_seen": iso(finding.first_seen),
        "last_seen": iso(finding.last_seen),
        "advice": finding.advice,
    }


def _finding_row(finding: Finding) -> dict[str, Any]:
    """A finding beyond those shown in full: one row of the 'more findings' table."""
    return {
        "rule": finding.rule.id,
        "title": finding.rule.title,
        "severity": finding.rule.severity,
        "instance": finding.instance,
        "count": finding.count,
        "cycles": len(finding.cycles),
        "first_seen": iso(finding.first_seen),
    }


Context = dict[tuple[str, int], list[dict[str, Any]]]


def _finding(finding: Finding, contexts: Context) -> dict[str, Any]:
    """The JSON contract's finding, with the full stage and evidence lines in context."""
    rule = finding.rule
    return {
        **finding_dict(finding),
        "stage": finding.stage,
        "evidence": [_evidence(e, contexts) for e in finding.evidence],
        # the rule's Markdown and the values from the logs apart: the Markdown report escapes
        # each value for where it stands (after --redact, which reads the raw values)
        "fill": {
            "explanation": rule.explanation,
            "advice": rule.advice,
            "values": value_texts(finding.values),
        },
    }


def _contexts(findings: list[Finding], analysis: Analysis) -> Context:
    """The lines around every evidence line of ``findings``, read in one join over the events."""
    wanted = {
        (item["file"], item["line"])
        for finding in findings
        for item in finding.evidence
        if item.get("file") and item.get("line")
    }
    if not wanted:
        return {}
    span = CONTEXT_LINES * 4
    near = pl.DataFrame(
        [(f, n) for f, line in wanted for n in range(max(1, line - span), line + span + 1)],
        schema={"file": pl.String, "line": pl.UInt32},
        orient="row",
    ).unique()
    # the wanted files in the events' own file type (an enum): the join then compares codes,
    # and only the few rows it keeps are turned into text (not every event's message)
    file_type = analysis.events.schema["file"]
    near = near.with_columns(pl.col("file").cast(file_type, strict=False)).drop_nulls()
    rows = (
        analysis.events.lazy()
        .join(near.lazy(), on=["file", "line"], how="semi")
        .select(pl.col("file").cast(pl.String), "line", pl.col("message").cast(pl.String))
        .sort("file", "line")
        .collect()
    )
    by_file: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for file, line, text in rows.iter_rows():
        by_file[file].append((line, text or ""))
    out: Context = {}
    for file, line in wanted:
        lines = by_file.get(file, [])
        numbers = [n for n, _ in lines]
        if line not in numbers:
            continue
        at = numbers.index(line)
        out[(file, line)] = [
            {"line": n, "text": text[: MESSAGE_CHARS * 2], "hit": n == line}
            for n, text in lines[max(0, at - CONTEXT_LINES) : at + CONTEXT_LINES + 1]
        ]
    return out


def _evidence(item: dict[str, Any], contexts: Context) -> dict[str, Any]:
    return {
        "file": item.get("file"),
        "line": item.get("line"),
        "time": iso(item.get("time")),
        "text": item.get("text"),
        "context": contexts.get((item.get("file"), item.get("line")), []),  # type: ignore[arg-type]
    }


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _timeline(
    analysis: Analysis,
    diagnosis: Diagnosis,
    detailed: list[dict[str, Any]],
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """Swimlanes of the instances drawn in full, each frame grouped by instance once."""
    if start is None or end is None:
        return {"start": None, "end": None, "instances": [], "total": len(diagnosis.verdicts)}
    names = [inst["id"] for inst in detailed]
    wanted = pl.col("instance").is_in([n or "" for n in names])  # on the enum: no text per row
    t0, t1 = _ms(start) or 0, max((_ms(end) or 0), (_ms(start) or 0) + 1)
    bins = TIME_BINS if len(names) <= 2 else max(MIN_TIME_BINS, TIME_BINS * 2 // len(names))
    width = (t1 - t0) / bins
    events = analysis.events.lazy()
    if len(names) < len(diagnosis.verdicts):
        events = events.filter(wanted)
    # counted per level on the frame's own (categorical) columns, named and ranked afterwards:
    # the per-event work stays in one group-by, the text work is per bin
    counts = (
        events.group_by(
            "instance",
            "kind",
            ((pl.col("time").dt.epoch("ms") - t0) / width)
            .floor()
            .clip(0, bins - 1)
            .cast(pl.Int32)
            .alias("bin"),
            "level",
        )
        .agg(pl.len().alias("n"))
        .collect()
    )
    binned = (
        counts.lazy()
        .select(
            pl.col("instance").cast(pl.String),
            pl.col("kind").cast(pl.String),
            "bin",
            "n",
            pl.col("level")
            .cast(pl.String)
            .replace_strict({lvl: i for i, lvl in enumerate(LEVELS)}, default=1)
            .cast(pl.Int8)
            .alias("level"),
        )
        .group_by("instance", "kind", "bin")
        .agg(pl.col("n").sum(), pl.col("level").max().alias("worst"))
        .sort("instance", "kind", "bin")
        .collect()
    )
    lanes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (instance, kind), group in binned.group_by("instance", "kind", maintain_order=True):
        lanes[str(instance)].append(
            {"name": kind, "bins": group.select("bin", "n", "worst").rows()}
        )
    markers = _markers(analysis, wanted, min(MAX_MARKERS, _share(MAX_MARKERS_TOTAL, len(names))))
    ms = [pl.col("start").dt.epoch("ms"), pl.col("end").dt.epoch("ms")]
    states = _rows_by_instance(
        analysis.states.filter(wanted), *ms, "state", pl.col("detail").fill_null("")
    )
    planned = pl.col("planned").fill_null(False)
    gaps = _rows_by_instance(analysis.gaps.filter(wanted), *ms, "kind", planned, "seconds")
    pins: dict[str | None, list[list[Any]]] = defaultdict(list)
    for f in diagnosis.findings:
        pins[f.instance].append([_ms(f.first_seen), f.rule.severity, f.rule.title, f.rule.id])
    out = [
        {
            "id": name,
            "lanes": lanes.get(name or "", []),
            "markers": markers.get(name or "", []),
            "states": states.get(name or "", []),
            "gaps": gaps.get(name or "", []),
            "findings": pins.get(name, []),
        }
        for name in names
    ]
    return {
        "start": t0,
        "end": t1,
        "bins": bins,
        "instances": out,
        "total": len(diagnosis.verdicts),
    }


def _rows_by_instance(frame: pl.DataFrame, *columns: str | pl.Expr) -> dict[str, list[list[Any]]]:
    """The ``columns`` of every row of ``frame`` as lists, grouped by instance in one pass."""
    out: dict[str, list[list[Any]]] = defaultdict(list)
    for instance, *values in frame.select(pl.col("instance").cast(pl.String), *columns).iter_rows():
        out[instance or ""].append(values)
    return out


def _markers(analysis: Analysis, wanted: pl.Expr, cap: int) -> dict[str, list[list[Any]]]:
    """Notable events (not routine, or warnings and worse), ``cap`` per instance."""
    notable = (
        analysis.events.lazy()
        .filter(wanted)
        .filter(
            (pl.col("event").is_not_null() & ~pl.col("event").is_in(ROUTINE_EVENTS))
            | pl.col("level").is_in(["warning", "error", "critical"])
        )
        .filter(pl.col("event").is_null() | (pl.col("event") != "trace"))
        .filter(pl.int_range(pl.len()).over("instance") < cap)  # per instance
        .select(
            pl.col("instance").cast(pl.String),
            pl.col("time").dt.epoch("ms"),
            pl.col("kind").cast(pl.String),
            pl.col("event").cast(pl.String).fill_null(""),
            pl.col("level").cast(pl.String),
            pl.col("message").cast(pl.String).str.slice(0, 160),
        )
        .collect()
    )
    result: dict[str, list[list[Any]]] = defaultdict(list)
    for instance, *rest in notable.iter_rows():
        result[instance].append(rest)
    return result


def _events(analysis: Analysis, cap: int) -> dict[str, Any]:
    """The events table: notable records first when the collection is larger than the page.

    At most ``cap`` rows and, unless the caller asked for more rows than :data:`MAX_EVENTS`, at
    most about :data:`EVENT_BYTES` of JSON (long messages mean fewer rows): routine rows go first,
    then the latest ones."""
    events = analysis.events
    total = events.height
    routine = pl.col("event").is_in(ROUTINE_EVENTS).fill_null(False)
    chosen = events.lazy().with_row_index("_row")
    if total > cap:
        important = chosen.filter(~routine | pl.col("level").is_in(["warning", "error"]))
        picked = important.head(cap).collect()
        if picked.height < cap:
            rest = chosen.filter(routine & ~pl.col("level").is_in(["warning", "error"]))
            picked = pl.concat([picked, rest.head(cap - picked.height).collect()]).sort("_row")
    else:
        picked = chosen.collect()
    picked = _within_bytes(picked, routine, EVENT_BYTES if cap <= MAX_EVENTS else None)
    table = picked.select(
        pl.col("time").dt.epoch("ms"),
        pl.col("instance").cast(pl.String),
        pl.col("kind").cast(pl.String),
        pl.col("level").cast(pl.String).fill_null(""),
        pl.col("event").cast(pl.String).fill_null(""),
        pl.col("file").cast(pl.String),
        "line",
        pl.col("message").cast(pl.String).str.slice(0, MESSAGE_CHARS),
    )
    files = sorted(set(table["file"].to_list()))
    index = {name: i for i, name in enumerate(files)}
    rows = [
        [t, inst, kind, lvl, ev, index[f], line, msg]
        for t, inst, kind, lvl, ev, f, line, msg in table.iter_rows()
    ]
    return {
        "columns": ["time", "instance", "kind", "level", "event", "file", "line", "message"],
        "files": files,
        "rows": rows,
        "total": total,
        "shown": len(rows),
        "omitted": total - len(rows),
        # the page's size bound holds unless the caller asked for more rows than the default
        "bounded": cap <= MAX_EVENTS,
    }


def _within_bytes(picked: pl.DataFrame, routine: pl.Expr, budget: int | None) -> pl.DataFrame:
    """``picked`` cut to about ``budget`` bytes of page data (notable and earliest rows kept)."""
    if budget is None or picked.height == 0:
        return picked
    sizes = picked.select(
        "_row",
        routine.alias("_routine"),
        (
            pl.col("message").cast(pl.String).str.slice(0, MESSAGE_CHARS).str.len_bytes()
            + pl.col("instance").cast(pl.String).str.len_bytes().fill_null(0)
            + pl.col("event").cast(pl.String).str.len_bytes().fill_null(0)
            + ROW_OVERHEAD_BYTES
        )
        .fill_null(ROW_OVERHEAD_BYTES)
        .alias("_bytes"),
    )
    if sizes["_bytes"].sum() <= budget:
        return picked
    kept = (
        sizes.sort("_routine", "_row")
        .filter(pl.col("_bytes").cum_sum() <= budget)
        .get_column("_row")
    )
    return picked.filter(pl.col("_row").is_in(kept.implode()))


def _inventory(analysis: Analysis) -> dict[str, Any]:
    """The files read (capped: those with an error, then the least parsed, first), and the
    files listed and skipped (capped); ``files_total`` and ``skipped_total`` count all,
    ``lines_total`` and ``unparsed_total`` (lines not understood) add up every file read."""
    ingested = analysis.ingested
    files = ingested.files
    if len(files) > MAX_INVENTORY_ROWS:
        order = sorted(
            range(len(files)), key=lambda i: (files[i].error is None, files[i].parsed_ratio, i)
        )
        files = [files[i] for i in sorted(order[:MAX_INVENTORY_ROWS])]
    skipped = ingested.collection.skipped
    return {
        "files": [
            {
                "path": f.path,
                "kind": f.kind,
                "instance": f.instance,
                "encoding": f.encoding,
                "lines": f.lines,
                "records": f.records,
                "unparsed_lines": f.unparsed_lines,
                "parsed_ratio": f.parsed_ratio,
                "time_ratio": f.time_ratio,
                "timed_records": f.timed_records,
                "inherited_time_records": f.inherited_time_records,
                "untimed_records": f.untimed_records,
                "first": iso(f.first),
                "last": iso(f.last),
                "unparsed": [{"line": n, "text": t} for n, t in f.unparsed_examples[:3]],
                "warnings": f.warnings,
                "error": f.error,
            }
            for f in files
        ],
        "files_total": len(ingested.files),
        "lines_total": sum(f.lines for f in ingested.files),
        "unparsed_total": sum(f.unparsed_lines for f in ingested.files),
        "skipped": [
            {"path": s.display, "category": s.category, "reason": s.reason}
            for s in skipped[:MAX_LISTED]
        ],
        "skipped_total": len(skipped),
    }
