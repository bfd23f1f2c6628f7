"""Message signatures: records -> semantic events (agent start, task exit, OnStart call...).

Signatures are data, written in the format files (``[[signatures]]`` in parsers/*.toml). Each has
a literal ``keyword`` (a cheap prefilter), an optional ``pattern`` whose named groups become event
fields, optional raw ``levels``, and the workflow ``stage`` its event belongs to. Per log kind,
the first signature that matches a record wins. The work is vectorised: one multi-keyword scan
picks the candidate records, then one query tries every signature of the kind on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from azdiag.common.frames import with_aligned
from azdiag.knowledge.formats import (
    FormatError,
    FormatSet,
    LogFormat,
    group_names,
    regex_problem,
)

#: ``component = "@"`` in a signature means "the component of the log it was found in".
OWN_COMPONENT = "@"


@dataclass(frozen=True)
class Signature:
    """One way a message of a log kind is recognised as an event."""

    event: str
    keyword: str
    pattern: str | None
    levels: tuple[str, ...]
    stage: str | None
    component: str | None
    stage_by: tuple[str, dict[str, str]] | None  # (field, value -> stage) e.g. state Ready
    samples: tuple[dict[str, Any], ...]
    counter_samples: tuple[dict[str, Any], ...]  # messages that must not give this event
    format_id: str

    @property
    def fields(self) -> tuple[str, ...]:
        return group_names(self.pattern) if self.pattern else ()


@dataclass
class SignatureSet:
    """All signatures, by format id, in matching order."""

    by_format: dict[str, list[Signature]] = field(default_factory=dict)

    @property
    def field_names(self) -> list[str]:
        """Every field any signature can capture: the extra columns of the events table."""
        names = {f for sigs in self.by_format.values() for s in sigs for f in s.fields}
        return sorted(names)

    def __iter__(self) -> Iterator[Signature]:
        return (s for sigs in self.by_format.values() for s in sigs)


def load_signatures(formats: FormatSet) -> SignatureSet:
    """Read ``[[signatures]]`` of every format (inherited ones first, see ``extends``)."""
    result = SignatureSet()
    for fmt in formats:
        result.by_format[fmt.id] = [_build(fmt, i, raw) for i, raw in enumerate(fmt.signatures)]
    return result


def _build(fmt: LogFormat, index: int, raw: dict[str, Any]) -> Signature:
    where = f"{fmt.source_file}: signatures[{index}]"
    if not raw.get("event") or not (raw.get("keyword") or raw.get("levels")):
        raise FormatError(f"{where} needs an 'event' and a literal 'keyword' (or 'levels')")
    pattern = raw.get("pattern")
    if pattern:  # checked by load_formats already: regex_problem remembers what it passed
        problem = regex_problem(pattern)
        if problem:
            raise FormatError(f"{where} pattern {problem}")
    stage_by = None
    if "stage_by" in raw:
        table = raw["stage_by"]
        stage_by = (table["field"], dict(table["map"]))
    return Signature(
        event=raw["event"],
        keyword=raw.get("keyword", ""),
        pattern=pattern,
        levels=tuple(raw.get("levels", ())),
        stage=raw.get("stage"),
        component=raw.get("component"),
        stage_by=stage_by,
        samples=tuple(raw.get("samples", ())),
        counter_samples=tuple(raw.get("counter_samples", ())),
        format_id=fmt.id,
    )


#: Columns ``classify`` adds to every event (the fields live in the details table).
EVENT_TAGS = ("event", "stage", "component", "sig")


def classify(
    events: pl.DataFrame,
    formats: FormatSet,
    signatures: SignatureSet,
    stage_components: dict[str, str],
    *,
    first_records: bool = True,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Tag ``events`` with ``event``, ``stage``, ``component`` and ``sig``; return the details.

    Logs repeat themselves, so each distinct (kind, message, level) is classified once: the
    details table has one row per distinct record shape (``sig``) with the signature fields
    (task ``cmd``, exit ``code``, reported ``state``...). Keeping the fields there, not as
    mostly-empty columns of millions of events, is what keeps memory near the input size;
    ``with_fields`` joins them onto any selection of events.
    ``first_records=False`` skips the first-record events (for single-line checks).
    """
    keys = ["kind", "message", "level_raw"]
    sig, first_rows = _shapes(events)
    distinct = events.select(keys)[first_rows]
    texts = distinct.select(pl.col(keys).cast(pl.String))
    columns: dict[str, _Column] = {
        name: _Column(distinct.height)
        for name in ("event", "stage", "component", *signatures.field_names)
    }
    kind_to_format = {f.kind: f for f in formats}
    for kind in texts["kind"].unique().drop_nulls().to_list():
        fmt = kind_to_format.get(kind)
        sigs = signatures.by_format.get(fmt.id, []) if fmt else []
        if fmt is None or not sigs:
            continue
        positions = (texts["kind"] == kind).arg_true()
        _classify_kind(texts, positions, fmt, sigs, columns, stage_components)
    details = distinct.with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("sig"),
        *(col.series(name) for name, col in columns.items()),
    ).with_columns(pl.col("event", "stage", "component").cast(pl.Categorical))
    # streamed: the per-record work runs on slices that stay in cache, and only the new
    # columns are allocated at full length
    tags = (
        events.lazy()
        .select(sig.alias("sig"))
        .select(
            *(pl.lit(details[name]).gather(pl.col("sig")) for name in EVENT_TAGS if name != "sig"),
            "sig",
        )
        .collect(engine="streaming")
    )
    classified = with_aligned(events, tags.get_columns())
    for fmt in formats if first_records else ():
        if fmt.first_record_event:
            classified = _mark_first_records(classified, fmt, signatures, stage_components)
    # the message text stays in the details (one per shape) so field tests can look at it too
    details = details.with_columns(text=pl.col("message").cast(pl.String))
    return classified, details.drop(keys)


