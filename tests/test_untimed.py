"""Untimed records and broken steps through the whole path: analyze -> diagnose -> render.

Issue 10's small inputs c, d and e: one-line guest logs in the shapes support engineers quote
(log-formats.md §7), and a host log without any time. No step may assume a time, a cycle or a
log kind; no text may say "None" or "?" for what is unknown; an internal error is one line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.cli import main
from azdiag.diagnosis.engine import diagnose
from azdiag.exit_status import ExitStatus
from azdiag.timeline.analysis import analyze

SMALL_INPUTS = {
    # c: a guest agent error quoted without thread id or time
    "c": (
        "Logs/WaAppAgent.log",
        "[ERROR] Enable command of Contoso.Ext has exited with Exit code: -2",
    ),
    # d: a bare message: no time, no level
    "d": ("Logs/WaAppAgent.log", "WindowsAzureGuestAgent starting. Version 2.7.1198.802"),
    # e: the only log is an untimed host log with an entry-point failure
    "e": (
        "Resources/Directory/0a1b2c3d4e5f.WebRole1/WaIISHost.log",
        "WaIISHost Error: 0 : Role entrypoint could not be created: "
        "System.IO.FileNotFoundException: Could not load file or assembly "
        "'Contoso.Lib, Version=1.0.0.0' or one of its dependencies.",
    ),
}

#: Words a report must never use for an unknown value.
_PLACEHOLDERS = re.compile(r"\bNone\b|since \?|\(\?\)| \? ")


def _collection(tmp_path: Path, case: str) -> Path:
    relative, line = SMALL_INPUTS[case]
    target = tmp_path / case / relative
    target.parent.mkdir(parents=True)
    target.write_bytes(line.encode() + b"\r\n")
    return tmp_path / case


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize("case", sorted(SMALL_INPUTS))
@pytest.mark.parametrize("output_format", ["json", "md", "html"])
def test_a_one_line_collection_reports_in_every_format(tmp_path, case, output_format):
    source = _collection(tmp_path, case)
    out = tmp_path / f"report.{output_format}"
    result = CliRunner().invoke(
        main, ["report", str(source), "--format", output_format, "-o", str(out)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (ExitStatus.OK, ExitStatus.FINDINGS), result.output
    assert "Traceback" not in result.output
    text = out.read_text(encoding="utf-8")
    if output_format == "json":
        report = json.loads(text)
        strings = json.dumps([report["verdict"], report["findings"], report["instances"]])
        assert not _PLACEHOLDERS.search(strings)
    elif output_format == "html":
        assert not _PLACEHOLDERS.search(_visible_text(text))
    else:
        assert not _PLACEHOLDERS.search(text)
    assert not _PLACEHOLDERS.search(result.output)


def test_a_bracketed_level_without_time_still_counts(tmp_path):
    events = analyze(_collection(tmp_path, "c")).events
    assert events.select("level", "time").rows() == [("error", None)]


def test_a_bare_agent_start_is_an_event_without_a_time(tmp_path):
    analysis = analyze(_collection(tmp_path, "d"))
    row = analysis.with_fields().row(0, named=True)
    assert (row["event"], row["time"], row["cycle"]) == ("agent_start", None, None)
    (report,) = analysis.ingested.files
    assert (report.timed_records, report.untimed_records) == (0, 1)
    assert any("no record has a time" in w for w in report.warnings)
    assert any("have no time" in w for w in analysis.warnings)


def test_an_untimed_host_log_still_gives_its_finding_with_evidence(tmp_path):
    analysis = analyze(_collection(tmp_path, "e"))
    assert analysis.cycles.height == 0
    findings = diagnose(analysis).findings
    entry = [f for f in findings if f.rule.scenario == "S06"]
    assert entry, [f.rule.id for f in findings]
    assert entry[0].first_seen is None
    assert entry[0].evidence[0]["time"] is None
    assert "Contoso.Lib" in entry[0].evidence[0]["text"]


def test_untimed_records_of_a_timed_instance_stay_out_of_its_cycles(tmp_path):
    logs = tmp_path / "Logs"
    logs.mkdir()
    (logs / "WaAppAgent.log").write_text(
        "[00000012] [03/14/2024 09:26:53.43] [INFO]  WindowsAzureGuestAgent starting. Version 2.7\n"
        "[00000021] [03/14/2024 09:26:55.43] [HEART] WindowsAzureGuestAgent Heartbeat.\n"
    )
    (logs / "AppAgentRuntime.log").write_text(
        "WindowsAzureGuestAgent starting. Version 2.7.1198.802\n"
    )
    analysis = analyze(tmp_path)
    assert analysis.cycles.height == 1
    untimed = analysis.events.filter(analysis.events["time"].is_null())
    assert untimed.height == 1
    assert untimed["cycle"].to_list() == [None]


def test_a_rule_that_breaks_becomes_a_finding_and_the_report_is_written(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.toml").write_text(
        """
[[rules]]
id = "broken-query"
title = "A rule whose query reads a column that does not exist"
severity = "warning"
confidence = "low"
stage = "startup_tasks"
documented = "test"
explanation = "x"
advice = "y"
[rules.when]
type = "sql"
query = "SELECT instance, time, no_such_column FROM notable"
""",
        encoding="utf-8",
    )
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        main,
        ["report", "fixtures/S01", "--rules", str(rules), "--format", "json", "-o", str(out)],
    )
    assert result.exit_code == ExitStatus.OK, result.output
    report = json.loads(out.read_text())
    titles = [f["title"] for f in report["findings"]]
    assert any(t.startswith("analysis step rule broken-query failed: ") for t in titles), titles
    assert report["verdict"]["scenario"] == "S01"  # the real diagnosis still stands


def test_an_internal_error_is_one_line_with_its_step_and_a_documented_status(tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("azdiag.diagnosis.engine.apply_rules", broken)
    result = CliRunner().invoke(main, ["report", "fixtures/S01", "-o", str(tmp_path / "r.html")])
    assert result.exit_code == ExitStatus.INTERNAL_ERROR == 70
    lines = result.output.strip().splitlines()
    assert lines[-1] == (
        "azdiag: internal error in diagnosis.engine.diagnose: division by zero "
        "(run again with --debug for the traceback)"
    )
    assert "Traceback" not in result.output
    debug = CliRunner().invoke(
        main, ["--debug", "report", "fixtures/S01", "-o", str(tmp_path / "r.html")]
    )
    assert isinstance(debug.exception, ZeroDivisionError)
