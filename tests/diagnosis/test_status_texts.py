"""The guest agent's status texts are read as role states in whatever sentence holds them
(log-formats.md §1): "Role is reporting status: ...", "Reporting role status: ...", "Role
instance status: ...", "Setting role status to ...", with the detail in parentheses (the
newcomer's probe_states and C13 collections)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from azdiag.cli import main
from azdiag.timeline.analysis import analyze

_LINE = "[00000012] [03/14/2024 09:{:02d}:00.00] [INFO]  {}\n"


def _agent_log(root: Path, messages: list[str]) -> Path:
    log = root / "WebRole1_IN_0" / "WaAppAgent.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(_LINE.format(m, text) for m, text in enumerate(messages)), "utf-8")
    return root


def test_each_sentence_gives_its_state_and_detail(tmp_path):
    root = _agent_log(
        tmp_path,
        [
            "Role is reporting status: Busy (Waiting for role to start... System startup tasks"
            " are running.)",
            "Reporting role status: Recycling (Role has encountered an error and has stopped.)",
            "Role instance status: Unresponsive",
            "Setting role status to Busy (Starting role... Sites were deployed.)",
        ],
    )
    states = analyze(root).states
    got = list(zip(states["state"], states["detail"], strict=True))
    assert got == [
        ("Busy", "Waiting for role to start... System startup tasks are running."),
        ("Recycling", "Role has encountered an error and has stopped."),
        ("Unresponsive", None),
        ("Busy", "Starting role... Sites were deployed."),
    ]


def test_an_agent_only_collection_names_the_recycling_reports(tmp_path):
    busy = "Role is reporting status: Busy (Starting role... Sites were deployed.)"
    error = (
        "Role is reporting status: Recycling (Role has encountered an error and has stopped."
        " Sites were deployed.)"
    )
    root = _agent_log(
        tmp_path,
        ["WindowsAzureGuestAgent starting. Version 2.7.41491.1010", *[busy, error] * 4],
    )
    result = CliRunner().invoke(main, ["report", str(root), "--format", "json", "--no-timestamp"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    summary = data["verdict"]["summary"]
    assert "Recycling (Role has encountered an error and has stopped. Sites were deployed.)" in (
        summary
    )
    (instance,) = data["instances"]
    assert {c["outcome"] for c in instance["cycles"]} == {"failed"}, instance["cycles"]
