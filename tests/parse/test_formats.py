"""Every shipped format definition loads, and every sample line parses to its stated fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from azdiag.knowledge.formats import FormatError, load_formats
from azdiag.parse.samples import check_format

FORMATS = load_formats()


@pytest.mark.parametrize("fmt", list(FORMATS), ids=lambda f: f.id)
def test_samples_parse_to_their_fields(fmt):
    failures = check_format(fmt)
    assert not failures, "\n".join(str(f) for f in failures)


def test_every_declared_header_grammar_has_a_sample_that_uses_it():
    used = set()
    for fmt in FORMATS:
        for sample in fmt.samples:
            used.add((fmt.id, sample.expect.get("header")))
    for fmt in FORMATS:
        if fmt.raw.get("extends"):
            continue  # inherited grammars are sampled in the format that defines them
        for header in fmt.headers:
            if header.composed:
                continue  # composed from grammar pieces: tests/parse/test_grammar.py samples them
            assert (fmt.id, header.name) in used, f"{fmt.id}: header {header.name} has no sample"


def test_every_documented_log_kind_has_a_format():
    names = [
        "AppAgentRuntime.log",
        "WaAppAgent.log",
        "WaHostBootstrapper.log",
        "IISConfigurator.log",
        "WaIISHost.log",
        "WaWorkerHost.log",
        "WaWebHost.log",
    ]
    for name in names:
        fmt_id = FORMATS.kind_for_name(name)
        assert fmt_id is not None, name
        assert FORMATS[fmt_id].kind.lower() == name.removesuffix(".log").lower()


@pytest.mark.parametrize(
    "name,kind",
    [
        ("AppAgentRuntime.log.old", "appagentruntime"),
        ("WAHOSTBOOTSTRAPPER.LOG", "wahostbootstrapper"),
        ("WaHostBootstrapper.log.3", "wahostbootstrapper"),
        ("WaHostBootstrapper.log.old2", "wahostbootstrapper"),
        ("WaHostBootstrapper_20240314T092940.log", "wahostbootstrapper"),
        ("notes.txt", None),
        ("u_ex240314.log", "iis-w3svc"),
        ("httperr1.log", "iis-httperr"),
        ("System.evtx", "windows-eventlog"),
    ],
)
def test_file_names_select_the_format(name, kind):
    assert FORMATS.kind_for_name(name) == kind


def test_sniffing_tells_the_shapes_apart():
    bootstrapper = ["[00002140:00003312, 2024/03/14, 09:29:40.118, INFO ] Executing Startup Task"]
    agent = ["[00000021] [03/14/2024 09:28:01.78] [HEART] WindowsAzureGuestAgent Heartbeat."]
    iis = ["IISConfigurator Information: 0 : [03/14/24 09:29:38.41] Started iisconfigurator"]
    other = ["Foo Information: 0 : [03/14/24 09:29:38.41] hello"]
    assert FORMATS.sniff(bootstrapper) == "wahostbootstrapper"
    assert FORMATS.sniff(agent) == "waappagent"
    assert FORMATS.sniff(iis) == "iisconfigurator"
    assert FORMATS.sniff(other) == "dotnet-tracesource"
    assert FORMATS.sniff(["just some prose", "and more"]) is None


def test_user_formats_add_a_variant_without_python(tmp_path: Path):
    (tmp_path / "custom.toml").write_text(
        """
kind = "Custom"
file_names = ["custom*.log"]
[[headers]]
name = "pipe"
regex = '^(?P<time>\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2})\\|(?P<level>\\w+)\\|(?P<message>.*)$'
time_format = "%Y-%m-%d %H:%M:%S"
[[samples]]
line = "2024-03-14 09:00:01|WARN|disk almost full"
header = "pipe"
time = "2024-03-14T09:00:01.000000Z"
level = "warning"
message = "disk almost full"
""",
        encoding="utf-8",
    )
    formats = load_formats([tmp_path])
    assert formats.kind_for_name("custom-app.log") == "custom"
    assert check_format(formats["custom"]) == []


@pytest.mark.parametrize(
    "body,problem",
    [
        ("[[headers]]\nregex = '(?P<message>.*)'\n", "anchored"),
        ("[[headers]]\nregex = '^(?P<msg>.*)'\n", "message"),
        ("[[headers]]\nregex = '^(?P<time>\\\\d+) (?P<message>.*)'\n", "time_format"),
        ("[[headers]]\nregex = '^(?P<message>(.*'\n", "compile"),
        ("kind = 'x'\n", "headers"),
        ("extends = 'nope'\n", "unknown format"),
        ("this is = not toml", "custom.toml"),
        ("glue = '([0-9]+) '\n[[headers]]\nregex = '^(?P<message>.*)'\n", "must not capture"),
        ("glue = '(?=x)'\n[[headers]]\nregex = '^(?P<message>.*)'\n", "glue is not supported"),
        ("glue_literal = ''\n[[headers]]\nregex = '^(?P<message>.*)'\n", "glue_literal must"),
        ("glue_literal_count = 0\n[[headers]]\nregex = '^(?P<message>.*)'\n", "at least 1"),
    ],
)
def test_malformed_definitions_are_rejected_clearly(tmp_path: Path, body, problem):
    (tmp_path / "custom.toml").write_text(body, encoding="utf-8")
    with pytest.raises(FormatError, match=re.escape(problem)):
        load_formats([tmp_path])


def test_a_failing_sample_is_reported(tmp_path: Path):
    (tmp_path / "custom.toml").write_text(
        """
