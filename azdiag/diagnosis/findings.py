"""Rules applied to a timeline: one finding per (rule, instance) whose condition has hits.

``unless`` conditions silence hits (the whole instance, the same cycle, or hits that follow
theirs within a window). Explanation and advice are filled from the most telling evidence.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from azdiag.collect.collection_time import SOURCE_NAMES
from azdiag.common.times import say_time
from azdiag.diagnosis.conditions import ABSENT, Facts, evaluate
from azdiag.knowledge.rulebook import Rule, parse_duration

#: Evidence lines kept per finding.
MAX_EVIDENCE = 8
#: Rules evaluated at once at most.
_MAX_RULE_THREADS = 3


@dataclass
class Finding:
    rule: Rule
    instance: str
    stage: dict[str, Any]  # {"id", "component", "step", "name"}
    #: the earliest and latest hit; a hit without a time counts from the start of the start-up
    #: cycle it was placed in; None: neither is known (untimed records outside any cycle)
    first_seen: datetime | None
    last_seen: datetime | None
    count: int
    cycles: list[int]
    evidence: list[dict[str, Any]]
    explanation: str
    advice: str
    values: dict[str, Any] = field(default_factory=dict)  # placeholder values, for summaries
    #: for rules whose hits are templates of lines (unrecognised errors): one dict per template
    #: with template, records, first, last, stage, lines (see azdiag.diagnosis.unrecognised)
    groups: list[dict[str, Any]] = field(default_factory=list)
    #: True when the finding rests on something that did not happen (no end or exit line)
    absent: bool = False

    @property
    def rank(self) -> tuple[int, int, int, int]:
        """Higher sorts first: severity, confidence, earliest causal stage, recurrence."""
        order = self.values.get("stage_order") or 99
        return (self.rule.severity_rank, self.rule.confidence_rank, -order, self.count)


def apply_rules(rules: list[Rule], facts: Facts) -> list[Finding]:
    """Every finding, ordered by instance then rank (most important first), then rule id.

    Rules are independent small queries, each partly single-threaded in polars: a few run at
    once. What they share is computed first, once.
    """
    facts.prepare()
    workers = max(1, min(pl.thread_pool_size() + 1, _MAX_RULE_THREADS))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        per_rule = list(pool.map(lambda rule: apply_rule(rule, facts), rules))
    findings = [finding for found in per_rule for finding in found]
    findings.sort(key=lambda f: (f.instance, tuple(-x for x in f.rank), f.rule.id))
    return findings


def apply_rule(rule: Rule, facts: Facts) -> list[Finding]:
    """The findings of one rule; an unexpected error becomes a finding of its own, so that
    one broken rule (shipped or the user's) never loses the rest of the report."""
    try:
        return _apply_rule(rule, facts)
    except Exception as exc:  # any bug in a rule or its data: reported, not raised
        instances = facts.events["instance"].cast(pl.String).unique().sort().to_list()
        return [step_failure(f"rule {rule.id}", exc, i) for i in instances or [""]]


def step_failure(step: str, exc: BaseException, instance: str) -> Finding:
    """A finding that says an analysis step failed: ``analysis step <step> failed: <message>``.

    Severity error, confidence low, no stage: it ranks below a real error finding and is never
    mistaken for a diagnosis, but it keeps a report from claiming all is well.
    """
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    title = f"analysis step {step} failed: {message}"
    rule = Rule(
        id=f"azdiag-step-{step.replace(' ', '-')}",
        title=title,
        scenario=None,
        severity="error",
        confidence="low",
        stage=None,
        explanation=(
            f"azdiag could not complete the step {step!r} on this collection ({message}); what "
            "that step would have found is missing from this report."
        ),
        advice=(
            "Run the command again with --debug for the traceback and report it with the "
            "collection's file list (azdiag formats check); read the logs of this stage by hand."
        ),
        summary=f"{{instance}}: {title}",
        documented="azdiag itself",
        references=(),
        when={},
        unless=(),
        examples=(),
        source_file="",
    )
    values = {"instance": instance, "title": title, "stage_order": 99}
    return Finding(
        rule=rule,
        instance=instance,
        stage={"id": None, "component": None, "step": None, "name": None},
        first_seen=None,
        last_seen=None,
        count=1,
        cycles=[],
        evidence=[],
        explanation=rule.explanation,
        advice=rule.advice,
        values=values,
    )


def _apply_rule(rule: Rule, facts: Facts) -> list[Finding]:
    hits = evaluate(rule.when, facts)
    for condition in rule.unless:
        if hits.height == 0:
            break
        hits = _silence(hits, evaluate(condition, facts), condition)
    hits = at_frontier(hits, rule, facts)
    if hits.height == 0:
        return []
    return [
        _finding(rule, str(instance), group.sort("time", maintain_order=True), facts)
        for (instance,), group in hits.group_by("instance", maintain_order=True)
    ]


def at_frontier(hits: pl.DataFrame, rule: Rule, facts: Facts) -> pl.DataFrame:
    """``hits`` without the absence hits (``absent`` true) at a stage their cycle went past.

    Progress is evidence: a cycle that reached a stage after a hit proves that the hit's stage
    ended, so "never finished" or "never exited" can only be said at the furthest stage a cycle
    reached (its frontier). Enforced here for every rule, shipped or not. A hit's stage is its
    own (the stage of its event), else the rule's; a hit without a time is measured against its
    cycle's furthest stage.
    """
    if hits.height == 0 or ABSENT not in hits.columns or "cycle" not in hits.columns:
        return hits
    orders = facts.workflow.stage_orders
    stage = pl.col("stage").cast(pl.String)
    if rule.stage:
        stage = stage.fill_null(pl.lit(rule.stage))
    numbered = hits.with_row_index("_hit").with_columns(
        pl.col("instance").cast(pl.String),
        pl.col("cycle").cast(pl.UInt32),
        stage.replace_strict(orders, default=None, return_dtype=pl.Int32).alias("_order"),
    )
    absent = numbered.filter(pl.col(ABSENT).fill_null(False))
    if absent.height == 0:
        return hits
    progress = facts.progress
    after = (
        absent.select("_hit", "instance", "cycle", "time")
        .join(progress, on=["instance", "cycle"], how="inner")
        .filter(pl.col("time").is_null() | (pl.col("_at") > pl.col("time")))
        .group_by("_hit")
        .agg(pl.col("_reached").max().alias("_after"))
    )
    went_past = absent.join(after, on="_hit", how="inner").filter(
        (pl.col("_order") < pl.col("_after")).fill_null(False)
    )["_hit"]
    return (
        numbered.filter(~pl.col("_hit").is_in(went_past.implode()))
        .drop("_hit", "_order")
        .with_columns(pl.col("instance").cast(hits.schema["instance"]))
    )


def _silence(hits: pl.DataFrame, quiet: pl.DataFrame, condition: dict[str, Any]) -> pl.DataFrame:
    if quiet.height == 0:
        return hits
    scope = condition.get("scope", "instance")
    if scope == "instance":
        return hits.filter(~pl.col("instance").is_in(quiet["instance"].unique().implode()))
    if scope == "cycle":
        keys = quiet.select("instance", "cycle").unique()
        return hits.join(keys, on=["instance", "cycle"], how="anti", nulls_equal=True)
    window = parse_duration(condition.get("window", "15m"), "window")
    before = (
        hits.with_row_index("_hit")
        .select("_hit", "instance", "time")
        .join(quiet.select("instance", pl.col("time").alias("_q")), on="instance")
        .filter(
            (pl.col("_q") <= pl.col("time"))
            & ((pl.col("time") - pl.col("_q")).dt.total_seconds(fractional=True) <= window)
        )["_hit"]
        .unique()
        .implode()
    )
    return hits.with_row_index("_hit").filter(~pl.col("_hit").is_in(before)).drop("_hit")


def _minutes(start: datetime | None, end: datetime | None) -> int | None:
    """Whole minutes from the first hit to the collection time (None when either is unknown):
    how long something had been open when the logs were taken."""
    if start is None or end is None:
        return None
    if start.tzinfo is None and end.tzinfo is not None:
        start = start.replace(tzinfo=end.tzinfo)
    elif end.tzinfo is None and start.tzinfo is not None:
        end = end.replace(tzinfo=start.tzinfo)
    return max(0, int((end - start).total_seconds() // 60))


def _finding(rule: Rule, instance: str, hits: pl.DataFrame, facts: Facts) -> Finding:
    workflow = facts.workflow
    first = hits.row(0, named=True)
    stage_id = rule.stage or _most_common(hits["stage"])
    component = _most_common(hits["component"]) if not rule.stage else None
    if rule.stage and stage_id:
        component = _component_of_evidence(hits, stage_id) or None
    stage = workflow.stage_dict(stage_id, component)
    cycles = sorted({int(c) for c in hits["cycle"].drop_nulls().to_list()})
    first_seen, last_seen = _seen(hits, facts.cycles, instance)
    groups = _groups(hits)
    # a template stands for many lines: the finding lasts until the last of them
    lasts = [g["last"] for g in groups if g["last"] is not None]
    if lasts and (last_seen is None or max(lasts) > last_seen):
        last_seen = max(lasts)
    count = sum(g["records"] for g in groups) if groups else hits.height
    values = {
        **{k: v for k, v in first.items() if v is not None},
        "time": say_time(first["time"]),
        "instance": instance,
        "role": instance.split("_IN_")[0],
        "count": count,
        "templates": len(groups),
        "cycle_count": len(cycles),
        "first_seen": _hm(first_seen),
        "last_seen": _hm(last_seen),
        "stage_id": stage["id"],
        "stage_name": stage["name"] or "unknown",
        "component": stage["component"],
        "step": stage["step"],
        "stage_order": workflow.stage_orders.get(stage_id or "", 99),
        "title": rule.title,
        "collection_time": _hm(facts.now or facts.instance_ends.get(instance)),
        "collection_time_source": SOURCE_NAMES.get(facts.now_source, facts.now_source),
        "minutes_to_collection": _minutes(
            first_seen, facts.now or facts.instance_ends.get(instance)
        ),
    }
    values.update(workflow.counted_values(values))  # {start_attempts}, {recycling}...
    return Finding(
        rule=rule,
        instance=instance,
        stage=stage,
        first_seen=first_seen,
        last_seen=last_seen,
        count=count,
        cycles=cycles,
        evidence=_evidence(hits),
        explanation=fill(rule.explanation, values),
        advice=fill(rule.advice, values),
        values=values,
        groups=groups,
        absent=bool(ABSENT in hits.columns and hits[ABSENT].fill_null(False).all()),
    )


def _seen(
    hits: pl.DataFrame, cycles: pl.DataFrame, instance: str
) -> tuple[datetime | None, datetime | None]:
    """(first, last) time of the hits: a hit's own time, else the start of the start-up cycle
    it was placed in (a record of a file without any time, see
    azdiag.timeline.cycles.place_timeless_files); None when neither is known."""
    times = hits["time"]
    if "cycle" in hits.columns and times.null_count() and cycles.height:
        starts = cycles.filter(pl.col("instance").cast(pl.String) == instance).select(
            pl.col("cycle").cast(pl.UInt32), pl.col("start").alias("_start")
        )
        placed = hits.select(pl.col("cycle").cast(pl.UInt32), "time").join(
            starts, on="cycle", how="left", maintain_order="left"
        )
        times = placed["time"].fill_null(placed["_start"].cast(times.dtype))
    return times.min(), times.max()  # type: ignore[return-value]  # datetimes or None


def _groups(hits: pl.DataFrame) -> list[dict[str, Any]]:
    """Hits that are templates of lines (a ``template`` column), as report rows."""
    if "template" not in hits.columns:
        return []
    return [
        {
            "template": row["template"],
            "records": int(row.get("records") or 1),
            "first": row["time"],
            "last": row.get("last_time"),
            "stage": row["stage"],
            "lines": list(row.get("line_refs") or []),
        }
        for row in hits.sort("records", descending=True, maintain_order=True).iter_rows(named=True)
    ]


def _component_of_evidence(hits: pl.DataFrame, stage_id: str) -> str | None:
    """The component the evidence was found in (a worker role's host log says I, not K).

    Evidence at another stage (a gap that began while the role was Ready, say) says nothing
    of the rule's stage: then the stage's own component stands.
    """
    here = hits.filter((pl.col("stage") == stage_id) | pl.col("stage").is_null())
    return _most_common(here["component"])


def _most_common(series: pl.Series) -> str | None:
    values = series.drop_nulls()
    if len(values) == 0:
        return None
    counts = values.value_counts(sort=True)
    return str(counts.row(0)[0])


def _evidence(hits: pl.DataFrame) -> list[dict[str, Any]]:
    """The hits in time order (``hits`` is sorted by time), as a log reads; when there are more
    than MAX_EVIDENCE, the earliest ones and the latest (when it began, how it looks now)."""
    rows = hits.select("file", "line", "time", "text").to_dicts()
    if len(rows) > MAX_EVIDENCE:
        rows = [*rows[: MAX_EVIDENCE - 1], rows[-1]]
    return rows


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        # a field the evidence did not give (an untimed or quoted line, an unknown wording):
        # said in words, never "{assembly}" in a verdict
        return "unknown"


def fill(template: str, values: dict[str, Any], escape: Callable[[str], str] | None = None) -> str:
    """``template`` with ``{name}`` replaced by ``values[name]``; a name without a value reads
    "unknown". ``escape``, when given, is applied to each value's text (the Markdown report
    escapes values from the logs for where they stand, azdiag.render.markdown_text)."""
    texts = value_texts(values)
    safe = _Lenient({k: escape(v) for k, v in texts.items()} if escape else texts)
    try:
        return string.Formatter().vformat(template, (), safe)
    except (ValueError, IndexError, KeyError):
        return template


def value_texts(values: dict[str, Any]) -> dict[str, str]:
    """A finding's ``values`` as the text :func:`fill` puts in a sentence (times in UTC)."""
    return {k: _text(v) for k, v in values.items()}


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "unknown" if value is None else str(value)


def _hm(value: Any) -> str:
    return say_time(value, "%Y-%m-%d %H:%M UTC")
