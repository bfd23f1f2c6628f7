"""The header grammars' passes over a batch's lines: which grammar runs first, the first pass
(by regex captures, or by position for a header's usual shape: its ``cut``), then the other
grammars on the lines still unexplained.

Split from :mod:`azdiag.parse.engine`, which calls ``first_pass`` and ``apply_other_headers``
for every batch. Each pass adds the record columns (``time``, ``level_raw``, ``pid``, ``tid``,
``source``, ``message``, ``header``: the grammar's index, -1 where none matched).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from azdiag.knowledge.formats import Cut, Header, LogFormat, _compile
from azdiag.parse.timestamps import (
    AUTO_TIME,
    _fast_time,
    _fixed_width,
    _head_regex,
    _localise,
    _scatter,
    _strptime,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


#: How many lines of a batch are tried against every header to choose the order of the passes.
_ORDER_SAMPLE = 200


def header_order(sample: list[str], fmt: LogFormat) -> list[int]:
    """The order in which the headers run over a batch: most matches on its ``sample`` first.

    The first header runs over every line and each further one only over what is left, so a
    file in an unusual (composed) shape must not pay a pass per grammar before its own. Ties
    keep the format's order: declared headers first, then the composed ones.
    """
    if len(fmt.headers) == 1:
        return [0]
    first = _compile(fmt.headers[0].regex)
    if sum(1 for text in sample if not first.match(text)) * 10 <= len(sample):
        return list(range(len(fmt.headers)))  # the usual shape: no need to rank the rest
    if fmt.start_regex:  # a line no header can start (a stack frame) would try them all in vain
        can_start = pl.Series(sample, dtype=pl.String).str.contains(fmt.start_regex)
        sample = [text for text, keep in zip(sample, can_start, strict=True) if keep]
    matched = [False] * len(sample)
    hits = [0] * len(fmt.headers)
    left = len(sample)
    for i, header in enumerate(fmt.headers):
        if not left:  # the rest match nothing left: not even compiled
            break
        regex = _compile(header.regex)
        for j, text in enumerate(sample):
            if not matched[j] and regex.match(text):
                matched[j] = True
                hits[i] += 1
                left -= 1
    return sorted(range(len(fmt.headers)), key=lambda i: (-hits[i], i))


def sample_lines(lines: pl.DataFrame) -> list[str]:
    """The lines that stand for a batch: its head, and its tail (generations may differ)."""
    sample = lines.head(_ORDER_SAMPLE)["text"].to_list()
    if len(lines) > _ORDER_SAMPLE:
        sample += lines.tail(_ORDER_SAMPLE // 2)["text"].to_list()
    return sample


def _with_header(frame: pl.LazyFrame, header: Header, index: int, tz: str) -> pl.LazyFrame:
    """Add the record columns one header grammar gives ``text`` (nulls where it does not match).

    The regex runs once into a struct column; every field is read from that struct.
    """
    regex, cut = _head_regex(header)
    match = pl.col("_match")
    matched = match.struct.field("_head" if cut else "message").is_not_null()
    if cut:  # an unmatched line has no head: all of it is the message
        # the head is the text's own prefix: stripping it beats counting its characters
        message = pl.col("text").str.strip_prefix(match.struct.field("_head").fill_null(""))
    else:
        message = pl.when(matched).then(match.struct.field("message")).otherwise(pl.col("text"))
    columns = _record_columns(header, index, tz, match.struct.field, matched, message)
    return (
        frame.with_columns(_match=pl.col("text").str.extract_groups(regex))
        .with_columns(columns)
        .drop("_match")
    )


def _with_cut(frame: pl.LazyFrame, header: Header, index: int, tz: str) -> pl.LazyFrame:
    """The columns of ``_with_header`` for the lines in the header's usual shape (its ``cut``),
    read by position after one regex pass without captures; other lines are left unmatched."""
    assert header.cut is not None
    cut = header.cut
    fits = pl.col("_fits")

    def value(name: str) -> pl.Expr:
        start, length = cut.fields[name]
        text = pl.col("text").str.slice(start, length)
        return pl.when(fits).then(text.str.strip_chars_end(cut.strip) if cut.strip else text)

    # one slice from a start per row, not a slice and a choice between two texts (a fifth less)
    message = pl.col("text").str.slice(pl.when(fits).then(cut.message).otherwise(0))
    time = _cut_time(cut, header.time_format)
    if time is not None:
        time = pl.when(fits).then(time)
    columns = _record_columns(header, index, tz, value, fits, message, time)
    return (
        frame.with_columns(_fits=pl.col("text").str.contains(cut.shape))
        .with_columns(columns)
        .drop("_fits")
    )


def _cut_time(cut: Cut, time_format: str | None) -> pl.Expr | None:
    """The time of a line in the cut's shape, read at its fixed places; None where the general
    reader (``_fast_time``) must do it.

    The shape fixes the time's width, so its fraction has a fixed number of digits at a fixed
    place: the seconds and the dot go to the fixed-width reader in one (the dot a literal of the
    format) and the digits are cast as one integer. That skips the check of a fraction of any
    length, which was half the cost of the first pass (0.33 against 0.14 CPU-s per M lines).
    """
    if time_format is None or time_format == AUTO_TIME or "time" not in cut.fields:
        return None
    fixed = _fixed_width(time_format)
    if fixed is None:
        return None
    prefix, width, fraction = fixed
    start, length = cut.fields["time"]
    text = pl.col("text")
    if length == width:
        return _strptime(text.str.slice(start, width), prefix)
    digits = length - width - 1
    if not fraction or not 1 <= digits <= 6:
        return None
    seconds = _strptime(text.str.slice(start, width + 1), prefix + ".")
    figures = text.str.slice(start + width + 1, digits)
    # the cast takes "+5" for 5 (and rejects "-5"): a shape that lets a sign through must not
    # make a time the regex path would not
    micros = pl.when(figures.str.slice(0, 1) != "+").then(figures.cast(pl.UInt32, strict=False))
    return seconds + pl.duration(microseconds=micros * 10 ** (6 - digits))


def _record_columns(
    header: Header,
    index: int,
    tz: str,
    value: Callable[[str], pl.Expr],
    matched: pl.Expr,
    message: pl.Expr,
    naive_time: pl.Expr | None = None,
) -> list[pl.Expr]:
    """time, level_raw, pid, tid, source, message and header from a header's field values
    (``naive_time``: the time in the log's own zone, when the caller read it already)."""

    def field_or_null(name: str, dtype: pl.DataType) -> pl.Expr:
        if name in header.fields:
            found = value(name)
            return found.cast(dtype, strict=False) if dtype != pl.String() else found
        return pl.lit(None, dtype=dtype)

    if header.time_format and header.time_format != AUTO_TIME:
        if naive_time is None:
            naive_time = _fast_time(value("time"), header.time_format)
        time = _localise(naive_time, "UTC" if header.utc else tz)
    else:
        time = pl.lit(None, dtype=pl.Datetime("us"))
    return [
        time.alias("time"),
        field_or_null("level", pl.String()).alias("level_raw"),
        field_or_null("pid", pl.Int32()).alias("pid"),
        field_or_null("tid", pl.Int32()).alias("tid"),
        field_or_null("source", pl.String()).alias("source"),
        message.alias("message"),
        pl.when(matched)
        .then(pl.lit(index, pl.Int16))
        .otherwise(pl.lit(-1, pl.Int16))
        .alias("header"),
    ]


#: A header's cut runs first when at least this share of the sampled lines has its shape.
_CUT_SHARE = 0.5


def first_pass(
    lines: pl.DataFrame, sample: list[str], fmt: LogFormat, first: int, tz: str
) -> tuple[pl.DataFrame, bool]:
    """The records after the first header's pass over every line, and whether it was its cut
    (then the lines out of shape are still to be read by that header's regex). The cut runs
    when enough of the batch's ``sample`` (see ``sample_lines``) has its shape."""
    header = fmt.headers[first]
    cut = header.cut is not None and _share_in_shape(sample, header) >= _CUT_SHARE
    run = _with_cut if cut else _with_header
    frame = run(lines.lazy(), header, first, tz).drop("text").collect(engine="streaming")
    return frame, cut


def _share_in_shape(sample: list[str], header: Header) -> float:
    assert header.cut is not None
    shape = _compile(header.cut.shape)
    return sum(1 for text in sample if shape.match(text)) / max(len(sample), 1)


def apply_other_headers(
    frame: pl.DataFrame, lines: pl.DataFrame, fmt: LogFormat, order: Iterable[int], tz: str
) -> pl.DataFrame:
    """Try the remaining grammars on the lines the first one left, and write their fields back.

    One pass of what any header can begin with (``start_regex``) first picks the lines a
    grammar can match, so stack traces and other continuation lines do not pay one pass per
    grammar.
    """
    order = list(order)
    rest = frame["header"] == -1
    if not order or not rest.any():
        return frame
    positions = rest.arg_true()
    if fmt.start_regex:
        candidate = lines["text"].gather(positions).str.contains(fmt.start_regex)
        positions = positions.filter(candidate.fill_null(False))
    if 0 < positions.len() <= _FEW_LINES:
        order = _claiming(lines["text"].gather(positions).to_list(), fmt, order)
    for index in order:
        if positions.len() == 0:
            break
        parsed = _with_header(lines[positions].lazy(), fmt.headers[index], index, tz).collect()
        hit = parsed["header"] >= 0
        if hit.any():
            parsed = parsed.filter(hit)
            # the fields of unmatched rows are null already: only what this grammar found
            found = [c for c in parsed.columns if parsed[c].null_count() < parsed.height]
            frame = _scatter(frame, positions.filter(hit), parsed.select(found))
            positions = positions.filter(~hit)
    return frame


#: Up to this many lines left after the first grammar, the grammars that match none of them
#: are found in Python and skipped: a pass of polars costs about 2.5 ms whatever it reads, and a
#: format has over a hundred composed grammars (a line that only the last one reads, such as a
#: TraceSource line without a time, would cost them all).
_FEW_LINES = 5_000


def _claiming(texts: list[str], fmt: LogFormat, order: list[int]) -> list[int]:
    """The grammars of ``order`` (in that order) that are the first to match one of ``texts``."""
    compiled = [(index, _compile(fmt.headers[index].regex)) for index in order]
    claimed = set()
    for text in texts:
        index = next((i for i, regex in compiled if regex.match(text)), None)
        if index is not None:
            claimed.add(index)
    return [index for index in order if index in claimed]
