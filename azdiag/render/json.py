"""The JSON report: a versioned, documented contract (docs/report-json.md).

Identical input gives identical bytes, apart from ``generated_at``, which ``timestamp=False``
leaves out. Keys are written in a fixed order and lists are sorted deterministically.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl

from azdiag import __version__
from azdiag.collect.instances import role_of_instance
from azdiag.common.times import iso
from azdiag.diagnosis.engine import Diagnosis
from azdiag.diagnosis.findings import Finding
from azdiag.render.requests_view import event_records, traffic
from azdiag.timeline.analysis import Analysis

SCHEMA_VERSION = 2


def report_dict(analysis: Analysis, diagnosis: Diagnosis, *, timestamp: bool = True) -> dict:
    ingested = analysis.ingested
    start, end = ingested.window
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "azdiag", "version": __version__, "rules": len(diagnosis.rules)},
    }
    if timestamp:
        report["generated_at"] = iso(datetime.now(UTC))
    report["collection"] = {
        "path": ingested.input,
        "time_zone": ingested.tz,
        "files": [_file(f) for f in ingested.files],
        "skipped": [
            {"path": s.display, "category": s.category, "reason": s.reason}
            for s in ingested.collection.skipped
        ],
        "window": {"start": iso(start), "end": iso(end)},
        "time": analysis.collection_time.to_dict(),
        "warnings": list(analysis.warnings),
    }
    cycles_of = _cycles_by_instance(analysis.cycles)
    report["instances"] = [
        {
            "id": verdict.instance,
            "role": role_of_instance(verdict.instance or "") or None,
            "outcome": verdict.outcome,
            "completeness": verdict.completeness.to_dict() if verdict.completeness else None,
            "cycles": cycles_of.get(verdict.instance, []) if verdict.instance else [],
            "verdict": verdict.to_dict(),
        }
        for verdict in diagnosis.verdicts
    ]
    report["findings"] = [finding_dict(f) for f in diagnosis.findings]
    # event and IIS logs (azdiag/render/requests_view.py): empty lists when none were collected
    report["event_records"] = event_records(analysis)
    report["traffic"] = traffic(analysis)
    report["verdict"] = diagnosis.overall.to_dict()
    return report


def report_json(analysis: Analysis, diagnosis: Diagnosis, *, timestamp: bool = True) -> str:
    return json.dumps(report_dict(analysis, diagnosis, timestamp=timestamp), indent=2) + "\n"


def _file(f: Any) -> dict[str, Any]:
    return {
        "path": f.path,
        "kind": f.kind,
        "instance": f.instance,
        "encoding": f.encoding,
        "lines": f.lines,
        "parsed_lines": f.parsed_lines,
        "records": f.records,
        "unparsed_lines": f.unparsed_lines,
        "unparsed_records": f.unparsed_records,
        "glued_records": f.glued_records,
        "timed_records": f.timed_records,
        "inherited_time_records": f.inherited_time_records,
        "untimed_records": f.untimed_records,
        "truncated_lines": f.truncated_lines,
        "nul_bytes": f.nul_bytes,
        "nul_runs": f.nul_runs,
        "cr_line_ends": f.cr_line_ends,
        "first": iso(f.first),
        "last": iso(f.last),
        "error": f.error,
        "empty": f.empty,
    }


def _cycles_by_instance(cycles: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Every instance's cycles in order, grouped in one pass over the frame (not one filter of
    the whole frame per instance)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in cycles.sort("instance", "cycle").iter_rows(named=True):
        out.setdefault(row["instance"], []).append(
            {
                "cycle": row["cycle"],
                "start": iso(row["start"]),
                "end": iso(row["end"]),
                "observed_start": row["observed_start"],
                "opened_by": row["opened_by"],
                "stages": list(row["stages"] or []),
                "last_stage": row["last_stage"],
                "outcome": row["outcome"],
                "ready_at": iso(row["ready_at"]),
                "failure_event": row["failure_event"],
                "failure_at": iso(row["failure_at"]),
                "seconds": row["seconds"],
            }
        )
    return out


def finding_dict(finding: Finding) -> dict[str, Any]:
    """One finding as in the JSON contract (the HTML model adds context to the evidence)."""
    rule = finding.rule
    return {
        "rule": rule.id,
        "scenario": rule.scenario,
        "title": rule.title,
        "severity": rule.severity,
        "confidence": rule.confidence,
        "instance": finding.instance,
        "stage": {key: finding.stage[key] for key in ("component", "step", "name")},
        "first_seen": iso(finding.first_seen),
        "last_seen": iso(finding.last_seen),
        "count": finding.count,
        "cycles": finding.cycles,
        "evidence": [
            {"file": e["file"], "line": e["line"], "time": iso(e["time"]), "text": e["text"]}
            for e in finding.evidence
        ],
        "absent": finding.absent,
        "templates": [
            {
                "template": g["template"],
                "records": g["records"],
                "first": iso(g["first"]),
                "last": iso(g["last"]),
                "stage": g["stage"],
                "lines": g["lines"],
            }
            for g in finding.groups
        ],
        "explanation": finding.explanation,
        "advice": finding.advice,
        "documented": rule.documented,
        "references": list(rule.references),
    }
