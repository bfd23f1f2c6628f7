"""The frontier of an instance: where its start-up cycles that failed, hung or never reached
Ready stop, and the most telling lines there.

Progress is evidence: a cycle's furthest stage (``cycles.last_stage``, from events of any log) is
where it stopped. The frontier is the stage most such cycles stop at; its evidence is the
error or exception lines of the latest such cycle from the stage's first line on (function-exit
traces excluded), else the stage's last lines. Computed for every instance at once: one pass over
the events for all of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from azdiag.common.frames import run_number
from azdiag.common.times import iso
from azdiag.diagnosis.conditions import Facts

#: Cycle outcomes of a cycle that stopped short.
_STOPPED = ("failed", "hung")
#: Lines quoted from the frontier.
_FRONTIER_LINES = 3
UNKNOWN_STAGE = "an unknown stage"


@dataclass
class Frontier:
    """Where an instance's failing (or unfinished) start-up cycles stop."""

    stage: dict[str, Any]  # {"id", "component", "step", "name", "label"}
    cycles: int  # cycles stopping there
    total: int  # cycles that stopped short in all
    others: list[tuple[str, int]] = field(default_factory=list)  # (stage label, cycles)
    evidence: list[dict[str, Any]] = field(default_factory=list)  # file, line, time, text

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "cycles": self.cycles,
            "stopped_cycles": self.total,
            "other_stages": [{"stage": s, "cycles": n} for s, n in self.others],
            "evidence": [{**e, "time": iso(e.get("time"))} for e in self.evidence],
        }

    def disagreement(self) -> str:
        """ "" when all stopped cycles stop at one stage; else a clause saying where."""
        if not self.others:
            return ""
        rest = ", ".join(f"{n} at {label}" for label, n in self.others)
        return f"the start-up cycles disagree: {self.cycles} stop at {self.stage['label']}, {rest}"


def frontiers(facts: Facts, instances: list[str]) -> dict[str, Frontier | None]:
    """Each instance's frontier (None when no cycle of it stopped short)."""
    chosen: dict[str, tuple[pl.DataFrame, str, int]] = {}
    for instance in instances:
        stopped = stopped_cycles(facts.cycles.filter(pl.col("instance") == instance))
        if stopped.height:
            reached = [s or "" for s in stopped["last_stage"].to_list()]
            counts = Counter(reached)
            top = max(counts, key=lambda s: (counts[s], s == reached[-1]))
            cycle = int(stopped.filter(pl.col("last_stage").fill_null("") == top)["cycle"][-1])
            chosen[instance] = (stopped, top, cycle)
    rows = _cycle_rows(facts, {(i, c) for i, (_, _, c) in chosen.items()})
    out: dict[str, Frontier | None] = dict.fromkeys(instances)
    for instance, (stopped, top, cycle) in chosen.items():
        here = rows.get((instance, cycle))
        evidence = _evidence(here, top or None) if here is not None else []
        component = _component_at(here, top) if here is not None and top else None
        out[instance] = _frontier(stopped, top, evidence, facts, component)
    return out


def stopped_cycles(cycles: pl.DataFrame) -> pl.DataFrame:
    """Cycles that failed or hung, and a last cycle that never reached Ready. The lines before
    the first start the logs show (cycle 0, a fragment) count only when they are all there is."""
    if cycles.height == 0:
        return cycles
    cycles = cycles.sort("cycle")
    if cycles.height > 1:
        cycles = cycles.filter(pl.col("observed_start"))
    is_last = pl.col("cycle") == pl.col("cycle").max()
    never_ready = is_last & pl.col("ready_at").is_null()
    return cycles.filter(pl.col("outcome").is_in(_STOPPED) | never_ready)


def _component_at(rows: pl.DataFrame, stage: str) -> str | None:
    """The component whose log showed the cycle at ``stage``: a worker role's host log says
    I where the stage's own component is the web role's K (as for findings)."""
    found = rows.filter(pl.col("stage") == stage)["component"].drop_nulls()
    return str(found.mode().sort()[0]) if found.len() else None


