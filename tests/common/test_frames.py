"""The events table keeps one chunk layout: polars would copy it whole for each eager filter."""

from __future__ import annotations

import polars as pl

from azdiag.common.frames import with_aligned
from tests.conftest import analysed


def _layouts(frame: pl.DataFrame) -> set[tuple[int, ...]]:
    return {tuple(frame.get_column(name).chunk_lengths()) for name in frame.columns}


def test_added_columns_are_cut_like_the_frame() -> None:
    chunked = pl.concat([pl.Series("a", [1, 2]), pl.Series("a", [3])], rechunk=False)
    frame = pl.DataFrame({"a": chunked})
    out = with_aligned(frame, [pl.Series("b", [7, 8, 9]), pl.Series("a", [4, 5, 6])])
    assert _layouts(out) == {(2, 1)}
    assert out.to_dict(as_series=False) == {"a": [4, 5, 6], "b": [7, 8, 9]}
    many = pl.concat([pl.Series("c", [1]), pl.Series("c", [2]), pl.Series("c", [3])], rechunk=False)
    assert _layouts(with_aligned(frame, [many])) == {(2, 1)}


def test_timeline_events_of_several_instances_share_one_layout() -> None:
    analysis = analysed("multi-instance")
    assert len(analysis.ingested.events["file"].chunk_lengths()) > 1  # one chunk per instance
    assert len(_layouts(analysis.ingested.events)) == 1
    assert len(_layouts(analysis.events)) == 1
