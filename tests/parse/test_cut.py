"""A header's cut (its usual shape read by position) is a speed-up: it never changes a record.

Lines in the cut's shape are generated from the shape itself, so the check does not depend on
the lines our simulator happens to write.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azdiag.knowledge.formats import FormatError, LogFormat, load_formats
from azdiag.parse.engine import parse_text

FORMATS = load_formats()
WITH_CUT = [
    (fmt.id, index)
    for fmt in FORMATS
    for index, header in enumerate(fmt.headers)
    if header.cut is not None
]


def _without_cuts(fmt: LogFormat) -> LogFormat:
    headers = tuple(dataclasses.replace(h, cut=None) for h in fmt.headers)
    return dataclasses.replace(fmt, headers=headers)


def _same_parse(text: str, fmt: LogFormat) -> None:
    fast, slow = parse_text(text.encode(), fmt), parse_text(text.encode(), _without_cuts(fmt))
    assert fast.records.equals(slow.records), text
    assert vars(fast).keys() == vars(slow).keys()
    for name in vars(fast):
        if name != "records":
            assert getattr(fast, name) == getattr(slow, name), (name, text)


def test_the_shipped_cuts_are_the_ones_of_the_busiest_logs():
    # AppAgentRuntime extends the agent's format, so it has its cut too
    ids = {fmt_id for fmt_id, _ in WITH_CUT}
    assert ids == {"waappagent", "appagentruntime", "wahostbootstrapper"}


def _line_in_shape(shape: str) -> st.SearchStrategy[str]:
    # what a decoded log line can hold: no line ends, no NUL, no lone surrogates
    one_line = st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=30
    )
    head = st.from_regex(re.compile(shape.removeprefix("^")), fullmatch=True)
    # a head ending in the shape's "$" takes no text after it
    line = st.tuples(head, one_line).map(
        lambda p: p[0] + p[1] if re.match(shape, "".join(p)) else p[0]
    )
    return line.filter(lambda s: not re.search("[\r\n\x00\ud800-\udfff]", s))


@pytest.mark.parametrize(("fmt_id", "index"), WITH_CUT)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_lines_in_the_shape_read_as_the_regex_reads_them(fmt_id: str, index: int, data):
    fmt = FORMATS[fmt_id]
    shape = fmt.headers[index].cut.shape  # type: ignore[union-attr]
    lines = data.draw(st.lists(_line_in_shape(shape), min_size=1, max_size=8))
    assert all(re.match(shape, line) for line in lines)
    _same_parse("\n".join(lines) + "\n", fmt)


@pytest.mark.parametrize(
    ("fmt_id", "line"),
    [
        # one character off the usual shape: a 7-digit thread, a 3-digit fraction, one space
        ("waappagent", "[0000014] [03/14/2024 09:00:00.00] [INFO]  a"),
        ("waappagent", "[00000014] [03/14/2024 09:00:00.001] [INFO]  a"),
        ("waappagent", "[00000014] [03/14/2024 09:00:00.00] [INFO] a"),
        ("waappagent", "[00000014] [03/14/2024 09:00:00.00] [HEART]  two spaces"),
        ("waappagent", "[00000014] [3/14/2024 9:00:00.00] [INFO]  a"),
        ("wahostbootstrapper", "[00002140:00003312, 2024/03/14, 09:29:40.118, INFO]x"),
        ("wahostbootstrapper", "[00002140:00003312, 2024/03/14, 09:29:40.11, INFO ] a"),
        ("wahostbootstrapper", "[2140:3312, 2024/03/14, 09:29:40.118, INFO ] a"),
        ("wahostbootstrapper", "[00002140:00003312, 2024/03/14, 09:29:40.118, 00040000] a"),
    ],
)
def test_lines_just_out_of_shape_are_read_by_the_regex(fmt_id: str, line: str):
    fmt = FORMATS[fmt_id]
    usual = "\n".join([_usual(fmt_id)] * 5 + [line])  # the cut runs first: most lines fit
    _same_parse(usual + "\n", fmt)
    last = parse_text((usual + "\n").encode(), fmt).records.row(-1, named=True)
    assert last["parsed"] and last["time"] is not None


def _usual(fmt_id: str) -> str:
    if fmt_id in ("waappagent", "appagentruntime"):
        return "[00000014] [03/14/2024 09:00:00.00] [HEART] WindowsAzureGuestAgent Heartbeat."
    return "[00002140:00003312, 2024/03/14, 09:29:40.118, INFO ] Bootstrapper starting."


def _write_mine(folder: Path, time_format: str, cut: str) -> Path:
    """A format "mine" of "[tid] time message" lines with the given time format and cut table."""
    (folder / "mine.toml").write_text(
        f"""