def _frontier(
    stopped: pl.DataFrame,
    top: str,
    evidence: list[dict[str, Any]],
    facts: Facts,
    component: str | None = None,
) -> Frontier:
    workflow = facts.workflow
    counts = Counter(s or "" for s in stopped["last_stage"].to_list())
    labels = {s.id: s.label for s in workflow.stages.values()}
    stage = workflow.stage_dict(top or None, component)
    stage["label"] = labels.get(top, UNKNOWN_STAGE) if top else UNKNOWN_STAGE
    others = [
        (labels.get(s, UNKNOWN_STAGE) if s else UNKNOWN_STAGE, n)
        for s, n in counts.most_common()
        if s != top
    ]
    return Frontier(stage, counts[top], stopped.height, others, evidence)


def _cycle_rows(facts: Facts, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], pl.DataFrame]:
    """The lines of the given (instance, cycle) pairs, in one pass over the events."""
    if not pairs or facts.events.height == 0:
        return {}
    schema = facts.events.schema
    # in the events' own instance type: the join compares category codes, no text per row
    wanted = pl.DataFrame(
        [(i, c) for i, c in sorted(pairs)],
        schema={"instance": pl.String, "cycle": schema["cycle"]},
        orient="row",
    ).with_columns(pl.col("instance").cast(schema["instance"], strict=False))
    # the cycle numbers first (a test of one integer column), then the join on the few rows
    # left: a join over every record hashes both keys of each
    rows = (
        facts.events.lazy()
        .filter(pl.col("cycle").is_in(wanted["cycle"].unique().implode()))
        .join(wanted.lazy(), on=["instance", "cycle"], how="semi")
        .select(
            pl.col("instance").cast(pl.String).alias("_instance"),
            "cycle",
            pl.col("file").cast(pl.String),
            "line",
            "time",
            pl.col("message").cast(pl.String).str.split("\n").list.first().alias("text"),
            pl.col("stage").cast(pl.String),
            pl.col("level").cast(pl.String),
            pl.col("event").cast(pl.String),
            pl.col("component").cast(pl.String),
        )
        .collect()
    )
    return {
        (str(key[0]), int(key[1])): part
        for key, part in rows.partition_by(["_instance", "cycle"], as_dict=True).items()
    }


def _evidence(rows: pl.DataFrame, stage: str | None) -> list[dict[str, Any]]:
    """The most telling lines of one cycle at ``stage`` (see the module docstring)."""
    if rows.height == 0:
        return []
    window = rows
    if stage is not None:
        at = rows.with_row_index("_i").filter(pl.col("stage") == stage)
        window = rows.slice(int(at["_i"][0]) if at.height else 0)
    trace = pl.col("event").fill_null("") == "trace"
    errors = window.filter(
        ~trace
        & (
            pl.col("level").is_in(["error", "critical"]).fill_null(False)
            | pl.col("text").str.contains(r"Exception\b").fill_null(False)
        )
    )
    chosen = errors if errors.height else window.filter(pl.col("stage").eq_missing(stage))
    if chosen.height == 0:
        chosen = window
    # most telling first: the first error lines, or the stage's last lines, newest first
    chosen = chosen.head(_FRONTIER_LINES) if errors.height else chosen.tail(_FRONTIER_LINES)[::-1]
    return chosen.select("file", "line", "time", "text").to_dicts()


def seen_by_instance(facts: Facts) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(event names, log kinds that gave events) per instance, one pass each."""
    if facts.events.height == 0:
        return {}, {}
    # the distinct pairs on the category codes first: a few rows left to turn into text
    # (by runs of rows, see run_number: the few runs are then merged per instance)
    kinds = (
        facts.events.lazy()
        .select("instance", "kind", _run=run_number("instance"))
        .group_by("_run")
        .agg(pl.col("instance").first(), pl.col("kind").unique())
        .group_by(pl.col("instance").cast(pl.String))
        .agg(pl.col("kind").explode().unique().cast(pl.String))
        .collect()
    )
    names = facts.notable.group_by(pl.col("instance").cast(pl.String)).agg(
        pl.col("event").cast(pl.String).unique()
    )
    return (
        {str(i): {str(e) for e in es if e} for i, es in names.iter_rows()},
        {str(i): {str(k) for k in ks if k} for i, ks in kinds.iter_rows()},
    )
