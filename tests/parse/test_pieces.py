"""Large files in pieces: a file parsed in pieces gives exactly what it gives parsed whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from azdiag.knowledge.formats import load_formats
from azdiag.parse import pieces
from azdiag.parse.ingest import Ingested, ingest
from tests.conftest import FIXTURES

AGENT = "[00000021] [03/14/2024 09:{m:02d}:{s:02d}.00] [INFO]  agent line {n}\n"
BAD_TIME = "[00000021] [13/45/2024 09:00:00.00] [INFO]  a time nothing can read {n}\n"
TRACE = "System.InvalidOperationException: boom {n}\n   at A.B() in c:\\x.cs:line 4\n"
UNTIMED = "[INFO] agent line without a time {n}\n"
STRAY = "no header, no time at all {n}\n"


def _ingest(path: Path, piece_bytes: int, monkeypatch: pytest.MonkeyPatch) -> Ingested:
    monkeypatch.setattr(pieces, "PIECE_BYTES", piece_bytes)
    return ingest(path, formats=load_formats())


def _assert_same(whole: Ingested, cut: Ingested) -> None:
    """The same records of every file and the same counts. Among equal times of different
    files the order follows the batches, which the pieces change: compare file by file."""

    def by_file(events: pl.DataFrame) -> pl.DataFrame:
        return events.with_columns(pl.col("file").cast(pl.String)).sort("file", "line")

    assert by_file(cut.events).equals(by_file(whole.events))
    assert [f.to_dict() for f in cut.files] == [f.to_dict() for f in whole.files]


def _agent_log(lines: int) -> str:
    """Agent lines with, every few lines, a stack trace, an untimed record, an unparsed line
    or a time that cannot be read: wherever a cut falls, its neighbours are of every kind."""
    out = []
    for n in range(lines):
        out.append(AGENT.format(m=(n // 60) % 60, s=n % 60, n=n))
        for every, template in ((3, TRACE), (5, UNTIMED), (7, STRAY), (11, BAD_TIME)):
            if n % every == 0:
                out.append(template.format(n=n))
    return "".join(out)


@pytest.mark.parametrize("piece_bytes", [700, 2048, 5000])
def test_a_file_in_pieces_gives_the_records_and_counts_it_gives_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece_bytes: int
) -> None:
    (tmp_path / "WaAppAgent.log").write_text(_agent_log(400), encoding="utf-8-sig")
    whole = _ingest(tmp_path, 1 << 30, monkeypatch)
    cut = _ingest(tmp_path, piece_bytes, monkeypatch)
    assert whole.files[0].bad_times and whole.files[0].continuation_lines  # the hard cases
    assert whole.files[0].unparsed_lines and whole.files[0].inherited_time_records
    _assert_same(whole, cut)


def test_cuts_fall_only_before_timed_header_lines(tmp_path: Path) -> None:
    log = tmp_path / "WaAppAgent.log"
    log.write_text(_agent_log(300), encoding="utf-8")
    data = log.read_bytes()
    fmt = load_formats().get("waappagent")
    assert fmt is not None
    parts = pieces.pieces_of(str(log), len(data), 1000)
    texts = [pieces.read_piece(p, pieces.cut_patterns(fmt)) for p in parts]
    assert b"".join(texts) == data  # no gap, no overlap
    assert all(t.startswith(b"[00000021] [") for t in texts[1:] if t)


def test_a_bundled_collection_in_pieces_gives_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(FIXTURES / "S01", tmp_path / "S01")
    whole = _ingest(tmp_path / "S01", 1 << 30, monkeypatch)
    cut = _ingest(tmp_path / "S01", 4096, monkeypatch)
    _assert_same(whole, cut)


def test_a_file_that_needs_decoding_repairs_is_parsed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _agent_log(200).encode("utf-8")
    middle = text.index(b"agent line 150")
    data = text[:middle] + "café ".encode("cp1252") + text[middle:]  # a stray cp1252 byte
    (tmp_path / "WaAppAgent.log").write_bytes(data)
    whole = _ingest(tmp_path, 1 << 30, monkeypatch)
    cut = _ingest(tmp_path, 1024, monkeypatch)
    assert whole.files[0].warnings  # the stray byte was repaired and said so
    _assert_same(whole, cut)
    assert cut.events.filter(pl.col("message").cast(pl.String).str.contains("café")).height


def test_crlf_line_ends_and_a_last_line_without_one_cut_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _agent_log(300).replace("\n", "\r\n").removesuffix("\r\n")
    (tmp_path / "WaAppAgent.log").write_bytes(text.encode("utf-8"))
    whole = _ingest(tmp_path, 1 << 30, monkeypatch)
    cut = _ingest(tmp_path, 1500, monkeypatch)
    assert whole.files[0].lines == text.count("\n") + 1
    _assert_same(whole, cut)
