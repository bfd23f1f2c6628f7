"""Reading the times of log records: the fast fixed-width reader, chrono, python-dateutil for
the odd line, and the search for a known time form in lines no header grammar explains.

Split from :mod:`azdiag.parse.engine` (which calls it for every file) to keep each module about
one thing; ``_head_regex`` and ``_scatter`` live here because both modules use them. Times come
out naive UTC (``_localise`` converts the wall-clock times of ``tz``); ``_du`` records what
python-dateutil did (1 read, -1 unreadable, 0 nothing to do).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import polars as pl

from azdiag.knowledge.formats import Header, LogFormat

#: How many distinct unmatched time strings per batch of files go to python-dateutil (50 µs each).
MAX_DATEUTIL_VALUES = 5_000

#: A header's ``time_format`` for times of no fixed shape: python-dateutil reads them (slow).
AUTO_TIME = "auto"

#: ``header`` of a line that matched no header but holds a known time form near its start.
TIME_FOUND = -2

#: How far into an unmatched line the fallback time finder looks (plaso and lnav do the same).
TIME_FINDER_CHARS = 64

_MESSAGE_TAIL = "(?P<message>.*)$"

#: Directives polars reads without chrono when they have their fixed width, and that width.
_FIXED_DIRECTIVES = {"Y": 4, "y": 2, "m": 2, "d": 2, "b": 3, "H": 2, "M": 2, "S": 2}

_FRACTION_DIRECTIVES = ("%.f", "%.3f", "%.6f", "%.9f")

_DIRECTIVE = re.compile(r"%(.)")


def _head_regex(header: Header) -> tuple[str, bool]:
    """The header regex without its trailing message capture, and whether it was removed.

    Capturing the message with ``.*`` costs more than all other fields together; a header group
    around the rest lets the message be cut from the line by length instead.
    """
    regex = header.regex
    if regex.endswith(_MESSAGE_TAIL):
        return "^(?P<_head>" + regex[1 : -len(_MESSAGE_TAIL)] + ")", True
    return regex, False


def _fixed_width(time_format: str) -> tuple[str, int, bool] | None:
    """(format without its trailing fraction, its width, whether a fraction may follow).

    None when the format has a directive of variable width: polars parses a fixed-width format
    with its own reader and any other through chrono, which costs five times as much.
    """
    prefix = time_format
    fraction = prefix.endswith(_FRACTION_DIRECTIVES)
    if fraction:
        prefix = prefix[: prefix.rindex("%")]
    width = len(prefix)
    for directive in _DIRECTIVE.finditer(prefix):
        if directive.group(1) not in _FIXED_DIRECTIVES:
            return None
        width += _FIXED_DIRECTIVES[directive.group(1)] - 2
    return prefix, width, fraction


def _fast_time(text: pl.Expr, time_format: str) -> pl.Expr:
    """Times in ``time_format``, read by the fixed-width reader where the text has that width.

    A time whose fields are not zero-padded stays null here; ``_fallback_times`` gives it to
    chrono with the whole format. Where the fixed-width reader succeeds, chrono would read the
    same time: the fraction is the rest of the text, a dot and digits, read as microseconds.
    """
    fixed = _fixed_width(time_format)
    if fixed is None:
        return _strptime(text, time_format)
    prefix, width, fraction = fixed
    if not fraction:
        return pl.when(text.str.len_bytes() == width).then(_strptime(text, prefix))
    seconds = _strptime(text.str.slice(0, width), prefix)
    rest = text.str.slice(width)
    micros = rest.str.slice(1, 6).str.pad_end(6, "0").cast(pl.Int64, strict=False)
    return pl.when(rest.str.contains(r"^(?:\.[0-9]{1,9})?$")).then(
        seconds + pl.duration(microseconds=micros)
    )


def _strptime(text: pl.Expr, time_format: str) -> pl.Expr:
    # no cache: nearly every time in a log is distinct, so the cache only costs
    parsed = text.str.strptime(pl.Datetime("us"), time_format, strict=False, cache=False)
    if _OFFSET.search(time_format):  # polars converts a written offset to UTC, zone attached
        parsed = parsed.dt.replace_time_zone(None)
    return parsed


#: The directives of a UTC offset written in the time (+01:00, +0100).
_OFFSET = re.compile(r"%(?:[:#]|::)?z")


def _localise(naive: pl.Expr, tz: str) -> pl.Expr:
    """Naive wall-clock times in ``tz`` -> naive UTC (times in logs carry no zone)."""
    if tz == "UTC":
        return naive
    return (
        naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )


def _scatter(frame: pl.DataFrame, positions: pl.Series, values: pl.DataFrame) -> pl.DataFrame:
    """Write the rows of ``values`` into ``frame`` at ``positions`` (columns by name)."""
    updated = []
    for name in frame.columns:
        if name in values.columns and name not in ("file", "line"):
            column = frame.get_column(name).clone()
            column.scatter(positions, values.get_column(name).cast(column.dtype))
            updated.append(column)
    return frame.with_columns(updated)


def _fallback_times(
    frame: pl.DataFrame, lines: pl.DataFrame, fmt: LogFormat, tz: str
) -> pl.DataFrame:
    """Read the times the fixed-width reader left: chrono with the whole format, then
    python-dateutil (counted, capped).

    Only rows whose grammar has a time but whose time did not parse get here, so the 50 µs a
    call of dateutil is paid for the odd line, never per line. ``_du`` records the outcome:
    1 read by dateutil, -1 unreadable, 0 nothing to do.
    """
    frame = frame.with_columns(_du=pl.lit(0, pl.Int8))
    with_time = [i for i, h in enumerate(fmt.headers) if h.time_format]
    bad = frame["header"].is_in(with_time) & frame["time"].is_null()
    if not bad.any():
        return frame
    bad_rows = bad.arg_true()
    headers = frame["header"].gather(bad_rows)
    parts = []
    for i in with_time:
        rows = bad_rows.filter(headers == i)
        if rows.len():
            header = fmt.headers[i]
            texts = lines["text"].gather(rows)
            texts = texts.str.extract(_head_regex(header)[0], group_index=_time_group(header))
            times = _times_read_slowly(texts, header, "UTC" if header.utc else tz)
            parts.append(times.with_columns(row=rows))
    fixed = pl.concat(parts)
    return _scatter(frame, fixed["row"], fixed.drop("row"))


def _times_read_slowly(texts: pl.Series, header: Header, tz: str) -> pl.DataFrame:
    """(time, _du) for time texts: chrono with the header's format, else python-dateutil."""
    times = pl.Series("time", [None] * texts.len(), pl.Datetime("us"))
    if header.time_format and header.time_format != AUTO_TIME:
        times = texts.to_frame("text").select(
            _localise(_strptime(pl.col("text"), header.time_format), tz).alias("time")
        )["time"]
    missing = times.is_null()
    if not missing.any():
        return times.to_frame().with_columns(_du=pl.lit(0, pl.Int8))
    from dateutil import parser as date_parser

    # a text with an offset ("...+05:00", or a stray "+5" that dateutil takes for one) names
    # its own zone: it is converted to UTC and --tz does not apply to it
    local: dict[str, datetime] = {}
    utc: dict[str, datetime] = {}
    for value in texts.filter(missing).drop_nulls().unique().head(MAX_DATEUTIL_VALUES):
        try:
            read = date_parser.parse(value)
        except (ValueError, OverflowError, TypeError):
            continue
        if read.tzinfo is None:
            local[value] = read
        else:
            try:
                utc[value] = read.astimezone(UTC).replace(tzinfo=None)
            except (ValueError, OverflowError):  # an offset pushing it out of years 1-9999
                continue
    values = texts.to_list()
    frame = pl.DataFrame(
        [
            times,
            pl.Series("local", [local.get(v) for v in values], pl.Datetime("us")),
            pl.Series("utc", [utc.get(v) for v in values], pl.Datetime("us")),
            missing.alias("missing"),
        ]
    )
    read = pl.coalesce(pl.col("utc"), _localise(pl.col("local"), tz))
    return frame.select(
        pl.when("missing").then(read).otherwise("time").alias("time"),
        pl.when(~pl.col("missing"))
        .then(0)
        .when(read.is_not_null())
        .then(1)
        .otherwise(-1)
        .cast(pl.Int8)
        .alias("_du"),
    )


