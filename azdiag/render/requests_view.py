"""What the reports show of the IIS and event logs: request rate and errors against the role's
states, and the Windows event records that signatures recognised.

Both read the analysis (the IIS minute events of ``parsers/iis-*.toml``, the event records of
``parsers/windows-eventlog.toml`` with their signature fields) and give plain JSON-able data,
bounded whatever the collection: a month of minutes is binned to at most ``MAX_POINTS`` points.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from azdiag.common.times import iso
from azdiag.timeline.analysis import Analysis

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
        first, last = mine["time"].min(), mine["time"].max()
        assert isinstance(first, datetime) and isinstance(last, datetime)
        span = (last - first).total_seconds() / 60
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


#: Width of the request chart in SVG units (the page scales it).
CHART_WIDTH = 1000
#: Colours of the role states in the request chart (the timeline's swatches' hues).
STATE_COLOURS = {"Ready": "#2e7d32", "Busy": "#f9a825", "Recycling": "#c62828"}


def traffic_chart(analysis: Analysis) -> list[dict[str, Any]]:
    """``traffic`` laid out for the HTML report: per instance, bars (x, width, heights in SVG
    units of a 1000 x 100 box) of requests served, 5xx answers and requests HTTP.sys refused,
    and the role's state periods under them, over the collection's window."""
    start, end = analysis.ingested.window
    if start is None or end is None:
        return []
    span = max((end - start).total_seconds(), 1.0)

    def x(value: Any) -> float:
        return round(min(max((value - start).total_seconds() / span, 0.0), 1.0) * CHART_WIDTH, 2)

    charts = []
    for item in traffic(analysis):
        width = max(item["bin_minutes"] * 60 / span * CHART_WIDTH, 0.5)
        top = max((p["requests"] + p["refused"] for p in item["points"]), default=0) or 1
        bars = []
        for p in item["points"]:
            when = datetime.fromisoformat(p["time"].replace("Z", "+00:00"))
            ok, bad, refused = p["requests"] - p["http_5xx"], p["http_5xx"], p["refused"]
            bars.append(
                {
                    "x": x(when),
                    "w": round(width, 2),
                    "ok": round(ok / top * 100, 2),
                    "bad": round(bad / top * 100, 2),
                    "refused": round(refused / top * 100, 2),
                    "title": f"{p['time'][:16]}Z: {p['requests']} served, {bad} 5xx, "
                    f"{refused} refused by HTTP.sys",
                }
            )
        states = analysis.states.filter(pl.col("instance") == item["instance"])
        bands = [
            {
                "x": x(row["start"]),
                "w": round(max(x(row["end"] or end) - x(row["start"]), 0.5), 2),
                "state": row["state"],
                "colour": STATE_COLOURS.get(row["state"], "#9e9e9e"),
            }
            for row in states.iter_rows(named=True)
        ]
        charts.append(
            {
                **item,
                "peak": top,
                "bars": bars,
                "states": bands,
                "window": [iso(start), iso(end)],
            }
        )
    return charts
