"""The parsing engine: nothing is lost, nothing raises, and the fields come out right."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azdiag.knowledge.formats import load_formats
from azdiag.parse.engine import MAX_LINE_CHARS, parse_text, read_lines
from azdiag.parse.timestamps import _fast_time

FORMATS = load_formats()
AGENT = FORMATS["waappagent"]
BOOT = FORMATS["wahostbootstrapper"]
HOST = FORMATS["waiishost"]


def physical_lines(text: bytes) -> int:
    """Lines as a person counts them: LF-separated, a last line without LF counts too."""
    text = text.removeprefix(b"\xef\xbb\xbf")
    if not text:
        return 0
    return text.count(b"\n") + (0 if text.endswith(b"\n") else 1)


def assert_accounted(text: bytes, fmt) -> None:
    result = parse_text(text, fmt)
    lines = physical_lines(text)
    assert result.lines == lines
    assert result.header_lines + result.continuation_lines + result.unparsed_lines == lines
    assert int(result.records["lines"].sum() or 0) == lines
    assert result.records.height == result.header_lines + int((~result.records["parsed"]).sum())
    # records start on increasing lines, each covering its continuation lines
    starts = result.records["line"].to_list()
    assert starts == sorted(starts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from([AGENT, BOOT, HOST]))
def test_arbitrary_utf8ish_bytes_never_raise_and_lose_no_line(data, fmt):
    text = data.decode("utf-8", "replace").encode("utf-8")
    assert_accounted(text, fmt)


REAL_LINES = [
    b"[00000012] [03/14/2024 09:26:53.43] [INFO]  WindowsAzureGuestAgent starting. Version 2.7",
    b"[00000021] [03/14/2024 09:28:01.78] [HEART] WindowsAzureGuestAgent Heartbeat.",
    b"[00000009] 2024-03-14T09:31:05Z [ERROR] GetVersions() failed with exception: x",
    b"[00002140:00003312, 2024/03/14, 09:29:40.118, INFO ] Executing Startup Task type=0",
    b"[00002140:00003312, 2024/03/14, 09:29:40.120, ERROR] <- WapGetAppCmdPath=0x1",
    b"WaIISHost Information: 0 : [03/14/24 09:30:01.12] Role entrypoint . CALLING   OnStart()",
    b"WaIISHost Information: 0 : Role environment . INITIALIZED",
    b"   at WebRole1.WebRole.OnStart() in C:\\src\\WebRole.cs:line 42",
    b"--- End of inner exception stack trace ---",
    b"",
    b'{"a": 1}',
]


@st.composite
def mangled_logs(draw):
    """Real-shaped lines, then cut, spliced, duplicated, with CR/NUL/garbage sprinkled in."""
    lines = draw(st.lists(st.sampled_from(REAL_LINES), max_size=40))
    out = []
    for line in lines:
        action = draw(st.integers(0, 6))
        if action == 0 and line:
            line = line[: draw(st.integers(0, len(line)))]
        elif action == 1:
            line = line + b"\r"
        elif action == 2:
            line = draw(st.binary(max_size=20)) + line
        elif action == 3:
            line = line.replace(b"03", b"13", 1)
        out.append(line)
    text = b"\n".join(out)
    return text.decode("utf-8", "replace").encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_logs(), st.sampled_from([AGENT, BOOT, HOST]))
def test_mangled_real_logs_never_raise_and_lose_no_line(text, fmt):
    assert_accounted(text, fmt)


def test_stack_trace_is_joined_to_its_record():
    text = (
        b"[00000009] [03/14/2024 09:31:05.00] [ERROR] Unhandled: System.Exception: boom\r\n"
        b"   at A.B()\r\n"
        b"--- End of inner exception stack trace ---\r\n"
        b"[00000009] [03/14/2024 09:31:06.00] [INFO]  next\r\n"
    )
    records = parse_text(text, AGENT).records
    assert records["line"].to_list() == [1, 4]
    assert records["lines"].to_list() == [3, 1]
    assert records["message"][0] == (
        "Unhandled: System.Exception: boom\n   at A.B()\n--- End of inner exception stack trace ---"
    )


def test_lines_without_time_take_the_time_before_them():
    text = (
        b"WaIISHost Information: 0 : [03/14/24 09:30:01.12] first\n"
        b"WaIISHost Information: 0 : Role environment . INITIALIZED\n"
    )
    records = parse_text(text, HOST).records
    assert records["time"].to_list() == [datetime(2024, 3, 14, 9, 30, 1, 120000)] * 2
    assert records["time_filled"].to_list() == [False, True]
    assert records["parsed"].to_list() == [True, True]


def test_unparsed_lines_are_kept_and_counted():
    text = b"[00000021] [03/14/2024 09:28:01.78] [HEART] hb\nwhat is this\n"
    result = parse_text(text, AGENT)
    assert result.unparsed_lines == 1
    assert result.unparsed_examples == [(2, "what is this")]
    assert result.records.filter(~pl.col("parsed"))["message"].to_list() == ["what is this"]


def test_out_of_order_lines_keep_file_order():
    text = (
        b"[00002140:00003312, 2024/03/14, 09:29:40.118, INFO ] a\n"
        b"[00002140:00003312, 2024/03/14, 09:29:40.106, INFO ] b\n"
    )
    assert parse_text(text, BOOT).records["message"].to_list() == ["a", "b"]


def test_long_lines_are_cut_and_flagged():
    text = b"[00000021] [03/14/2024 09:28:01.78] [INFO]  " + b"x" * 300_000 + b"\nnext line\n"
    result = parse_text(text, AGENT)
    assert result.truncated_lines == 1
    assert result.records["truncated"][0]
    assert len(result.records["message"][0]) < MAX_LINE_CHARS
    assert result.lines == 2


def test_time_zone_override_converts_to_utc():
    text = b"[00000021] [03/14/2024 09:28:01.78] [INFO]  local time\n"
    utc = parse_text(text, AGENT, tz="Europe/Paris").records["time"][0]
    assert utc == datetime(2024, 3, 14, 8, 28, 1, 780000)
    iso = b"[00000009] 2024-03-14T09:31:05Z [INFO]  says Z\n"
    assert parse_text(iso, AGENT, tz="Europe/Paris").records["time"][0] == datetime(
        2024, 3, 14, 9, 31, 5
    )


def test_dateutil_reads_what_no_fixed_format_does_and_is_counted():
    text = b"[00000001] [2024.03.04 21:26:53] [INFO]  dotted date\n"
    result = parse_text(text, AGENT)
    assert result.dateutil_times == 1
    assert result.records["time"][0] == datetime(2024, 3, 4, 21, 26, 53)


def test_twelve_hour_clock_reads_through_the_composed_grammar_not_dateutil():
    text = b"[00000001] [3/4/2024 9:26:53 PM] [INFO]  twelve-hour clock\n"
    result = parse_text(text, AGENT)
    assert result.dateutil_times == 0
    assert result.records["time"][0] == datetime(2024, 3, 4, 21, 26, 53)
    assert result.header_counts == {"thread+bracketed:mdy4-ampm+level": 1}


def test_separator_byte_inside_the_text_does_not_split_lines():
    text = b"[00000021] [03/14/2024 09:28:01.78] [INFO]  a\x1fb\x1ec\n"
    assert parse_text(text, AGENT).records["message"].to_list() == ["a\x1fb\x1ec"]


def test_message_is_cut_after_a_non_ascii_header():
    text = "Déploiement-été Information: 0 : [03/14/24 09:30:01.12] hello world\n".encode()
    records = parse_text(text, HOST).records
    assert records["source"][0] == "Déploiement-été"
    assert records["message"][0] == "hello world"


_TIME_FORMATS = ("%m/%d/%Y %H:%M:%S%.f", "%Y/%m/%d, %H:%M:%S%.f", "%m/%d/%y %H:%M:%S%.f")


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from(_TIME_FORMATS),
    when=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2068, 12, 31)),
    fraction=st.text("0123456789", max_size=11),
    unpad=st.booleans(),
    tail=st.sampled_from(["", ".", "x", " ", ".1x"]),
)
def test_fixed_width_time_reading_agrees_with_chrono(fmt, when, fraction, unpad, tail):
    """The fast reader gives chrono's time or nothing (then chrono reads it), never another."""
    text = when.strftime(fmt.replace("%.f", ""))
    if unpad:
        text = text.replace("/0", "/").replace(" 0", " ")
    text += ("." + fraction if fraction else "") + tail
    frame = pl.DataFrame({"t": [text]})
    fast = frame.select(_fast_time(pl.col("t"), fmt)).item()
    chrono = frame.select(pl.col("t").str.strptime(pl.Datetime("us"), fmt, strict=False)).item()
    assert fast is None or fast == chrono
    if not unpad and len(fraction) <= 9 and not tail and chrono is not None:
        assert fast == chrono  # the common shape never needs the slow reader


