"""An IISConfigurator pass that never finishes is told from what the logs hold (the newcomer's
C17): when it started, how long it ran without an end line and its last line; a status text
is quoted only when the guest agent's log has one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.cli import main

_STORE = "Resources/Directory/7c9e4b2f1a3d4e5f8a6b0c1d2e3f4a5b.Intranet.DiagnosticStore"
_DEPLOYING = "Busy (Waiting for role to start... Sites are being deployed.)"


def _collection(root: Path, *, status: bool, error: bool = False) -> Path:
    store = root / _STORE
    store.mkdir(parents=True)
    (store / "WaHostBootstrapper.log").write_text(
        "[00002200:00003312, 2024/02/02, 09:00:31.000, INFO ] Bootstrapper starting.\n"
        '[00002200:00003312, 2024/02/02, 09:00:42.100, INFO ] Executing "E:\\base\\x64\\'
        'IISConfigurator.exe" /start\n',
        encoding="utf-8",
    )
    iis = "IISConfigurator Information: 0 : [02/02/24 09:00:4{}] {}\n"
    lines = [
        iis.format("2.20", "Started iisconfigurator with args /start"),
        iis.format("2.30", "Starting service WAS"),
        iis.format("3.20", "Cleaning All Sites"),
    ]
    if error:
        lines.append(
            "IISConfigurator Error: 0 : [02/02/24 09:00:44.00] System.Runtime.InteropServices."
            "COMException (0x80070520): A specified logon session does not exist.\n"
        )
    (store / "IISConfigurator.log").write_text("".join(lines), encoding="utf-8")
    agent = root / "Logs" / "WaAppAgent.log"
    agent.parent.mkdir(parents=True)
    text = "[00000021] [02/02/2024 09:{:02d}:00.00] [HEART]  WindowsAzureGuestAgent Heartbeat.\n"
    body = "".join(text.format(m) for m in range(0, 60, 5))
    if status:
        body += f"[00000014] [02/02/2024 09:30:00.00] [INFO]  Reporting status: {_DEPLOYING}\n"
    agent.write_text(body, encoding="utf-8")
    return root


def _verdict(path: Path) -> dict:
    result = CliRunner().invoke(main, ["report", str(path), "--format", "json", "--no-timestamp"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)["verdict"]
    assert verdict["rule"] == "iis-configurator-pass-fails", verdict["summary"]
    return verdict


def test_a_pass_without_end_says_when_it_started_how_long_it_ran_and_its_last_line(tmp_path):
    summary = _verdict(_collection(tmp_path, status=False))["summary"]
    assert "pass started at 2024-02-02 09:00 UTC and wrote no end line in the 54 minute(s)" in (
        summary
    )
    assert 'its last line, at 09:00:43 UTC, is "Cleaning All Sites"' in summary
    # nothing the logs do not say: no error, no status text
    assert "failed" not in summary
    assert "Sites are being deployed" not in summary
    assert "no error line" not in summary


@pytest.mark.parametrize("error", [False, True], ids=["no-error", "error"])
def test_the_status_text_is_quoted_when_the_agent_reported_it(tmp_path, error):
    summary = _verdict(_collection(tmp_path, status=True, error=error))["summary"]
    assert f'the guest agent reported the role "{_DEPLOYING}"' in summary
    if error:
        assert 'failed with "System.Runtime.InteropServices.COMException (0x80070520)' in summary
