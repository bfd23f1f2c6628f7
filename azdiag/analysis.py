"""``azdiag.analyze(path)``: the library entry point for notebooks and scripts.

It runs collect -> parse -> timeline and hands back polars frames (``events``, ``cycles``,
``states``, ``gaps``) with pandas copies on request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from azdiag.formats import FormatSet, load_formats
from azdiag.ingest import Ingested, ingest
from azdiag.timeline import Timeline, build_timeline

if TYPE_CHECKING:
    import pandas as pd

FRAMES = ("events", "cycles", "stage_times", "states", "gaps")


@dataclass
class Analysis:
    ingested: Ingested
    timeline: Timeline
    formats: FormatSet

    @property
    def events(self) -> pl.DataFrame:
        return self.timeline.events

    @property
    def details(self) -> pl.DataFrame:
        """Signature fields (cmd, code, state...) per distinct record shape, keyed by ``sig``."""
        return self.timeline.details

    def with_fields(self, events: pl.DataFrame | None = None) -> pl.DataFrame:
        """Events (all, or a selection of ``self.events``) with their signature fields."""
        from azdiag.signatures import with_fields

        return with_fields(self.events if events is None else events, self.details)

    @property
    def cycles(self) -> pl.DataFrame:
        return self.timeline.cycles

    @property
    def stage_times(self) -> pl.DataFrame:
        return self.timeline.stage_times

    @property
    def states(self) -> pl.DataFrame:
        return self.timeline.states

    @property
    def gaps(self) -> pl.DataFrame:
        return self.timeline.gaps

    @property
    def now(self) -> datetime | None:
        return self.timeline.now

    @property
    def warnings(self) -> list[str]:
        return [*self.ingested.warnings, *self.timeline.warnings]

    def to_pandas(self, name: str = "events") -> pd.DataFrame:
        """A pandas copy of one frame (``events``, ``cycles``, ``stage_times``, ``states``,
        ``gaps``), with Arrow-backed columns so strings and nulls survive the trip."""
        if name not in FRAMES:
            raise ValueError(f"unknown frame {name!r}; choose one of {', '.join(FRAMES)}")
        frame: pl.DataFrame = getattr(self, name)
        return frame.to_pandas(use_pyarrow_extension_array=True)

    def summary(self) -> dict[str, Any]:
        """Counts for a quick look in a notebook."""
        return {name: getattr(self, name).height for name in FRAMES}


def analyze(
    path: str | Path,
    *,
    tz: str = "UTC",
    format_dirs: tuple[Path, ...] | list[Path] = (),
) -> Analysis:
    """Read the collection at ``path`` and reconstruct its timeline."""
    formats = load_formats(tuple(format_dirs))
    return from_ingested(ingest(path, formats=formats, tz=tz), formats)


def from_ingested(ingested: Ingested, formats: FormatSet) -> Analysis:
    """Reconstruct the timeline of an already ingested collection."""
    from azdiag.clock import check_clock

    ingested = check_clock(ingested)  # before "now" and the windows are taken from its times
    timeline = build_timeline(ingested.events, formats, now=ingested.window[1])
    return Analysis(ingested=ingested, timeline=timeline, formats=formats)
