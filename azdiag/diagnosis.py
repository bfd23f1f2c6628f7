"""Diagnose an analysed collection: apply the rules, rank the findings, reach verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from azdiag.analysis import Analysis
from azdiag.conditions import Facts
from azdiag.findings import Finding, apply_rules, step_failure
from azdiag.rulebook import Rule, load_rules
from azdiag.verdict import Verdict, instance_verdict, overall_verdict
from azdiag.workflow import load_workflow


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


def facts_of(analysis: Analysis) -> Facts:
    timeline = analysis.timeline
    return Facts(
        events=timeline.events,
        details=timeline.details,
        cycles=timeline.cycles,
        gaps=timeline.gaps,
        states=timeline.states,
        workflow=load_workflow(),
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
    instances = sorted({f.instance for f in analysis.ingested.files if f.lines})
    findings = apply_rules(rules, facts)
    for step, exc in analysis.timeline.failures:  # what the timeline could not build
        findings += [step_failure(step, exc, i) for i in instances]
    verdicts = [instance_verdict(i, findings, analysis.cycles) for i in instances]
    return Diagnosis(rules, findings, verdicts, overall_verdict(verdicts))
