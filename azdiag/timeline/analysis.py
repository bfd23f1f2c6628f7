"""``azdiag.analyze(path)``: the library entry point for notebooks and scripts.

It runs collect -> parse -> timeline and hands back polars frames (``events``, ``cycles``,
``states``, ``gaps``) with pandas copies on request. An input the CLI would refuse raises the
error the CLI reports: :class:`~azdiag.collect.discover.CollectError` when the input is missing or
unusable (a corrupt archive...), and its subclass :class:`NoGuestLog` when no guest log is in it.

In a notebook an ``Analysis`` shows itself as a short summary (``repr``: instances, files, lines,
window, cycles and their outcomes) or, as HTML, a table of the instances and their cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from azdiag.collect.collection_time import CollectionTime, collection_time
from azdiag.collect.discover import CollectError
from azdiag.common.text import first_few
from azdiag.knowledge.formats import FormatSet, load_formats
from azdiag.knowledge.workflow import load_workflow
from azdiag.parse.ingest import Ingested, ingest
from azdiag.timeline.build import Timeline, build_timeline

if TYPE_CHECKING:
    import pandas as pd

FRAMES = ("events", "cycles", "stage_times", "states", "gaps")
#: Instances named one by one in ``repr``; the rest are counted.
REPR_INSTANCES = 8


class NoGuestLog(CollectError):
    """The input exists but holds no guest log azdiag knows (the CLI exits with code 1)."""


def require_guest_logs(ingested: Ingested, path: str | Path) -> Ingested:
    """``ingested`` when it has at least one guest log, else :class:`NoGuestLog` saying why,
    in one line: the most frequent reasons files were skipped (the CLI prints the same). Guest
    logs that are all empty are none: there is nothing to analyse."""
    if not ingested.has_guest_log:
        raise NoGuestLog(no_guest_log_message(path, ingested))
    return ingested


def no_guest_log_message(path: str | Path, ingested: Ingested) -> str:
    """``<path>: no guest log found; N file(s) skipped: <reasons>``."""
    from collections import Counter

    skipped = ingested.collection.skipped
    empty = [f.path for f in ingested.files if f.empty]
    message = f"{path}: no guest log found"
    if empty:
        message = f"{path}: no guest log with any line: {len(empty)} empty ({first_few(empty, 3)})"
    if not skipped:
        return message if empty else message + " (no file at all)"
    reasons = Counter(item.reason for item in skipped).most_common(3)
    return f"{message}; {len(skipped)} file(s) skipped: " + "; ".join(
        f"{count} {reason}" if count > 1 else reason for reason, count in reasons
    )


@dataclass
class Analysis:
    ingested: Ingested
    timeline: Timeline
    formats: FormatSet
    collection_time: CollectionTime

    @property
    def events(self) -> pl.DataFrame:
        return self.timeline.events

    @property
    def details(self) -> pl.DataFrame:
        """Signature fields (cmd, code, state...) per distinct record shape, keyed by ``sig``."""
        return self.timeline.details

    def with_fields(self, events: pl.DataFrame | None = None) -> pl.DataFrame:
        """Events (all, or a selection of ``self.events``) with their signature fields."""
        from azdiag.parse.signatures import with_fields

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

    def instances(self) -> list[dict[str, Any]]:
        """One row per instance, in name order: instance (str), files and lines (int), cycles
        (int), outcomes (cycle outcome -> count), last (the last cycle's outcome and stage, in
        words; "no cycle" when none was reconstructed). Read from the inventory and ``cycles``."""
        files: dict[str, list[int]] = {}
        for report in self.ingested.files:
            counts = files.setdefault(report.instance or "", [0, 0])
            counts[0] += 1
            counts[1] += report.lines
        per: dict[str, dict[str, Any]] = {
            name: {"files": n, "lines": lines, "cycles": 0, "outcomes": {}, "last": "no cycle"}
            for name, (n, lines) in files.items()
        }
        for name, outcome, stage in (
            self.cycles.sort("instance", "cycle")
            .select("instance", "outcome", "last_stage")
            .iter_rows()
        ):
            row = per.setdefault(
                name or "", {"files": 0, "lines": 0, "cycles": 0, "outcomes": {}, "last": ""}
            )
            row["cycles"] += 1
            row["outcomes"][outcome] = row["outcomes"].get(outcome, 0) + 1
            row["last"] = f"{outcome or 'unknown'} at {stage or 'an unknown stage'}"
        return [{"instance": name, **per[name]} for name in sorted(per)]

    def __repr__(self) -> str:
        """One screen: input, instances, files, lines, window, cycles and their outcomes."""
        ingested = self.ingested
        start, end = ingested.window
        rows = self.instances()
        outcomes: dict[str, int] = {}
        for row in rows:
            for outcome, count in row["outcomes"].items():
                outcomes[outcome] = outcomes.get(outcome, 0) + count
        lines = [
            f"<azdiag.Analysis of {ingested.input!r}>",
            f"  files      {len(ingested.files)} read, {len(ingested.collection.skipped)} skipped; "
            f"{sum(f.lines for f in ingested.files):,} lines, {self.events.height:,} records",
            f"  window     {_when(start)} → {_when(end)} (logs read as {ingested.tz})",
            f"  cycles     {self.cycles.height}" + (f" ({_counted(outcomes)})" if outcomes else ""),
            f"  instances  {len(rows)}",
        ]
        width = max((len(r["instance"] or "unknown") for r in rows[:REPR_INSTANCES]), default=0)
        for row in rows[:REPR_INSTANCES]:
            lines.append(
                f"    {(row['instance'] or 'unknown').ljust(width)}  {row['cycles']} cycle(s), "
                f"last {row['last']}; {row['files']} file(s), {row['lines']:,} lines"
            )
        if len(rows) > REPR_INSTANCES:
            lines.append(f"    … and {len(rows) - REPR_INSTANCES} more (analysis.instances())")
        if self.warnings:
            lines.append(f"  warnings   {len(self.warnings)} (analysis.warnings)")
        lines.append("  frames     " + ", ".join(FRAMES) + "; diagnose(analysis) for the verdict")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The notebook view: the verdict per instance (outcome, root cause, stage, cycles)."""
        from azdiag.diagnosis.engine import diagnose
        from azdiag.render.html import notebook_html

        return notebook_html(self, diagnose(self))


