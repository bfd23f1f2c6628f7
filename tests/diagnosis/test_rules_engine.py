"""The rules engine: loading, each condition type, unless scopes, placeholders, verdicts."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from azdiag.diagnosis.conditions import evaluate
from azdiag.diagnosis.engine import diagnose, facts_of
from azdiag.diagnosis.findings import apply_rule, fill
from azdiag.diagnosis.rule_examples import run_examples
from azdiag.knowledge.rulebook import RuleError, load_rules, parse_duration
from azdiag.knowledge.workflow import load_workflow
from azdiag.timeline.analysis import analyze
from tests.conftest import analysed

STAGES = set(load_workflow().stages)
RULES = load_rules(stages=STAGES)

BOOT = "[00002140:00003312, 2024/03/14, {t}, {level}] {message}\n"


def boot(*records: tuple[str, str, str]) -> str:
    return "".join(BOOT.format(t=t, level=level, message=m) for t, level, m in records)


def rule_toml(when: str, *, extra: str = "", rule_id: str = "probe") -> str:
    return f"""
[[rules]]
id = "{rule_id}"
title = "probe"
severity = "error"
explanation = "{{cmd}} exited {{code}} ({{count}}x, first {{first_seen}})"
advice = "do something"
{extra}
[rules.when]
{when}
"""


def load_one(tmp_path: Path, text: str):
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "probe.toml").write_text(text, encoding="utf-8")
    return next(r for r in load_rules([folder], stages=STAGES) if r.id == "probe")


def collection(tmp_path: Path, **files: str) -> Path:
    root = tmp_path / "collection"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "rule,example",
    [(r, e) for r in RULES for e in r.examples],
    ids=lambda x: getattr(x, "id", None) or getattr(x, "name", "?"),
)
def test_every_rule_example_fires_as_stated(rule, example):
    (result,) = run_examples_for(rule, example)
    assert result.passed, str(result)


def run_examples_for(rule, example):
    from azdiag.diagnosis.rule_examples import run_example

    return [run_example(rule, example)]


def test_every_rule_has_a_positive_and_a_negative_example():
    for rule in RULES:
        kinds = {e.fires for e in rule.examples}
        assert kinds == {True, False}, rule.id


@pytest.mark.parametrize(
    "body,problem",
    [
        (rule_toml('type = "match"').replace('"error"', '"fatal"'), "severity"),
        (rule_toml('type = "match"', extra='stage = "nowhere"'), "stage"),
        (rule_toml('type = "matches"'), "type"),
        (rule_toml('type = "match"\nselect = { evnt = "x" }'), "selector"),
        (rule_toml('type = "gap"\nmin_seconds = "ten minutes"'), "duration"),
        (rule_toml('type = "match"\nwithin = "1m"'), "unknown key"),
        (rule_toml('type = "match"\nselect = { text = "(" }'), "compile"),
        (rule_toml('type = "now"\nsource = "user"\nlast = { kind = "WaAppAgent" }'), "together"),
        ("[[rules]]\nid = 'x'\n", "needs"),
    ],
)
def test_malformed_rules_are_rejected_with_a_clear_message(tmp_path, body, problem):
    with pytest.raises(RuleError, match=problem):
        load_one(tmp_path, body)


def test_durations():
    assert parse_duration(90, "x") == 90
    assert parse_duration("10m", "x") == 600
    assert parse_duration("1.5h", "x") == 5400
    assert parse_duration("250ms", "x") == 0.25


def test_match_with_field_tests_and_min_count(tmp_path):
    log = boot(
        ("09:00:01.000", "INFO ", 'Program "a.cmd" exited with 0.'),
        ("09:00:02.000", "ERROR", 'Program "b.cmd" exited with 2.'),
        ("09:00:03.000", "ERROR", 'Program "b.cmd" exited with 2.'),
    )
    facts = facts_of(analyze(collection(tmp_path, **{"WaHostBootstrapper.log": log})))
    select = 'select = { event = "task_exit", where = { code = { not_in = ["0"] } } }'
    once = load_one(tmp_path, rule_toml(f'type = "match"\n{select}'))
    (finding,) = apply_rule(once, facts)
    assert finding.count == 2
    assert finding.explanation.startswith("b.cmd exited 2 (2x, first 2024-03-14 09:00 UTC)")
    thrice = load_one(tmp_path, rule_toml(f'type = "match"\n{select}\nmin_count = 3'))
    assert apply_rule(thrice, facts) == []
    exact = load_one(
        tmp_path,
        rule_toml('type = "match"\nselect = { event = "task_exit", where = { code = "0" } }'),
    )
    assert apply_rule(exact, facts)[0].values["cmd"] == "a.cmd"


def test_sequence_absent_and_present_with_same_field(tmp_path):
    log = boot(
        ("09:00:00.000", "INFO ", 'Executing Startup Task type=0 rolemodule=(null) cmd="a.cmd"'),
        ("09:00:01.000", "INFO ", 'Executing Startup Task type=0 rolemodule=(null) cmd="b.cmd"'),
        ("09:00:05.000", "INFO ", 'Program "a.cmd" exited with 0.'),
        ("09:30:00.000", "INFO ", "still here"),
    )
    facts = facts_of(analyze(collection(tmp_path, **{"WaHostBootstrapper.log": log})))
    base = """first = { event = "task_start" }
