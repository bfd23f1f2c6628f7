"""Diagnose an analysed collection: apply the rules, rank the findings, reach verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from azdiag.diagnosis.conditions import Facts
from azdiag.diagnosis.findings import Finding, apply_rules, step_failure
from azdiag.diagnosis.verdict import Verdict, instance_verdicts, overall_verdict
from azdiag.knowledge.rulebook import Rule, load_rules
from azdiag.knowledge.workflow import load_workflow
from azdiag.timeline.analysis import Analysis


@dataclass
class Diagnosis:
    rules: list[Rule]
    findings: list[Finding]
    verdicts: list[Verdict]  # one per instance, in instance order
    overall: Verdict

    def worst_severity(self) -> str | None:
        if not self.findings:
            return None
        return max(self.findings, key=lambda f: f.rule.severity_rank).rule.severity

    def reached(self, level: str) -> bool:
        """True when a finding's severity or the outcome reaches ``level`` of FAIL_LEVELS
        (``inconclusive`` is a level of its own, between warning and error)."""
        return any(FAIL_LEVELS.index(x) >= FAIL_LEVELS.index(level) for x in self.levels())

    def levels(self) -> list[str]:
        """The levels this diagnosis reached: finding severities, and ``inconclusive`` when an
        instance is."""
        found = {f.rule.severity for f in self.findings}
        if any(v.outcome == "inconclusive" for v in self.verdicts):
            found.add("inconclusive")
        return sorted(found, key=FAIL_LEVELS.index)


#: Levels of ``--fail-on``, least first: finding severities, with "inconclusive" (an instance
#: whose outcome could not be told) between warning and error.
FAIL_LEVELS = ("info", "warning", "inconclusive", "error", "critical")


def facts_of(analysis: Analysis) -> Facts:
    timeline = analysis.timeline
    return Facts(
        events=timeline.events,
        details=timeline.details,
        cycles=timeline.cycles,
        gaps=timeline.gaps,
        states=timeline.states,
        workflow=load_workflow(),
        now=analysis.collection_time.at if analysis.collection_time.measured else None,
        now_source=analysis.collection_time.source,
    )


def diagnose(
    analysis: Analysis,
    rules: list[Rule] | None = None,
    *,
    rule_dirs: tuple[Path, ...] = (),
) -> Diagnosis:
    facts = facts_of(analysis)
    if rules is None:
        rules = load_rules(rule_dirs, stages=set(facts.workflow.stages))
    files = analysis.ingested.files
    instances = sorted({f.instance for f in files if f.lines})
    findings = apply_rules(rules, facts)
    for step, exc in analysis.timeline.failures:  # what the timeline could not build
        findings += [step_failure(step, exc, i) for i in instances]
    verdicts = instance_verdicts(instances, findings, facts, files)
    return Diagnosis(rules, findings, verdicts, overall_verdict(verdicts))
