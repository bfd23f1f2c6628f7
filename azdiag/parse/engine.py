"""The parsing engine: decoded log text + a format definition -> one polars frame of records.

Everything per line is vectorised in polars, and small files of one format are parsed together
in one batch. The first header grammar of a format runs over all lines (it matches nearly every
line in practice; the passes are in :mod:`azdiag.parse.headers`); the other grammars, the
continuation rule and the python-dateutil fallback only ever see the lines still unexplained.
Messages are categorical: logs repeat themselves (heartbeats, probes), so each distinct text is
stored and classified once. Nothing is dropped: a line is a record's first line, a continuation
joined to the record above, or an unparsed record of its own, and the per-file counts say how
many of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from azdiag.knowledge.formats import LogFormat
from azdiag.parse.headers import apply_other_headers, first_pass, header_order, sample_lines
from azdiag.parse.timestamps import (
    TIME_FOUND,
    _fallback_times,
    _find_times,
    _find_times_in_timeless_files,
    _scatter,
)

#: Longer lines are cut here (and flagged) so one runaway line cannot blow memory or regexes.
MAX_LINE_CHARS = 64 * 1024
#: How many unparsed lines per file are kept as examples for the inventory.
UNPARSED_EXAMPLES = 5


NORMALISED_LEVELS = ("debug", "info", "warning", "error", "critical")

#: The columns of a parsed file, in order (file/instance/kind are added per collection).
RECORD_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.UInt32(),
    "lines": pl.UInt32(),
    "time": pl.Datetime("us"),
    "level": pl.Categorical(),
    "level_raw": pl.Categorical(),
    "pid": pl.Int32(),
    "tid": pl.Int32(),
    "source": pl.Categorical(),
    "message": pl.Categorical(),
    "parsed": pl.Boolean(),
    "time_filled": pl.Boolean(),
    "truncated": pl.Boolean(),
    "header": pl.Int16(),
    "_du": pl.Int8(),
}


_SEPARATORS = (b"\x1f", b"\x1e", b"\x1d", b"\x1c", b"\x01", b"\x02", b"\x03", b"\x04")


@dataclass
class FileStats:
    """The counts that make one file's parse honest."""

    lines: int = 0
    header_lines: int = 0  # records that start with a header (pieces of glued lines included)
    continuation_lines: int = 0
    unparsed_lines: int = 0
    unparsed_records: int = 0
    glued_records: int = 0  # records split off a line that held several (pasted traces)
    timed_records: int = 0  # time read from the record's own line
    inherited_time_records: int = 0  # time taken from the record above in the same file
    untimed_records: int = 0  # no time at all (nothing above to take it from)
    truncated_lines: int = 0
    dateutil_times: int = 0
    bad_times: int = 0
    header_counts: dict[str, int] = field(default_factory=dict)
    unparsed_examples: list[tuple[int, str]] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None

    @property
    def parsed_ratio(self) -> float:
        """Share of lines understood: record first lines plus their continuation lines."""
        return 1.0 if self.lines == 0 else (self.lines - self.unparsed_lines) / self.lines


@dataclass
class FileParse(FileStats):
    """One file's records (see RECORD_SCHEMA) with its counts."""

    records: pl.DataFrame = field(default_factory=pl.DataFrame)


def read_lines(texts: list[bytes]) -> pl.DataFrame:
    """Split UTF-8 texts into one frame of (file, line, text): a row per physical line.

    ``file`` is the index of the text in ``texts``. The texts are read by one CSV pass over
    their concatenation, which costs far less than one pass per small file.
    """
    texts = [t.removeprefix(b"\xef\xbb\xbf") for t in texts]  # a BOM is not a line
    if len(texts) == 1:  # its lines are numbered by position: no count to check against
        return _read_csv_lines(texts[0]).select(
            file=pl.lit(0, pl.UInt32),
            line=pl.int_range(1, pl.len() + 1, dtype=pl.UInt32),
            text=pl.col("text").fill_null(""),
        )
    counts = [_count_lines(t) for t in texts]
    total = sum(counts)
    if total == 0:
        return pl.DataFrame(schema={"file": pl.UInt32, "line": pl.UInt32, "text": pl.String})
    joined = b"".join(t if not t or t.endswith(b"\n") else t + b"\n" for t in texts)
    frame = _read_csv_lines(joined)
    if frame.height != total:  # a shape the joint read did not split as we count: one by one
        frames = [_read_csv_lines(t) for t in texts if t]
        frame = pl.concat(frames) if frames else frame
    starts = pl.Series("starts", _cumulative(counts), dtype=pl.UInt32)
    row = pl.int_range(pl.len(), dtype=pl.UInt32)
    file = starts.search_sorted(pl.int_range(total, dtype=pl.UInt32, eager=True), side="right")
    file = (file - 1).cast(pl.UInt32).alias("file")
    return (
        frame.with_columns(file, text=pl.col("text").fill_null(""))
        .with_columns(line=(row - pl.lit(starts).gather(pl.col("file")) + 1).cast(pl.UInt32))
        .select("file", "line", "text")
    )


