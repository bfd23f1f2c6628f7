"""What the reports show of the IIS and event logs: request rate and errors against the role's
states, and the Windows event records that signatures recognised.

Both read the analysis (the IIS minute events of ``parsers/iis-*.toml``, the event records of
``parsers/windows-eventlog.toml`` with their signature fields) and give plain JSON-able data,
bounded whatever the collection: a month of minutes is binned to at most ``MAX_POINTS`` points.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from azdiag.analysis import Analysis
from azdiag.times import iso

#: Points per instance at most: minutes are added up into the smallest bin that fits.
MAX_POINTS = 1500
#: Bin widths tried, in minutes.
BIN_MINUTES = (1, 5, 15, 60, 360, 1440)
#: Event-log records listed per instance at most (the earliest first).
MAX_EVENT_RECORDS = 500
#: The kinds the IIS readers produce, and the event of their minute rows.
W3SVC, HTTPERR = "W3SVC", "HTTPERR"
#: Fields of an event-log record, beside its time, level, event and stage.
RECORD_FIELDS = ("channel", "provider", "event_id")
_COUNTS = ("requests", "http_2xx", "http_3xx", "http_4xx", "http_5xx", "http_500", "http_503")


def traffic(analysis: Analysis) -> list[dict[str, Any]]:
    """Per instance with IIS logs: request counts and errors per time bin.

    Each item: ``instance``, ``bin_minutes`` (1, 5, 15, 60, 360 or 1440) and ``points``, one per
    bin with any request: ``time`` (bin start, ISO UTC), the W3SVC counts ``requests``,
    ``http_2xx``...``http_5xx``, ``http_500``, ``http_503``, ``p95_ms`` (the highest per-minute
    95th percentile of ``time-taken`` in the bin, milliseconds; null without W3SVC lines), and the
    HTTPERR counts ``refused`` (requests HTTP.sys answered itself) and ``refused_503``; and
    ``totals`` of the counts over the whole collection.
    """
    events = analysis.events
    if "kind" not in events.columns or events.height == 0:
        return []
    minutes = events.filter(pl.col("kind").cast(pl.String).is_in([W3SVC, HTTPERR]))
    if minutes.height == 0:
        return []
    rows = (
        analysis.with_fields(minutes)
        .select(
            pl.col("instance").cast(pl.String),
            "time",
            pl.col("kind").cast(pl.String),
            *(pl.col(c).cast(pl.Int64, strict=False) for c in (*_COUNTS, "p95_ms")),
        )
        .with_columns(pl.col(_COUNTS).fill_null(0))
    )
    out = []
    for (instance,), mine in rows.sort("instance").group_by("instance", maintain_order=True):
        span = (mine["time"].max() - mine["time"].min()).total_seconds() / 60  # type: ignore[operator]
        width = next((b for b in BIN_MINUTES if span / b < MAX_POINTS), BIN_MINUTES[-1])
        served = pl.col("kind") == W3SVC
        binned = (
            mine.group_by(pl.col("time").dt.truncate(f"{width}m"))
            .agg(
                *(pl.col(c).filter(served).sum() for c in _COUNTS),
                pl.col("p95_ms").filter(served).max(),
                pl.col("requests").filter(~served).sum().alias("refused"),
                pl.col("http_503").filter(~served).sum().alias("refused_503"),
            )
            .sort("time")
        )
        points = [{**row, "time": iso(row["time"])} for row in binned.iter_rows(named=True)]
        totals = {c: int(binned[c].sum()) for c in (*_COUNTS, "refused", "refused_503")}
        out.append({"instance": instance, "bin_minutes": width, "points": points, "totals": totals})
    return out


def event_records(analysis: Analysis, cap: int = MAX_EVENT_RECORDS) -> list[dict[str, Any]]:
    """The Windows event records a signature recognised, per instance the earliest ``cap``.

    Each item: ``instance``, ``time`` (ISO UTC), ``channel``, ``provider``, ``event_id``
    (integer), ``level``, ``event`` (the signature's name, e.g. ``clr_crash``), ``stage``,
    ``fields`` (the signature's other fields, ``{"name", "value"}`` in name order:
    ``application``, ``exception``, ``app_pool``, ``process``, ``reason``...; only those with a
    value), ``file``, ``line`` and ``text``.
    """
    events = analysis.events
    if "kind" not in events.columns or events.height == 0:
        return []
    records = events.filter(
        (pl.col("kind").cast(pl.String) == "EventLog") & pl.col("event").is_not_null()
    )
    if records.height == 0:
        return []
    with_fields = analysis.with_fields(records)
    known = set(events.columns) | {"sig", "text", "failure"}
    extra = sorted(c for c in with_fields.columns if c not in known and c not in RECORD_FIELDS)
    out: list[dict[str, Any]] = []
    listed: dict[str, int] = {}
    for row in with_fields.sort("instance", "time").iter_rows(named=True):
        instance = str(row["instance"])
        listed[instance] = listed.get(instance, 0) + 1
        if listed[instance] > cap:
            continue
        fields = [{"name": n, "value": str(row[n])} for n in extra if row[n] is not None]
        out.append(
            {
                "instance": instance,
                "time": iso(row["time"]),
                "channel": row.get("channel"),
                "provider": row.get("provider") or row["source"],
                "event_id": int(row["event_id"]) if row.get("event_id") else None,
                "level": row["level"],
                "event": str(row["event"]),
                "stage": row["stage"],
                "fields": fields,
                "file": str(row["file"]),
                "line": row["line"],
                "text": row["message"],
            }
        )
    return out
