"""The verdict: the most likely root cause, per instance and overall, in one pasteable sentence.

Findings are ranked by severity, confidence, earliest causal stage and recurrence; info-level
findings (planned restarts, notes) never become a root cause. With no finding the verdict says
so plainly, with what the timeline shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from azdiag.findings import Finding, fill
from azdiag.times import say_time

DEFAULT_SUMMARY = (
    "{instance}: {title} — {count} occurrence(s) in {cycle_count} start-up cycle(s) since "
    "{first_seen} (stage {component}, step {step})"
)


@dataclass
class Verdict:
    instance: str | None
    finding: Finding | None
    summary: str

    def to_dict(self) -> dict[str, Any]:
        finding = self.finding
        return {
            "instance": self.instance,
            "rule": finding.rule.id if finding else None,
            "scenario": finding.rule.scenario if finding else None,
            "severity": finding.rule.severity if finding else None,
            "stage": _stage(finding),
            "summary": self.summary,
        }


def _stage(finding: Finding | None) -> dict[str, Any] | None:
    if finding is None:
        return None
    return {key: finding.stage[key] for key in ("component", "step", "name")}


def instance_verdict(instance: str, findings: list[Finding], cycles: pl.DataFrame) -> Verdict:
    causes = [f for f in findings if f.instance == instance and f.rule.severity != "info"]
    if causes:
        top = max(causes, key=lambda f: (f.rank, f.rule.id))
        return Verdict(instance, top, fill(top.rule.summary or DEFAULT_SUMMARY, top.values))
    return Verdict(instance, None, _all_clear(instance, findings, cycles))


def overall_verdict(verdicts: list[Verdict]) -> Verdict:
    """The instance verdict with the most important finding (ties: instance name)."""
    found = [v for v in verdicts if v.finding is not None]
    if found:
        top = max(found, key=lambda v: (v.finding.rank, v.instance or ""))  # type: ignore[union-attr]
        same = [
            v.instance or "an unnamed instance"
            for v in found
            if v is not top and v.finding.rule.id == top.finding.rule.id  # type: ignore[union-attr]
        ]
        if not same:
            return top
        summary = (
            f"{top.summary} — the same on {len(same)} more instance(s) of {len(verdicts)}: "
            f"{', '.join(same)}"
        )
        return Verdict(top.instance, top.finding, summary)
    if not verdicts:
        return Verdict(None, None, "No guest log was readable: nothing to diagnose.")
    names = ", ".join(v.instance or "an unnamed instance" for v in verdicts)
    return Verdict(None, None, f"No problem found in {len(verdicts)} instance(s): {names}.")


def _all_clear(instance: str, findings: list[Finding], cycles: pl.DataFrame) -> str:
    mine = cycles.filter(pl.col("instance") == instance)
    notes = [f.rule.title for f in findings if f.instance == instance]
    if mine.height == 0:
        story = "no start-up cycle could be reconstructed from its logs"
    else:
        last = mine.row(-1, named=True)
        story = (
            f"{mine.height} start-up cycle(s); the last one "
            f"({say_time(last['start'], '%Y-%m-%d %H:%M UTC')}) "
            f"is {last['outcome']} at stage {last['last_stage'] or 'unknown'}"
        )
    tail = f" Notes: {'; '.join(sorted(set(notes)))}." if notes else ""
    return f"No problem found for {instance}: {story}.{tail}"