[[headers]]
regex = '^(?P<level>\\w+): (?P<message>.*)$'
[[samples]]
line = "INFO: hello"
message = "goodbye"
""",
        encoding="utf-8",
    )
    failures = check_format(load_formats([tmp_path])["custom"])
    assert len(failures) == 1 and "message" in failures[0].problem


PASTED = """
glue = '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}[|]'
%s
[[headers]]
name = "pipe"
regex = '^(?P<time>\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2})\\|(?P<level>\\w+)\\|(?P<message>.*)$'
time_format = "%%Y-%%m-%%d %%H:%%M:%%S"
[[samples]]
line = "2024-03-14 09:00:01|WARN|disk almost full 2024-03-14 09:00:02|INFO|cleaned"
records = %d
message = "disk almost full"
"""


@pytest.mark.parametrize("prefilter", ["", 'glue_literal = "|"'])
def test_a_format_splits_its_own_pasted_records_and_a_sample_says_how_many(
    tmp_path: Path, prefilter: str
):
    (tmp_path / "custom.toml").write_text(PASTED % (prefilter, 2), encoding="utf-8")
    fmt = load_formats([tmp_path])["custom"]
    assert check_format(fmt) == []
    # without a literal of its own glue, no line is skipped: not even by the grammar's literal
    expected = ((", ",), ("|", 1)) if prefilter else ((), None)
    assert (fmt.glue_literals, fmt.glue_counted) == expected
    (tmp_path / "custom.toml").write_text(PASTED % (prefilter, 1), encoding="utf-8")
    (failure,) = check_format(load_formats([tmp_path])["custom"])
    assert failure.problem == "gave 2 records instead of 1"


def test_a_regex_only_python_understands_is_rejected_at_load(tmp_path: Path):
    (tmp_path / "custom.toml").write_text(
        "[[headers]]\nregex = '^(?=x)(?P<message>.*)$'\n", encoding="utf-8"
    )
    with pytest.raises(FormatError, match="not supported by the parsing engine"):
        load_formats([tmp_path])


def test_a_misspelt_sample_key_fails_the_sample(tmp_path: Path):
    (tmp_path / "custom.toml").write_text(
        """
[[headers]]
regex = '^(?P<level>\\w+): (?P<message>.*)$'
[[samples]]
line = "INFO: hello"
mesage = "hello"
""",
        encoding="utf-8",
    )
    (failure,) = check_format(load_formats([tmp_path])["custom"])
    assert "mesage" in failure.problem


def test_a_variant_without_its_own_kind_is_its_own_kind(tmp_path: Path):
    (tmp_path / "variant.toml").write_text('extends = "waiishost"\nfile_names = ["v.log"]\n')
    formats = load_formats([tmp_path])
    assert formats["variant"].kind == "variant"
    assert formats["waiishost"].kind == "WaIISHost"


def test_a_log_pasted_below_an_email_is_sniffed_by_its_lines_not_their_share():
    # a customer's mail header and quoted text take most of a short file: five lines in a
    # format's own grammar still say what it is; four among them do not
    email = ["From: customer@contoso.com", "Subject: RE: role keeps recycling", ""]
    email += ["> quoted text line"] * 22
    line = "[00002140:00003312, 2024/03/14, 09:29:{:02d}.118, INFO ] Startup task step {}."
    five = [line.format(i, i) for i in range(5)]
    assert FORMATS.sniff(email + five) == "wahostbootstrapper"
    assert FORMATS.sniff(email + five[:4]) is None
