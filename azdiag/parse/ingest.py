"""Collection -> one events table: discover the files, decode and parse each, merge, order.

One bad file never stops the run: its error is recorded in its inventory row and the other files
are still read. The events table holds the instances one after the other, each ordered stably by
(time, file, line), so identical input gives an identical table.

Just over 500 lines on purpose: the stage's one entry point, its reading in parallel and the
merge are one flow; the parsing itself is in engine.py and timestamps.py.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from azdiag.collect.discover import Collection, Limits, LogSource, discover
from azdiag.collect.readers import Coverage, load
from azdiag.common.frames import with_aligned
from azdiag.common.times import iso
from azdiag.knowledge.formats import FormatSet, LogFormat, load_formats
from azdiag.parse import pieces
from azdiag.parse.engine import RECORD_SCHEMA, FileStats, parse_batch

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
    unparsed_records: int = 0
    glued_records: int = 0
    timed_records: int = 0
    inherited_time_records: int = 0
    untimed_records: int = 0
    first: datetime | None = None
    last: datetime | None = None
    truncated_lines: int = 0
    nul_bytes: int = 0  # NULs removed by decoding (azdiag.collect.decode)
    nul_runs: int = 0
    cr_line_ends: int = 0  # lines ended by a lone CR, split there
    dateutil_times: int = 0
    bad_times: int = 0
    headers: dict[str, int] = field(default_factory=dict)
    unparsed_examples: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    #: the file holds nothing but white space (0 bytes, or blank lines, a BOM, NULs): it was
    #: collected but gives no record; the completeness says so (not "missing")
    empty: bool = False

    @property
    def parsed_lines(self) -> int:
        return self.lines - self.unparsed_lines

    @property
    def time_ratio(self) -> float:
        """Share of all records (recognised or not) that have a time, own or inherited."""
        total = self.records + self.unparsed_records
        return 1.0 if total == 0 else (total - self.untimed_records) / total

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["parsed_lines"] = self.parsed_lines
        data["time_ratio"] = round(self.time_ratio, 6)
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
    def has_guest_log(self) -> bool:
        """True when at least one guest log was found that is not empty (FileReport.empty)."""
        return any(not f.empty for f in self.files)

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


#: The warning of a log that holds nothing but white space (FileReport.empty).
EMPTY_LOG = (
    "the file is empty (nothing but white space): it was collected, but holds no line; "
    "it may have been truncated, or taken before anything was written"
)

#: Files of one format are parsed together until a batch holds this many bytes: small files
#: (one bootstrapper log per start) then cost one pass, not one each. The same size as a piece
#: of a large file (azdiag.parse.pieces), so that every batch in flight costs about the same memory.
BATCH_BYTES = 8 << 20
#: Batches parsed at once at most: each holds its batch's intermediate columns in memory.
MAX_WORKERS = 2


def _workers() -> int:
    """One batch more than polars has threads, within MAX_WORKERS.

    A batch's Python steps (reading, decoding, bookkeeping) leave polars' threads idle; with a
    second batch the cores stay busy. Three batches of 48 MB at once were 10 % faster than two
    on the 2-core benchmark machine when it was quiet, but memory is what a month-long
    collection runs short of: its parse peaked at 2.3-2.5x its 250 MB with three batches of
    48 MB and at 1.8-2.0x with two of 16 MB (interleaved runs, CPU time within the noise). For
    the whole analysis, two batches of 8 MB peaked at 500-515 MB against 530-610 MB with 16 MB
    at the same CPU time; 4 MB saved 40 MB more but cost 8 % more CPU time.
    """
    return max(1, min(pl.thread_pool_size() + 1, MAX_WORKERS))


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
    sources = collection.sources
    reports = [_report(source, formats) for source in sources]
    parts = []
    # sorted instance by instance (the timeline is per instance), which keeps the sort's second
    # copy to one instance's share of the table; the pool meanwhile parses the next instances
    instances = sorted({s.instance for s in sources})
    plan = {instance: _batches(sources, reports, formats, instance) for instance in instances}
    rank = _file_ranks(plan, len(sources))
    with ThreadPoolExecutor(max_workers=_workers()) as pool:

        def submit(instance: str) -> list[Future[_Parsed]]:
            return [pool.submit(_parse, b, sources, reports, rank, tz) for b in plan[instance]]

        upcoming = submit(instances[0]) if instances else []
        for index in range(len(instances)):
            current = upcoming
            # one instance ahead: enough to keep both cores busy, little extra memory
            upcoming = submit(instances[index + 1]) if index + 1 < len(instances) else []
            frames = _frames(current, sources, reports, rank, tz)
            if frames:
                parts.append(_sorted(frames))
    events = _label(parts, sources, formats, rank)
    warnings = list(collection.warnings)
    warnings += _unread_logs(collection, formats)
    warnings += [f"{r.path}: {r.error}" for r in reports if r.error]
    return Ingested(
        input=str(path),
        collection=collection,
        events=events,
        files=reports,
        tz=tz,
        warnings=warnings,
    )


#: Skipped-file categories of a file that could not be read at all (not merely not a log).
_UNREAD = frozenset({"unreadable", "corrupt-member"})


def _unread_logs(collection: Collection, formats: FormatSet) -> list[str]:
    """A warning for each guest log (by its name) that could not be read: a corrupt archive
    member or an unreadable file may hold the very start the verdict is about."""
    out = []
    for item in collection.skipped:
        if item.category not in _UNREAD:
            continue
        name = item.display.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1]
        fmt = next((f for f in formats if f.matches_name(name)), None)
        if fmt is not None:
            out.append(
                f"{item.display}: a {fmt.kind} log that could not be read ({item.reason}); "
                "what it holds is in neither the timeline nor the verdict"
            )
    return out


@dataclass
class _Batch:
    fmt: LogFormat
    file_ids: list[int] = field(default_factory=list)
    size: int = 0
    piece: pieces.Piece | None = None  # one piece of one large file (file_ids has that file)


@dataclass
class _Parsed:
    """What a batch gave: ranked records, or for a piece its records and counts to merge."""

    batch: _Batch
    records: pl.DataFrame | None = None
    stats: FileStats | None = None
    not_plain: bool = False


def _report(source: LogSource, formats: FormatSet) -> FileReport:
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
    return report


def _batches(
    sources: list[LogSource], reports: list[FileReport], formats: FormatSet, instance: str
) -> list[_Batch]:
    """Group an instance's files by format into batches of about BATCH_BYTES, in order; a large
    file on disk is a run of piece batches of its own (see azdiag.parse.pieces)."""
    open_batches: dict[str, _Batch] = {}
    done: list[_Batch] = []
    for file_id, source in enumerate(sources):
        fmt = formats.get(source.format_id)
        if source.instance != instance or fmt is None or reports[file_id].error:
            continue
        # event and IIS logs go through their reader whole (it summarises or converts them)
        path = None if fmt.raw.get("reader") else source.disk_path()
        cut = pieces.pieces_of(path, source.size, pieces.PIECE_BYTES) if path else []
        if len(cut) > 1:
            done += [_Batch(fmt, [file_id], source.size, piece) for piece in cut]
            continue
        batch = open_batches.setdefault(fmt.id, _Batch(fmt))
        batch.file_ids.append(file_id)
        batch.size += source.size
        if batch.size >= BATCH_BYTES:
            done.append(open_batches.pop(fmt.id))
    return done + list(open_batches.values())


def _file_ranks(plan: dict[str, list[_Batch]], count: int) -> list[int]:
    """Each file's number in the events table: in the order its rows are parsed.

    Instances, their batches and the files of each batch come in this order, and each batch is
    ordered by (file, line); so the concatenation of an instance's batches is in (file, line)
    order and one stable sort by time gives (time, file, line). Files never parsed come last.
    """
    # a large file's pieces are batches of their own: the file counts once
    order = list(dict.fromkeys(i for bs in plan.values() for batch in bs for i in batch.file_ids))
    order += sorted(set(range(count)) - set(order))
    rank = [0] * count
    for position, file_id in enumerate(order):
        rank[file_id] = position
    return rank


def _parse(
    batch: _Batch,
    sources: list[LogSource],
    reports: list[FileReport],
    rank: list[int],
    tz: str,
) -> _Parsed:
    """Decode and parse one batch; a file that cannot be read is reported, not fatal."""
    if batch.piece is not None:
        return _parse_piece(batch, reports, tz)
    texts, ids, coverage = _load(batch, sources, reports)
    if not texts:
        return _Parsed(batch)
    try:
        records, stats = parse_batch(texts, batch.fmt, tz=tz)  # empties texts once read
    except Exception as exc:  # a parser bug must not lose the rest of the collection
        for file_id in ids:
            reports[file_id].error = f"{type(exc).__name__}: {exc}"
        return _Parsed(batch)
    for file_id, item in zip(ids, stats, strict=True):
        _fill_counts(reports[file_id], item)
        if file_id in coverage:
            _cover(reports[file_id], coverage[file_id])
    return _Parsed(batch, _ranked(records, ids, rank))


def _ranked(records: pl.DataFrame, ids: list[int], rank: list[int]) -> pl.DataFrame:
    """The batch's records with ``file`` as the file's number in the events table."""
    ranks = pl.Series([rank[i] for i in ids], dtype=pl.UInt32)
    return records.with_columns(file=pl.lit(ranks).gather(pl.col("file"))).drop("header", "_du")


def _parse_piece(batch: _Batch, reports: list[FileReport], tz: str) -> _Parsed:
    """Read and parse one piece of a large file: records with the piece's own line numbers."""
    assert batch.piece is not None
    report = reports[batch.file_ids[0]]
    try:
        data = pieces.read_piece(batch.piece, pieces.cut_patterns(batch.fmt))
    except pieces.NotPlain:
        return _Parsed(batch, not_plain=True)
    except OSError as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        return _Parsed(batch)
    try:
        records, (stats,) = parse_batch([data], batch.fmt, tz=tz)
    except Exception as exc:  # a parser bug must not lose the rest of the collection
        report.error = f"{type(exc).__name__}: {exc}"
        return _Parsed(batch)
    return _Parsed(batch, records, stats)


