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


def test_where_a_worker_role_stops_is_named_by_its_own_component(tmp_path):
    """An inconclusive worker role that stopped in OnStart (10 minutes, short of any rule)
    is said to stop at I, step 9 (WaWorkerHost), not at the web role's K."""
    from azdiag.timeline.analysis import analyze

    host = tmp_path / "C" / "Resources" / "Directory" / "x.Worker.DiagnosticStore"
    agent = tmp_path / "C" / "RuntimeAndAgent"
    host.mkdir(parents=True)
    agent.mkdir(parents=True)
    (host / "WaWorkerHost.log").write_text(
        "WaWorkerHost Information: 0 : [03/14/24 09:00:10.11] Role environment . INITIALIZING\n"
        "WaWorkerHost Information: 0 : [03/14/24 09:00:11.69] Role entrypoint . CALLING   "
        "OnStart(): Contoso.WorkerRole\n"
    )
    (agent / "WaAppAgent.log").write_text(
        "[00000012] [03/14/2024 09:00:00.00] [INFO]  WindowsAzureGuestAgent starting.\n"
        "[00000012] [03/14/2024 09:10:55.00] [HEART] WindowsAzureGuestAgent Heartbeat.\n"
    )
    [verdict] = diagnose(analyze(tmp_path / "C")).verdicts
    assert verdict.outcome == "inconclusive"
    assert verdict.frontier is not None
    assert (verdict.frontier.stage["id"], verdict.frontier.stage["component"]) == ("onstart", "I")
    assert "OnStart (I, step 9)" in verdict.summary


def test_only_logs_outside_the_workflow_say_so_not_an_unknown_stage(tmp_path):
    """A collection of IIS logs only (a newcomer's): the verdict is inconclusive and says the
    logs show no step of the start-up workflow, not 'at stage an unknown stage (component and
    step unknown)' with a request summary as its evidence."""
    from azdiag.timeline.analysis import analyze

    (tmp_path / "W3SVC1").mkdir()
    (tmp_path / "W3SVC1" / "u_ex240301.log").write_text(
        "#Software: Microsoft Internet Information Services 10.0\n"
        "#Fields: date time s-ip cs-method cs-uri-stem sc-status\n"
        "2024-03-01 10:00:00 10.0.0.4 GET / 200\n"
    )
    [verdict] = diagnose(analyze(tmp_path)).verdicts
    assert verdict.outcome == "inconclusive"
    assert "show no step of the role start-up workflow" in verdict.summary
    assert "unknown stage" not in verdict.summary and "evidence there" not in verdict.summary
    assert "WaAppAgent.log or AppAgentRuntime.log" in verdict.summary


def test_logs_tied_to_no_instance_are_said_to_be_so_at_low_confidence(tmp_path):
    """Two instances' logs copied into one folder with Windows copy names (a newcomer's): the
    bootstrapper log names no instance. Its failure is reported, at low confidence, saying the
    logs could not be tied to one instance and how to tell whose they are."""
    from azdiag.collect.instances import UNASSIGNED
    from azdiag.timeline.analysis import analyze

    for name, number in (("WaAppAgent.log", 0), ("WaAppAgent (2).log", 1)):
        (tmp_path / name).write_text(
            "[00000012] [09/20/2024 12:00:00.00] [INFO]  WindowsAzureGuestAgent starting.\n"
            f"[00000012] [09/20/2024 12:00:05.00] [INFO]  Role Catalog_IN_{number} has current "
            "state Busy, desired state Started\n"
        )
    (tmp_path / "WaHostBootstrapper - Copy.log").write_text(
        "[00002200:00003312, 2024/09/20, 12:00:37.300, WARN ] Executing Startup Task type=0 "
        'rolemodule=(null) cmd="E:\\approot\\bin\\warmup.cmd"\n'
        '[00002200:00003312, 2024/09/20, 12:00:42.000, INFO ] Program "E:\\approot\\bin\\'
        'warmup.cmd" exited with 1. Working Directory = E:\\approot\\bin\n'
    )
    verdicts = {v.instance: v for v in diagnose(analyze(tmp_path)).verdicts}
    assert set(verdicts) == {"Catalog_IN_0", "Catalog_IN_1", UNASSIGNED}
    untied = verdicts[UNASSIGNED]
    assert untied.finding is not None and untied.finding.rule.id == "startup-task-exit-code"
    assert untied.confidence == "low"
    assert "could not be tied to one instance" in untied.summary


def test_a_second_failure_at_another_stage_is_named_in_the_verdict(tmp_path):
    """S03 with an extension that fails to enable too (a newcomer's collection named only the
    startup task; the extension was left to the findings list). General rules at the top
    finding's own stage are not repeated."""
    import shutil

    from azdiag.timeline.analysis import analyze
    from tests.conftest import FIXTURES

    copy = tmp_path / "S03"
    shutil.copytree(FIXTURES / "S03", copy)
    agent = next(copy.rglob("WaAppAgent.log"))
    agent.write_bytes(
        agent.read_bytes()
        + b"[00000012] [03/14/2024 09:05:53.43] [INFO]  Processing plugin Contoso.Ext version "
        b"1.2.3.4, state: enabled, autoupgrade: True, isJson: True\r\n"
        b"[00000012] [03/14/2024 09:06:53.43] [INFO]  Enable command of Contoso.Ext has exited "
        b"with Exit code: -2\r\n"
    )
    diagnosis = diagnose(analyze(copy))
    [verdict] = diagnosis.verdicts
    extension = next(f for f in diagnosis.findings if f.rule.id == "guest-agent-extension-fails")
    assert verdict.finding is not None and verdict.finding.stage["id"] == "startup_tasks"
    assert f"also found: {extension.rule.title}" in verdict.summary
    same_stage = [f.rule.title for f in diagnosis.findings if f.stage == verdict.finding.stage]
    assert len(same_stage) >= 2  # S03 has general rules at the startup task's stage
    assert not [t for t in same_stage if t in verdict.summary.split("also found:")[1]]
