"""The verdict: per instance an outcome and the most likely root cause, in one pasteable sentence.

Outcomes (``OUTCOMES``, least concern first):

- ``healthy``: the last start-up cycle reached Ready, nothing failed, warned or went unexplained,
  and the logs needed to judge the role's whole start-up are there. Only this says
  "No problem found".
- ``degraded``: warnings, or a failure that recovered (the role got Ready after it).
- ``inconclusive``: a cycle failed, hung or never reached Ready and no rule explains it, or the
  logs needed to judge are missing or unreadable. It names the stage where the cycle stopped
  and quotes the evidence there.
- ``failing``: an error or critical finding, not followed by a Ready start-up.

The frontier (where the failing cycles stop) is the furthest stage each such cycle reached; the
verdict prefers the finding at that stage, and one resting on a line (an error, an exit code)
to one resting on a missing line. Info-level findings (planned restarts, notes) never become a
cause.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from azdiag.collect.instances import UNASSIGNED
from azdiag.diagnosis.completeness import Completeness, assess
from azdiag.diagnosis.conditions import Facts
from azdiag.diagnosis.findings import Finding, fill
from azdiag.diagnosis.frontier import Frontier, frontiers, seen_by_instance, stopped_cycles
from azdiag.parse.ingest import FileReport

OUTCOMES = ("healthy", "degraded", "inconclusive", "failing")
CAUSE_SEVERITIES = ("error", "critical")

DEFAULT_SUMMARY = (
    "{instance}: {title} — {count} occurrence(s) in {start_cycles} since "
    "{first_seen} (stage {component}, step {step})"
)


@dataclass
class Verdict:
    instance: str | None
    finding: Finding | None
    summary: str
    outcome: str = "healthy"
    confidence: str | None = None
    frontier: Frontier | None = None
    completeness: Completeness | None = None

    def to_dict(self) -> dict[str, Any]:
        finding = self.finding
        return {
            "instance": self.instance,
            "outcome": self.outcome,
            "rule": finding.rule.id if finding else None,
            "scenario": finding.rule.scenario if finding else None,
            "severity": finding.rule.severity if finding else None,
            "confidence": self.confidence,
            "stage": _stage(finding),
            "frontier": self.frontier.to_dict() if self.frontier else None,
            "summary": self.summary,
        }


def _stage(finding: Finding | None) -> dict[str, Any] | None:
    if finding is None:
        return None
    return {key: finding.stage[key] for key in ("component", "step", "name")}


def instance_verdicts(
    instances: list[str], findings: list[Finding], facts: Facts, files: list[FileReport]
) -> list[Verdict]:
    """The verdict of each instance, in ``instances`` order (what they share computed once)."""
    edges = frontiers(facts, instances)
    seen, kinds = seen_by_instance(facts)
    return [
        instance_verdict(
            i, findings, facts, files, edges.get(i), (seen.get(i, set()), kinds.get(i, set()))
        )
        for i in instances
    ]


def instance_verdict(
    instance: str,
    findings: list[Finding],
    facts: Facts,
    files: list[FileReport],
    frontier: Frontier | None,
    seen_kinds: tuple[set[str], set[str]],
) -> Verdict:
    """The outcome, cause and sentence for one instance (see the module docstring), given its
    frontier and the event names and log kinds its logs gave (see azdiag.diagnosis.frontier)."""
    workflow = facts.workflow
    cycles = facts.cycles.filter(pl.col("instance") == instance).sort("cycle")
    mine = [f for f in findings if f.instance == instance]
    stopped = stopped_cycles(cycles)
    causes = [f for f in mine if f.rule.severity in CAUSE_SEVERITIES]
    warnings = [f for f in mine if f.rule.severity == "warning"]
    last = cycles.row(-1, named=True) if cycles.height else None
    ready = last is not None and last["outcome"] == "ready"
    seen, kinds = seen_kinds
    top = _top(causes, frontier)
    reached = frontier.stage["id"] if frontier else (last["last_stage"] if last else None)
    if top is not None and top.values.get("stage_order", 99) != 99:
        reached = _further(reached, top.stage["id"], workflow.stage_orders)
    completeness = assess(
        instance, files, seen, kinds, reached, workflow, whole=ready and not stopped.height
    )
    labels = {s.id: s.label for s in workflow.stages.values()}
    lacking = completeness.lacking_text(labels)
    if top is not None:
        recovered = ready and _all_before(causes, last["ready_at"] if last else None)
        outcome = "degraded" if recovered else "failing"
        summary = fill(top.rule.summary or DEFAULT_SUMMARY, top.values)
        if recovered:
            summary = f"{summary}; it recovered: the last start-up cycle reached Ready"
        extra = [_where_they_stop(frontier, top), _missing(lacking), _also(causes, top)]
        confidence: str | None = top.rule.confidence
        if instance == UNASSIGNED:  # several instances' logs may be in it: whose is unknown
            extra.append(_UNTIED)
            confidence = "low"
        return Verdict(
            instance,
            top,
            _sentence(summary, extra),
            outcome,
            confidence,
            frontier,
            completeness,
        )
    unexplained = [f for f in mine if f.groups]
    if not ready:
        summary = _inconclusive(
            instance,
            cycles,
            frontier,
            facts,
            unexplained,
            [w for w in warnings if not w.groups],
            lacking,
        )
        return Verdict(instance, None, summary, "inconclusive", None, frontier, completeness)
    if lacking:
        summary = (
            f"{instance}: inconclusive — the last start-up cycle reached Ready, but logs needed "
            f"to judge its start-up are not all there: {lacking}"
        )
        return Verdict(instance, None, summary, "inconclusive", None, frontier, completeness)
    notes = [f.rule.title for f in mine if f.rule.severity == "info"]
    if warnings or stopped.height:
        top_warning = _top(warnings, frontier)
        parts = []
        if top_warning is not None:
            said = fill(top_warning.rule.summary or DEFAULT_SUMMARY, top_warning.values)
            parts.append(said.removeprefix(f"{instance}: "))  # the name leads the verdict already
        if stopped.height and frontier is not None:
            parts.append(
                f"{stopped.height} earlier start-up cycle(s) stopped at {frontier.stage['label']} "
                f"({_code(frontier.stage)}) without a known cause, then the role reached Ready"
            )
        summary = f"{instance} is degraded: " + "; ".join(parts)
        confidence = top_warning.rule.confidence if top_warning else None
        return Verdict(
            instance, top_warning, summary, "degraded", confidence, frontier, completeness
        )
    return Verdict(
        instance, None, _all_clear(instance, notes, cycles), "healthy", None, None, completeness
    )


def overall_verdict(verdicts: list[Verdict]) -> Verdict:
    """The verdict of the instance of most concern (outcome, then finding rank, then name),
    saying how many instances share it and what the others are."""
    if not verdicts:
        return Verdict(
            None, None, "No guest log was readable: nothing to diagnose.", "inconclusive"
        )
    worst = max(OUTCOMES.index(v.outcome) for v in verdicts)
    outcome = OUTCOMES[worst]
    if outcome == "healthy":
        names = ", ".join(v.instance or "unknown" for v in verdicts)
        return Verdict(None, None, f"No problem found in {len(verdicts)} instance(s): {names}.")
    group = [v for v in verdicts if v.outcome == outcome]
    top = max(
        group, key=lambda v: (v.finding.rank if v.finding else (0, 0, 0, 0), v.instance or "")
    )
    summary = top.summary
    if top.finding is not None:
        same = [
            v.instance or "unknown"
            for v in group
            if v is not top and v.finding is not None and v.finding.rule.id == top.finding.rule.id
        ]
        if same:
            summary = (
                f"{summary} — the same on {len(same)} more instance(s) of {len(verdicts)}: "
                f"{', '.join(same)}"
            )
    others = Counter(v.outcome for v in verdicts if v is not top)
    differ = {o: n for o, n in others.items() if o != outcome or top.finding is None}
    if differ and len(verdicts) > 1:
        summary += ". Other instances: " + ", ".join(
            f"{n} {o}" for o, n in sorted(differ.items(), key=lambda kv: -OUTCOMES.index(kv[0]))
        )
    return Verdict(
        top.instance,
        top.finding,
        summary,
        outcome,
        top.confidence,
        top.frontier,
        top.completeness,
    )


def _top(findings: list[Finding], frontier: Frontier | None) -> Finding | None:
    """The finding of most weight: severity; then at the frontier; then resting on a line
    rather than on a missing one; then confidence, earliest stage and recurrence."""
    if not findings:
        return None
    stage = frontier.stage["id"] if frontier else None

    def weight(f: Finding) -> tuple[Any, ...]:
        severity, confidence, order, count = f.rank
        here = stage is None or f.stage.get("id") in (stage, None)
        return (severity, here, not f.absent, confidence, order, count, f.rule.id)

    return max(findings, key=weight)


def _further(a: str | None, b: str | None, orders: dict[str, int]) -> str | None:
    if a is None or b is None:
        return a or b
    return a if orders.get(a, -1) >= orders.get(b, -1) else b


def _all_before(findings: list[Finding], ready_at: datetime | None) -> bool:
    """True when every finding's last line comes before ``ready_at``."""
    if ready_at is None:
        return False
    return all(f.last_seen is not None and f.last_seen < ready_at for f in findings)


