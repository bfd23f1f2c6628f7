"""A .NET exception printed under a host log record is read as that record's continuation lines
(``File name: '...'``, the fusion bind log), and a line cut short at the end of a file is not
understood (the newcomer's C04, C10 and C09 collections)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from azdiag.cli import main
from azdiag.knowledge.formats import load_formats
from azdiag.parse.engine import parse_text

FORMATS = load_formats()

# the version-mismatch failure of C10, as WaIISHost.log writes it: one record of 8 lines
_FAILURE = (
    "[00005500:00000001, 2024/10/09, 23:55:26.500, ERROR] System.TypeLoadException: Unable to"
    " load the role entry point due to the following exceptions:\r\n"
    "-- System.IO.FileLoadException: Could not load file or assembly 'Microsoft.Owin,"
    " Version=4.2.2.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35' or one of its"
    " dependencies. (Exception from HRESULT: 0x80131040)\r\n"
    "File name: 'Microsoft.Owin, Version=4.2.2.0, Culture=neutral,"
    " PublicKeyToken=31bf3856ad364e35'\r\n"
    "=== Pre-bind state information ===\r\n"
    "LOG: DisplayName = Microsoft.Owin, Version=4.2.2.0, Culture=neutral\r\n"
    "Calling assembly : Contoso.Web, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null.\r\n"
    "WRN: Comparing the assembly name resulted in the mismatch: Minor Version\r\n"
    "ERR: Failed to complete setup of assembly (hr = 0x80131040). Probing terminated.\r\n"
)
_NEXT = "[00005501:00000001, 2024/10/09, 23:55:57.000, INFO ] Role environment . INITIALIZING\r\n"


def test_the_exception_and_its_bind_log_fold_into_the_record_above():
    result = parse_text((_FAILURE + _NEXT).encode(), FORMATS["waiishost"])
    assert result.unparsed_lines == 0
    assert result.records["lines"].to_list() == [8, 1]
    message = result.records["message"].cast(str)[0]
    assert "\nFile name: 'Microsoft.Owin" in message
    assert message.endswith("Probing terminated.")


def test_a_line_cut_short_at_the_end_of_the_agent_log_is_not_understood():
    text = (
        b"[00000021] [03/28/2024 20:39:57.00] [HEART]  WindowsAzureGuestAgent Heartbeat.\r\n"
        b"[00000021] [03/28/2024 20:40:0"
    )
    result = parse_text(text, FORMATS["waappagent"])
    assert result.unparsed_lines == 1
    assert result.unparsed_examples == [(2, "[00000021] [03/28/2024 20:40:0")]
    assert result.records["parsed"].to_list() == [True, False]


def test_the_report_counts_both_in_its_inventory(tmp_path: Path):
    store = tmp_path / "Resources/Directory/0f1e.Reporting.DiagnosticStore"
    store.mkdir(parents=True)
    (store / "WaIISHost.log").write_text(_FAILURE + _NEXT, encoding="utf-8")
    agent = tmp_path / "Logs" / "WaAppAgent.log"
    agent.parent.mkdir()
    agent.write_text(
        "[00000021] [10/09/2024 23:55:57.00] [HEART]  WindowsAzureGuestAgent Heartbeat.\r\n"
        "[00000021] [10/09/2024 23:56:0",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    files = {f["kind"]: f for f in json.loads(result.stdout)["collection"]["files"]}
    assert (files["WaIISHost"]["lines"], files["WaIISHost"]["unparsed_lines"]) == (9, 0)
    assert (files["WaAppAgent"]["lines"], files["WaAppAgent"]["unparsed_lines"]) == (2, 1)
