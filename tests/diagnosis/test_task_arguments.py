"""A startup task's arguments written after the quoted program (log-formats.md §7):
``cmd="E:\\plugins\\Diagnostics\\DiagnosticsAgent.exe" /blockStartup``. The arguments are read
(field ``args``) so the Diagnostics plugin's hang (S20) is found in both shapes, and the task's
name in a finding stays the program the exit line also names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.cli import main

_STORE = "Resources/Directory/7c9e4b2f1a3d4e5f8a6b0c1d2e3f4a5b.Orders.DiagnosticStore"
_BLOCK = "[00001700:00003312, 2024/04/22, 15:00"


def _collection(root: Path, task_line: str) -> Path:
    store = root / _STORE
    store.mkdir(parents=True)
    (store / "WaHostBootstrapper.log").write_text(
        f"{_BLOCK}:29.000, INFO ] Bootstrapper starting. Version 2.7.41491.1010.\n"
        f"{_BLOCK}:30.000, INFO ] {task_line}\n",
        encoding="utf-8",
    )
    agent = root / "Logs" / "WaAppAgent.log"
    agent.parent.mkdir(parents=True)
    busy = "Reporting status: Busy (Waiting for role to start... System startup tasks are running.)"
    agent.write_text(
        "".join(f"[00000014] [04/22/2024 15:{m:02d}:37.52] [INFO]  {busy}\n" for m in (1, 20, 40)),
        encoding="utf-8",
    )
    return root


def _report(path: Path) -> dict:
    now = "2024-04-22 15:45"
    result = CliRunner().invoke(
        main, ["report", str(path), "--format", "json", "--no-timestamp", "--now", now]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


_AGENT = r"E:\plugins\Diagnostics\DiagnosticsAgent.exe"


@pytest.mark.parametrize(
    "command",
    [f'"{_AGENT}" /blockStartup', f'"{_AGENT} /blockStartup"'],
    ids=["argument-after-quote", "argument-inside-quotes"],
)
def test_the_blockstartup_hang_is_found_wherever_the_argument_is_written(tmp_path, command):
    line = f"Executing Startup Task type=0 rolemodule=Diagnostics cmd={command}"
    verdict = _report(_collection(tmp_path, line))["verdict"]
    assert verdict["rule"] == "diagnostics-plugin-blocks-startup", verdict["summary"]
    assert f"its simple task {_AGENT} /blockStartup started at" in verdict["summary"]


def test_the_background_twin_without_the_argument_is_no_plugin_hang(tmp_path):
    line = f'Executing Startup Task type=0 rolemodule=Diagnostics cmd="{_AGENT}"'
    verdict = _report(_collection(tmp_path, line))["verdict"]
    assert verdict.get("rule") != "diagnostics-plugin-blocks-startup", verdict["summary"]


def test_a_customer_task_hang_names_the_program_not_its_arguments(tmp_path):
    program = r"E:\approot\bin\install.cmd"
    line = f'Executing Startup Task type=0 rolemodule=(null) cmd="{program}" /quiet'
    verdict = _report(_collection(tmp_path, line))["verdict"]
    assert verdict["rule"].startswith("startup-task-"), verdict["summary"]
    assert f"the simple startup task {program} started at" in verdict["summary"]


def test_a_customer_task_with_arguments_that_exits_is_no_hang(tmp_path):
    program = r"E:\approot\bin\install.cmd"
    start = f'Executing Startup Task type=0 rolemodule=(null) cmd="{program}" /quiet'
    root = _collection(tmp_path, start)
    exit_line = (
        f'{_BLOCK}:35.000, INFO ] Program "{program}" /quiet exited with 0.'
        r" Working Directory = E:\approot\bin" + "\n"
    )
    log = root / _STORE / "WaHostBootstrapper.log"
    log.write_text(log.read_text(encoding="utf-8") + exit_line, encoding="utf-8")
    verdict = _report(root)["verdict"]
    assert not (verdict.get("rule") or "").startswith("startup-task-"), verdict["summary"]
