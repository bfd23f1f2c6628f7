"""Composed line grammars: every combination of the grammar pieces reads, in every format.

The pieces (parsers/_grammar.toml) carry samples; each composed header is checked on a line
made of its pieces' samples, so adding a time form or a prefix as data is tested at once.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from azdiag.knowledge.formats import FormatError, load_formats
from azdiag.knowledge.grammar import SAMPLE_MESSAGE, load_grammar
from azdiag.knowledge.resources import data_dir
from azdiag.parse.engine import parse_text

FORMATS = load_formats()
GRAMMAR = load_grammar(sorted(data_dir("parsers").glob("_*.toml")))
COMPOSED = [c for c in GRAMMAR.compose() if c.sample]


def test_every_piece_has_a_sample_so_every_composition_is_checked():
    assert len(COMPOSED) == len(GRAMMAR.compose())
    assert all(t.sample_time for t in GRAMMAR.times.values())


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.start_regex], ids=lambda f: f.id)
def test_every_composition_passes_the_prefilter_of_lines_a_header_can_start(fmt):
    # the engine tries the later grammars only on lines that match start_regex (and ranks the
    # grammars on those only): a composition it shuts out is never read (an ISO time's "Z"
    # suffix once was, and "2024-03-14T09:31:05Z [WARN] ..." lost its level and message)
    samples = [c.sample for c in COMPOSED]
    passed = pl.Series(samples, dtype=pl.String).str.contains(fmt.start_regex).to_list()
    assert [s for s, ok in zip(samples, passed, strict=True) if not ok] == []


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.glue], ids=lambda f: f.id)
@pytest.mark.parametrize("composed", COMPOSED, ids=lambda c: c.name)
def test_each_composition_reads_its_time_level_and_message(fmt, composed):
    result = parse_text(composed.sample.encode() + b"\r\n", fmt)
    row = result.records.row(0, named=True)
    assert row["parsed"], f"{composed.sample!r} was not understood"
    # a declared header may stop before a second level block ("[ERROR]" stays in the message)
    assert row["message"].endswith(SAMPLE_MESSAGE)
    if composed.time is None:
        assert row["time"] is None
        assert result.untimed_records == 1
    else:
        expected = datetime.fromisoformat(composed.time.sample_time)
        assert row["time"] == expected
        assert result.timed_records == 1
    # the first piece that captures a level wins: "Information" and the 00040000 mask are info
    if composed.name.startswith("tracesource") or "pid-tid" in composed.name:
        assert row["level"] == "info"
    elif composed.name.endswith("+level"):
        assert row["level"] == "error"
        assert row["message"] == SAMPLE_MESSAGE
    else:
        assert row["level"] is None


#: Shapes from published logs (log-formats.md §7): (line, kind, time, level, pid, source,
#: message) as each must read.
PUBLISHED = [
    # issue 10 a: TraceSource prefix then the bootstrapper's [pid:tid, date, time] block
    (
        "WaIISHost Information: 0 : [00002104:00000001, 2024/09/01, 06:00:23.831] "
        "Role environment . INITIALIZING",
        "waiishost",
        datetime(2024, 9, 1, 6, 0, 23, 831000),
        "info",
        2104,
        "WaIISHost",
        "Role environment . INITIALIZING",
    ),
    # issue 10 b: a hex trace mask where the level word stands (log-formats.md §7)
    (
        r"[00003372:00001896, 2013/05/18, 05:52:15.250, 00040000] Executing Startup Task "
        r'type=0 cmd="E:\approot\bin\setup.cmd" > log.txt 2> err.txt',
        "wahostbootstrapper",
        datetime(2013, 5, 18, 5, 52, 15, 250000),
        "info",
        3372,
        None,
        r'Executing Startup Task type=0 cmd="E:\approot\bin\setup.cmd" > log.txt 2> err.txt',
    ),
    # issue 10 c: a guest agent line quoted without thread id or time
    (
        "[ERROR] Enable command of Contoso.Ext has exited with Exit code: -2",
        "waappagent",
        None,
        "error",
        None,
        None,
        "Enable command of Contoso.Ext has exited with Exit code: -2",
    ),
    # ISO time without a thread id, as newer agents write when trimmed
    (
        "2024-03-14T09:31:05.1234567Z [WARN]  Waiting for OOBE to Complete ...",
        "waappagent",
        datetime(2024, 3, 14, 9, 31, 5, 123456),
        "warning",
        None,
        None,
        "Waiting for OOBE to Complete ...",
    ),
]


@pytest.mark.parametrize("line,kind,time,level,pid,source,message", PUBLISHED)
def test_published_shapes_read(line, kind, time, level, pid, source, message):
    row = parse_text(line.encode() + b"\n", FORMATS[kind]).records.row(0, named=True)
    assert (row["time"], row["level"], row["pid"], row["source"], row["message"]) == (
        time,
        level,
        pid,
        source,
        message,
    )


def test_an_unknown_trace_mask_is_kept_raw_without_a_level():
    line = b"[00003372:00001896, 2013/05/18, 05:52:15.250, 00200000] something\n"
    row = parse_text(line, FORMATS["wahostbootstrapper"]).records.row(0, named=True)
    assert (row["level_raw"], row["level"]) == ("00200000", None)
    assert row["time"] == datetime(2013, 5, 18, 5, 52, 15, 250000)


def test_records_glued_on_one_line_are_split_at_each_header():
    # issue 10 f: three records pasted onto one physical line (log-formats.md §7)
    line = (
        "[00003604:00002604, 2018/08/13, 03:08:22.405, WARN ] Executing Startup Task type=0 "
        'rolemodule=(null) cmd="E:\\approot\\.\\startup.cmd" '
        "[00003604:00002604, 2018/08/13, 03:08:22.406, WARN ] Executing "
        '"E:\\approot\\.\\startup.cmd" . '
        "[00003604:00002604, 2018/08/13, 03:08:23.001, INFO ] Done\r\n"
        "[00003604:00002604, 2018/08/13, 03:08:24.000, INFO ] next line\r\n"
    )
    result = parse_text(line.encode(), FORMATS["wahostbootstrapper"])
    records = result.records
    assert records["line"].to_list() == [1, 1, 1, 2]
    assert [t.second for t in records["time"]] == [22, 22, 23, 24]
    assert records["message"][1] == 'Executing "E:\\approot\\.\\startup.cmd" .'
    assert result.lines == 2
    assert result.glued_records == 2
    assert result.lines + result.glued_records == (
        result.header_lines + result.continuation_lines + result.unparsed_lines
    )


@pytest.mark.parametrize(
    "text",
    [
        "[00003604:00002604, 2018/08/13, 03:08:22.405, WARN ] a "
        "[00003604:00002604, 2018/08/13, 03:08:22.406, WARN ] b\n",
        "[00003604:00002604, 2018/08/13, 03:08:22.405, WARN ] a, b, c\n",
        "x [1:2, 2018/08/13, y [3:4, 2018/8/1, z\n",
        "no comma here [1:2 2018/08/13 [3:4 2018/8/1\n",
    ],
)
def test_the_glue_literal_only_skips_lines_the_glue_cannot_split(text: str):
    fmt = FORMATS["wahostbootstrapper"]
    assert fmt.glue_literals == (", ",)  # from parsers/_grammar.toml
    every_line = dataclasses.replace(fmt, glue_literals=())
    fast, slow = parse_text(text.encode(), fmt), parse_text(text.encode(), every_line)
    assert fast.records.equals(slow.records)
    assert fast.glued_records == slow.glued_records


def test_glue_literals_are_used_only_when_every_glue_declares_one(tmp_path: Path):
    (tmp_path / "_more.toml").write_text(
        """