def _shapes(events: pl.DataFrame) -> tuple[pl.Expr, pl.Series]:
    """The ``sig`` of a record (an expression) and the first row of each shape.

    A shape is a distinct (kind, message, raw level), numbered in order of first appearance.
    One pass over the category codes finds the first rows; the number of a record is then a
    lookup: (kind, level) pairs are few, so pair number and message code make a key of a few
    hundred thousand values, small enough for a table (a hash map when the codes are too
    sparse). The passes over the records are streamed (slices that stay in cache).
    """

    def code(name: str) -> pl.Expr:
        column = pl.col(name)
        if events.schema[name] == pl.String():
            column = column.cast(pl.Categorical)
        return column.to_physical()

    bounds = events.select(
        *(code(name).max().alias(name) for name in ("kind", "message", "level_raw"))
    ).row(0)
    kinds, messages, levels = (int(bound or 0) + 1 for bound in bounds)
    width = levels + 1  # the last level number stands for "no level"
    level = code("level_raw").fill_null(levels)
    if messages * kinds * width <= 1 << 64:
        key_type = _uint(messages * kinds * width)
        key = (code("message").cast(key_type) * kinds + code("kind").cast(key_type)) * width
        key += level.cast(key_type)
    else:
        key = pl.struct(code("kind"), code("message"), level)
    first_rows = events.lazy().select(key).collect(engine="streaming").to_series().arg_unique()
    firsts = events.select("kind", "message", "level_raw")[first_rows]
    limit = max(events.height, 1 << 16)  # a lookup table no bigger than a column
    pair_type = _uint(kinds * width)
    pair = code("kind").cast(pair_type) * width + level.cast(pair_type)
    pairs = firsts.select(pair.unique()).to_series()
    shape = code("message").cast(_uint(messages * pairs.len())) * pairs.len() + _position_in(
        pair, pairs, limit
    )
    return _position_in(shape, firsts.select(shape).to_series(), limit), first_rows


def _uint(bound: int) -> pl.DataType:
    """The unsigned integer type that holds values below ``bound`` (at most 2**64)."""
    return pl.UInt32() if bound <= 1 << 32 else pl.UInt64()