def test_unpadded_times_are_read_by_chrono_not_counted_as_dateutil():
    text = b"[00000021] [3/4/2024 9:28:01.78] [INFO]  unpadded\n"
    result = parse_text(text, AGENT)
    assert result.records["time"][0] == datetime(2024, 3, 4, 9, 28, 1, 780000)
    assert result.dateutil_times == 0 and result.bad_times == 0


def test_files_read_together_keep_their_own_line_numbers():
    lines = read_lines([b"a\nb\n", b"", b"c\r\n\r\nd", b"\xef\xbb\xbfe"])
    assert lines.rows() == [
        (0, 1, "a"),
        (0, 2, "b"),
        (2, 1, "c"),
        (2, 2, ""),
        (2, 3, "d"),
        (3, 1, "e"),
    ]


def test_a_time_with_a_utc_offset_is_read_by_its_offset_whatever_the_tz():
    # an offset states the zone: "+01:00" is an hour ahead of UTC, never UTC itself, and --tz
    # does not apply (a time form of parsers/_grammar.toml, in a header and found in a line)
    text = (
        b"[00000001] [2024-03-04T21:26:53+01:00] [INFO]  in the header\n"
        b"[00000001] 2024-03-04T21:26:55.5-02:30 [INFO]  in the newer header\n"
        b"a line that is no record 2024-03-04T21:26:56+01:00 but has a time\n"
        b"[00000001] [2024-03-04T21:26:57+0100] [INFO]  no colon in the offset\n"
        b"2024-03-04 21:26:58 +01:00 [INFO]  a date and a time with a space, then the offset\n"
        b"[00000001] [2024-03-04 21:26:59.5+0100] [WARN]  the same, bracketed\n"
    )
    for tz in ("UTC", "Europe/Paris"):
        result = parse_text(text, AGENT, tz=tz)
        assert result.records["time"].to_list() == [
            datetime(2024, 3, 4, 20, 26, 53),
            datetime(2024, 3, 4, 23, 56, 55, 500000),
            datetime(2024, 3, 4, 20, 26, 56),
            datetime(2024, 3, 4, 20, 26, 57),
            datetime(2024, 3, 4, 20, 26, 58),
            datetime(2024, 3, 4, 20, 26, 59, 500000),
        ]
        assert result.dateutil_times == 0 and result.bad_times == 0


