"""The parsing engine: decoded log text + a format definition -> one polars frame of records.

Everything per line is vectorised in polars. The first header grammar of a format runs over all
lines in one streaming pass (it matches nearly every line in practice); the other grammars, the
continuation rule and the python-dateutil fallback only ever see the lines still unexplained.
Nothing is dropped: a line is a record's first line, a continuation joined to the record above,
or an unparsed record of its own, and the per-file counts say how many of each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from azdiag.formats import Header, LogFormat

if TYPE_CHECKING:
    from collections.abc import Iterable

#: Longer lines are cut here (and flagged) so one runaway line cannot blow memory or regexes.
MAX_LINE_CHARS = 64 * 1024
#: How many distinct unmatched time strings per file are handed to python-dateutil (50 µs each).
MAX_DATEUTIL_VALUES = 5_000
#: How many unparsed lines per file are kept as examples for the inventory.
UNPARSED_EXAMPLES = 5

#: A header's ``time_format`` for times of no fixed shape: python-dateutil reads them (slow).
AUTO_TIME = "auto"

NORMALISED_LEVELS = ("debug", "info", "warning", "error", "critical")

#: The columns of a parsed file, in order (file/instance/kind are added per collection).
RECORD_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.UInt32(),
    "lines": pl.UInt32(),
    "time": pl.Datetime("us"),
    "level": pl.String(),
    "level_raw": pl.String(),
    "pid": pl.Int64(),
    "tid": pl.Int64(),
    "source": pl.String(),
    "message": pl.String(),
    "parsed": pl.Boolean(),
    "time_filled": pl.Boolean(),
    "truncated": pl.Boolean(),
    "header": pl.Int8(),
}

_MESSAGE_TAIL = "(?P<message>.*)$"
_SEPARATORS = (b"\x1f", b"\x1e", b"\x1d", b"\x1c", b"\x01", b"\x02", b"\x03", b"\x04")


@dataclass
class FileParse:
    """One file's records and the counts that make its parse honest."""

    records: pl.DataFrame
    lines: int = 0
    header_lines: int = 0
    continuation_lines: int = 0
    unparsed_lines: int = 0
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


def read_lines(text: bytes) -> pl.DataFrame:
    """Split UTF-8 text into a frame of (line, text): one row per physical line, CR removed."""
    text = text.removeprefix(b"\xef\xbb\xbf")  # a BOM is not a line (decode drops it too)
    if not text:
        return pl.DataFrame(schema={"line": pl.UInt32, "text": pl.String})
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
    return frame.with_row_index("line", 1).with_columns(pl.col("text").fill_null(""))


def parse_text(text: bytes, fmt: LogFormat, *, tz: str = "UTC") -> FileParse:
    """Parse one file's decoded text with ``fmt``; never raises on content."""
    lines = read_lines(text)
    return parse_lines(lines, fmt, tz=tz)


def parse_lines(lines: pl.DataFrame, fmt: LogFormat, *, tz: str = "UTC") -> FileParse:
    """Parse a (line, text) frame; see the module docstring for the strategy."""
    total = lines.height
    if total == 0:
        return FileParse(records=pl.DataFrame(schema=RECORD_SCHEMA))
    longest = lines.select(pl.col("text").str.len_bytes().max()).item() or 0
    if longest > MAX_LINE_CHARS:
        lines = lines.with_columns(
            truncated=pl.col("text").str.len_bytes() > MAX_LINE_CHARS,
            text=pl.col("text").str.slice(0, MAX_LINE_CHARS),
        )
    else:
        lines = lines.with_columns(truncated=pl.lit(False))

    first, *others = fmt.headers
    frame = _with_header(lines.lazy(), first, 0, tz).drop("text").collect(engine="streaming")
    result = FileParse(records=frame, lines=total)
    result.truncated_lines = int(frame["truncated"].sum())
    frame = _apply_other_headers(frame, lines, others, tz, result)
    frame = _dateutil_fallback(frame, lines, fmt, tz, result)
    frame = _join_continuations(frame, fmt, result)
    for i, header in enumerate(fmt.headers):
        count = int((frame["header"] == i).sum()) if frame.height else 0
        if count:
            result.header_counts[header.name] = count
    result.records = frame
    times = frame["time"].drop_nulls()
    if len(times):
        result.first, result.last = times.min(), times.max()  # type: ignore[assignment]
    return result