def _frames(
    results: list[Future[_Parsed]],
    sources: list[LogSource],
    reports: list[FileReport],
    rank: list[int],
    tz: str,
) -> list[pl.DataFrame]:
    """The ranked records of an instance's batches, in order, with the pieces of each large
    file merged into one file (parsed whole instead when a piece was not plain UTF-8)."""
    frames: list[pl.DataFrame] = []
    pending: list[_Parsed] = []  # the pieces of one file so far
    for future in results:
        parsed = future.result()
        if parsed.batch.piece is None:
            if parsed.records is not None and parsed.records.height:
                frames.append(parsed.records)
            parsed.records = None  # the future holds it too: the sort must own the only copy
            continue
        pending.append(parsed)
        piece = parsed.batch.piece
        if piece.index == piece.count - 1:
            frames += _merged(pending, sources, reports, rank, tz)
            pending = []
    return frames


def _merged(
    parts: list[_Parsed],
    sources: list[LogSource],
    reports: list[FileReport],
    rank: list[int],
    tz: str,
) -> list[pl.DataFrame]:
    """One large file's records from its pieces (see azdiag.parse.pieces.merge_pieces)."""
    first = parts[0].batch
    file_id = first.file_ids[0]
    report = reports[file_id]
    if any(p.not_plain for p in parts):  # decoding repairs needed: decode and parse whole
        report.error = None
        whole = _parse(_Batch(first.fmt, [file_id], first.size), sources, reports, rank, tz)
        return [whole.records] if whole.records is not None else []
    if report.error:
        return []
    merged = [(p.records, p.stats) for p in parts if p.records is not None and p.stats]
    for part in parts:
        part.records = None
    records, stats = pieces.merge_pieces(merged)
    merged.clear()
    report.encoding = pieces.encoding_of(first.piece.path) if first.piece else "utf-8"
    _fill_counts(report, stats)
    return [_ranked(records, [file_id], rank)] if records.height else []