def _count_lines(text: bytes) -> int:
    if not text:
        return 0
    return text.count(b"\n") + (0 if text.endswith(b"\n") else 1)


def _cumulative(counts: list[int]) -> list[int]:
    starts, running = [], 0
    for count in counts:
        starts.append(running)
        running += count
    return starts


def _read_csv_lines(text: bytes) -> pl.DataFrame:
    separator = next((s for s in _SEPARATORS if s not in text), None)
    if separator is None:  # every candidate byte occurs: neutralise the first one
        text, separator = text.replace(b"\x1f", b" "), b"\x1f"
    frame = pl.read_csv(
        text,
        separator=separator.decode(),
        quote_char=None,
        has_header=False,
        new_columns=["text"],
        infer_schema=False,
        encoding="utf8-lossy",
        raise_if_empty=False,
    )
    if "text" not in frame.columns:
        return pl.DataFrame(schema={"text": pl.String})
    return frame


def parse_text(text: bytes, fmt: LogFormat, *, tz: str = "UTC") -> FileParse:
    """Parse one file's decoded text with ``fmt``; never raises on content."""
    records, (stats,) = parse_batch([text], fmt, tz=tz)
    return FileParse(**vars(stats), records=records.drop("file"))


def parse_batch(
    texts: list[bytes], fmt: LogFormat, *, tz: str = "UTC"
) -> tuple[pl.DataFrame, list[FileStats]]:
    """Parse several files of one format at once: records (with ``file`` = index) and counts.

    ``texts`` is emptied once read: the raw bytes are let go before the parse's peak of memory.
    """
    lines = read_lines(texts)
    stats = [FileStats() for _ in texts]
    texts.clear()
    if lines.height == 0:
        return pl.DataFrame(schema={"file": pl.UInt32, **RECORD_SCHEMA}), stats
    return parse_lines(lines, fmt, stats, tz=tz), stats


def parse_lines(
    lines: pl.DataFrame, fmt: LogFormat, stats: list[FileStats], *, tz: str = "UTC"
) -> pl.DataFrame:
    """Parse a (file, line, text) frame, filling ``stats`` (one per file index)."""
    # glued records are split off first: a pasted trace of many records on one line is often
    # longer than the cut, and cutting it first lost every record after 64 KiB
    lines = _split_glued(lines, fmt)
    longest = lines.select(pl.col("text").str.len_bytes().max()).item() or 0
    if longest > MAX_LINE_CHARS:
        lines = lines.with_columns(
            truncated=pl.col("text").str.len_bytes() > MAX_LINE_CHARS,
            text=pl.col("text").str.slice(0, MAX_LINE_CHARS),
        )
    else:
        lines = lines.with_columns(truncated=pl.lit(False))
    sample = sample_lines(lines)
    first, *others = header_order(sample, fmt)
    frame, cut = first_pass(lines, sample, fmt, first, tz)
    frame = apply_other_headers(frame, lines, fmt, [first, *others] if cut else others, tz)
    frame = _fallback_times(frame, lines, fmt, tz)
    records = _join_continuations(frame, fmt, tz)
    _fill_stats(stats, records, fmt)
    return records.select("file", *RECORD_SCHEMA)