def _head_regex(header: Header) -> tuple[str, bool]:
    """The header regex without its trailing message capture, and whether it was removed.

    Capturing the message with ``.*`` costs more than all other fields together; a header group
    around the rest lets the message be cut from the line by length instead.
    """
    regex = header.regex
    if regex.endswith(_MESSAGE_TAIL):
        return "^(?P<_head>" + regex[1 : -len(_MESSAGE_TAIL)] + ")", True
    return regex, False


def _with_header(frame: pl.LazyFrame, header: Header, index: int, tz: str) -> pl.LazyFrame:
    """Add the record columns one header grammar gives ``text`` (nulls where it does not match).

    The regex runs once into a struct column; every field is read from that struct.
    """
    regex, cut = _head_regex(header)
    match = pl.col("_match")
    matched = match.struct.field("_head" if cut else "message").is_not_null()
    if cut:
        message = pl.col("text").str.slice(match.struct.field("_head").str.len_bytes())
    else:
        message = match.struct.field("message")

    def field_or_null(name: str, dtype: pl.DataType) -> pl.Expr:
        if name in header.fields:
            value = match.struct.field(name)
            return value.cast(dtype, strict=False) if dtype != pl.String() else value
        return pl.lit(None, dtype=dtype)

    if header.time_format and header.time_format != AUTO_TIME:
        time = _localise(
            match.struct.field("time").str.strptime(
                pl.Datetime("us"), header.time_format, strict=False
            ),
            "UTC" if header.utc else tz,
        )
    else:
        time = pl.lit(None, dtype=pl.Datetime("us"))
    return (
        frame.with_columns(_match=pl.col("text").str.extract_groups(regex))
        .with_columns(
            time.alias("time"),
            field_or_null("level", pl.String()).alias("level_raw"),
            field_or_null("pid", pl.Int64()).alias("pid"),
            field_or_null("tid", pl.Int64()).alias("tid"),
            field_or_null("source", pl.String()).alias("source"),
            pl.when(matched).then(message).otherwise(pl.col("text")).alias("message"),
            pl.when(matched)
            .then(pl.lit(index, pl.Int8))
            .otherwise(pl.lit(-1, pl.Int8))
            .alias("header"),
        )
        .drop("_match")
    )


def _localise(naive: pl.Expr, tz: str) -> pl.Expr:
    """Naive wall-clock times in ``tz`` -> naive UTC (times in logs carry no zone)."""
    if tz == "UTC":
        return naive
    return (
        naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )


def _apply_other_headers(
    frame: pl.DataFrame,
    lines: pl.DataFrame,
    headers: Iterable[Header],
    tz: str,
    result: FileParse,
) -> pl.DataFrame:
    """Try the remaining grammars on the lines the first one left, and write their fields back."""
    for offset, header in enumerate(headers, start=1):
        rest = frame["header"] == -1
        if not rest.any():
            break
        positions = rest.arg_true()
        subset = lines[positions]
        parsed = _with_header(subset.lazy(), header, offset, tz).collect()
        hit = parsed["header"] >= 0
        if not hit.any():
            continue
        frame = _scatter(frame, positions.filter(hit), parsed.filter(hit))
    return frame


def _scatter(frame: pl.DataFrame, positions: pl.Series, values: pl.DataFrame) -> pl.DataFrame:
    """Write the rows of ``values`` into ``frame`` at ``positions`` (columns by name)."""
    updated = []
    for name in frame.columns:
        if name in values.columns and name != "line":
            column = frame.get_column(name).clone()
            column.scatter(positions, values.get_column(name).cast(column.dtype))
            updated.append(column)
    return frame.with_columns(updated)


