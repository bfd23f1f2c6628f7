"""The command line, through click's CliRunner: outputs, exit codes, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag import __version__
from azdiag.cli import main
from azdiag.exit_status import ExitStatus
from tests.conftest import FIXTURES, fixture_path, manifest_names


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version():
    result = run("--version")
    assert result.exit_code == ExitStatus.OK
    assert __version__ in result.output


def test_help_does_not_import_the_heavy_libraries():
    code = "import sys, azdiag.cli; print('polars' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_formats_list_names_every_log_kind():
    result = run("formats", "list", "--json")
    kinds = {row["kind"] for row in json.loads(result.output)}
    assert {"WaAppAgent", "AppAgentRuntime", "WaHostBootstrapper", "IISConfigurator"} <= kinds
    assert {"WaIISHost", "WaWorkerHost", "WaWebHost", "TraceSource"} <= kinds


def test_formats_test_passes_on_the_shipped_formats():
    result = run("formats", "test")
    assert result.exit_code == ExitStatus.OK
    assert result.output.strip().endswith("passed, 0 failed")


@pytest.mark.parametrize("name", manifest_names())
def test_formats_check_understands_every_fixture(name):
    result = run("formats", "check", str(fixture_path(name)), "--json")
    assert result.exit_code == ExitStatus.OK
    inventory = json.loads(result.output)
    assert inventory["files"], name
    for row in inventory["files"]:
        assert row["error"] is None, row
        assert row["parsed_ratio"] >= 0.99, row
        assert row["lines"] + row["glued_records"] == (
            row["records"] + row["continuation_lines"] + row["unparsed_lines"]
        )
        times = row["timed_records"] + row["inherited_time_records"] + row["untimed_records"]
        assert times == row["records"] + row["unparsed_records"]
        assert row["untimed_records"] == 0 and row["timed_records"] > 0, row
    assert inventory["totals"]["parsed_ratio"] >= 0.99


def test_formats_check_text_lists_skipped_files():
    result = run("formats", "check", str(FIXTURES / "S01"))
    assert result.exit_code == ExitStatus.OK
    assert "WaHostBootstrapper" in result.output
    assert "[config-xml]" in result.output  # inventoried, not parsed


def test_missing_input_is_an_input_error():
    result = CliRunner().invoke(main, ["formats", "check", "does/not/exist"])
    assert result.exit_code == ExitStatus.INPUT_ERROR
    assert "azdiag:" in result.output


def test_folder_without_logs_is_an_input_error(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("nothing to see\n")
    result = CliRunner().invoke(main, ["formats", "check", str(tmp_path)])
    assert result.exit_code == ExitStatus.INPUT_ERROR
    assert "no guest log found" in result.output


def test_bad_usage_is_exit_code_2():
    assert CliRunner().invoke(main, ["timeline"]).exit_code == ExitStatus.USAGE
    result = CliRunner().invoke(main, ["timeline", str(FIXTURES / "S01"), "--tz", "Mars/Base"])
    assert result.exit_code == ExitStatus.USAGE
    assert "unknown time zone" in result.output
    result = CliRunner().invoke(main, ["timeline", str(FIXTURES / "S01"), "--since", "whenever"])
    assert result.exit_code == ExitStatus.USAGE


def test_a_broken_archive_beside_good_logs_loses_nothing(tmp_path: Path):
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../escape.log", "[00000001] [03/14/2024 09:00:00.00] [INFO]  x\n")
    good = FIXTURES / "healthy" / "RuntimeAndAgent" / "WaAppAgent.log"
    (tmp_path / "WaAppAgent.log").write_bytes(good.read_bytes())
    result = run("formats", "check", str(tmp_path), "--json")
    assert result.exit_code == ExitStatus.OK
    inventory = json.loads(result.output)
    assert [f["path"] for f in inventory["files"]] == ["WaAppAgent.log"]
    categories = {s["category"] for s in inventory["skipped"]}
    assert {"corrupt-archive", "unsafe-member"} <= categories
    assert not (tmp_path.parent / "escape.log").exists()


def test_timeline_cycles_as_csv_and_events_as_jsonl():
    cycles = run("timeline", str(FIXTURES / "S01"), "--show", "cycles", "--format", "csv")
    header, *rows = cycles.output.strip().splitlines()
    assert header.startswith("instance,cycle,start,end")
    assert rows and all(",failed," in row for row in rows)
    events = run(
        "timeline",
        str(FIXTURES / "S01"),
        "--event",
        "task_exit",
        "--format",
        "jsonl",
        "--since",
        "2024-03-14 09:10",
        "--until",
        "2024-03-14 09:12",
    )
    records = [json.loads(line) for line in events.output.splitlines()]
    assert records and {r["event"] for r in records} == {"task_exit"}
    assert all("09:10" <= r["time"][11:16] <= "09:12" for r in records)
    assert {r["code"] for r in records} == {"0", "1"}  # the signature fields come along


def test_timeline_parquet_needs_an_output_file(tmp_path: Path):
    assert (
        CliRunner()
        .invoke(main, ["timeline", str(FIXTURES / "S01"), "--format", "parquet"])
        .exit_code
        == ExitStatus.USAGE
    )
    target = tmp_path / "gaps.parquet"
    result = run(
        "timeline",
        str(FIXTURES / "S18"),
        "--show",
        "gaps",
        "--format",
        "parquet",
        "-o",
        str(target),
    )
    assert result.exit_code == ExitStatus.OK
    import polars as pl

    assert pl.read_parquet(target).height == 1


def test_tz_override_shifts_the_times():
    utc = run("timeline", str(FIXTURES / "healthy"), "--show", "cycles", "--format", "csv")
    paris = run(
        "timeline",
        str(FIXTURES / "healthy"),
        "--show",
        "cycles",
        "--format",
        "csv",
        "--tz",
        "Europe/Paris",
    )
    assert "2024-03-14T09:00:00" in utc.output
    assert "2024-03-14T08:00:00" in paris.output


def test_timeline_events_table_is_the_default_view():
    result = run("timeline", str(FIXTURES / "S01"), "--event", "task_exit")
    assert result.exit_code == ExitStatus.OK
    header, first, *_ = result.output.splitlines()
    assert header.split()[:3] == ["time", "instance", "kind"]
    assert "task_exit" in first and "exited" in first


def test_ctrl_c_exits_with_130(monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("azdiag.cli._ingest", interrupted)
    result = CliRunner().invoke(main, ["report", str(FIXTURES / "S01"), "--format", "json"])
    assert result.exit_code == ExitStatus.INTERRUPTED
    assert "interrupted" in result.output


def test_outputs_are_never_written_inside_the_input(tmp_path: Path):
    source = tmp_path / "collection"
    source.mkdir()
    good = FIXTURES / "healthy" / "RuntimeAndAgent" / "WaAppAgent.log"
    (source / "WaAppAgent.log").write_bytes(good.read_bytes())
    before = sorted(p.name for p in source.iterdir())
    for args in (
        ["timeline", str(source), "--format", "csv", "-o", str(source / "t.csv")],
        ["report", str(source), "-o", str(source / "r.html")],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == ExitStatus.USAGE, args
        assert "inside the input" in result.output
    assert sorted(p.name for p in source.iterdir()) == before


@pytest.mark.parametrize(
    ("users", "effective"),
    [
        (None, "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0"),
        ("dirty_decay_ms:2000", "dirty_decay_ms:2000"),
    ],
)
def test_the_command_sets_how_polars_gives_memory_back_unless_the_user_did(
    users: str | None, effective: str
):
    # polars appends the process's _RJEM_MALLOC_CONF to its own defaults when first imported;
    # the command must set it before that import, and never over the user's own setting
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if users is not None:
        env["_RJEM_MALLOC_CONF"] = users
    code = "import os, azdiag.cli, polars; print(os.environ['_RJEM_MALLOC_CONF'])"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().endswith("," + effective)