def test_a_time_dateutil_reads_with_an_offset_does_not_fail_the_file(tmp_path):
    # a time no fixed form reads goes to dateutil, which keeps an offset it finds: the aware
    # time is converted to UTC, next to naive ones of the same batch (--tz applies to those
    # only); a mix of both once failed the whole file
    (tmp_path / "mine.toml").write_text(
        """
kind = "Mine"
[[headers]]
regex = '^\\[(?P<time>[^\\]]+)\\] (?P<message>.*)$'
time_format = "%Y.%m.%d %H:%M:%S"
""",
        encoding="utf-8",
    )
    mine = load_formats([tmp_path])["mine"]
    text = b"[2024.03.04 21:26:53 +0500] with an offset\n[4 Mar 2024 21:26:54] without\n"
    result = parse_text(text, mine, tz="Europe/Paris")
    assert result.records["time"].to_list() == [
        datetime(2024, 3, 4, 16, 26, 53),
        datetime(2024, 3, 4, 20, 26, 54),
    ]
    assert result.dateutil_times == 2 and result.bad_times == 0


def test_records_glued_on_a_line_longer_than_the_cut_are_all_kept():
    # a whole bootstrapper log pasted onto one line runs past 64 KiB: its records are split off
    # before any cut, so the last (the task's exit) is not lost with the line's tail
    record = "[00002140:00003312, 2024/03/14, 09:29:{:02d}.118, INFO ] Startup task step {} done."
    records = [record.format(i % 60, i) for i in range(1000)]
    records.append("[00002140:00003312, 2024/03/14, 09:59:59.000, ERROR] Task exited with 1.")
    line = " ".join(records)
    assert len(line) > MAX_LINE_CHARS
    result = parse_text((line + "\n").encode(), BOOT)
    assert result.records.height == 1001 and result.glued_records == 1000
    assert result.records["message"][-1] == "Task exited with 1."
    assert result.truncated_lines == 0 and result.lines == 1