def _position_in(expr: pl.Expr, values: pl.Series, limit: int) -> pl.Expr:
    """The position in ``values`` (distinct non-negative integers) of each value of ``expr``:
    a gather from a lookup table when it has at most ``limit`` entries, else a hash map."""
    numbers = pl.int_range(values.len(), dtype=pl.UInt32, eager=True)
    top = values.max()
    if not isinstance(top, int) or top >= limit:  # no values, or too sparse for a table
        return expr.replace_strict(values, numbers, return_dtype=pl.UInt32)
    table = pl.repeat(0, top + 1, dtype=pl.UInt32, eager=True)
    table.scatter(values, numbers)
    return pl.lit(table).gather(expr)


def with_fields(
    events: pl.DataFrame, details: pl.DataFrame, *, present_only: bool = False
) -> pl.DataFrame:
    """``events`` (any selection) with the signature fields of their records, by ``sig``.

    ``present_only``: only the fields at least one of these records has (a field no record
    has is left out rather than joined as a column of nulls)."""
    fields = details.drop("event", "stage", "component", "text")
    if present_only:
        fields = fields.filter(pl.col("sig").is_in(events["sig"].unique().implode()))
        fields = fields.select(
            c.name for c in fields.get_columns() if c.name == "sig" or c.null_count() < c.len()
        )
    return events.join(fields, on="sig", how="left", maintain_order="left")


def _mark_first_records(
    events: pl.DataFrame, fmt: LogFormat, signatures: SignatureSet, components: dict[str, str]
) -> pl.DataFrame:
    """Give the first record of each file of ``fmt`` its ``first_record_event``.

    For logs written anew at each process start (the bootstrapper's), the file's first record
    *is* the start, whatever its wording; files whose start line a signature already recognised
    are left alone, and so is a first record that is itself a recognised event. With
    ``first_record_per_process``, a file is cut further where its pid changes (in line order;
    records without a pid belong to the process above): one file that several starts appended
    to holds several starts.
    """
    event = fmt.first_record_event
    model = next((s for s in signatures.by_format.get(fmt.id, []) if s.event == event), None)
    stage = model.stage if model else None
    component = (model.component if model else None) or components.get(stage or "")
    kind_type = events.schema.get("kind")
    if "file" not in events.columns or (
        isinstance(kind_type, pl.Enum) and fmt.kind not in kind_type.categories
    ):
        return events
    # per file: the row of its first record, and whether a signature recognised the start
    # (the start, or the first record itself, recognised keeps its own meaning)
    first_line = pl.col("line").arg_min()
    # the kind's rows and their positions: no row number over the whole table
    mine = events["kind"] == fmt.kind
    per_process = fmt.first_record_per_process and "pid" in events.columns
    wanted = ["file", "line", "event", *(["pid"] if per_process else [])]
    records = events.select(wanted).filter(mine).with_columns(_row=mine.arg_true()).lazy()
    # per process as well only in files more than one pid wrote (their first and last pids
    # differ): a group per (file, pid) over the kind's millions of probes cost 140 MB at the
    # peak of a 1 GB collection whose files each hold one process (a file whose last process
    # reuses its first pid is read as one)
    pids = [pl.col("pid").drop_nulls().first().alias("_p0")] if per_process else []
    pids += [pl.col("pid").drop_nulls().last().alias("_p1")] if per_process else []
    start = [
        pl.col("_row").get(first_line),
        pl.col("event").get(first_line),
        (pl.col("event") == event).any().alias("_recognised"),
    ]
    per_file = records.group_by("file").agg(*start, *pids)
    per_file_rows = per_file.collect()
    unmarked = ~pl.col("_recognised") & pl.col("event").is_null()
    firsts = per_file_rows.filter(unmarked)["_row"]
    if per_process:
        several = per_file_rows.filter(pl.col("_p0") != pl.col("_p1"))["file"]
        if several.len():
            # each further pid of such a file (by the line it starts at) is a process of its own
            written = pl.col("file").is_in(several.implode()) & pl.col("pid").is_not_null()
            by_pid = (
                records.filter(written)
                .group_by("file", "pid")
                .agg(*start, pl.col("line").min().alias("_first"))
            )
            later = by_pid.filter(pl.col("_first") > pl.col("_first").min().over("file"))
            firsts = firsts.append(later.filter(unmarked).collect()["_row"])
    if firsts.len() == 0:
        return events
    columns = []
    for name, value in (("event", event), ("stage", stage), ("component", component)):
        column = events[name].clone()  # copied when written: the caller's frame stays as is
        column.scatter(firsts, value)
        columns.append(column)
    return with_aligned(events, columns)


