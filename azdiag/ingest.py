"""Collection -> one events table: discover the files, decode and parse each, merge, order.

One bad file never stops the run: its error is recorded in its inventory row and the other files
are still read. The events table is ordered stably by (time, file, line) so identical input gives
an identical table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from azdiag.collect import Collection, Limits, LogSource, discover
from azdiag.formats import FormatSet, load_formats
from azdiag.parse import FileParse, parse_text
from azdiag.times import iso

#: Columns of the events table, in order.
EVENT_COLUMNS = (
    "time",
    "instance",
    "kind",
    "file",
    "line",
    "lines",
    "level",
    "level_raw",
    "pid",
    "tid",
    "source",
    "message",
    "parsed",
    "time_filled",
    "truncated",
)


@dataclass
class FileReport:
    """One inventory row: what a file is and how well it was understood."""

    path: str
    format: str
    kind: str
    instance: str
    role: str | None
    generation: int
    detected_by: str
    encoding: str | None = None
    size: int = 0
    lines: int = 0
    records: int = 0
    continuation_lines: int = 0
    unparsed_lines: int = 0
    parsed_ratio: float = 0.0
    first: datetime | None = None
    last: datetime | None = None
    truncated_lines: int = 0
    dateutil_times: int = 0
    bad_times: int = 0
    headers: dict[str, int] = field(default_factory=dict)
    unparsed_examples: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def parsed_lines(self) -> int:
        return self.lines - self.unparsed_lines

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["parsed_lines"] = self.parsed_lines
        for key in ("first", "last"):
            data[key] = iso(data[key])
        data["unparsed_examples"] = [
            {"line": n, "text": text} for n, text in self.unparsed_examples
        ]
        return data


@dataclass
class Ingested:
    """The parsed collection: events plus the inventory that says what was (not) understood."""

    input: str
    collection: Collection
    events: pl.DataFrame
    files: list[FileReport]
    tz: str
    warnings: list[str] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        """True when at least one file gave at least one line."""
        return any(f.lines for f in self.files)

    @property
    def window(self) -> tuple[datetime | None, datetime | None]:
        """Oldest and newest time of any file: the newest is "now" for anything still open."""
        firsts = [f.first for f in self.files if f.first]
        lasts = [f.last for f in self.files if f.last]
        return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def ingest(
    path: str | Path,
    *,
    formats: FormatSet | None = None,
    tz: str = "UTC",
    limits: Limits | None = None,
) -> Ingested:
    """Discover, decode, parse and merge every recognised log file under ``path``."""
    formats = formats or load_formats()
    collection = discover(path, formats, limits=limits or Limits())
    frames: list[pl.DataFrame] = []
    reports: list[FileReport] = []
    for file_id, source in enumerate(collection.sources):
        report, frame = _ingest_one(source, formats, tz, file_id)
        reports.append(report)
        if frame is not None and frame.height:
            frames.append(frame)
    events = _merge(frames)
    warnings = list(collection.warnings)
    warnings += [f"{r.path}: {r.error}" for r in reports if r.error]
    return Ingested(
        input=str(path),
        collection=collection,
        events=events,
        files=reports,
        tz=tz,
        warnings=warnings,
    )


def _ingest_one(
    source: LogSource, formats: FormatSet, tz: str, file_id: int
) -> tuple[FileReport, pl.DataFrame | None]:
    fmt = formats.get(source.format_id)
    report = FileReport(
        path=source.display,
        format=source.format_id or "",
        kind=fmt.kind if fmt else (source.format_id or "?"),
        instance=source.instance,
        role=source.role,
        generation=source.generation,
        detected_by=source.detected_by,
        size=source.size,
    )
    if fmt is None:
        report.error = f"no format definition named {source.format_id!r}"
        return report, None
    try:
        decoded = source.load()
        report.encoding = decoded.encoding
        report.warnings += decoded.warnings
        parsed = parse_text(decoded.data, fmt, tz=tz)
    except Exception as exc:  # one bad file must not stop the others; the row says why
        report.error = f"{type(exc).__name__}: {exc}"
        return report, None
    _fill_counts(report, parsed)
    frame = parsed.records.with_columns(
        instance=pl.lit(source.instance),
        kind=pl.lit(fmt.kind),
        file=pl.lit(source.display),
        _file_id=pl.lit(file_id, pl.UInt32),
    )
    return report, frame


def _fill_counts(report: FileReport, parsed: FileParse) -> None:
    report.lines = parsed.lines
    report.records = parsed.header_lines
    report.continuation_lines = parsed.continuation_lines
    report.unparsed_lines = parsed.unparsed_lines
    report.parsed_ratio = round(parsed.parsed_ratio, 6)
    report.first, report.last = _utc(parsed.first), _utc(parsed.last)
    report.truncated_lines = parsed.truncated_lines
    report.dateutil_times = parsed.dateutil_times
    report.bad_times = parsed.bad_times
    report.headers = parsed.header_counts
    report.unparsed_examples = parsed.unparsed_examples
    if parsed.truncated_lines:
        report.warnings.append(f"{parsed.truncated_lines} line(s) longer than 64 KiB were cut")
    if parsed.bad_times:
        report.warnings.append(
            f"{parsed.bad_times} record(s) with an unreadable time took the time before them"
        )


_CATEGORICAL = ("instance", "kind", "file", "level", "level_raw", "source")


def _merge(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate the files and order them by (time, file, line), stably and deterministically."""
    if not frames:
        return empty_events()
    merged = pl.concat(frames, how="vertical")
    return (
        merged.sort(["time", "_file_id", "line"], nulls_last=True)
        .with_columns(
            pl.col("time").dt.replace_time_zone("UTC"),
            pl.col("pid").cast(pl.Int32),
            pl.col("tid").cast(pl.Int32),
            *[pl.col(c).cast(pl.Categorical) for c in _CATEGORICAL],
        )
        .select(EVENT_COLUMNS)
    )


def empty_events() -> pl.DataFrame:
    """An events table with no rows and the full schema."""
    schema = {
        "time": pl.Datetime("us", "UTC"),
        "instance": pl.Categorical(),
        "kind": pl.Categorical(),
        "file": pl.Categorical(),
        "line": pl.UInt32(),
        "lines": pl.UInt32(),
        "level": pl.Categorical(),
        "level_raw": pl.Categorical(),
        "pid": pl.Int32(),
        "tid": pl.Int32(),
        "source": pl.Categorical(),
        "message": pl.String(),
        "parsed": pl.Boolean(),
        "time_filled": pl.Boolean(),
        "truncated": pl.Boolean(),
    }
    return pl.DataFrame(schema=schema)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None