then = { event = "task_exit" }
same = ["cmd"]
within = "10m"
"""
    absent = load_one(tmp_path, rule_toml(f'type = "sequence"\n{base}expect = "absent"'))
    (finding,) = apply_rule(absent, facts)
    assert finding.values["cmd"] == "b.cmd" and finding.count == 1
    present = load_one(tmp_path, rule_toml(f'type = "sequence"\n{base}expect = "present"'))
    assert apply_rule(present, facts)[0].values["cmd"] == "a.cmd"
    patient = load_one(
        tmp_path,
        rule_toml(f'type = "sequence"\n{base}expect = "absent"'.replace('"10m"', '"2h"')),
    )
    assert apply_rule(patient, facts) == []  # the collection ends before 2 h have passed


def test_repeat_counts_cycles_and_require_no_keeps_silent_loops():
    facts = facts_of(analysed("S12"))
    loop = {"type": "repeat", "outcome": "failed", "min_cycles": 3, "within": "30m"}
    assert evaluate(loop, facts).height >= 3
    noisy = facts_of(analysed("S09"))
    silent = {**loop, "require_no": {"event": ["unhandled_exception", "entrypoint_failed"]}}
    assert evaluate(silent, noisy).height == 0
    assert evaluate(silent, facts).height >= 3


def test_gap_and_state_and_duration_conditions():
    s18 = facts_of(analysed("S18"))
    lost = evaluate(
        {"type": "gap", "kind": "WaAppAgent", "min_seconds": "10m", "planned": False}, s18
    )
    assert lost.height == 1 and lost["stage"][0] == "ready"
    s19 = facts_of(analysed("S19"))
    assert evaluate({"type": "gap", "min_seconds": 60, "planned": False}, s19).height == 0
    s02 = facts_of(analysed("S02"))
    busy = evaluate({"type": "state", "state": "Busy", "longer_than": "30m"}, s02)
    assert busy.height == 1
    slow = {
        "type": "duration",
        "start": {"event": "task_start"},
        "end": {"stage": "ready"},
        "longer_than": "30m",
    }
    assert evaluate(slow, facts_of(analysed("S20b"))).height == 1
    assert evaluate(slow, facts_of(analysed("healthy"))).height == 0


def test_sql_escape_hatch():
    facts = facts_of(analysed("S01"))
    query = "SELECT instance, time, code FROM events WHERE event = 'task_exit' AND code <> '0'"
    hits = evaluate({"type": "sql", "query": query}, facts)
    assert hits.height > 0 and set(hits["code"]) == {"1"}
    with pytest.raises(ValueError, match="instance"):
        evaluate({"type": "sql", "query": "SELECT time FROM events"}, facts)


def test_unless_scopes(tmp_path):
    log = boot(
        ("09:00:00.000", "INFO ", "Bootstrapper starting."),
        ("09:00:01.000", "ERROR", 'Program "b.cmd" exited with 2.'),
        ("09:00:02.000", "INFO ", "Received shutdown request from the agent."),
    )
    facts = facts_of(analyze(collection(tmp_path, **{"WaHostBootstrapper.log": log})))
    when = 'type = "match"\nselect = { event = "task_exit" }'
    for scope, extra, silenced in [
        ("instance", "", True),
        ("cycle", "", True),
        ("before", 'window = "10s"', False),  # the shutdown comes after the exit
    ]:
        unless = (
            '\n[[rules.unless]]\ntype = "match"\nselect = { event = "shutdown_request" }\n'
            f'scope = "{scope}"\n{extra}'
        )
        rule = load_one(tmp_path, rule_toml(when) + unless)
        assert (apply_rule(rule, facts) == []) == silenced, scope


def test_placeholders_without_a_value_read_unknown():
    # an untimed or quoted line may lack a field a summary names: never "{assembly}" in a verdict
    assert fill("{a} and {b}", {"a": 1}) == "1 and unknown"
    assert fill("since {first_seen}", {"first_seen": None}) == "since unknown"
    assert fill("{a!x}", {"a": 1}) == "{a!x}"  # a bad format spec never breaks a report


def test_healthy_fixtures_have_no_finding_above_info():
    for name in ("healthy", "healthy-worker", "zip-healthy"):
        diagnosis = diagnose(analysed(name), RULES)
        assert [f.rule.id for f in diagnosis.findings if f.rule.severity != "info"] == [], name
        assert diagnosis.overall.finding is None
        assert diagnosis.overall.summary.startswith("No problem found")


def test_rules_test_runner_reports_a_wrong_example(tmp_path):
    rule = load_one(
        tmp_path,
        rule_toml('type = "match"\nselect = { event = "task_exit" }')
        + """