def _load(
    batch: _Batch, sources: list[LogSource], reports: list[FileReport]
) -> tuple[list[bytes], list[int], dict[int, Coverage]]:
    """The decoded texts of a batch, their file ids (only the list holds the texts) and, for
    files a reader turned into text (event and IIS logs), what of the original it covered."""
    texts, ids, coverage = [], [], {}
    for file_id in batch.file_ids:
        report = reports[file_id]
        try:
            loaded = load(sources[file_id], batch.fmt)
        except Exception as exc:  # one bad file must not stop the others; its row says why
            report.error = f"{type(exc).__name__}: {exc}"
            continue
        decoded = loaded.decoded
        if loaded.coverage is not None:
            coverage[file_id] = loaded.coverage
        report.encoding = decoded.encoding
        report.nul_bytes, report.nul_runs = decoded.nul_bytes, decoded.nul_runs
        report.cr_line_ends = decoded.cr_line_ends
        report.warnings += decoded.warnings
        if loaded.coverage is None and not decoded.data.strip():
            # blank lines are no record (a whitespace "record" would make the log look read)
            report.empty = True
            report.warnings.append(EMPTY_LOG)
            continue
        texts.append(decoded.data)
        ids.append(file_id)
    return texts, ids, coverage


def _cover(report: FileReport, coverage: Coverage) -> None:
    """Counts of the original file (event records, IIS log lines), not of the text made from
    it: every understood record or line counts as a record."""
    report.lines = coverage.lines
    report.unparsed_lines = coverage.unread
    report.records = coverage.lines - coverage.unread
    report.continuation_lines = 0
    # every understood record or line carries its own time; what was not read is no record
    report.timed_records = report.records
    report.unparsed_records = report.inherited_time_records = report.untimed_records = 0
    report.glued_records = 0
    understood = coverage.lines - coverage.unread
    report.parsed_ratio = round(understood / coverage.lines, 6) if coverage.lines else 0.0
    report.unparsed_examples = coverage.examples[:5]
    if coverage.unread:
        report.warnings.append(coverage.note)


