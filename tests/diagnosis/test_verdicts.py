"""Each simulated scenario's verdict names that scenario and its workflow stage."""

from __future__ import annotations

import pytest

from azdiag.diagnosis.engine import diagnose
from azdiag.knowledge.rulebook import load_rules
from azdiag.knowledge.workflow import load_workflow
from tests.conftest import analysed, manifest

RULES = load_rules(stages=set(load_workflow().stages))

#: scenario fixture -> (component, step) of failures.md's stage column for it
FAILING = {
    "S01": ("G", 7),
    "S02": ("G", 7),
    "S03": ("G", 7),
    "S06": ("K", 9),
    "S07": ("K", 9),
    "S08": ("K", 9),
    "S09": ("K", 9),
    "S10": ("I", 9),
    "S11": ("K", 9),
    "S12": ("K", 9),
    "S13": ("F", 8),
    "S16": ("D", 5),
    "S17": ("D", 5),
    "S18": ("C", 4),
    "S20": ("H", 7),
    "S20b": ("G", 7),
    "S22": ("K", 9),
    "zip-S01": ("G", 7),
    "multi-instance": ("K", 9),
}
#: baseline scenarios: reported, but no root cause
BASELINE = {"S19", "S23", "healthy", "healthy-worker", "zip-healthy"}
#: failing scenarios whose role recovers (Ready again after the failure) or only warns
DEGRADED = {"S18", "S20b"}


@pytest.mark.parametrize("name", sorted(FAILING))
def test_verdict_names_the_scenario_and_its_stage(name):
    truth = manifest(name)
    verdict = diagnose(analysed(name), RULES).overall
    assert verdict.finding is not None, f"{name}: {verdict.summary}"
    data = verdict.to_dict()
    assert data["scenario"] == truth["failures"][0], f"{name}: {verdict.summary}"
    assert (data["stage"]["component"], data["stage"]["step"]) == FAILING[name], verdict.summary
    assert verdict.instance in verdict.summary
    assert data["outcome"] == ("degraded" if name in DEGRADED else "failing"), verdict.summary


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_baselines_have_no_root_cause_but_are_reported(name):
    diagnosis = diagnose(analysed(name), RULES)
    assert diagnosis.overall.finding is None, diagnosis.overall.summary
    assert diagnosis.overall.outcome == "healthy", diagnosis.overall.summary
    assert all(f.rule.severity == "info" for f in diagnosis.findings)
    if name in ("S19", "S23"):
        scenarios = {f.rule.scenario for f in diagnosis.findings}
        assert name in scenarios, f"{name} is not reported: {scenarios}"