class _Column:
    """A full-length string column filled by position, built once at the end."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.parts: list[tuple[pl.Series, pl.Series | str]] = []

    def put(self, positions: pl.Series, values: pl.Series | str | None) -> None:
        """``values`` per position, or one value for all (None: nothing to write)."""
        if isinstance(values, pl.Series):
            self.parts.append((positions, values.cast(pl.String)))
        elif values is not None:
            self.parts.append((positions, values))

    def series(self, name: str) -> pl.Series:
        column = pl.Series(name, [None] * self.height, dtype=pl.String)
        for positions, values in self.parts:
            column.scatter(positions, values)
        return column


def _classify_kind(
    events: pl.DataFrame,
    positions: pl.Series,
    fmt: LogFormat,
    sigs: list[Signature],
    columns: dict[str, _Column],
    stage_components: dict[str, str],
) -> None:
    keywords = sorted({s.keyword for s in sigs if s.keyword})
    level_only = sorted({lvl for s in sigs if not s.keyword for lvl in s.levels})
    candidate = pl.col("message").str.contains_any(keywords)
    if level_only:
        candidate |= pl.col("level").is_in(level_only)
    # the keywords, one multi-pattern scan, set aside the bulk that no signature can match
    records = pl.DataFrame(
        {
            "_row": positions,
            "message": events["message"].gather(positions),
            "level": events["level_raw"].gather(positions).cast(pl.String),
        }
    ).filter(candidate)
    # a signature whose keyword no candidate holds cannot match: it is left out, so its
    # pattern is never compiled (compiling the patterns, not matching a few hundred distinct
    # records, is most of the cost here)
    found = records.select(
        pl.col("message").str.contains(keyword, literal=True).any().alias(str(index))
        for index, keyword in enumerate(keywords)
    )
    anywhere = found.row(0) if keywords else ()
    present = {keyword for keyword, hit in zip(keywords, anywhere, strict=True) if hit}
    tried = [(i, sig) for i, sig in enumerate(sigs) if not sig.keyword or sig.keyword in present]
    if not tried:
        return
    # every signature left tried on every candidate in one query: a record takes the first match
    first_match = pl.coalesce(
        pl.when(_matches(sig)).then(pl.lit(index, pl.UInt32)) for index, sig in tried
    )
    matched = records.with_columns(_sig=first_match).filter(pl.col("_sig").is_not_null())
    for (index,), hits in sorted(matched.partition_by("_sig", as_dict=True).items()):
        sig = sigs[index]
        captured: pl.DataFrame | None = None
        if sig.pattern and sig.fields:
            captured = hits.select(
                pl.col("message").str.extract_groups(sig.pattern).struct.unnest()
            )
        rows = hits["_row"]
        columns["event"].put(rows, sig.event)
        component = fmt.component if sig.component == OWN_COMPONENT else sig.component
        stage: pl.Series | str | None = sig.stage
        if sig.stage_by and captured is not None and sig.stage_by[0] in captured.columns:
            field_name, mapping = sig.stage_by
            stage = captured[field_name].replace_strict(
                mapping, default=sig.stage, return_dtype=pl.String
            )
        columns["stage"].put(rows, stage)
        if component:
            columns["component"].put(rows, component)
        elif isinstance(stage, pl.Series):
            columns["component"].put(
                rows,
                stage.replace_strict(stage_components, default=None, return_dtype=pl.String),
            )
        else:
            columns["component"].put(rows, None if stage is None else stage_components.get(stage))
        if captured is not None:
            for name in captured.columns:
                columns[name].put(rows, captured[name])


def _matches(sig: Signature) -> pl.Expr:
    """True for a record (``message``, ``level``) that ``sig`` recognises."""
    conditions = []
    if sig.keyword:
        conditions.append(pl.col("message").str.contains(sig.keyword, literal=True))
    if sig.levels:
        conditions.append(pl.col("level").is_in(list(sig.levels)))
    if sig.pattern:
        conditions.append(pl.col("message").str.contains(sig.pattern))
    return pl.all_horizontal(conditions) if conditions else pl.lit(True)