[[rules.examples]]
name = "claims to fire on nothing"
fires = true
[rules.examples.files]
"WaHostBootstrapper.log" = "[00002140:00003312, 2024/03/14, 09:00:00.000, INFO ] hello"
""",
    )
    (result,) = run_examples([rule])
    assert not result.passed and "should fire" in str(result)


# -- progress is evidence: absence inferences only at a cycle's frontier ----------------------

#: One start-up cycle of a full-IIS web role that started every stage's work and never logged
#: its end (no pass end, no task exit, no OnStart completion), yet went on to call Run(): every
#: stage before Run is proven finished by the progress after it. Taken two hours later.
PAST_EVERY_STAGE = {
    "WaAppAgent.log": (
        "[00000012] [03/14/2024 09:00:00.00] [INFO]  WindowsAzureGuestAgent starting. "
        "Version 2.7.1\n"
        "[00000012] [03/14/2024 09:00:00.50] [INFO]  Starting WaHostBootstrapper for "
        "WebRole1_IN_0\n"
    ),
    "WaHostBootstrapper.log": boot(
        ("09:00:01.000", "INFO ", "Bootstrapper starting. Version 2.7.41491.1010."),
        ("09:00:02.000", "INFO ", 'Executing "E:\\base\\x64\\IISConfigurator.exe" /clean'),
        (
            "09:00:05.000",
            "INFO ",
            'Executing Startup Task type=0 rolemodule=Diagnostics cmd="E:\\plugins\\Diagnostics'
            '\\DiagnosticsAgent.exe /blockStartup"',
        ),
        ("09:00:06.000", "INFO ", 'Executing Startup Task type=0 rolemodule=(null) cmd="a.cmd"'),
        ("09:00:07.000", "INFO ", 'Executing "a.cmd" .'),
        ("09:00:10.000", "INFO ", 'Executing "E:\\base\\x64\\IISConfigurator.exe" /start'),
        ("09:00:20.000", "INFO ", "Starting host process E:\\base\\x64\\WaIISHost.exe."),
    ),
    "IISConfigurator.log": (
        "IISConfigurator Information: 0 : [03/14/24 09:00:02.50] Started iisconfigurator with "
        "args /clean\n"
        "IISConfigurator Information: 0 : [03/14/24 09:00:10.50] Started iisconfigurator with "
        "args /start\n"
    ),
    "WaIISHost.log": (
        "WaIISHost Information: 0 : [03/14/24 09:00:30.00] Role entrypoint . "
        "CALLING   OnStart(): W.R\n"
        "WaIISHost Information: 0 : [03/14/24 09:00:40.00] Role entrypoint . CALLING   Run(): W.R\n"
    ),
}


def test_no_rule_draws_an_absence_finding_at_a_stage_its_cycle_went_past(tmp_path):
    """Every shipped rule, stripped of its own ``unless`` guards so that only the engine's check
    stands between an absence and a finding: none is drawn before the cycle's frontier."""
    from dataclasses import replace

    from azdiag.common.times import parse_user_time
    from azdiag.diagnosis.conditions import ABSENT

    root = collection(tmp_path, **PAST_EVERY_STAGE)
    facts = facts_of(analyze(root, now=parse_user_time("2024-03-14 11:00")))
    orders = load_workflow().stage_orders
    (cycle,) = facts.cycles.filter(pl.col("observed_start")).iter_rows(named=True)
    assert cycle["last_stage"] == "run" and cycle["outcome"] == "hung"
    frontier = orders["run"]
    would = set()  # rules whose raw hits hold an absence before the frontier (the check acts)
    for rule in RULES:
        raw = evaluate(rule.when, facts)
        if ABSENT in raw.columns and raw.height:
            stages = raw["stage"].fill_null(rule.stage or "").to_list()
            if any(
                orders.get(s, 99) < frontier for s, a in zip(stages, raw[ABSENT], strict=True) if a
            ):
                would.add(rule.id)
        for finding in apply_rule(replace(rule, unless=()), facts):
            if finding.absent:
                stage = finding.stage["id"]
                assert orders.get(stage, 99) >= frontier, (rule.id, finding.explanation)
    # the check is what silences them (a test that cannot fail proves nothing)
    assert {"startup-task-hangs", "iis-configurator-pass-fails"} <= would