def _fill_counts(report: FileReport, parsed: FileStats) -> None:
    report.lines = parsed.lines
    report.records = parsed.header_lines
    report.continuation_lines = parsed.continuation_lines
    report.unparsed_lines = parsed.unparsed_lines
    report.parsed_ratio = round(parsed.parsed_ratio, 6)
    report.unparsed_records = parsed.unparsed_records
    report.glued_records = parsed.glued_records
    report.timed_records = parsed.timed_records
    report.inherited_time_records = parsed.inherited_time_records
    report.untimed_records = parsed.untimed_records
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
    if parsed.glued_records:
        report.warnings.append(
            f"{parsed.glued_records} record(s) were split off lines that held several records"
        )
    if parsed.untimed_records and not parsed.timed_records:
        report.warnings.append(
            "no record has a time azdiag can read (none is written, or in a form no format "
            "knows): the file is kept and shown, but left out of the ordering, "
            "cycles, gaps and clock checks"
        )
    elif parsed.untimed_records:
        report.warnings.append(
            f"{parsed.untimed_records} record(s) before the file's first time have no time: "
            "kept and shown, left out of the time-based steps"
        )


def _sorted(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One instance's batches, given in (file, line) order, in (time, file, line) order.

    A stable sort by time alone keeps (file, line) among equal times: one key, not three. Columns
    are made contiguous and gathered one at a time, each unsorted twin let go at once.
    """
    merged = pl.concat(frames, how="vertical")
    frames.clear()  # the merged frame is now the only owner of the parsed chunks
    by_time = pl.arg_sort_by("time", nulls_last=True, maintain_order=True)
    order = merged.select(by_time).to_series()
    columns = []
    for name in merged.columns:
        columns.append(merged.get_column(name).rechunk().gather(order))
        merged = merged.drop(name)
    return pl.DataFrame(columns)


def _label(
    parts: list[pl.DataFrame], sources: list[LogSource], formats: FormatSet, rank: list[int]
) -> pl.DataFrame:
    """The instances one after the other; ``file``, ``instance`` and ``kind`` as enums of the
    collection's own values (gathered by file number, see ``_file_ranks``)."""
    if not parts:
        return empty_events()
    ranked = [sources[i] for i in sorted(range(len(sources)), key=rank.__getitem__)]
    files = [s.display for s in ranked]
    instances = sorted({s.instance for s in sources})
    kinds = sorted({f.kind for f in formats})
    file_enum = pl.Series(files, dtype=pl.Enum(files))
    instance_of = pl.Series([s.instance for s in ranked], dtype=pl.Enum(instances))
    kind_of = pl.Series(
        [fmt.kind if (fmt := formats.get(s.format_id)) else kinds[0] for s in ranked],
        dtype=pl.Enum(kinds),
    )
    events = pl.concat(parts, how="vertical")
    labels = events.select(
        instance=pl.lit(instance_of).gather(pl.col("file")),
        kind=pl.lit(kind_of).gather(pl.col("file")),
        file=pl.lit(file_enum).gather(pl.col("file")),
    )
    events = events.with_columns(pl.col("time").dt.replace_time_zone("UTC"))
    return with_aligned(events, labels.get_columns()).select(EVENT_COLUMNS)


def empty_events() -> pl.DataFrame:
    """An events table with no rows and the full schema."""
    labels = {"instance": pl.Enum([]), "kind": pl.Enum([]), "file": pl.Enum([])}
    schema = {**RECORD_SCHEMA, **labels, "time": pl.Datetime("us", "UTC")}
    return pl.DataFrame(schema={name: schema[name] for name in EVENT_COLUMNS})


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None
