"""Reported role states as intervals: Ready from 09:31 to 11:02, then Busy until "now"."""

from __future__ import annotations

import polars as pl

STATE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "instance": pl.String,
    "state": pl.String,
    "detail": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "seconds": pl.Float64,
    "reports": pl.UInt32,
    "open": pl.Boolean,
}


def build_states(events: pl.DataFrame, details: pl.DataFrame, ends: pl.DataFrame) -> pl.DataFrame:
    """One row per run of identical reported states; the last run of an instance ends "now"."""
    if "state" not in details.columns:
        return pl.DataFrame(schema=STATE_SCHEMA)
    # hundreds of thousands of reports, a few distinct ones: runs are found on the number of
    # each report's (title-cased) state and the strings are looked up once per run, by sig
    shapes = details.select("sig", pl.col("state").str.to_titlecase(), "detail").with_columns(
        _state=pl.col("state").rank("dense"), _detailed=pl.col("detail").is_not_null()
    )
    reports = (
        events.lazy()
        .filter(pl.col("event") == "state")
        .select("instance", "time", "sig")
        .join(shapes.lazy().select("sig", "_state", "_detailed"), on="sig", maintain_order="left")
        .filter(pl.col("_state").is_not_null())
        .collect()
    )
    if reports.height == 0:
        return pl.DataFrame(schema=STATE_SCHEMA)
    now_lit = pl.coalesce(pl.col("now"), pl.col("_last"))
    runs = (
        reports.with_columns(
            _run=(pl.col("_state") != pl.col("_state").shift(1))
            .fill_null(True)
            .cum_sum()
            .over("instance")
        )
        .group_by("instance", "_run", maintain_order=True)
        .agg(
            pl.col("sig").first(),
            pl.col("sig").filter(pl.col("_detailed")).first().alias("_detail_sig"),
            pl.col("time").min().alias("start"),
            pl.col("time").max().alias("_last"),
            pl.len().cast(pl.UInt32).alias("reports"),
        )
        .join(shapes.select("sig", "state"), on="sig", how="left", maintain_order="left")
        .join(
            shapes.select(pl.col("sig").alias("_detail_sig"), "detail"),
            on="_detail_sig",
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col("instance").cast(pl.String))
        .sort("instance", "start")
        .join(ends, on="instance", how="left")
    )
    next_start = pl.col("start").shift(-1).over("instance")
    return (
        runs.with_columns(end=pl.coalesce(next_start, now_lit), open=next_start.is_null())
        .with_columns(seconds=(pl.col("end") - pl.col("start")).dt.total_microseconds() / 1e6)
        .select(list(STATE_SCHEMA))
    )