kind = "Mine"
[[headers]]
regex = '^\\[(?P<tid>\\d+)\\] (?P<time>\\S+) (?P<message>.*)$'
time_format = "{time_format}"
[headers.cut]
{cut}
""",
        encoding="utf-8",
    )
    return folder


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        ("shape = '^x'\ntid = [1, 8]\nmessage = 9", r"time = \[start, length\]"),
        ("shape = '^x'\ntid = [1, 8]\ntime = [1, 2]\npid = [1, 2]\nmessage = 9", "pid"),
        ("shape = '^x'\ntid = [1, 8]\ntime = [1, 2]", "message"),
        ("shape = 'x'\ntid = [1, 8]\ntime = [1, 2]\nmessage = 9", "anchored"),
        ("shape = '^(?<=x)'\ntid = [1, 8]\ntime = [1, 2]\nmessage = 9", "shape"),
    ],
)
def test_a_malformed_cut_is_refused_with_its_header(tmp_path: Path, cut: str, problem: str):
    _write_mine(tmp_path, "%H:%M:%S", cut)
    with pytest.raises(FormatError, match=rf"headers\[0\]\.cut .*{problem}"):
        load_formats([tmp_path])


@pytest.mark.parametrize(
    ("time_format", "time_shape", "width"),
    [
        ("%H:%M:%S", "[0-9]{2}:[0-9]{2}:[0-9]{2}", 8),  # no fraction
        ("%H:%M:%S%.f", r"[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]", 10),  # one digit
        ("%H:%M:%S%.f", r"[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}", 15),  # microseconds
        ("%H:%M:%S%.f", r"[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{7}", 16),  # beyond: general reader
        ("%H:%M:%S%.f", r"[0-9]{2}:[0-9]{2}:[0-9]{2}[.,][0-9]{3}", 12),  # a comma: not a time
        ("%H:%M:%S%.f", r"[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9+-][0-9]", 11),  # signs: not a time
    ],
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_cut_time_of_any_width_reads_as_the_regex_reads_it(
    tmp_path_factory: pytest.TempPathFactory, time_format: str, time_shape: str, width: int, data
):
    # the cut reads the seconds and the fraction's digits at fixed places when it can
    # (azdiag.parse.headers._cut_time); wherever it cannot, or the digits are no time, the
    # record must still be the one the regex gives
    cut = f"shape = '^\\[[0-9]{{4}}\\] {time_shape} '\ntid = [1, 4]\n"
    cut += f"time = [7, {width}]\nmessage = {8 + width}"
    fmt = load_formats([_write_mine(tmp_path_factory.mktemp("cut"), time_format, cut)])["mine"]
    shape = fmt.headers[0].cut.shape  # type: ignore[union-attr]
    lines = data.draw(st.lists(_line_in_shape(shape), min_size=1, max_size=8))
    _same_parse("\n".join(lines) + "\n", fmt)


def test_a_sign_a_loose_shape_lets_into_the_fraction_makes_no_time(tmp_path: Path):
    # the fraction's digits are cast as a number, and a cast takes "+5" for 5: the cut must
    # not give a time the regex path does not (found by hand: generated lines rarely hold one)
    shape = r"shape = '^\[[0-9]{4}\] [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9+-][0-9] '"
    cut = shape + "\ntid = [1, 4]\ntime = [7, 11]\nmessage = 19"
    mine = load_formats([_write_mine(tmp_path, "%H:%M:%S%.f", cut)])["mine"]
    lines = ["[0001] 12:00:00.+5 a", "[0001] 12:00:00.-5 b", "[0001] 12:00:00.55 c"]
    _same_parse("\n".join(lines) + "\n", mine)
    assert parse_text(b"[0001] 12:00:00.55 c\n", mine).records["time"][0].microsecond == 550000