[blocks.angled]
regex = '<{time}> '
glue = '<[0-9]{4}-'
sample = "<{time}> "
""",
        encoding="utf-8",
    )
    assert load_formats([tmp_path])["wahostbootstrapper"].glue_literals == ()


def test_a_time_anywhere_near_the_start_of_an_unknown_line_is_found():
    text = b"web01 rdagent: 2024-09-01 06:00:23.831 [ERROR] Role entrypoint could not be created\n"
    result = parse_text(text, FORMATS["waiishost"])
    row = result.records.row(0, named=True)
    assert row["time"] == datetime(2024, 9, 1, 6, 0, 23, 831000)
    assert row["level"] == "error"
    assert result.header_counts == {"time-found": 1}
    assert result.unparsed_lines == 0


def test_records_take_the_time_above_them_and_none_from_below():
    text = (
        b"WaIISHost Information: 0 : before any time\n"
        b"WaIISHost Information: 0 : [09/01/24 06:00:23.83] timed\n"
        b"WaIISHost Information: 0 : after\n"
    )
    result = parse_text(text, FORMATS["waiishost"])
    assert result.records["time"].to_list()[0] is None
    assert result.records["time"][2] == datetime(2024, 9, 1, 6, 0, 23, 830000)
    assert (result.timed_records, result.inherited_time_records, result.untimed_records) == (
        1,
        1,
        1,
    )


def test_a_new_time_form_is_added_as_data(tmp_path: Path):
    (tmp_path / "_site.toml").write_text(
        """