def _dateutil_fallback(
    frame: pl.DataFrame, lines: pl.DataFrame, fmt: LogFormat, tz: str, result: FileParse
) -> pl.DataFrame:
    """Give python-dateutil the time texts no fixed format understood (counted, capped).

    Only rows whose grammar has a time but whose time did not parse get here, so the 50 µs a
    call of dateutil is paid for the odd line, never per line.
    """
    with_time = [i for i, h in enumerate(fmt.headers) if h.time_format]
    bad = frame["header"].is_in(with_time) & frame["time"].is_null()
    if not bad.any():
        return frame
    from dateutil import parser as date_parser

    positions = bad.arg_true()
    texts = pl.concat(
        [
            lines["text"]
            .gather(positions.filter(frame["header"].gather(positions) == i))
            .str.extract(_head_regex(fmt.headers[i])[0], group_index=_time_group(fmt.headers[i]))
            for i in with_time
        ]
    )
    positions = pl.concat(
        [positions.filter(frame["header"].gather(positions) == i) for i in with_time]
    )
    resolved: dict[str, datetime | None] = {}
    for value in texts.drop_nulls().unique().head(MAX_DATEUTIL_VALUES).to_list():
        try:
            resolved[value] = date_parser.parse(value)
        except (ValueError, OverflowError, TypeError):
            resolved[value] = None
    mapped = pl.Series("time", [resolved.get(v) for v in texts.to_list()], dtype=pl.Datetime("us"))
    mapped = pl.select(_localise(pl.lit(mapped), tz)).to_series().alias("time")
    ok = mapped.is_not_null()
    result.dateutil_times = int(ok.sum())
    result.bad_times = int((~ok).sum())
    if result.dateutil_times:
        frame = _scatter(frame, positions.filter(ok), pl.DataFrame({"time": mapped.filter(ok)}))
    return frame


def _time_group(header: Header) -> int:
    """Index of the ``time`` capture group in the header's head regex."""
    return re.compile(_head_regex(header)[0]).groupindex["time"]


def _join_continuations(frame: pl.DataFrame, fmt: LogFormat, result: FileParse) -> pl.DataFrame:
    """Fold continuation lines into the record above; keep the rest as unparsed records."""
    unmatched = frame["header"] == -1
    continuation = pl.repeat(False, frame.height, eager=True)
    if unmatched.any() and fmt.continuation_regex:
        positions = unmatched.arg_true()
        is_cont = frame["message"].gather(positions).str.contains(fmt.continuation_regex)
        continuation.scatter(positions.filter(is_cont.fill_null(False)), True)
    frame = (
        frame.with_columns(
            _cont=continuation,
        )
        .with_columns(
            # a continuation line before any record starts an unparsed record of its own
            _start=~pl.col("_cont") | (pl.int_range(pl.len()) == 0),
        )
        .with_columns(_rid=pl.col("_start").cum_sum())
    )
    starts = frame.filter(pl.col("_start"))
    result.continuation_lines = 0
    if starts.height < frame.height:
        joined = (
            frame.filter(
                pl.col("_rid").is_in(frame.filter(~pl.col("_start"))["_rid"].unique().implode())
            )
            .group_by("_rid", maintain_order=True)
            .agg(pl.col("message").str.join("\n"), pl.len().cast(pl.UInt32).alias("lines"))
        )
        starts = starts.with_columns(lines=pl.lit(1, pl.UInt32))
        positions = (joined["_rid"] - 1).cast(pl.UInt32)
        starts = _scatter(starts, positions, joined.select("message", "lines"))
    else:
        starts = starts.with_columns(lines=pl.lit(1, pl.UInt32))
    parsed = pl.col("header") >= 0
    records = starts.with_columns(
        parsed=parsed,
        level=pl.col("level_raw").replace_strict(
            fmt.levels, default=pl.col("level_raw").str.to_lowercase(), return_dtype=pl.String
        ),
        time_filled=pl.col("time").is_null(),
    ).with_columns(
        time=pl.col("time").forward_fill().backward_fill(),
    )
    unparsed = records.filter(~pl.col("parsed"))
    result.header_lines = records.height - unparsed.height
    result.unparsed_lines = int(unparsed["lines"].sum()) if unparsed.height else 0
    result.continuation_lines = result.lines - result.header_lines - result.unparsed_lines
    result.unparsed_examples = [
        (int(line), text.split("\n", 1)[0][:300])
        for line, text in unparsed.head(UNPARSED_EXAMPLES).select("line", "message").iter_rows()
    ]
    return records.select(list(RECORD_SCHEMA))
