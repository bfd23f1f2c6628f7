"""A guest agent log pasted into a ticket loses its line ends (log-formats.md §7): the records
glued onto one line are split at each agent header again, in every documented header shape,
and a message that only quotes part of a header is left whole."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from azdiag.diagnosis.engine import diagnose
from azdiag.knowledge.formats import load_formats
from azdiag.parse.engine import parse_text
from azdiag.timeline.analysis import analyze
from tests.conftest import FIXTURES

FORMATS = load_formats()
AGENT = FORMATS["waappagent"]


def test_agent_records_glued_on_one_line_are_split_in_every_header_shape():
    line = (
        "[00000014] [03/14/2024 09:00:00.00] [INFO]  WindowsAzureGuestAgent starting. "
        "Version 2.7.41491.1010 "
        "[00000021] [03/14/2024 09:00:01.78] [HEART] WindowsAzureGuestAgent Heartbeat."
        "[00000009] 2024-03-14T09:00:02.5Z [ERROR] GetVersions() failed with exception: x "
        "[03/14/2024 09:00:03.00] [WARN]  Waiting for OOBE to Complete ... "
        "[00000001] [2024.03.14 09:00:04] [INFO]  dotted date\r\n"
        "[00000014] [03/14/2024 09:00:05.00] [INFO]  next line\r\n"
    )
    result = parse_text(line.encode(), AGENT)
    records = result.records
    assert records["message"].to_list() == [
        "WindowsAzureGuestAgent starting. Version 2.7.41491.1010",
        "WindowsAzureGuestAgent Heartbeat.",
        "GetVersions() failed with exception: x",
        "Waiting for OOBE to Complete ...",
        "dotted date",
        "next line",
    ]
    assert records["line"].to_list() == [1, 1, 1, 1, 1, 2]
    assert records["level_raw"].to_list() == ["INFO", "HEART", "ERROR", "WARN", "INFO", "INFO"]
    assert records["tid"].to_list() == [14, 21, 9, None, 1, 14]
    assert [t.second for t in records["time"]] == [0, 1, 2, 3, 4, 5]
    assert records["parsed"].all()
    assert result.glued_records == 4
    assert result.lines + result.glued_records == (
        result.header_lines + result.continuation_lines + result.unparsed_lines
    )


@pytest.mark.parametrize(
    "message",
    [
        "Thread [00000014] is blocked",
        "Thread [00000014] [INFO] quoted without a time",
        "copied [03/14/2024 09:00:00.00] without a level",
        "[00000014] [03/14/2024 09:00:00.00] quoted without a level",
        "ids [00000014] [00000015] [00000016] [00000017]",
        "2024-03-14T09:00:00Z [ERROR] quoted without a thread",
    ],
)
def test_a_message_that_quotes_part_of_a_header_is_not_split(message: str):
    line = f"[00000014] [03/14/2024 09:00:00.00] [INFO]  {message}\r\n"
    result = parse_text(line.encode(), AGENT)
    assert result.records["message"].to_list() == [message]
    assert result.glued_records == 0


@pytest.mark.parametrize(
    "text",
    [
        "[00000014] [03/14/2024 09:00:00.00] [INFO] a [00000015] [03/14/2024 09:00:01.00] [INFO] b",
        "[00000014] 2024-03-14T09:00:00Z [INFO] a [00000015] 2024-03-14T09:00:01Z [INFO] b",
        "[03/14/2024 09:00:00.00] [INFO] a[03/14/2024 09:00:01.00] [INFO] b",
        # an agent record and a bootstrapper record on one line: two kinds of glue, one each
        "[00000014] [03/14/2024 09:00:00.00] [INFO]  a [1:2, 2024/03/14, 09:00:01.000, INFO ] b",
        "[1:2, 2024/03/14, 09:00:01.000, INFO ] b [00000014] 2024-03-14T09:00:00Z [INFO] a",
        "[00000014] [03/14/2024 09:00:00.00] [INFO]  [a] [b] [c] [d], no second record",
    ],
)
def test_the_glue_prefilter_only_skips_lines_the_glue_cannot_split(text: str):
    every_line = dataclasses.replace(AGENT, glue_literals=(), glue_counted=None)
    fast = parse_text(text.encode() + b"\n", AGENT)
    slow = parse_text(text.encode() + b"\n", every_line)
    assert fast.records.equals(slow.records)
    assert fast.glued_records == slow.glued_records


def test_appagentruntime_inherits_the_agent_glue():
    runtime = FORMATS["appagentruntime"]
    assert (runtime.glue, runtime.glue_counted) == (AGENT.glue, AGENT.glue_counted)
    line = (
        b"[00000008] [03/14/2024 09:28:55.10] [INFO]  _Context_Start: StartContainer() "
        b"[00000008] [03/14/2024 09:28:56.10] [INFO]  StopContainer(): stopping role x.\n"
    )
    assert parse_text(line, runtime).glued_records == 1


def paste(root: Path, per_line: int, joint: str) -> None:
    """Every guest agent log under ``root`` pasted with ``per_line`` lines on each physical
    line, joined by ``joint`` ("" when the line ends are simply lost)."""
    for path in root.rglob("*"):
        if not path.name.lower().startswith(("waappagent", "appagentruntime")):
            continue
        lines = path.read_bytes().decode("utf-8").splitlines()
        groups = [joint.join(lines[i : i + per_line]) for i in range(0, len(lines), per_line)]
        path.write_bytes("\r\n".join(groups).encode("utf-8") + b"\r\n")


def verdicts(root: Path) -> list[dict]:
    """Each instance's verdict as the report gives it, but for the lines quoted as evidence:
    their line numbers are the pasted file's, and a stack trace pasted behind its record is
    part of the record's text."""
    found = [v.to_dict() for v in diagnose(analyze(root)).verdicts]
    for verdict in found:
        if verdict["frontier"]:
            verdict["frontier"].pop("evidence")
    return found


#: scenarios whose verdict rests on the guest agent's log (failures.md: D, C, H, the states)
AGENT_SCENARIOS = ["S16", "S17", "S18", "S19", "S20", "S23", "healthy"]


@pytest.mark.parametrize("name", AGENT_SCENARIOS)
@pytest.mark.parametrize(("per_line", "joint"), [(10**6, " "), (40, "")], ids=["one", "few"])
def test_a_pasted_agent_log_gives_the_verdict_of_the_log_with_line_ends(
    name: str, per_line: int, joint: str, tmp_path: Path
):
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    paste(root, per_line, joint)
    assert verdicts(root) == verdicts(FIXTURES / name)


def test_a_verdict_rests_on_the_agent_log_in_these_scenarios(tmp_path: Path):
    # without the agent's records the verdicts differ: the test above can fail
    changed = []
    for name in AGENT_SCENARIOS:
        root = tmp_path / name
        shutil.copytree(FIXTURES / name, root)
        for path in root.rglob("*"):
            if path.name.lower().startswith(("waappagent", "appagentruntime")):
                path.write_bytes(b"[00000014] [03/14/2024 09:00:00.00] [INFO]  nothing\r\n")
        changed.append(verdicts(root) != verdicts(FIXTURES / name))
    assert all(changed), dict(zip(AGENT_SCENARIOS, changed, strict=True))
