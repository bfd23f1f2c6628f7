"""The data behind the human reports (HTML and Markdown), built once from the analysis.

Everything here is plain JSON-able data: the templates only lay it out, the page's script only
draws and filters it. Sizes are bounded whatever the collection (time bins, capped markers and
events), so a report of a million-line collection stays a few megabytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from azdiag import __version__
from azdiag.analysis import Analysis
from azdiag.diagnosis import Diagnosis
from azdiag.findings import Finding
from azdiag.report_json import finding_dict
from azdiag.requests_view import traffic_chart
from azdiag.times import iso
from azdiag.workflow import load_workflow

#: Time bins per swimlane: the timeline's resolution at full zoom-out.
TIME_BINS = 1500
#: Individual event markers kept per instance for the timeline (the earliest first).
MAX_MARKERS = 1500
#: Rows of the events table embedded in the page; the rest is named, not lost.
MAX_EVENTS = 20_000
#: Characters of a message shown in the events table.
MESSAGE_CHARS = 240
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

LEVELS = ("debug", "info", "warning", "error", "critical")


def build_model(
    analysis: Analysis,
    diagnosis: Diagnosis,
    *,
    max_events: int = MAX_EVENTS,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as JSON-able data."""
    ingested = analysis.ingested
    start, end = ingested.window
    return {
        "tool": {"name": "azdiag", "version": __version__, "rules": len(diagnosis.rules)},
        "generated_at": iso(generated_at),
        "input": ingested.input,
        "time_zone": ingested.tz,
        "window": {"start": iso(start), "end": iso(end)},
        "collection_time": analysis.collection_time.to_dict(),
        "overall": diagnosis.overall.to_dict(),
        "instances": [_instance(v, diagnosis, analysis) for v in diagnosis.verdicts],
        "workflow": _workflow(),
        "findings": [_finding(f, analysis) for f in diagnosis.findings],
        "timeline": _timeline(analysis, diagnosis, start, end),
        "traffic": traffic_chart(analysis),  # IIS logs: azdiag/requests_view.py
        "events": _events(analysis, max_events),
        "inventory": _inventory(analysis),
        "warnings": list(analysis.warnings),
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


def _instance(verdict: Any, diagnosis: Diagnosis, analysis: Analysis) -> dict[str, Any]:
    cycles = analysis.cycles.filter(pl.col("instance") == verdict.instance).sort("cycle")
    rows = []
    for row in cycles.iter_rows(named=True):
        times = analysis.stage_times.filter(
            (pl.col("instance") == verdict.instance) & (pl.col("cycle") == row["cycle"])
        ).sort("order")
        rows.append(
            {
                "cycle": row["cycle"],
                "start": iso(row["start"]),
                "end": iso(row["end"]),
                "seconds": row["seconds"],
                "outcome": row["outcome"],
                "last_stage": row["last_stage"],
                "observed_start": row["observed_start"],
                "failure_event": row["failure_event"],
                "stages": [
                    {"stage": t["stage"], "entered": iso(t["entered"]), "seconds": t["seconds"]}
                    for t in times.iter_rows(named=True)
                ],
            }
        )
    findings = [f for f in diagnosis.findings if f.instance == verdict.instance]
    last = rows[-1] if rows else None
    return {
        "id": verdict.instance,
        "verdict": verdict.to_dict(),
        "finding": _finding_head(verdict.finding),
        # "ok" only for a healthy instance: an inconclusive one without a finding says so
        "severity": verdict.finding.rule.severity
        if verdict.finding
        else ("ok" if verdict.outcome == "healthy" else verdict.outcome),
        "outcome": verdict.outcome,
        "completeness": verdict.completeness.to_dict() if verdict.completeness else None,
        "cycles": rows,
        "last_cycle": last,
        "failing_stage": verdict.finding.stage.get("id") if verdict.finding else None,
        "counts": {level: sum(f.rule.severity == level for f in findings) for level in LEVELS},
    }


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


def _finding(finding: Finding, analysis: Analysis) -> dict[str, Any]:
    """The JSON contract's finding, with the full stage and evidence lines in context."""
    return {
        **finding_dict(finding),
        "stage": finding.stage,
        "evidence": [_evidence(e, analysis) for e in finding.evidence],
    }


def _evidence(item: dict[str, Any], analysis: Analysis) -> dict[str, Any]:
    context: list[dict[str, Any]] = []
    if item.get("file") and item.get("line"):
        events = analysis.events
        near = (
            events.lazy()
            .filter(
                (pl.col("file") == item["file"])
                & (pl.col("line") >= item["line"] - CONTEXT_LINES * 4)
                & (pl.col("line") <= item["line"] + CONTEXT_LINES * 4)
            )
            .select("line", pl.col("message").cast(pl.String))
            .sort("line")
            .collect()
        )
        lines = near["line"].to_list()
        if item["line"] in lines:
            at = lines.index(item["line"])
            window = near[max(0, at - CONTEXT_LINES) : at + CONTEXT_LINES + 1]
            context = [
                {"line": n, "text": text[: MESSAGE_CHARS * 2], "hit": n == item["line"]}
                for n, text in window.iter_rows()
            ]
    return {
        "file": item.get("file"),
        "line": item.get("line"),
        "time": iso(item.get("time")),
        "text": item.get("text"),
        "context": context,
    }


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _timeline(
    analysis: Analysis, diagnosis: Diagnosis, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    if start is None or end is None:
        return {"start": None, "end": None, "instances": []}
    t0, t1 = _ms(start) or 0, max((_ms(end) or 0), (_ms(start) or 0) + 1)
    width = (t1 - t0) / TIME_BINS
    events = analysis.events
    binned = (
        events.lazy()
        .select(
            pl.col("instance").cast(pl.String),
            pl.col("kind").cast(pl.String),
            ((pl.col("time").dt.epoch("ms") - t0) / width)
            .floor()
            .clip(0, TIME_BINS - 1)
            .cast(pl.Int32)
            .alias("bin"),
            pl.col("level")
            .cast(pl.String)
            .replace_strict({lvl: i for i, lvl in enumerate(LEVELS)}, default=1)
            .cast(pl.Int8)
            .alias("level"),
        )
        .group_by("instance", "kind", "bin")
        .agg(pl.len().alias("n"), pl.col("level").max().alias("worst"))
        .sort("instance", "kind", "bin")
        .collect()
    )
    markers = _markers(analysis)
    out = []
    for instance in [v.instance for v in diagnosis.verdicts]:
        mine = binned.filter(pl.col("instance") == instance)
        lanes = [
            {"name": kind, "bins": group.select("bin", "n", "worst").rows()}
            for (kind,), group in mine.group_by("kind", maintain_order=True)
        ]
        out.append(
            {
                "id": instance,
                "lanes": lanes,
                "markers": markers.get(instance or "", []),
                "states": [
                    [_ms(r["start"]), _ms(r["end"]), r["state"], r["detail"] or ""]
                    for r in analysis.states.filter(pl.col("instance") == instance).iter_rows(
                        named=True
                    )
                ],
                "gaps": [
                    [_ms(r["start"]), _ms(r["end"]), r["kind"], bool(r["planned"]), r["seconds"]]
                    for r in analysis.gaps.filter(pl.col("instance") == instance).iter_rows(
                        named=True
                    )
                ],
                "findings": [
                    [_ms(f.first_seen), f.rule.severity, f.rule.title, f.rule.id]
                    for f in diagnosis.findings
                    if f.instance == instance
                ],
                "cycles": [
                    [_ms(r["start"]), _ms(r["end"]), r["outcome"], r["last_stage"], r["cycle"]]
                    for r in analysis.cycles.filter(pl.col("instance") == instance).iter_rows(
                        named=True
                    )
                ],
            }
        )
    return {"start": t0, "end": t1, "bins": TIME_BINS, "instances": out}


def _markers(analysis: Analysis) -> dict[str, list[list[Any]]]:
    """Notable events (not routine, or warnings and worse), capped, per instance."""
    events = analysis.events
    notable = (
        events.lazy()
        .filter(
            (pl.col("event").is_not_null() & ~pl.col("event").is_in(ROUTINE_EVENTS))
            | pl.col("level").is_in(["warning", "error", "critical"])
        )
        .filter(pl.col("event").is_null() | (pl.col("event") != "trace"))
        .filter(pl.int_range(pl.len()).over("instance") < MAX_MARKERS)  # per instance
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
    result: dict[str, list[list[Any]]] = {}
    for instance, *rest in notable.iter_rows():
        result.setdefault(instance, []).append(rest)
    return result


def _events(analysis: Analysis, cap: int) -> dict[str, Any]:
    """The events table: notable records first when the collection is larger than the page."""
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
    }


def _inventory(analysis: Analysis) -> dict[str, Any]:
    ingested = analysis.ingested
    return {
        "files": [
            {
                "path": f.path,
                "kind": f.kind,
                "instance": f.instance,
                "encoding": f.encoding,
                "lines": f.lines,
                "records": f.records,
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
            for f in ingested.files
        ],
        "skipped": [
            {"path": s.display, "category": s.category, "reason": s.reason}
            for s in ingested.collection.skipped
        ],
    }
