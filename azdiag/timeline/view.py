"""Filtering and writing the timeline tables for ``azdiag timeline``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from azdiag.common.text import first_few

if TYPE_CHECKING:
    from azdiag.timeline.analysis import Analysis

#: Columns shown in the terminal table of events (the other formats carry every column).
_EVENT_TABLE = ("time", "instance", "kind", "level", "cycle", "stage", "event", "message")
_MESSAGE_WIDTH = 120


@dataclass(frozen=True)
class TimelineFilter:
    instances: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, frame: pl.DataFrame, time_column: str) -> pl.DataFrame:
        conditions = []
        if self.instances and "instance" in frame.columns:
            conditions.append(pl.col("instance").cast(pl.String).is_in(list(self.instances)))
        if self.kinds and "kind" in frame.columns:
            wanted = [k.lower() for k in self.kinds]
            conditions.append(pl.col("kind").cast(pl.String).str.to_lowercase().is_in(wanted))
        if self.events and "event" in frame.columns:
            conditions.append(pl.col("event").cast(pl.String).is_in(list(self.events)))
        if self.since:
            conditions.append(pl.col(time_column) >= self.since)
        if self.until:
            conditions.append(pl.col(time_column) <= self.until)
        return frame.filter(conditions) if conditions else frame

    def unmatched(self, analysis: Analysis) -> str | None:
        """Which --instance, --kind or --event value matches no event, and the known ones."""
        events = analysis.events
        for flag, values, column in (
            ("--instance", self.instances, "instance"),
            ("--kind", self.kinds, "kind"),
            ("--event", self.events, "event"),
        ):
            known = sorted(v for v in events[column].cast(pl.String).unique() if v is not None)
            lower = {k.lower() for k in known} if column == "kind" else set(known)
            missing = [v for v in values if (v.lower() if column == "kind" else v) not in lower]
            if missing:
                listed = first_few(known, 12) or "none"
                return f"{flag} {', '.join(missing)}; this collection has: {listed}"
        return None


def render_timeline(
    analysis: Analysis, show: str, wanted: TimelineFilter, fmt: str, output: Path | None = None
) -> str | None:
    """Write the chosen table to ``output`` (returns None) or return it as text."""
    frame: pl.DataFrame = getattr(analysis, show)
    frame = wanted.apply(frame, "time" if show == "events" else "start")
    if show == "events" and fmt != "table":  # machine formats carry the signature fields too
        fields = analysis.with_fields(frame)
        empty = [
            c
            for c in fields.columns
            if c not in frame.columns and fields[c].null_count() == fields.height
        ]
        frame = fields.drop(empty)
    if fmt == "parquet":
        assert output is not None
        frame.write_parquet(output)
        return None
    if fmt == "csv":
        text = _flatten(frame).write_csv()
    elif fmt == "jsonl":
        text = frame.write_ndjson()
    else:
        text = _table(frame, show)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        return None
    return text


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV holds no lists: join them with '>' (stages in order)."""
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(pl.col(lists).list.join(">")) if lists else frame


def _table(frame: pl.DataFrame, show: str) -> str:
    if show == "events":
        frame = frame.select([c for c in _EVENT_TABLE if c in frame.columns]).with_columns(
            pl.col("message")
            .cast(pl.String)
            .str.replace_all("\n", " ⏎ ")
            .str.slice(0, _MESSAGE_WIDTH)
        )
    frame = _flatten(frame)
    rows = [tuple(frame.columns)] + [
        tuple("" if v is None else _cell(v) for v in row) for row in frame.iter_rows()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
