"""Hostile and careless inputs: never destroy, never hang, never leak (issue 12).

Every hostile input is built here from the bundled fixtures (nothing large is committed). Each
test asserts the exit code and the one-line message, and that the input tree is byte-for-byte
what it was before the command.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import shutil
import stat
import struct
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import azdiag.render.outputs
from azdiag.cli import main
from azdiag.collect.archive import Limits, machine_memory
from azdiag.exit_status import ExitStatus
from tests.conftest import FIXTURES, ROOT

#: What a terminal acts on: ESC (CSI, OSC...), the C1 CSI, BEL ending an OSC.
RAW_CONTROLS = (b"\x1b", "\x9b".encode(), b"\x07")


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def tree_hash(path: Path) -> str:
    """Names, modes and bytes of everything under ``path`` (or of the file ``path``)."""
    digest = hashlib.sha256()
    items = sorted(path.rglob("*")) if path.is_dir() else [path]
    for item in items:
        st = item.lstat()
        digest.update(os.fsencode(item.relative_to(path.parent)))
        digest.update(f"\0{stat.S_IFMT(st.st_mode)}\0".encode())
        if item.is_file() and not item.is_symlink():
            digest.update(item.read_bytes())
    return digest.hexdigest()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """A copy of a small collection (S01) as a zip."""
    target = tmp_path / "h.zip"
    shutil.copy(FIXTURES / "zips" / "S01.zip", target)
    return target


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "in" / "S01"
    shutil.copytree(FIXTURES / "S01", target)
    return target


# -- outputs never destroy an input --------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("report", "{input}", "--format", "json", "-o", "{input}"),
        ("report", "{input}", "-o", "{link}"),
        ("timeline", "{input}", "-o", "{input}"),
        ("timeline", "{input}", "--format", "parquet", "-o", "{link}"),
    ],
)
def test_output_that_is_the_input_is_refused(collection: Path, command: tuple[str, ...]) -> None:
    link = collection.parent / "link-to-input.zip"
    link.symlink_to(collection)
    before = tree_hash(collection)
    args = [a.format(input=collection, link=link) for a in command]
    result = run(*args)
    assert result.exit_code == ExitStatus.USAGE
    target = args[-1]
    assert one_line(result.output) == (
        f"azdiag: {target}: is the input {collection}; choose another output"
    )
    assert tree_hash(collection) == before and link.is_symlink()


def test_a_single_log_file_as_input_and_output_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "WaAppAgent.log"
    shutil.copy(FIXTURES / "S01" / "RuntimeAndAgent" / "WaAppAgent.log", log)
    before = tree_hash(log)
    result = run("report", str(log), "--format", "md", "-o", str(log))
    assert result.exit_code == ExitStatus.USAGE
    assert "is the input" in one_line(result.output)
    assert tree_hash(log) == before


def test_output_inside_an_input_folder_is_refused_through_links(folder: Path) -> None:
    alias = folder.parent / "alias"
    alias.symlink_to(folder)
    before = tree_hash(folder)
    target = alias / "RuntimeAndAgent" / "report.html"
    result = run("report", str(folder), "-o", str(target))
    assert result.exit_code == ExitStatus.USAGE
    assert one_line(result.output) == (
        f"azdiag: {target}: is inside the input {folder}; choose another output"
    )
    assert tree_hash(folder) == before


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("existing-folder", "is a folder; give a file name"),
        ("missing/report.html", "the folder {tmp}/missing does not exist; create it first"),
        ("/dev/full", "not a regular file (a device or pipe); give a file name"),
    ],
)
def test_unusable_outputs_are_refused_in_one_line(
    collection: Path, tmp_path: Path, target: str, message: str
) -> None:
    (tmp_path / "existing-folder").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    before = tree_hash(collection)
    result = run("report", str(collection), "-o", path)
    assert result.exit_code == ExitStatus.USAGE
    assert one_line(result.output) == f"azdiag: {path}: {message.format(tmp=tmp_path)}"
    assert tree_hash(collection) == before


def test_output_through_a_symlink_replaces_the_link_not_its_target(
    collection: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "precious.txt"
    elsewhere.write_text("keep me\n")
    link = tmp_path / "report.json"
    link.symlink_to(elsewhere)
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere" / "x.json")
    for target in (link, dangling):
        result = run("report", str(collection), "--format", "json", "-o", str(target))
        assert result.exit_code == ExitStatus.OK
        assert not target.is_symlink() and json.loads(target.read_text())["verdict"]
    assert elsewhere.read_text() == "keep me\n"


def test_a_failed_write_keeps_the_old_report_and_leaves_no_partial_file(
    collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.md"
    target.write_text("the old report\n")
    real_fdopen = os.fdopen

    class FullDisk(io.RawIOBase):
        def write(self, _data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def fdopen(fd: int, *args: object, **kwargs: object) -> object:
        real_fdopen(fd).close()
        return FullDisk()

    monkeypatch.setattr(azdiag.render.outputs.os, "fdopen", fdopen)
    result = run("report", str(collection), "--format", "md", "-o", str(target))
    assert result.exit_code == ExitStatus.OUTPUT_ERROR
    assert one_line(result.output) == (
        f"azdiag: {target}: could not be written (No space left on device)"
    )
    assert target.read_text() == "the old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.zip", "report.md"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_output_modes_follow_the_umask(
    collection: Path, tmp_path: Path, umask: int, mode: int
) -> None:
    old = os.umask(umask)
    try:
        report = tmp_path / "r.json"
        assert run("report", str(collection), "--format", "json", "-o", str(report)).exit_code == 0
        timeline = tmp_path / "t.csv"
        assert (
            run("timeline", str(collection), "--format", "csv", "-o", str(timeline)).exit_code == 0
        )
        out = tmp_path / "triage"
        assert run("triage", str(collection), "--out", str(out), "-j", "1").exit_code == 0
    finally:
        os.umask(old)
    written = [report, timeline, *(p for p in out.rglob("*") if p.is_file())]
    assert len(written) > 5
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {mode}


def test_triage_output_inside_an_input_is_refused(folder: Path) -> None:
    before = tree_hash(folder)
    result = run("triage", str(folder), "--out", str(folder / "out"))
    assert result.exit_code == ExitStatus.USAGE
    assert one_line(result.output) == (
        f"azdiag: {folder / 'out'}: is inside the input {folder}; choose another output folder"
    )
    assert tree_hash(folder) == before


# -- one line instead of a traceback -------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_shown_escaped(folder: Path, tmp_path: Path) -> None:
    log = folder / "RuntimeAndAgent" / "WaAppAgent.log"
    os.rename(log, os.fsencode(log.parent) + b"/WaAppAgent\xff.log")
    before = tree_hash(folder)
    result = run("formats", "check", str(folder))
    assert result.exit_code == ExitStatus.OK
    assert "RuntimeAndAgent/WaAppAgent\\xff.log" in result.output
    out = tmp_path / "triage"
    result = run("triage", str(folder), "--out", str(out), "-j", "1")
    assert result.exit_code == ExitStatus.OK
    row = json.loads((out / "summary.jsonl").read_text())
    assert row["error"] is None and row["verdict"]["scenario"] == "S01"
    assert tree_hash(folder) == before


def test_scheduler_address_that_is_not_one_is_refused(collection: Path, tmp_path: Path) -> None:
    result = run("triage", str(collection), "--out", str(tmp_path / "o"), "--scheduler", "nope")
    assert result.exit_code == ExitStatus.USAGE
    assert one_line(result.output) == (
        "azdiag: --scheduler 'nope' is not a scheduler address such as tcp://host:8786"
    )


def test_scheduler_without_distributed_names_the_extra(
    collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    result = run(
        "triage", str(collection), "--out", str(tmp_path / "o"), "--scheduler", "tcp://h:8786"
    )
    assert result.exit_code == ExitStatus.USAGE
    assert one_line(result.output) == (
        "azdiag: --scheduler needs Dask distributed: pip install 'azdiag[cluster]'"
    )


def test_scheduler_that_cannot_be_reached_is_one_line(
    collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    import azdiag.triage.run

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(azdiag.triage.run, "SCHEDULER_TIMEOUT", 2)
    address = f"tcp://127.0.0.1:{port}"
    result = run("triage", str(collection), "--out", str(tmp_path / "o"), "--scheduler", address)
    assert result.exit_code == ExitStatus.USAGE
    line = one_line(result.output)
    assert line.startswith(f"azdiag: cannot reach the Dask scheduler at {address} within 2 s (")


def test_a_worker_pool_that_cannot_start_says_so(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ProcessPoolExecutor

    shutil.copytree(folder, folder.parent / "S01-again")

    def no_processes(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(ProcessPoolExecutor, "submit", no_processes)
    result = run("triage", str(folder.parent), "--out", str(tmp_path / "o"), "-j", "2")
    assert result.exit_code == ExitStatus.INPUT_ERROR
    assert one_line(result.output) == (
        "azdiag: cannot start 2 worker processes (Resource temporarily unavailable); try --jobs 1"
    )


def test_triage_errors_are_words_not_class_names(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "corrupt.zip").write_bytes(b"PK\x03\x04 not a zip")
    (source / "empty").mkdir()
    (source / "empty" / "readme.txt").write_text("nothing\n")
    out = tmp_path / "out"
    assert run("triage", str(source), "--out", str(out), "-j", "1").exit_code == 1
    errors = [
        json.loads(line)["error"] for line in (out / "summary.jsonl").read_text().splitlines()
    ]
    assert errors == [
        f"{source / 'corrupt.zip'}: not a readable zip archive (File is not a zip file)",
        "no guest log found in this collection",
    ]


# -- archives: named refusals and bounded expansion ----------------------------------------


def _encrypted(zip_bytes: bytes) -> bytes:
    """The zip with every member flagged as encrypted (local and central headers)."""
    data = bytearray(zip_bytes)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start >= 0:
            (flags,) = struct.unpack_from("<H", data, start + offset)
            struct.pack_into("<H", data, start + offset, flags | 1)
            start = data.find(signature, start + 4)
    return bytes(data)


def test_a_password_zip_and_a_tar_say_why_they_are_not_read(tmp_path: Path) -> None:
    log = (FIXTURES / "S01" / "RuntimeAndAgent" / "WaAppAgent.log").read_bytes()
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("RuntimeAndAgent/WaAppAgent.log", log)
    locked = tmp_path / "locked.zip"
    locked.write_bytes(_encrypted(plain.getvalue()))
    result = run("report", str(locked), "--format", "json")
    assert result.exit_code == ExitStatus.INPUT_ERROR
    assert one_line(result.output) == (
        f"azdiag: {locked}: no guest log found; 1 file(s) skipped: "
        "encrypted member (a password is needed)"
    )
    for name in ("logs.tar", "logs.upload"):  # named .tar, or known by its content
        tarred = tmp_path / name
        with tarfile.open(tarred, "w") as archive:
            archive.add(FIXTURES / "S01" / "RuntimeAndAgent", arcname="RuntimeAndAgent")
        result = run("report", str(tarred), "--format", "json")
        assert result.exit_code == ExitStatus.INPUT_ERROR
        assert one_line(result.output).startswith(f"azdiag: {tarred}: ")
        assert "tar archive" in result.output and "re-pack" in result.output


def test_expansion_limits_follow_the_machine_and_max_bytes(tmp_path: Path) -> None:
    assert Limits().max_total_bytes == Limits().max_member_bytes == machine_memory() // 16
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(FIXTURES / "S01" / "RuntimeAndAgent" / "WaAppAgent.log", "WaAppAgent.log")
    result = run("formats", "check", str(big), "--json", "--max-bytes", "16K")
    assert result.exit_code == ExitStatus.INPUT_ERROR
    assert one_line(result.output) == (
        f"azdiag: {big}: no guest log found; 1 file(s) skipped: decompresses to more than "
        "16 KiB (max_member_bytes, set from this machine's memory; --max-bytes changes it); "
        "stopped reading"
    )
    assert run("formats", "check", str(big), "--max-bytes", "1M").exit_code == ExitStatus.OK
    bad = run("formats", "check", str(big), "--max-bytes", "lots")
    assert bad.exit_code == ExitStatus.USAGE and "is not a size such as 500M" in bad.output


# -- wrong data with exit 0: line ends, copies, several collections ------------------------


def test_cr_only_and_nul_runs_are_split_and_counted_in_the_json(tmp_path: Path) -> None:
    lines = [f"[00000011] [03/14/2024 09:{n:02d}:00.00] [INFO] record {n}" for n in range(50)]
    log = tmp_path / "WebRole1_IN_0" / "WaAppAgent.log"
    log.parent.mkdir()
    cr_only = "\r".join(lines[:25]) + "\r" + "\x00" * 64 + "\r".join(lines[25:])
    log.write_bytes(cr_only.encode())
    result = run("report", str(log.parent), "--format", "json")
    assert result.exit_code == ExitStatus.OK
    [entry] = json.loads(result.output)["collection"]["files"]
    assert (entry["records"], entry["unparsed_lines"]) == (50, 0)
    assert (entry["cr_line_ends"], entry["nul_bytes"], entry["nul_runs"]) == (49, 64, 1)
    inventory = json.loads(run("formats", "check", str(log.parent), "--json").output)
    assert inventory["files"][0]["cr_line_ends"] == 49


def test_a_folder_beside_its_zip_is_read_once(folder: Path) -> None:
    alone = json.loads(run("report", str(folder), "--format", "json", "--no-timestamp").output)
    shutil.copy(FIXTURES / "zips" / "S01.zip", folder.parent / "S01.zip")
    before = tree_hash(folder.parent)
    result = run("report", str(folder.parent), "--format", "json", "--no-timestamp")
    assert result.exit_code == ExitStatus.OK
    both = json.loads(result.output)
    lines = [sum(f["lines"] for f in r["collection"]["files"]) for r in (alone, both)]
    assert lines[0] == lines[1] and both["verdict"]["summary"] == alone["verdict"]["summary"]
    duplicates = [s for s in both["collection"]["skipped"] if s["category"] == "duplicate"]
    assert duplicates and all("same content as S01/" in s["reason"] for s in duplicates)
    assert tree_hash(folder.parent) == before


def test_report_on_several_collections_points_to_triage(folder: Path) -> None:
    shutil.copytree(FIXTURES / "S09", folder.parent / "S09")
    before = tree_hash(folder.parent)
    result = run("report", str(folder.parent), "--format", "json")
    assert result.exit_code == ExitStatus.USAGE
    assert one_line(result.output) == (
        f"azdiag: {folder.parent} holds 2 collections (S01, S09): "
        f"run 'azdiag triage {folder.parent}' for one report each"
    )
    assert tree_hash(folder.parent) == before
    # triage splits folders, not archives: for a zip of both, report says to unpack it first
    archive = folder.parent.parent / "both.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.parent.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder.parent))
    zipped = run("report", str(archive), "--format", "json")
    assert zipped.exit_code == ExitStatus.USAGE
    assert one_line(zipped.output) == (
        f"azdiag: {archive} holds 2 collections (S01, S09): unpack it and run 'azdiag triage' "
        "on the folder for one report each"
    )


# -- leaks: the terminal, the spreadsheet, links out of the input --------------------------


@pytest.fixture
def escapes(tmp_path: Path) -> Path:
    """S01 whose agent log holds OSC and CSI sequences (7-bit and C1) in its messages."""
    root = tmp_path / "esc" / "S01"
    shutil.copytree(FIXTURES / "S01", root)
    log = root / "RuntimeAndAgent" / "WaAppAgent.log"
    hostile = (
        "[00000011] [03/14/2024 09:13:30.00] [ERROR] \x1b]0;owned\x07title \x1b[2J\x1b[31mred "
        "\x9b2Jc1 \x1b]8;;http://x\x1b\\link\r\n"
    )
    log.write_bytes(log.read_bytes() + hostile.encode())
    return root


def _every_command(path: Path, out: Path) -> Iterator[list[str]]:
    yield ["formats", "check", str(path)]
    yield ["formats", "check", str(path), "--json"]
    for fmt in ("html", "json", "md"):
        yield ["report", str(path), "--format", fmt, "-o", "-"]
    yield ["report", str(path), "-o", str(out / "r.html")]
    for fmt in ("table", "csv", "jsonl"):
        yield ["timeline", str(path), "--format", fmt, "--kind", "WaAppAgent"]
    yield ["timeline", str(path), "--show", "cycles"]
    yield ["triage", str(path), "--out", str(out / "t"), "-j", "1", "--jsonl", "-"]


def test_no_escape_sequence_reaches_the_terminal_raw(escapes: Path, tmp_path: Path) -> None:
    before = tree_hash(escapes)
    for args in _every_command(escapes, tmp_path):
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == ExitStatus.OK, (args, result.output)
        for stream in (result.stdout_bytes, result.stderr_bytes):
            assert not any(raw in stream for raw in RAW_CONTROLS), args
    shown = run("timeline", str(escapes), "--kind", "WaAppAgent").output
    assert "\\x1b]0;owned\\x07title" in shown and "\\u009b2Jc1" in shown
    assert tree_hash(escapes) == before


def test_summary_csv_cells_never_start_a_formula(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in"
    names = ["=cmd|' -C calc'!A0", "+1+1", "-2-2", "@SUM(A1)"]
    for name in names:
        shutil.copytree(FIXTURES / "healthy", source / name)
    monkeypatch.chdir(source)  # relative paths: the path cells start with the hostile names
    out = tmp_path / "out"
    assert run("triage", "--out", str(out), "-j", "1", "--", *names).exit_code == ExitStatus.OK
    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    cells = [cell for row in rows for cell in row.values() if cell]
    assert cells and not [c for c in cells if c[0] in "=+-@\t\r"]
    assert sorted(row["path"] for row in rows) == sorted(f"'{name}" for name in names)


def test_triage_does_not_follow_a_link_out_of_the_input(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    shutil.copytree(FIXTURES / "healthy", secret)
    source = tmp_path / "in"
    shutil.copytree(FIXTURES / "S01", source / "S01")
    (source / "evil").symlink_to(secret)
    out = tmp_path / "out"
    result = run("triage", str(source), "--out", str(out), "-j", "1")
    assert result.exit_code == ExitStatus.OK
    assert result.stderr.splitlines()[0] == (
        f"azdiag: {source / 'evil'}: symbolic link to {secret}, outside the input: not followed"
    )
    names = [json.loads(line)["name"] for line in (out / "summary.jsonl").read_text().splitlines()]
    assert names == ["S01"] and not (out / "evil").exists()


# -- friction ------------------------------------------------------------------------------


def test_open_without_a_browser_says_so(
    collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    monkeypatch.setattr(webbrowser, "open", lambda _uri: False)
    target = tmp_path / "r.html"
    result = run("report", str(collection), "-o", str(target), "--open")
    assert result.exit_code == ExitStatus.OK
    assert result.stderr.splitlines()[-1] == (
        f"azdiag: no web browser found to open the report; open {target.as_uri()} yourself"
    )


def test_simulate_help_lists_the_scenarios_and_a_zip_name_makes_a_zip(tmp_path: Path) -> None:
    from azdiag.simulate.scenarios import SCENARIOS

    shown = run("simulate", "--help").output
    assert all(f"  {sid} " in shown for sid in SCENARIOS)
    target = tmp_path / "x.zip"
    assert run("simulate", "S01", "-o", str(target)).exit_code == ExitStatus.OK
    assert target.is_file() and zipfile.is_zipfile(target)


def test_a_filter_that_matches_nothing_says_what_there_is(collection: Path) -> None:
    result = run("timeline", str(collection), "--instance", "WebRole1_IN_9")
    assert result.exit_code == ExitStatus.OK
    assert one_line(result.stderr) == (
        "azdiag: no row matches --instance WebRole1_IN_9; this collection has: WebRole1_IN_0"
    )
    result = run("timeline", str(collection), "--event", "no_such_event")
    assert one_line(result.stderr).startswith("azdiag: no row matches --event no_such_event; ")


def test_rules_list_columns_stay_in_line() -> None:
    from azdiag.knowledge.rulebook import load_rules
    from azdiag.knowledge.workflow import load_workflow

    titles = {r.id: r.title for r in load_rules((), stages=set(load_workflow().stages))}
    lines = run("rules", "list").output.splitlines()
    starts = {line.index(titles[line.split()[0]]) for line in lines}
    assert len(lines) == len(titles) and len(starts) == 1


def test_rules_test_reports_progress_rule_by_rule(tmp_path: Path) -> None:
    shutil.copy(ROOT / "rules" / "configuration.toml", tmp_path / "configuration.toml")
    result = run("rules", "test", str(tmp_path))
    assert result.exit_code == ExitStatus.OK
    progress = result.stderr.splitlines()
    assert progress and all(re.fullmatch(r"[a-z0-9-]+: \d+ example\(s\) run", p) for p in progress)
    assert re.fullmatch(r"\d+ passed, 0 failed", result.stdout.strip())
