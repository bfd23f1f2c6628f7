"""Message signatures: records -> semantic events (agent start, task exit, OnStart call...).

Signatures are data, written in the format files (``[[signatures]]`` in parsers/*.toml). Each has
a literal ``keyword`` (a cheap prefilter), an optional ``pattern`` whose named groups become event
fields, optional raw ``levels``, and the workflow ``stage`` its event belongs to. Per log kind,
the first signature that matches a record wins. The work is vectorised: one multi-keyword scan
picks the candidate records, then each signature's literal and regex run only on what is left.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from azdiag.formats import FormatError, FormatSet, LogFormat, engine_rejects

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
        if not self.pattern:
            return ()
        return tuple(re.compile(self.pattern).groupindex)


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
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise FormatError(f"{where} pattern does not compile: {exc}") from exc
        problem = engine_rejects(pattern)
        if problem:
            raise FormatError(f"{where} pattern is not supported by the engine: {problem}")
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
    shape = _shape_key(events)
    first_rows = shape.arg_unique()
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
    sig = shape.replace_strict(shape.gather(first_rows), details["sig"], return_dtype=pl.UInt32)
    classified = events.with_columns(
        pl.lit(details[name]).gather(sig).alias(name) for name in EVENT_TAGS if name != "sig"
    ).with_columns(sig=sig)
    for fmt in formats if first_records else ():
        if fmt.first_record_event:
            classified = _mark_first_records(classified, fmt, signatures, stage_components)
    # the message text stays in the details (one per shape) so field tests can look at it too
    details = details.with_columns(text=pl.col("message").cast(pl.String))
    return classified, details.drop(keys)


_LEVEL_NULL = (1 << 24) - 1


def _shape_key(events: pl.DataFrame) -> pl.Series:
    """One integer per record shape (kind, message, raw level), from their category codes.

    Packing the codes (kind < 2**8, message < 2**32, level < 2**24) makes finding the distinct
    shapes and mapping records to them two hash passes over one column; a struct key is used
    in the unlikely case the codes do not fit.
    """

    def code(name: str) -> pl.Expr:
        column = pl.col(name)
        if events.schema[name] == pl.String():
            column = column.cast(pl.Categorical)
        return column.to_physical().cast(pl.UInt64)

    codes = events.select(
        code("kind").alias("k"),
        code("message").alias("m"),
        code("level_raw").fill_null(_LEVEL_NULL).alias("l"),
    )
    kinds, levels = codes["k"].max() or 0, codes["l"].max() or 0
    if kinds < 256 and levels <= _LEVEL_NULL:  # type: ignore[operator]
        packed = pl.col("k") * (1 << 56) + pl.col("m") * (1 << 24) + pl.col("l")
    else:
        packed = pl.struct("k", "m", "l").hash()
    return codes.select(packed).to_series()


def with_fields(events: pl.DataFrame, details: pl.DataFrame) -> pl.DataFrame:
    """``events`` (any selection) with the signature fields of their records, by ``sig``."""
    fields = details.drop("event", "stage", "component", "text")
    return events.join(fields, on="sig", how="left", maintain_order="left")


def _mark_first_records(
    events: pl.DataFrame, fmt: LogFormat, signatures: SignatureSet, components: dict[str, str]
) -> pl.DataFrame:
    """Give the first record of each file of ``fmt`` its ``first_record_event``.

    For logs written anew at each process start (the bootstrapper's), the file's first record
    *is* the start, whatever its wording; files whose start line a signature already recognised
    are left alone, and so is a first record that is itself a recognised event.
    """
    event = fmt.first_record_event
    model = next((s for s in signatures.by_format.get(fmt.id, []) if s.event == event), None)
    stage = model.stage if model else None
    component = (model.component if model else None) or components.get(stage or "")
    if "file" not in events.columns or fmt.kind not in set(events["kind"].unique().to_list()):
        return events
    rows = (
        events.lazy()
        .with_row_index("_row")
        .filter(pl.col("kind") == fmt.kind)
        .select("_row", "file", "line", "event")
        .collect()
    )
    recognised = rows.filter(pl.col("event") == event)["file"].unique().implode()
    firsts = (
        rows.filter(~pl.col("file").is_in(recognised))
        .group_by("file")
        .agg(pl.all().sort_by("line").first())
        .filter(pl.col("event").is_null())  # a recognised first line keeps its own meaning
    )["_row"]
    if firsts.len() == 0:
        return events
    chosen = pl.repeat(False, events.height, eager=True)
    chosen.scatter(firsts, True)
    cat = pl.Categorical()
    return events.with_columns(
        event=pl.when(chosen).then(pl.lit(event, cat)).otherwise(pl.col("event")),
        stage=pl.when(chosen).then(pl.lit(stage, cat)).otherwise(pl.col("stage")),
        component=pl.when(chosen).then(pl.lit(component, cat)).otherwise(pl.col("component")),
    )


class _Column:
    """A full-length string column filled by position, built once at the end."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.parts: list[tuple[pl.Series, pl.Series]] = []

    def put(self, positions: pl.Series, values: pl.Series) -> None:
        self.parts.append((positions, values.cast(pl.String)))

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
    messages = events["message"].gather(positions)
    levels = events["level_raw"].gather(positions).cast(pl.String)
    keywords = sorted({s.keyword for s in sigs if s.keyword})
    unclassified = messages.str.contains_any(keywords).fill_null(False)
    level_only = sorted({lvl for s in sigs if not s.keyword for lvl in s.levels})
    if level_only:
        unclassified |= levels.is_in(level_only).fill_null(False)
    for sig in sigs:
        remaining = unclassified.arg_true()  # indices into this kind's rows
        if remaining.len() == 0:
            break
        hit = pl.repeat(True, remaining.len(), eager=True)
        if sig.keyword:
            texts = messages.gather(remaining)
            hit = texts.str.contains(sig.keyword, literal=True).fill_null(False)
        if sig.levels:
            hit &= levels.gather(remaining).is_in(list(sig.levels)).fill_null(False)
        if not hit.any():
            continue
        local = remaining.filter(hit)
        captured: pl.DataFrame | None = None
        if sig.pattern:
            texts = messages.gather(local)
            matched = texts.str.contains(sig.pattern).fill_null(False)
            if sig.fields:
                captured = texts.str.extract_groups(sig.pattern).struct.unnest()
            local = local.filter(matched)
            if captured is not None:
                captured = captured.filter(matched)
        if local.len() == 0:
            continue
        rows = positions.gather(local)
        columns["event"].put(rows, pl.repeat(sig.event, local.len(), eager=True))
        component = fmt.component if sig.component == OWN_COMPONENT else sig.component
        stage = pl.repeat(sig.stage, local.len(), eager=True, dtype=pl.String)
        if sig.stage_by and captured is not None and sig.stage_by[0] in captured.columns:
            field_name, mapping = sig.stage_by
            stage = captured[field_name].replace_strict(
                mapping, default=sig.stage, return_dtype=pl.String
            )
        columns["stage"].put(rows, stage)
        if component:
            columns["component"].put(rows, pl.repeat(component, local.len(), eager=True))
        else:
            columns["component"].put(
                rows,
                stage.replace_strict(stage_components, default=None, return_dtype=pl.String),
            )
        if captured is not None:
            for name in captured.columns:
                columns[name].put(rows, captured[name])
        unclassified.scatter(local, False)
