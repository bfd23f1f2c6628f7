"""The triage summaries: summary.csv, summary.jsonl and index.html, in collection-name order."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from azdiag.render.sanitise import csv_cell
from azdiag.triage.batch import Result, write_atomic

_LEVELS = ("critical", "error", "warning", "info")
CSV_COLUMNS = (
    "collection",
    "path",
    "instances",
    "outcome",
    "severity",
    "scenario",
    "stage",
    "verdict",
    "top_finding",
    "critical",
    "error",
    "warning",
    "info",
    "cycles",
    "start",
    "end",
    "files",
    "lines",
    "parsed_ratio",
    "failed",
)


def row(result: Result) -> dict[str, Any]:
    """The flat summary row of one collection (CSV and the index page)."""
    verdict = result.verdict or {}
    stage = verdict.get("stage") or {}
    return {
        "collection": result.name,
        "path": result.path,
        "instances": " ".join(result.instances),
        "outcome": result.outcome or "",
        "severity": _severity(result),
        "scenario": verdict.get("scenario") or "",
        "stage": f"{stage['component']}/{stage['step']}" if stage else "",
        "verdict": verdict.get("summary") or "",
        "top_finding": result.top_finding or "",
        **{
            level: result.findings.get(level, 0)
            for level in ("critical", "error", "warning", "info")
        },
        "cycles": result.cycles,
        "start": (result.window or {}).get("start") or "",
        "end": (result.window or {}).get("end") or "",
        "files": result.files,
        "lines": result.lines,
        "parsed_ratio": "" if result.parsed_ratio is None else result.parsed_ratio,
        "failed": result.error or "",
    }


def _severity(result: Result) -> str:
    """The severity of the collection's top finding; without one, ``ok`` only when its outcome
    is healthy, else the outcome itself (``inconclusive``: no known failure explains what the
    logs show, which is no all-clear); empty when it could not be analysed."""
    if result.severity or result.error:
        return result.severity or ""
    return "ok" if result.outcome in (None, "healthy") else result.outcome


def groups(results: list[Result]) -> list[dict[str, Any]]:
    """'12 of 40 collections: S01 at G/7', most frequent first."""
    counted = Counter(
        (row(r)["scenario"] or _no_scenario(r), row(r)["stage"]) for r in results if not r.error
    )
    failed = sum(1 for r in results if r.error)
    out = [
        {"scenario": scenario, "stage": stage, "count": count}
        for (scenario, stage), count in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if failed:
        out.append({"scenario": "not analysed", "stage": "", "count": failed})
    return out


def _no_scenario(result: Result) -> str:
    """The group of a collection without a scenario: inconclusive ones apart from the rest."""
    return "inconclusive" if result.outcome == "inconclusive" else "no finding"


def write_summaries(out: Path, results: list[Result]) -> None:
    results = sorted(results, key=lambda r: r.name)
    rows = [row(r) for r in results]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    # a folder named "=cmd|' /C calc'!A0" must reach a spreadsheet as text, not as a formula
    writer.writerows({key: csv_cell(value) for key, value in r.items()} for r in rows)
    write_atomic(out / "summary.csv", buffer.getvalue())
    write_atomic(out / "summary.jsonl", "".join(json.dumps(r.to_dict()) + "\n" for r in results))
    write_atomic(out / "index.html", _index_html(results, rows))


def _index_html(results: list[Result], rows: list[dict[str, Any]]) -> str:
    from azdiag import __version__
    from azdiag.render.html import render_page

    for item, result in zip(rows, results, strict=True):
        item["report"] = (
            f"{result.name}/{result.reports['html']}" if "html" in result.reports else None
        )
    return render_page(
        "triage.html.j2",
        {"rows": rows, "groups": groups(results), "total": len(results), "version": __version__},
        script="triage.js",
    )
