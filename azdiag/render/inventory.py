"""The collection inventory: what files a collection holds and how well each was understood.

Shared by ``azdiag formats check`` (text and JSON) and, later, the reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from azdiag.common.times import iso

if TYPE_CHECKING:
    from azdiag.parse.ingest import Ingested


def inventory_dict(ingested: Ingested) -> dict[str, Any]:
    """A JSON-ready inventory, ordered deterministically."""
    start, end = ingested.window
    return {
        "input": ingested.input,
        "time_zone": ingested.tz,
        "instances": list(ingested.collection.instances),
        "window": {"start": iso(start), "end": iso(end)},
        "files": [report.to_dict() for report in ingested.files],
        "skipped": [
            {"path": s.display, "category": s.category, "reason": s.reason}
            for s in ingested.collection.skipped
        ],
        "warnings": list(ingested.warnings),
        "totals": _totals(ingested),
    }


def _totals(ingested: Ingested) -> dict[str, Any]:
    lines = sum(f.lines for f in ingested.files)
    unparsed = sum(f.unparsed_lines for f in ingested.files)
    files = ingested.files
    return {
        "files": len(files),
        "skipped": len(ingested.collection.skipped),
        "lines": lines,
        "records": sum(f.records for f in files),
        "unparsed_lines": unparsed,
        "timed_records": sum(f.timed_records for f in files),
        "inherited_time_records": sum(f.inherited_time_records for f in files),
        "untimed_records": sum(f.untimed_records for f in files),
        "parsed_ratio": round((lines - unparsed) / lines, 6) if lines else 0.0,
        "events": ingested.events.height,
    }


def inventory_text(ingested: Ingested, *, examples: int = 3) -> str:
    """A plain-text inventory for terminals and tickets."""
    rows = [
        (
            "file",
            "kind",
            "instance",
            "encoding",
            "lines",
            "records",
            "parsed",
            "timed",
            "first",
            "last",
        )
    ]
    for f in ingested.files:
        rows.append(
            (
                f.path,
                f.kind,
                f.instance,
                f.encoding or "-",
                str(f.lines),
                str(f.records),
                "ERROR" if f.error else f"{f.parsed_ratio * 100:.1f}%",
                "-" if f.error else f"{f.time_ratio * 100:.1f}%",
                _short(f.first),
                _short(f.last),
            )
        )
    out = [_table(rows)]
    totals = _totals(ingested)
    out.append(
        f"\n{totals['files']} file(s), {totals['lines']} line(s), {totals['records']} record(s), "
        f"{totals['parsed_ratio'] * 100:.2f}% of lines understood; "
        f"{totals['timed_records']} record(s) timed from their own line, "
        f"{totals['inherited_time_records']} from the record above, "
        f"{totals['untimed_records']} without a time; time zone {ingested.tz}"
    )
    for f in ingested.files:
        if f.warnings:
            out.append(f"\nwarnings for {f.path}:")
            out += [f"  {w}" for w in f.warnings]
        if f.dateutil_times:
            out.append(f"  {f.dateutil_times} time(s) of no fixed format read by python-dateutil")
        if f.unparsed_examples and examples:
            out.append(f"\nnot understood in {f.path} ({f.unparsed_lines} line(s)):")
            out += [f"  {n:>7}: {text[:160]}" for n, text in f.unparsed_examples[:examples]]
    if ingested.collection.skipped:
        out.append("\nskipped (not parsed):")
        out += [f"  {s.display}  [{s.category}] {s.reason}" for s in ingested.collection.skipped]
    if ingested.warnings:
        out.append("\nwarnings:")
        out += [f"  {w}" for w in ingested.warnings]
    return "\n".join(out)


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _short(value: Any) -> str:
    return "no time" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")
