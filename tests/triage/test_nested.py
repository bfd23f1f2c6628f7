"""Triage of folders that hold several collections: one row each, named after where it lies;
and a PATH that does not exist says so on the terminal."""

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


def run(*args: str):
    return CliRunner().invoke(main, ["triage", *args], catch_exceptions=False)


def rows(out: Path) -> dict[str, dict]:
    lines = (out / "summary.jsonl").read_text().splitlines()
    return {row["name"]: row for row in map(json.loads, lines)}


@pytest.fixture(scope="module")
def nested(tmp_path_factory) -> Path:
    """Customer folders each holding incidents of the same instance (WebRole1_IN_0), months
    apart, beside a folder that is one collection."""
    root = tmp_path_factory.mktemp("nested-in")
    shutil.copytree(FIXTURES / "S01", root / "customerA" / "S01")
    shutil.copytree(FIXTURES / "S03", root / "customerA" / "S03")
    shutil.copytree(FIXTURES / "healthy", root / "customerB" / "healthy")
    shutil.copy(FIXTURES / "zips" / "S01.zip", root / "customerB" / "incident.zip")
    shutil.copytree(FIXTURES / "S09", root / "single")
    return root


def test_each_collection_in_a_folder_of_collections_gets_its_own_row(nested, tmp_path):
    out = tmp_path / "out"
    result = run(str(nested), "--out", str(out), "-j", "1")
    assert result.exit_code == ExitStatus.OK, result.output
    assert "5 of 5 collection(s) analysed" in result.stderr
    found = rows(out)
    assert sorted(found) == [
        "customerA/S01",
        "customerA/S03",
        "customerB/healthy",
        "customerB/incident",
        "single",
    ]
    scenario = {name: row["verdict"].get("scenario") for name, row in found.items()}
    assert scenario["customerA/S01"] == "S01" and scenario["customerB/incident"] == "S01"
    assert scenario["customerA/S03"] == "S03"
    assert found["customerB/healthy"]["outcome"] == "healthy"
    assert found["single"]["verdict"]["stage"]["component"] == "K"  # S09, as on its own
    assert found["customerA/S03"]["path"] == str(nested / "customerA" / "S03")
    assert (out / "customerA" / "S03" / "report.html").exists()
    assert 'href="customerA/S03/report.html"' in (out / "index.html").read_text()
    # not one of them spans the others' months, as a merged "customerA" did
    assert found["customerA/S01"]["window"] != found["customerA/S03"]["window"]


def test_a_folder_of_collections_given_itself_is_split_the_same_way(nested):
    folder = nested / "customerA"
    assert expand([str(folder)]) == [("S01", str(folder / "S01")), ("S03", str(folder / "S03"))]
    assert expand([str(nested / "custom*")]) == [
        ("customerA/S01", str(folder / "S01")),
        ("customerA/S03", str(folder / "S03")),
        ("customerB/healthy", str(nested / "customerB" / "healthy")),
        ("customerB/incident", str(nested / "customerB" / "incident.zip")),
    ]


def test_folders_that_wrap_a_folder_of_collections_are_looked_through(nested, tmp_path):
    # a ticket folder around the customer's folder: the incidents inside are still split, and
    # report refuses the wrapper as several collections (a re-check found them merged)
    shutil.copytree(nested / "customerA", tmp_path / "ticket" / "wrap" / "customerA")
    folder = tmp_path / "ticket" / "wrap" / "customerA"
    assert expand([str(tmp_path / "ticket")]) == [
        ("wrap/customerA/S01", str(folder / "S01")),
        ("wrap/customerA/S03", str(folder / "S03")),
    ]
    refused = CliRunner().invoke(main, ["report", str(tmp_path / "ticket"), "-o", "-"])
    assert refused.exit_code == ExitStatus.USAGE
    assert "holds 2 collections (wrap/customerA/S01, wrap/customerA/S03)" in refused.stderr


def test_a_folder_holding_one_collection_below_it_stays_one(tmp_path):
    shutil.copytree(FIXTURES / "S01", tmp_path / "in" / "case" / "copied" / "S01")
    case = tmp_path / "in" / "case"
    assert expand([str(tmp_path / "in")]) == [("case", str(case))]


def test_split_collections_are_named_after_their_parent_and_loose_logs_are_reported(tmp_path):
    for customer in ("a", "b"):
        shutil.copytree(FIXTURES / "S01", tmp_path / "in" / customer / "one")
        shutil.copytree(FIXTURES / "S03", tmp_path / "in" / customer / "two")
    agent = next((FIXTURES / "healthy").rglob("WaAppAgent.log"))
    shutil.copy(agent, tmp_path / "in" / "a" / "pasted-agent.txt")  # a log under no name
    notes: list[str] = []
    names = [name for name, _ in expand([str(tmp_path / "in")], notes)]
    assert names == ["a/one", "a/two", "b/one", "b/two"]
    assert notes == [
        f"{tmp_path / 'in' / 'a' / 'pasted-agent.txt'}: a log beside the collections in "
        f"{tmp_path / 'in' / 'a'}, in none of them: not analysed"
    ]


def test_an_archive_of_several_collections_is_a_row_with_the_reason_not_one_verdict(tmp_path):
    archive = tmp_path / "in" / "both.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("S01", "S03"):
            for file in (FIXTURES / name).rglob("*"):
                if file.is_file():
                    zf.write(file, f"{name}/{file.relative_to(FIXTURES / name)}")
    out = tmp_path / "out"
    result = run(str(archive), "--out", str(out), "-j", "1")
    assert result.exit_code == ExitStatus.INPUT_ERROR
    row = rows(out)["both"]
    assert row["error"].startswith("holds 2 collections (S01, S03), not analysed as one")
    assert not row["verdict"]


def test_a_missing_path_says_why_on_the_terminal(tmp_path):
    missing = tmp_path / "does_not_exist"
    alone = run(str(missing), "--out", str(tmp_path / "a"), "-j", "1")
    assert alone.exit_code == ExitStatus.INPUT_ERROR
    assert f"azdiag: {missing}: no such file or folder\n" in alone.stderr
    assert "no such file or folder" in rows(tmp_path / "a")["does_not_exist"]["error"]
    healthy = str(FIXTURES / "healthy")
    beside = run(str(missing), healthy, "--out", str(tmp_path / "b"), "-j", "1")
    assert beside.exit_code == ExitStatus.PARTIAL
    assert f"azdiag: {missing}: no such file or folder" in beside.stderr
