"""What a support engineer reads: verdict sentences, evidence order, log status, instance names.

Each collection here is written by hand in the documented line shapes
(shared/domain/log-formats.md), not simulated, so a test shows the very lines it is about.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from azdiag.cli import main
from azdiag.diagnosis.engine import facts_of
from azdiag.diagnosis.findings import MAX_EVIDENCE, apply_rule, fill
from azdiag.knowledge.rulebook import load_rules
from azdiag.knowledge.workflow import load_workflow
from azdiag.timeline.analysis import analyze

RULES = {r.id: r for r in load_rules(stages=set(load_workflow().stages))}


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else content.replace("\n", "\r\n").encode()
        path.write_bytes(data)
    return root


def report_json(root: Path) -> dict:
    result = CliRunner().invoke(
        main, ["report", str(root), "--format", "json", "--no-timestamp"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def report_md(root: Path) -> str:
    result = CliRunner().invoke(
        main, ["report", str(root), "--format", "md", "-o", "-"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout


# -- evidence in time order ------------------------------------------------------------------


def extension_attempts(n: int) -> str:
    """``n`` failed enables of one extension, a minute apart, exit codes -1, -2, ..."""
    lines = ["[00000012] [03/14/2024 09:00:00.00] [INFO]  WindowsAzureGuestAgent starting."]
    for i in range(1, n + 1):
        lines += [
            f"[00000012] [03/14/2024 09:{i:02d}:00.00] [INFO]  Processing plugin Contoso.Ext "
            "version 1.2.3.4, state: enabled, autoupgrade: True, isJson: True",
            f"[00000012] [03/14/2024 09:{i:02d}:10.00] [ERROR] Enable command of Contoso.Ext "
            f"has exited with Exit code: -{i}",
        ]
    return "\n".join(lines) + "\n"


def test_extension_evidence_is_in_time_order(tmp_path):
    root = write(tmp_path, {"WebRole1_IN_0/WaAppAgent.log": extension_attempts(4)})
    rule = RULES["guest-agent-extension-fails"]
    (finding,) = apply_rule(rule, facts_of(analyze(root)))
    codes = [e["text"].rsplit(" ", 1)[-1] for e in finding.evidence]
    assert codes == ["-1", "-2", "-3", "-4"]
    (json_finding,) = report_json(root)["findings"]
    times = [e["time"] for e in json_finding["evidence"]]
    assert times == sorted(times) and len(times) == 4
    evidence = report_md(root).split("Evidence:", 1)[1]
    assert evidence.index("Exit code: -2") < evidence.index("Exit code: -4")


def test_capped_evidence_keeps_the_latest_hit_last(tmp_path):
    root = write(tmp_path, {"WebRole1_IN_0/WaAppAgent.log": extension_attempts(11)})
    (finding,) = apply_rule(RULES["guest-agent-extension-fails"], facts_of(analyze(root)))
    codes = [e["text"].rsplit(" ", 1)[-1] for e in finding.evidence]
    assert len(codes) == MAX_EVIDENCE
    assert codes == [f"-{i}" for i in range(1, MAX_EVIDENCE)] + ["-11"]


# -- an instance nothing names ---------------------------------------------------------------

BOOT = "[00002140:00003312, 2024/03/14, {t}, {level}] {message}\n"
TASK = "E:\\approot\\bin\\setup.cmd"
BOOT_FAILS = BOOT.format(
    t="09:29:40.118",
    level="INFO ",
    message=f'Executing Startup Task type=0 rolemodule=(null) cmd="{TASK}"',
) + BOOT.format(
    t="09:29:45.118",
    level="ERROR",
    message=f'Program "{TASK}" exited with 1. Working Directory = E:\\approot\\bin',
)
IIS_HOST = (
    "WaIISHost Information: 0 : [03/14/24 09:01:30.11] Role environment . INITIALIZING\n"
    "WaIISHost Information: 0 : [03/14/24 09:01:31.20] Role entrypoint . CALLING   OnStart(): "
    "WebRole1.WebRole\n"
)


def test_a_lone_host_log_is_an_unnamed_instance(tmp_path):
    for name, text in (("WaHostBootstrapper.log", BOOT_FAILS), ("WaIISHost.log", IIS_HOST)):
        root = write(tmp_path / name, {f"Resources/{name}": text})
        assert [s.instance for s in analyze(root).ingested.collection.sources] == [
            "(unnamed instance)"
        ]
        [instance] = report_json(root)["instances"]
        assert (instance["id"], instance["role"]) == ("(unnamed instance)", None)
    assert report_md(tmp_path / "WaHostBootstrapper.log").count("**(unnamed instance)") >= 1


def test_a_role_folder_named_in_a_log_names_the_instance(tmp_path):
    agent = (
        "[00000010] 2024-03-14T09:00:32.093Z [INFO]  Set ACLs on C:\\Resources\\Directory\\"
        "cd613e30d8f16adf91b7584a2265b1f5.WebRole1.DiagnosticStore for the role account.\n"
    )
    root = write(
        tmp_path, {"Logs/AppAgentRuntime.log": agent, "Logs/WaHostBootstrapper.log": BOOT_FAILS}
    )
    [instance] = report_json(root)["instances"]
    assert (instance["id"], instance["role"]) == ("WebRole1", "WebRole1")


# -- one failed start attempt is not a recycle loop ------------------------------------------


def failing_starts(n: int) -> str:
    """``n`` bootstrapper starts a minute apart, each ending in setup.cmd exiting with 1."""
    text = ""
    for i in range(n):
        minute = f"09:{29 + i:02d}"
        text += BOOT.format(
            t=f"{minute}:40.118",
            level="INFO ",
            message="Bootstrapper starting. Version 2.7.41491.1010.",
        )
        text += BOOT_FAILS.replace("09:29:", f"{minute}:")
    return text


def test_one_failed_start_attempt_is_not_called_recycling(tmp_path):
    said = {}
    for n in (1, 4):
        root = write(tmp_path / str(n), {"WebRole1_IN_0/WaHostBootstrapper.log": failing_starts(n)})
        (finding,) = apply_rule(RULES["startup-task-exit-code"], facts_of(analyze(root)))
        assert finding.values["cycle_count"] == n
        said[n] = finding.rule.summary and fill(finding.rule.summary, finding.values)
        report = report_json(root)
        assert report["verdict"]["summary"].startswith(said[n])
        assert report["instances"][0]["verdict"]["summary"].startswith(said[n])
        markdown = report_md(root)
        assert said[n].replace("_", "\\_") in markdown and "attempt(s)" not in markdown
    assert said[1].startswith("WebRole1_IN_0 failed to start: the startup task")
    assert "in 1 start attempt since 2024-03-14 09:29 UTC" in said[1]
    assert said[4].startswith("WebRole1_IN_0 is recycling: the startup task")
    assert "in 4 start attempts since 2024-03-14 09:29 UTC" in said[4]


def test_the_html_report_and_triage_say_start_attempts_in_words(tmp_path):
    log = {"WebRole1_IN_0/WaHostBootstrapper.log": failing_starts(1)}
    root = write(tmp_path / "in" / "one", log)
    html = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(root), "-o", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text(encoding="utf-8")
    assert "failed to start: the startup task" in page and "in 1 start attempt since" in page
    assert "attempt(s)" not in page and "is recycling" not in page
    out = tmp_path / "triage"
    result = CliRunner().invoke(
        main, ["triage", str(tmp_path / "in"), "--out", str(out), "--format", "json", "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    summary = row["verdict"]["summary"]
    assert "failed to start" in summary and "in 1 start attempt since" in summary
    (line,) = csv.DictReader(io.StringIO((out / "summary.csv").read_text(encoding="utf-8")))
    assert line["verdict"] == summary


def test_counted_placeholders_say_zero_one_and_more():
    workflow = load_workflow()
    said = [workflow.counted_values({"cycle_count": n}) for n in (0, 1, 2)]
    assert [s["start_attempts"] for s in said] == [
        "an unknown number of start attempts",
        "1 start attempt",
        "2 start attempts",
    ]
    assert [s["recycling"] for s in said] == ["failed to start", "failed to start", "is recycling"]
    assert said[2]["start_cycles"] == "2 start-up cycles"
    assert workflow.counted_values({"cycle_count": None}) == {}


# -- a needed log that is there but empty ----------------------------------------------------

EMPTY_AGENT_LOGS = {
    "0 bytes": b"",
    "blank lines": b"\r\n  \r\n\t\r\n",
    "a UTF-8 BOM and blank lines": b"\xef\xbb\xbf\r\n \r\n",
    "a UTF-16 BOM and blank lines": b"\xff\xfe" + "\r\n  \r\n".encode("utf-16-le"),
}


def test_an_empty_needed_log_is_present_but_empty_not_missing(tmp_path):
    for n, (what, content) in enumerate(EMPTY_AGENT_LOGS.items()):
        root = write(
            tmp_path / str(n),
            {
                "WebRole1_IN_0/WaHostBootstrapper.log": failing_starts(1),
                "WebRole1_IN_0/WaAppAgent.log": content,
            },
        )
        analysis = analyze(root)
        (agent,) = [f for f in analysis.ingested.files if f.kind == "WaAppAgent"]
        assert agent.empty and agent.records == 0 and agent.unparsed_records == 0, what
        report = report_json(root)
        (instance,) = report["instances"]
        need = instance["completeness"]["needed"][0]
        assert (need["status"], need["files"]) == ("empty", ["WebRole1_IN_0/WaAppAgent.log"])
        assert instance["completeness"]["empty"] == ["WaAppAgent.log or AppAgentRuntime.log"]
        assert instance["completeness"]["missing"] == []
        # still no evidence: the verdict says the collection is incomplete
        assert instance["completeness"]["complete"] is False
        said = "present but empty (WebRole1_IN_0/WaAppAgent.log)"
        assert said in instance["verdict"]["summary"], what
        assert "missing" not in instance["verdict"]["summary"]
        markdown = report_md(root)
        assert "(agent): present but empty (WebRole1\\_IN\\_0/WaAppAgent.log)" in markdown
    html = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(root), "-o", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text(encoding="utf-8")
    assert '<b class="log-empty">present but empty (WebRole1_IN_0/WaAppAgent.log)</b>' in page


AGENT_STARTS = (
    "[00000012] [03/14/2024 09:26:53.43] [INFO]  WindowsAzureGuestAgent starting. "
    "Version 2.7.41491.1010\n"
    "[00000021] [03/14/2024 09:28:01.78] [HEART] WindowsAzureGuestAgent Heartbeat.\n"
)


def test_an_empty_bootstrapper_log_leaves_the_instance_inconclusive(tmp_path):
    root = write(
        tmp_path,
        {"WebRole1_IN_0/WaHostBootstrapper.log": b"", "WebRole1_IN_0/WaAppAgent.log": AGENT_STARTS},
    )
    (instance,) = report_json(root)["instances"]
    (need,) = [n for n in instance["completeness"]["needed"] if "WaHostBootstrapper" in n["kinds"]]
    assert (need["status"], need["files"]) == ("empty", ["WebRole1_IN_0/WaHostBootstrapper.log"])
    assert instance["outcome"] == "inconclusive"
    summary = instance["verdict"]["summary"]
    assert "WaHostBootstrapper.log (Startup tasks" in summary
    assert "present but empty (WebRole1_IN_0/WaHostBootstrapper.log)" in summary


def test_a_collection_of_empty_logs_only_is_an_input_error(tmp_path):
    root = write(tmp_path, {"WaAppAgent.log": b"", "WaHostBootstrapper.log": b"\r\n"})
    result = CliRunner().invoke(main, ["report", str(root), "--format", "json"])
    assert result.exit_code == 1
    assert "2 empty (WaAppAgent.log, WaHostBootstrapper.log)" in result.output