[times.dotted]
regex = '\\d{2}\\.\\d{2}\\.\\d{4} \\d{2}:\\d{2}:\\d{2}'
format = "%d.%m.%Y %H:%M:%S"
sample = "14.03.2024 09:31:05"
sample_time = "2024-03-14T09:31:05"
""",
        encoding="utf-8",
    )
    formats = load_formats([tmp_path])
    line = b"[00000012] [14.03.2024 09:31:05] [INFO]  WindowsAzureGuestAgent Heartbeat.\n"
    row = parse_text(line, formats["waappagent"]).records.row(0, named=True)
    assert row["time"] == datetime(2024, 3, 14, 9, 31, 5)
    assert row["tid"] == 12


def test_a_bad_grammar_piece_names_its_file(tmp_path: Path):
    (tmp_path / "_bad.toml").write_text("[times.x]\nregex = '(?<=a)b'\nformat = '%H'\n")
    with pytest.raises(FormatError, match=r"_bad\.toml"):
        load_formats([tmp_path])


def test_a_file_with_a_time_anywhere_in_its_lines_is_never_left_without_a_time():
    text = (
        b"Startup script output follows; the collector stamped this copy at the end of the line"
        b" with 2024-09-01 06:00:23.831\n"
        b"more output with nothing to date it\n"
    )
    result = parse_text(text, FORMATS["waiishost"])
    assert result.timed_records == 1
    assert result.records["time"].to_list() == [datetime(2024, 9, 1, 6, 0, 23, 831000)] * 2


@pytest.mark.parametrize("line,kind", [(p[0], p[1]) for p in PUBLISHED])
def test_published_shapes_read_the_same_after_the_usual_lines(line, kind):
    # not first in a batch, a line is read by the later grammars, which see only the lines
    # matching start_regex: a shape it shut out lost its level and message (an ISO time's "Z")
    fmt = FORMATS[kind]
    usual = fmt.raw["samples"][0]["line"]
    alone = parse_text(line.encode() + b"\n", fmt).records.row(0, named=True)
    text = "\n".join([usual] * 20 + [line]) + "\n"
    after = parse_text(text.encode(), fmt).records.row(-1, named=True)
    fields = ("level", "pid", "source", "message", "parsed")
    assert {k: after[k] for k in fields} == {k: alone[k] for k in fields}
    if alone["time"] is not None:  # else it takes the time of the record above, as it should
        assert after["time"] == alone["time"]
