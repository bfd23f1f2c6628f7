"""A collection folder (its own RuntimeAndAgent/, Resources/, ... folders) with a zip beside them:
the folder stays one collection, and a zip that holds another collection of the same instance is
a row of its own in triage and listed as skipped, not mixed in, by report."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.cli import main
from azdiag.exit_status import ExitStatus
from azdiag.triage.batch import expand
from tests.conftest import FIXTURES


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def report(path: Path) -> dict:
    result = invoke("report", str(path), "--format", "json", "--no-timestamp")
    assert result.exit_code == ExitStatus.OK, result.output
    return json.loads(result.output)


@pytest.fixture
def case(tmp_path: Path) -> Path:
    """S09's CollectGuestLogs folder, with a customer's old-logs.zip beside its own folders
    holding S01, an earlier incident of the same instance (WebRole1_IN_0)."""
    folder = tmp_path / "in" / "case"
    shutil.copytree(FIXTURES / "S09", folder)
    shutil.copy(FIXTURES / "zips" / "S01.zip", folder / "old-logs.zip")
    return folder


def test_the_folder_is_one_collection_and_the_zip_beside_it_another(case: Path) -> None:
    notes: list[str] = []
    assert expand([str(case)], notes) == [
        ("case", str(case)),
        ("case/old-logs", str(case / "old-logs.zip")),
    ]
    assert notes == []
    # found inside the folder given, and behind a ticket folder that wraps it, the same way
    assert expand([str(case.parent)]) == expand([str(case)])
    shutil.move(case, case.parent / "ticket" / "case")
    assert [name for name, _ in expand([str(case.parent)])] == [
        "ticket/case",
        "ticket/case/old-logs",
    ]


def test_triage_gives_the_folder_its_own_verdict_and_the_zip_its_own(
    case: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = invoke("triage", str(case), "--out", str(out), "-j", "1")
    assert result.exit_code == ExitStatus.OK, result.output
    lines = (out / "summary.jsonl").read_text().splitlines()
    rows = {row["name"]: row for row in map(json.loads, lines)}
    assert sorted(rows) == ["case", "case/old-logs"]
    alone = report(FIXTURES / "S09")["verdict"]
    assert rows["case"]["verdict"]["summary"] == alone["summary"]
    assert rows["case"]["verdict"]["stage"]["component"] == "K"
    assert rows["case/old-logs"]["verdict"]["scenario"] == "S01"
    assert rows["case"]["lines"] == sum(
        f["lines"] for f in report(FIXTURES / "S09")["collection"]["files"]
    )


def test_report_reads_the_folders_own_logs_and_lists_the_zip_as_another_collection(
    case: Path,
) -> None:
    alone = report(FIXTURES / "S09")
    both = report(case)
    assert both["verdict"]["summary"] == alone["verdict"]["summary"]
    assert [f["path"] for f in both["collection"]["files"]] == [
        f["path"] for f in alone["collection"]["files"]
    ]
    beside = [s for s in both["collection"]["skipped"] if s["category"] == "other-collection"]
    assert beside and all(s["path"].startswith("old-logs.zip!") for s in beside)
    assert any("old-logs.zip" in w and "azdiag triage" in w for w in both["collection"]["warnings"])
    # a ticket folder around it: the same
    shutil.move(case, case.parent / "ticket" / "case")
    wrapped = report(case.parent / "ticket")
    assert wrapped["verdict"]["summary"] == alone["verdict"]["summary"]


def test_a_zip_beside_that_is_no_other_collection_stays_part_of_it(tmp_path: Path) -> None:
    folder = tmp_path / "case"
    shutil.copytree(FIXTURES / "S01", folder)
    shutil.copy(FIXTURES / "zips" / "S01.zip", folder / "CollectGuestLogs.zip")  # its own zip
    with zipfile.ZipFile(folder / "screenshots.zip", "w") as zf:
        zf.writestr("portal.txt", "the role shows Busy in the portal\n")
    assert expand([str(folder)]) == [("case", str(folder))]
    assert report(folder)["verdict"]["summary"] == report(FIXTURES / "S01")["verdict"]["summary"]


def test_own_folders_that_hold_the_same_log_twice_are_still_refused(tmp_path: Path) -> None:
    # RuntimeAndAgent/ and WindowsAzure/ both a collection's own: which one is "the" collection
    # cannot be told, so report still refuses to mix them rather than picking one
    folder = tmp_path / "case"
    shutil.copytree(FIXTURES / "S09", folder)
    shutil.copytree(FIXTURES / "S01" / "RuntimeAndAgent", folder / "WindowsAzure")
    result = invoke("report", str(folder), "--format", "json")
    assert result.exit_code == ExitStatus.USAGE
    assert "holds 2 collections (RuntimeAndAgent, WindowsAzure)" in result.output