def _split_glued(lines: pl.DataFrame, fmt: LogFormat) -> pl.DataFrame:
    """Split lines that hold several records (a trace pasted into a ticket loses its line
    ends: log-formats.md §7) at each further header; the pieces keep the line's number and all
    but the first are marked ``_glued`` (they add a record, not a line)."""
    plain = lines.with_columns(_glued=pl.lit(False))
    if not fmt.glue:
        return plain
    glue = f"(?:{fmt.glue})"
    texts = lines["text"]
    # a literal search is several times cheaper than the glue regex; and a line with two glue
    # matches has one after its first character, which a search (not a count) finds in half the
    # time of counting: the count is left to the few lines that pass both
    candidates = _glue_prefilter(texts, fmt)
    if candidates is None or candidates.len() * 2 > lines.height:  # copying them costs more
        candidates = texts.str.slice(1).str.contains(glue).arg_true()
    else:
        candidates = candidates.filter(texts.gather(candidates).str.slice(1).str.contains(glue))
    glued = pl.repeat(False, lines.height, eager=True)
    hits = texts.gather(candidates).str.count_matches(glue) >= 2
    glued.scatter(candidates.filter(hits), True)
    if not glued.any():
        return plain
    # a newline before every header block; what stood before the first (a prefix) stays with it
    parts = pl.col("text").str.replace_all(f"({glue})", "\n${1}").str.split("\n")
    first = parts.list.get(0) + parts.list.get(1)
    pieces = (
        lines.filter(glued)
        .with_columns(
            _row=glued.arg_true(),
            text=pl.concat_list(first, parts.list.slice(2)),
        )
        .explode("text")
        .with_columns(
            pl.col("text").str.strip_chars_end(),
            _glued=pl.int_range(pl.len()).over("_row") > 0,
        )
    )
    kept = plain.with_row_index("_row").filter(~glued)
    return (
        pl.concat([kept, pieces.select(kept.columns)])
        .sort("_row", maintain_order=True)
        .drop("_row")
    )


def _glue_prefilter(texts: pl.Series, fmt: LogFormat) -> pl.Series | None:
    """The rows (UInt32 indices) that may hold two glue matches, by the format's literal
    prefilters; None when it has none (every row may).

    A line with a grammar glue match holds one of ``glue_literals``; a line with two matches of
    the format's own glue holds its ``glue_counted`` literal twice as often as one match does.
    The latter is the selective one for the guest agent, whose own header at the start of every
    line holds any text its glue holds: each agent header holds "[" at least twice, so a line
    of two records holds it four times, and almost no single record does (counting costs about
    55 ns a line; searching every line for the agent's glue cost five times that).
    A line with one match of each kind holds a grammar literal: the union misses no line that
    holds two matches.
    """
    if not fmt.glue_literals and fmt.glue_counted is None:
        return None
    may: pl.Series | None = None
    if fmt.glue_literals:
        may = texts.str.contains_any(list(fmt.glue_literals))
    if fmt.glue_counted is not None:
        literal, times = fmt.glue_counted
        twice = texts.str.count_matches(literal, literal=True) >= 2 * times
        may = twice if may is None else may | twice
    assert may is not None
    return may.arg_true()


def _fill_stats(stats: list[FileStats], records: pl.DataFrame, fmt: LogFormat) -> None:
    """Per-file counts, computed once over the batch.

    Lazy, so each query reads only its columns (an eager filter copies every column first).
    """
    per_file, headers, examples = pl.collect_all(_stats_queries(records.lazy()))
    for row in per_file.iter_rows(named=True):
        item = stats[row["file"]]
        item.lines = int(row["lines"])  # every physical line is in exactly one record
        item.header_lines = int(row["header_lines"])
        item.unparsed_lines = int(row["unparsed_lines"] or 0)
        item.unparsed_records = int(row["records"]) - item.header_lines
        item.glued_records = int(row["glued"])
        item.continuation_lines = (
            item.lines + item.glued_records - item.header_lines - item.unparsed_lines
        )
        item.untimed_records = int(row["untimed"])
        item.inherited_time_records = int(row["filled"]) - item.untimed_records
        item.timed_records = int(row["records"]) - int(row["filled"])
        item.truncated_lines = int(row["truncated"])
        item.dateutil_times = int(row["dateutil"])
        item.bad_times = int(row["bad"])
        item.first, item.last = row["first"], row["last"]
    for file, header, count in headers.iter_rows():
        name = "time-found" if header == TIME_FOUND else fmt.headers[header].name
        stats[file].header_counts[name] = int(count)
    for file, line, text in examples.iter_rows():
        stats[file].unparsed_examples.append((int(line), text.split("\n", 1)[0][:300]))


def _stats_queries(records: pl.LazyFrame) -> list[pl.LazyFrame]:
    """(per-file counts, per-file and header counts, the first unparsed lines of each file)."""
    per_file = records.group_by("file").agg(
        pl.len().alias("records"),
        pl.col("lines").sum().alias("lines"),
        pl.col("parsed").sum().alias("header_lines"),
        pl.col("lines").filter(~pl.col("parsed")).sum().alias("unparsed_lines"),
        pl.col("truncated").sum().alias("truncated"),
        pl.col("_glued").sum().alias("glued"),
        pl.col("time_filled").sum().alias("filled"),
        pl.col("time").null_count().alias("untimed"),
        (pl.col("_du") == 1).sum().alias("dateutil"),
        (pl.col("_du") == -1).sum().alias("bad"),
        pl.col("time").min().alias("first"),
        pl.col("time").max().alias("last"),
    )
    headers = records.filter(pl.col("header") != -1).group_by("file", "header").len()
    examples = (
        records.filter(~pl.col("parsed"))
        .select("file", "line", pl.col("message").cast(pl.String))
        .group_by("file", maintain_order=True)
        .head(UNPARSED_EXAMPLES)
    )
    return [per_file, headers, examples]


