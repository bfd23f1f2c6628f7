"""Batch triage: local pool and Dask give the same summaries; exit codes; resume; atomic files."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.cli import main
from azdiag.exit_status import ExitStatus
from azdiag.knowledge.resources import data_dir
from azdiag.triage.batch import Task, expand, fingerprint, triage_one, write_atomic
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def batch_input(tmp_path_factory) -> Path:
    """Good collections (folders and a zip) plus broken ones, in one folder."""
    root = tmp_path_factory.mktemp("triage-in")
    for name in ("S01", "S09", "healthy", "S18"):
        shutil.copytree(FIXTURES / name, root / name)
    shutil.copy(FIXTURES / "zips" / "S01.zip", root / "zipped-S01.zip")
    (root / "corrupt.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    (root / "no-logs").mkdir()
    (root / "no-logs" / "readme.txt").write_text("nothing here\n")
    return root


def run(*args: str):
    return CliRunner().invoke(main, ["triage", *args], catch_exceptions=False)


def summary(out: Path) -> tuple[str, str]:
    return (out / "summary.jsonl").read_text(), (out / "summary.csv").read_text()


def test_expand_finds_each_subfolder_and_archive(batch_input):
    names = [name for name, _ in expand([str(batch_input)])]
    assert names == ["S01", "S09", "S18", "corrupt", "healthy", "no-logs", "zipped-S01"]
    assert expand([str(batch_input / "S0*")]) == [
        ("S01", str(batch_input / "S01")),
        ("S09", str(batch_input / "S09")),
    ]


def test_local_pool_runs_everything_and_writes_the_summaries(batch_input, tmp_path):
    out = tmp_path / "out"
    result = run(str(batch_input), "--out", str(out), "--jobs", "2")
    assert result.exit_code == ExitStatus.PARTIAL  # two collections could not be analysed
    rows = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name["S01"]["verdict"]["scenario"] == "S01"
    assert by_name["zipped-S01"]["verdict"]["scenario"] == "S01"
    assert by_name["S09"]["verdict"]["stage"]["component"] == "K"
    assert "no guest log" in by_name["no-logs"]["error"]
    assert "zip" in by_name["corrupt"]["error"]
    assert (out / "S01" / "report.html").exists() and (out / "S01" / "report.json").exists()
    index = (out / "index.html").read_text()
    assert "of 7</b> collections" in index and 'href="S01/report.html"' in index
    assert "http://" not in index and "https://" not in index


def test_dask_cluster_gives_the_same_summaries_as_the_local_pool(batch_input, tmp_path):
    import distributed

    local_out, dask_out = tmp_path / "local", tmp_path / "dask"
    run(str(batch_input), "--out", str(local_out), "--jobs", "2")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = run(
            str(batch_input), "--out", str(dask_out), "--scheduler", cluster.scheduler_address
        )
    assert result.exit_code == ExitStatus.PARTIAL
    assert summary(dask_out) == summary(local_out)


def test_an_inconclusive_collection_never_looks_healthy(tmp_path):
    from azdiag.triage.batch import Result
    from azdiag.triage.index import write_summaries

    def result(name: str, outcome: str, severity: str | None = None) -> Result:
        return Result(name, f"/in/{name}", "f", outcome=outcome, severity=severity)

    write_summaries(
        tmp_path,
        [
            result("a-healthy", "healthy"),
            result("b-inconclusive", "inconclusive"),
            result("c-failing", "failing", "critical"),
        ],
    )
    csv_rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [(r["outcome"], r["severity"]) for r in csv_rows] == [
        ("healthy", "ok"),
        ("inconclusive", "inconclusive"),
        ("failing", "critical"),
    ]
    index = (tmp_path / "index.html").read_text()
    rows = re.findall(r"<tr class=\"\">(.*?)</tr>", index, re.DOTALL)
    badges = [re.findall(r'<span class="sev sev-([a-z]+)">', row) for row in rows]
    assert badges == [["healthy", "ok"], ["inconclusive", "inconclusive"], ["failing", "critical"]]
    # and the page gives inconclusive its own colour: not the all-clear's, not a warning's
    css = (data_dir("reports") / "report.css").read_text()
    colour = re.search(r"\.sev-inconclusive \{ background: ([^;]+);", css)
    assert colour and colour.group(1) not in ("var(--ok)", "var(--warning)")


def test_exit_codes_one_by_one(batch_input, tmp_path):
    healthy, s01 = str(batch_input / "healthy"), str(batch_input / "S01")
    assert run(healthy, "--out", str(tmp_path / "a"), "-j", "1").exit_code == ExitStatus.OK
    failing = run(s01, healthy, "--out", str(tmp_path / "b"), "-j", "1", "--fail-on", "error")
    assert failing.exit_code == ExitStatus.FINDINGS
    calm = run(healthy, "--out", str(tmp_path / "c"), "-j", "1", "--fail-on", "warning")
    assert calm.exit_code == ExitStatus.OK
    partial = run(healthy, str(batch_input / "corrupt.zip"), "--out", str(tmp_path / "d"))
    assert partial.exit_code == ExitStatus.PARTIAL
    none = run(str(batch_input / "corrupt.zip"), "--out", str(tmp_path / "e"))
    assert none.exit_code == ExitStatus.INPUT_ERROR
    usage = CliRunner().invoke(main, ["triage", healthy, "--format", "pdf"])
    assert usage.exit_code == ExitStatus.USAGE
    inside = CliRunner().invoke(main, ["triage", healthy, "--out", f"{healthy}/out"])
    assert inside.exit_code == ExitStatus.USAGE and not (batch_input / "healthy" / "out").exists()


def test_resume_does_no_work_twice_and_redoes_what_changed(batch_input, tmp_path):
    source = tmp_path / "in"
    shutil.copytree(batch_input / "S01", source / "S01")
    shutil.copytree(batch_input / "healthy", source / "healthy")
    out = tmp_path / "out"
    run(str(source), "--out", str(out), "-j", "1")
    first = summary(out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("report.*")}
    second = run(str(source), "--out", str(out), "-j", "1", "--resume")
    assert second.exit_code == ExitStatus.OK
    assert "2 of 2 collection(s) analysed (2 unchanged since the last run" in second.stderr
    assert summary(out) == first
    assert {p: p.stat().st_mtime_ns for p in out.rglob("report.*")} == stamps
    log = next((source / "healthy").rglob("WaAppAgent.log"))
    log.write_bytes(log.read_bytes() + b"[00000021] [03/14/2024 10:00:00.00] [HEART] hb\r\n")
    third = run(str(source), "--out", str(out), "-j", "1", "--resume")
    assert "(1 unchanged since the last run" in third.stderr
    redone = {p for p in out.rglob("report.*") if p.stat().st_mtime_ns != stamps.get(p)}
    assert redone and all(p.parent.name == "healthy" for p in redone)


def test_jsonl_streams_one_result_per_line(batch_input, tmp_path):
    result = run(
        str(batch_input / "healthy"),
        str(batch_input / "S09"),
        "--out",
        str(tmp_path),
        "-j",
        "1",
        "--jsonl",
        "-",
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["name"] for r in lines) == ["S09", "healthy"]


def test_a_failing_collection_is_a_row_not_a_crash(tmp_path):
    task = Task(name="x", path=str(tmp_path / "missing"), out=str(tmp_path / "out"))
    result = triage_one(task)
    assert result.error and "missing" in result.error
    assert json.loads((tmp_path / "out" / "x" / "result.json").read_text())["error"]


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    write_atomic(target, "complete")

    class Boom(Exception):
        pass

    def explode(*_args, **_kwargs):
        raise Boom

    monkeypatch.setattr("azdiag.triage.batch.os.replace", explode)
    with pytest.raises(Boom):
        write_atomic(target, "half written")
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_fingerprint_follows_the_content(tmp_path):
    (tmp_path / "a.log").write_text("one")
    before = fingerprint(str(tmp_path))
    assert fingerprint(str(tmp_path)) == before
    (tmp_path / "a.log").write_text("one and more")
    assert fingerprint(str(tmp_path)) != before


def test_a_single_collection_folder_is_one_collection(batch_input):
    assert expand([str(batch_input / "S01")]) == [("S01", str(batch_input / "S01"))]