def _where_they_stop(frontier: Frontier | None, top: Finding) -> str:
    """Where the failing cycles stop, when it is not the finding's own stage; and whether the
    cycles disagree."""
    if frontier is None:
        return ""
    clauses = []
    if frontier.stage["id"] not in (None, top.stage.get("id")):
        clauses.append(
            f"the start-up cycles that failed got as far as {frontier.stage['label']} "
            f"({_code(frontier.stage)})"
        )
    clauses.append(frontier.disagreement())
    return "; ".join(c for c in clauses if c)


#: Said of what the logs no instance could be tied to show (see collect.instances.place).
_UNTIED = (
    "these logs could not be tied to one instance (see the warnings) and may be several "
    "instances' together: give each instance's logs a folder of its own to tell whose they are"
)


def _also(causes: list[Finding], top: Finding) -> str:
    """The instance's errors at other stages than the top one's, by title: a second failure
    is not left to be found further down the report (the same stage's are most often a
    general rule saying the top one's evidence again)."""
    stage = top.stage.get("id")
    titles = list(
        dict.fromkeys(f.rule.title for f in causes if f.stage.get("id") not in (stage, None))
    )
    if not titles:
        return ""
    shown = "; ".join(titles[:3]) + (f"; and {len(titles) - 3} more" if len(titles) > 3 else "")
    return f"also found: {shown}"