def test_the_frontier_check_applies_to_rules_that_are_not_shipped(tmp_path):
    from azdiag.common.times import parse_user_time

    rule = load_one(
        tmp_path,
        rule_toml(
            'type = "sequence"\nfirst = { event = "task_start" }\nthen = { event = "task_exit" }\n'
            'same = ["cmd"]\nexpect = "absent"\nwithin = "10m"',
            extra='stage = "startup_tasks"',
        ),
    )
    now = parse_user_time("2024-03-14 11:00")
    past = facts_of(analyze(collection(tmp_path / "past", **PAST_EVERY_STAGE), now=now))
    assert apply_rule(rule, past) == []
    stuck_files = {
        "WaHostBootstrapper.log": boot(
            ("09:00:01.000", "INFO ", "Bootstrapper starting. Version 2.7.41491.1010."),
            (
                "09:00:06.000",
                "INFO ",
                'Executing Startup Task type=0 rolemodule=(null) cmd="a.cmd"',
            ),
        )
    }
    stuck = facts_of(analyze(collection(tmp_path / "stuck", **stuck_files), now=now))
    (finding,) = apply_rule(rule, stuck)
    assert finding.absent and finding.values["cmd"] == "a.cmd"


def test_an_extension_failure_counts_attempts_not_the_lines_each_attempt_writes(tmp_path):
    # one failed enable writes up to three lines (killed, exit code, "Enable failed"); the
    # headline's count is of attempts, each starting at its "Processing plugin" line
    attempt = (
        "[00000012] [08/20/2024 14:{m:02d}:00.00] [INFO]  Processing plugin Contoso.Ext version "
        "1.2.3.4, state: enabled, autoupgrade: True, isJson: True\n"
        "[00000012] [08/20/2024 14:{m:02d}:01.00] [INFO]  Waiting for command "
        "C:\\Packages\\Plugins\\Contoso.Ext\\1.2.3.4\\enable.cmd\n"
        "[00000012] [08/20/2024 14:{m:02d}:50.00] [ERROR] Command "
        "C:\\Packages\\Plugins\\Contoso.Ext\\1.2.3.4\\enable.cmd of Contoso.Ext has not exited "
        "on time! Killing it...\n"
        "[00000012] [08/20/2024 14:{m:02d}:51.00] [INFO]  Enable command of Contoso.Ext has "
        "exited with Exit code: -2\n"
        "[00000012] [08/20/2024 14:{m:02d}:52.00] [ERROR] Enable failed for plugin (name: "
        "Contoso.Ext, version 1.2.3.4) with exception Command timed out\n"
    )
    other = attempt.replace("Contoso.Ext", "Fabrikam.Mon")
    log = attempt.format(m=1) + attempt.format(m=3) + other.format(m=5)
    root = collection(tmp_path, **{"WaAppAgent.log": log})
    rule = next(r for r in RULES if r.id == "guest-agent-extension-fails")
    findings = apply_rule(rule, facts_of(analyze(root)))
    assert [f.count for f in findings] == [3]
    assert "killed" in findings[0].values["failure"]
    assert "3 failed attempt(s)" in findings[0].explanation
    # every failing extension is named, not only the first one's (a re-check found one hidden)
    assert findings[0].values["extensions"] == "Contoso.Ext, Fabrikam.Mon"


def test_a_finding_of_templates_lasts_until_the_last_line_of_any_template(tmp_path):
    """Unrecognised errors are one hit per template: the finding's last_seen was the first
    line's time (a newcomer's report said 'first 22:40:40, last 22:40:40' over a table whose
    last line was 22:46:28)."""
    text = boot(
        ("09:00:30.000", "INFO ", "Bootstrapper starting."),
        ("09:00:40.100", "ERROR", "Frobnicator 17 refused the widget"),
        ("09:03:10.100", "ERROR", "Frobnicator 23 refused the widget"),
        ("09:06:28.100", "ERROR", "Frobnicator 42 refused the widget"),
    )
    root = collection(tmp_path, **{"WaHostBootstrapper.log": text})
    [finding] = [f for f in diagnose(analyze(root)).findings if f.rule.id == "unrecognised-errors"]
    assert finding.first_seen is not None and finding.last_seen is not None
    assert (finding.first_seen.minute, finding.last_seen.minute) == (0, 6)
    assert finding.last_seen == max(g["last"] for g in finding.groups)
