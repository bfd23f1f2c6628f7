"""Keeping the events table's columns cut into the same chunks; grouping it by runs of rows.

polars copies a whole frame into one chunk before an eager ``select`` or ``filter`` when its
columns are cut differently: on the 13-million-row benchmark one such filter cost 2 s and
800 MB. Columns added to the events table (labels, tags, cycle numbers) are cut like the
columns already there, which costs nothing when the new column is one chunk (slices share it).

A ``group_by`` hashes every row of its keys (about 40 ms for 3 million rows, even for one
instance). The events table holds each instance's rows together and counts its cycles up in row
order, so a key of runs (``run_number``) marked sorted lets polars group by runs instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl


def with_aligned(frame: pl.DataFrame, columns: Iterable[pl.Series]) -> pl.DataFrame:
    """``frame`` with ``columns`` added or replaced, each cut into ``frame``'s chunks."""
    if frame.width == 0:
        return frame.with_columns(columns)
    lengths = frame.get_column(frame.columns[0]).chunk_lengths()
    return frame.with_columns(_cut(column, lengths) for column in columns)


def _cut(column: pl.Series, lengths: list[int]) -> pl.Series:
    if column.chunk_lengths() == lengths:
        return column
    if len(lengths) == 1:
        return column.rechunk()
    whole, pieces, offset = column.rechunk(), [], 0
    for length in lengths:
        pieces.append(whole.slice(offset, length))
        offset += length
    return pl.concat(pieces, rechunk=False)


def run_number(*names: str) -> pl.Expr:
    """A number per row, the same along a run of rows with the same values of ``names`` and
    larger after it (a sum of run ids: it grows by one or more when any of them changes).

    It is marked sorted, so polars groups on it by runs, without hashing every row. A value
    that comes back later (an instance in two blocks) starts a new run: callers merge the
    per-run results by their real key, which then has a few rows, not one a record.
    """
    number = pl.col(names[0]).rle_id()
    for name in names[1:]:
        number += pl.col(name).rle_id()
    return number.set_sorted()