def _time_group(header: Header) -> int:
    """Index of the ``time`` capture group in the header's head regex."""
    return re.compile(_head_regex(header)[0]).groupindex["time"]


def _find_times_in_timeless_files(
    frame: pl.DataFrame, continuation: pl.Series, fmt: LogFormat, tz: str
) -> pl.DataFrame:
    """In a file where no record has a time yet, look for a time anywhere in its lines.

    A file with a recognisable time form in its lines is never left without a time: the
    first-characters search of ``_find_times`` misses a time behind a long prefix.
    """
    files, timed = frame.select(
        pl.col("file").n_unique().alias("files"),
        pl.col("file").filter(pl.col("time").is_not_null()).n_unique().alias("timed"),
    ).row(0)
    if files == timed:  # the usual case, decided without a window over every line
        return frame
    timeless = frame.select(
        (pl.col("time").is_null().all().over("file") & ~pl.lit(continuation)).alias("t")
    ).to_series()
    if not timeless.any():
        return frame
    rows = timeless.arg_true()
    unmatched = frame["header"].gather(rows) == -1
    frame = _find_times(frame, rows.filter(unmatched), fmt, tz, TIME_FOUND, chars=None)
    return _find_times(frame, rows.filter(~unmatched), fmt, tz, None, chars=None)


def _find_times(
    frame: pl.DataFrame,
    positions: pl.Series,
    fmt: LogFormat,
    tz: str,
    header: int | None,
    *,
    chars: int | None = TIME_FINDER_CHARS,
) -> pl.DataFrame:
    """Give the records at ``positions`` a time found in the first characters of their message.

    Each known time form (grammar pieces) is searched in the first TIME_FINDER_CHARS
    characters. An unmatched line with one (``header`` TIME_FOUND) becomes a record with that
    time, the whole line as its message and a bracketed level word when one stands there; a
    record of a header without a time (``header`` None: kept) only gets the time.
    """
    if positions.len() == 0 or not fmt.time_forms:
        return frame
    heads = frame["message"].gather(positions)
    if chars is not None:
        heads = heads.str.slice(0, chars)
    found = pl.Series("time", [None] * positions.len(), pl.Datetime("us"))
    for regex, time_format, utc in fmt.time_forms:
        texts = heads.str.extract(f"({regex})", 1)
        times = texts.to_frame("t").select(
            _localise(_strptime(pl.col("t"), time_format), "UTC" if utc else tz)
        )["t"]
        found = found.fill_null(times)
    hit = found.is_not_null()
    if not hit.any():
        return frame
    values = pl.DataFrame({"time": found.filter(hit)})
    if header is not None:
        level = heads.filter(hit).str.slice(0, TIME_FINDER_CHARS)
        level = level.str.extract(r"\[([A-Za-z]+|[0-9A-Fa-f]{8})\]", 1)
        values = values.with_columns(
            header=pl.lit(header, pl.Int16), level_raw=level.alias("level_raw")
        )
    return _scatter(frame, positions.filter(hit), values)