def analyze(
    path: str | Path,
    *,
    tz: str = "UTC",
    format_dirs: tuple[Path, ...] | list[Path] = (),
    now: datetime | None = None,
) -> Analysis:
    """Read the collection at ``path`` and reconstruct its timeline; ``now`` (aware) is when
    the logs were taken, when known (see azdiag.collect.collection_time).

    Raises :class:`~azdiag.collect.discover.CollectError` when ``path`` is missing or cannot be
    used, and :class:`NoGuestLog` (a ``CollectError``) when it holds no guest log: the errors the
    CLI reports with exit code 1. A guest log that cannot be parsed is not an error: it is listed in
    ``analysis.ingested.files`` with what went wrong."""
    formats = load_formats(tuple(format_dirs))
    ingested = require_guest_logs(ingest(path, formats=formats, tz=tz), path)
    return from_ingested(ingested, formats, now=now)


def from_ingested(
    ingested: Ingested, formats: FormatSet, *, now: datetime | None = None
) -> Analysis:
    """Reconstruct the timeline of an already ingested collection (``now`` as in analyze)."""
    from azdiag.timeline.clock import check_clock

    ingested = check_clock(ingested)  # before "now" and the windows are taken from its times
    workflow = load_workflow()
    taken = collection_time(
        ingested.collection.sources,
        ingested.window[1],
        user=now,
        trust_mtime_within_seconds=workflow.trust_mtime_within_seconds,
    )
    timeline = build_timeline(
        ingested.events,
        formats,
        now=taken.at,
        measured_now=taken.at if taken.measured else None,
        workflow=workflow,
    )
    return Analysis(ingested=ingested, timeline=timeline, formats=formats, collection_time=taken)


def _when(moment: datetime | None) -> str:
    return "no time" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{n} {name or 'unknown'}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1])
    )
