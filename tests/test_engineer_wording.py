"""What a support engineer reads: verdict sentences, evidence order, log status, instance names.

Each collection here is written by hand in the documented line shapes
(shared/domain/log-formats.md), not simulated, so a test shows the very lines it is about.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from azdiag.cli import main
from azdiag.diagnosis.engine import facts_of
from azdiag.diagnosis.findings import MAX_EVIDENCE, apply_rule
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