def _join_continuations(frame: pl.DataFrame, fmt: LogFormat, tz: str) -> pl.DataFrame:
    """Fold continuation lines into the record above; keep the rest as unparsed records.

    A file's first line always starts a record: continuation never crosses files. A line that
    is neither a header nor a continuation is searched for a known time form before it is
    called unparsed (``_find_times``). A record without a time takes the time of the record
    above it in its file (``time_filled``); records before the first time stay untimed (null).
    """
    unmatched = frame["header"] == -1
    continuation = pl.repeat(False, frame.height, eager=True)
    if unmatched.any():
        positions = unmatched.arg_true()
        if fmt.continuation_regex:
            is_cont = frame["message"].gather(positions).str.contains(fmt.continuation_regex)
            is_cont = is_cont.fill_null(False)
            continuation.scatter(positions.filter(is_cont), True)
            positions = positions.filter(~is_cont)
        frame = _find_times(frame, positions, fmt, tz, TIME_FOUND)
    untimed = [i for i, h in enumerate(fmt.headers) if h.time_format is None]
    if untimed:  # a header without a time may still have one in its message
        frame = _find_times(frame, frame["header"].is_in(untimed).arg_true(), fmt, tz, None)
    frame = _find_times_in_timeless_files(frame, continuation, fmt, tz)
    weight = (~pl.col("_glued")).cast(pl.UInt32)
    # categorical before the records are filtered out of the lines: the filter then copies
    # numbers, not texts; the level mapping below runs over a handful of distinct values
    frame = frame.with_columns(
        pl.col("message", "level_raw", "source").cast(pl.Categorical),
        _start=~continuation | (pl.col("line") == 1) | pl.col("_glued"),
    )
    if frame["_start"].all():
        starts = frame.with_columns(lines=weight)
    else:
        frame = frame.with_columns(_rid=pl.col("_start").cum_sum())
        continued = frame.filter(~pl.col("_start"))["_rid"].unique().implode()
        joined = (
            frame.filter(pl.col("_rid").is_in(continued))
            .group_by("_rid", maintain_order=True)
            .agg(pl.col("message").cast(pl.String).str.join("\n"), weight.sum().alias("lines"))
        )
        starts = frame.filter(pl.col("_start")).with_columns(lines=weight)
        starts = _scatter(starts, (joined["_rid"] - 1).cast(pl.UInt32), joined)
    # a time a zone conversion pushed out of what Python's datetime holds (year 10000) is
    # unreadable, not fatal: the record keeps its place and takes the time above it
    outside = ~pl.col("time").is_between(_FIRST_TIME, _LAST_TIME)
    starts = starts.with_columns(
        _du=pl.when(outside).then(pl.lit(-1, pl.Int8)).otherwise("_du"),
        time=pl.when(outside).then(None).otherwise("time"),
    )
    records = starts.with_columns(
        parsed=pl.col("header") != -1,
        time_filled=pl.col("time").is_null(),
    )
    records = records.with_columns(level=_normalised_level(records["level_raw"], fmt))
    if records["time_filled"].any():  # the time of the record above, within the file
        records = records.with_columns(time=pl.col("time").forward_fill().over("file"))
    return records


#: The times Python's datetime holds (a comparison of numbers, not a year per record).
_FIRST_TIME, _LAST_TIME = datetime.min, datetime.max


def _normalised_level(raw: pl.Series, fmt: LogFormat) -> pl.Expr:
    """debug/info/warning/error/critical from the format's [levels] table and the grammar's
    level names; a raw level known to neither is kept raw with no normalised level.

    Mapped over the few distinct raw levels, not per record.
    """
    seen = [value for value in raw.unique().to_list() if value is not None]
    mapping = {value: _level_of(value, fmt.levels) for value in seen}
    return pl.col("level_raw").replace_strict(mapping, default=None, return_dtype=pl.Categorical)


def _level_of(raw: str, levels: dict[str, str]) -> str | None:
    level = levels.get(raw) or levels.get(raw.upper())
    if level is None and raw.lower() in NORMALISED_LEVELS:
        level = raw.lower()
    return level
