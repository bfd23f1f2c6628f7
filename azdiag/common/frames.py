"""Keeping the events table's columns cut into the same chunks.

polars copies a whole frame into one chunk before an eager ``select`` or ``filter`` when its
columns are cut differently: on the 13-million-row benchmark one such filter cost 2 s and
800 MB. Columns added to the events table (labels, tags, cycle numbers) are cut like the
columns already there, which costs nothing when the new column is one chunk (slices share it).
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