def _missing(lacking: str) -> str:
    return f"logs needed to judge it are not all there: {lacking}" if lacking else ""


def _sentence(summary: str, extra: list[str]) -> str:
    clauses = [c for c in extra if c]
    return summary if not clauses else f"{summary}; {'; '.join(clauses)}"


def _inconclusive(
    instance: str,
    cycles: pl.DataFrame,
    frontier: Frontier | None,
    facts: Facts,
    unexplained: list[Finding],
    warnings: list[Finding],
    lacking: str,
) -> str:
    """``<instance>: inconclusive — where it stopped, the evidence there, what is missing``."""
    if cycles.height == 0 or frontier is None:
        where = "no start-up cycle could be reconstructed from its logs"
    elif frontier.stage.get("id") is None:  # only logs outside the workflow (IIS, events)
        where = (
            "its logs show no step of the role start-up workflow, so where it stands cannot be told"
        )
    else:
        last = cycles.row(-1, named=True)
        stage = frontier.stage
        when = _when(last["start"])
        state = {"failed": "failed", "hung": "hung", "running": "had not reached Ready"}.get(
            last["outcome"], "did not reach Ready"
        )
        where = (
            f"the last start-up cycle ({when}) {state} at stage {stage['label']} "
            f"({_code(stage)}) and no known failure explains it"
        )
    clauses = [where]
    if frontier is not None:
        if frontier.evidence and frontier.stage.get("id") is not None:
            line = frontier.evidence[0]
            clauses.append(
                f'the evidence there: "{_short(line["text"])}" ({line["file"]} line '
                f"{line['line'] if line['line'] is not None else 'unknown'})"
            )
        if frontier.others:
            clauses.append(frontier.disagreement())
    state = _last_state(facts, instance)
    if state:
        clauses.append(state)
    if warnings:
        top = max(warnings, key=lambda f: (f.rank, f.rule.id))
        clauses.append("a warning: " + fill(top.rule.summary or DEFAULT_SUMMARY, top.values))
    if unexplained:
        count = sum(f.count for f in unexplained)
        templates = sum(len(f.groups) for f in unexplained)
        clauses.append(f"{count} error line(s) in {templates} template(s) match no known signature")
    if lacking:
        clauses.append(_missing(lacking))
    return f"{instance}: inconclusive — " + "; ".join(clauses)


def _last_state(facts: Facts, instance: str) -> str:
    """The guest agent's last reported state when it is not Ready: evidence of its own."""
    states = facts.states.filter(pl.col("instance") == instance)
    if states.height == 0:
        return ""
    last = states.row(-1, named=True)
    if (last["state"] or "").lower() == "ready":
        return ""
    detail = f" ({_short(last['detail'])})" if last["detail"] else ""
    minutes = last["seconds"] / 60 if last["seconds"] is not None else None
    span = f" for {minutes:.0f} minute(s)" if minutes is not None else ""
    return f"the guest agent last reported {last['state']}{detail}{span}"


def _code(stage: dict[str, Any]) -> str:
    """``G, step 7``; in words when the stage is not known."""
    if stage.get("component") is None:
        return "component and step unknown"
    return f"{stage['component']}, step {stage['step']}"


def _short(text: str | None, limit: int = 200) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if isinstance(value, datetime) else "at an unknown time"


def _all_clear(instance: str, notes: list[str], cycles: pl.DataFrame) -> str:
    last = cycles.row(-1, named=True)
    story = (
        f"{cycles.height} start-up cycle(s); the last one ({_when(last['start'])}) is "
        f"{last['outcome']} at stage {last['last_stage'] or 'unknown'}"
    )
    tail = f" Notes: {'; '.join(sorted(set(notes)))}." if notes else ""
    return f"No problem found for {instance}: {story}.{tail}"
