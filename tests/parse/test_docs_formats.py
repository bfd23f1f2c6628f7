"""docs/formats.md cannot rot: its example format files, log and commands must work as written.

Blocks are found by the HTML comment before them: ``<!-- example: NAME -->`` for files (format
definitions, the log) and commands, ``<!-- output: formats check -->`` for the shown output.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.cli import main
from azdiag.exit_status import ExitStatus
from azdiag.knowledge.formats import load_formats
from azdiag.parse.ingest import ingest
from azdiag.parse.samples import check_format, check_signatures

DOC = Path(__file__).resolve().parents[2] / "docs" / "formats.md"
_BLOCK = re.compile(r"<!-- (example|output): ([^>]+?) -->\n```[\w-]*\n(.*?)\n```", re.DOTALL)
LOG_PATH = Path("WebRole1_IN_0") / "StartupLog.txt"  # where the doc puts the example log


def _blocks(marker: str) -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    return {name: body + "\n" for kind, name, body in _BLOCK.findall(text) if kind == marker}


EXAMPLES = _blocks("example")
FORMAT_FILES = {name: body for name, body in EXAMPLES.items() if name.endswith(".toml")}


@pytest.fixture
def format_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "myformats"
    folder.mkdir()
    for name, body in FORMAT_FILES.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "collected-logs"
    (folder / LOG_PATH).parent.mkdir(parents=True)
    (folder / LOG_PATH).write_text(EXAMPLES["StartupLog.txt"], encoding="utf-8")
    return folder


def run(*args: str | Path):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_the_doc_has_its_examples():
    assert {"mylog.toml", "certinstall.toml", "StartupLog.txt", "commands"} <= set(EXAMPLES)
    assert "formats check" in _blocks("output")


def test_every_sample_of_the_examples_passes(format_dir: Path):
    formats = load_formats([format_dir])
    for name in FORMAT_FILES:
        fmt = formats[Path(name).stem]
        assert fmt.samples, name
        assert check_format(fmt) == [], name
    count, failures = check_signatures(formats)
    assert failures == []
    mine = [s for f in ("mylog", "certinstall") for s in formats[f].signatures]
    assert mine and count >= len(mine)


def test_the_example_log_parses_as_the_doc_says(format_dir: Path, log_dir: Path):
    ingested = ingest(log_dir, formats=load_formats([format_dir]))
    (report,) = ingested.files
    assert (report.kind, report.instance, report.detected_by) == (
        "StartupLog",
        "WebRole1_IN_0",
        "name",
    )
    assert (report.lines, report.records) == (6, 4)
    assert (report.continuation_lines, report.unparsed_lines) == (1, 1)
    assert report.headers == {"task": 3, "script-utc": 1}
    assert ingested.events.height == 5  # the unparsed line is a record of its own
    assert report.dateutil_times == report.bad_times == 0


def test_the_example_log_is_sniffed_under_another_name(format_dir: Path, tmp_path: Path):
    other = tmp_path / "other" / "WebRole1_IN_0" / "output.txt"
    other.parent.mkdir(parents=True)
    other.write_text(EXAMPLES["StartupLog.txt"], encoding="utf-8")
    (report,) = ingest(tmp_path / "other", formats=load_formats([format_dir])).files
    assert (report.kind, report.detected_by) == ("StartupLog", "sniff")


def test_the_documented_commands_run(format_dir: Path, log_dir: Path):
    commands = [line for line in EXAMPLES["commands"].splitlines() if line.startswith("azdiag ")]
    assert len(commands) >= 2
    places = {"myformats": str(format_dir), "collected-logs": str(log_dir)}
    outputs = {}
    for command in commands:
        args = [places.get(arg, arg) for arg in shlex.split(command)[1:]]
        result = run(*args)
        assert result.exit_code == ExitStatus.OK, (command, result.output)
        outputs[command] = result.output

    def output_of(start: str) -> str:
        return "\n".join(v for k, v in outputs.items() if k.startswith(f"azdiag {start}"))

    assert output_of("formats test").rstrip().endswith(" passed, 0 failed")
    shown = [" ".join(line.split()) for line in _blocks("output")["formats check"].splitlines()]
    actual = [" ".join(line.split()) for line in output_of("formats check").splitlines()]
    assert shown == actual
    timeline = output_of("timeline")
    assert "task_exit" in timeline and "failed" in timeline


def test_tz_moves_local_times_but_not_utc_ones(format_dir: Path, log_dir: Path):
    formats = load_formats([format_dir])
    utc = ingest(log_dir, formats=formats).events
    paris = ingest(log_dir, formats=formats, tz="Europe/Paris").events

    def times(events) -> dict[int, object]:
        return dict(zip(events["line"].to_list(), events["time"].to_list(), strict=True))

    before, after = times(utc), times(paris)
    assert (before[1] - after[1]).total_seconds() == 3600  # setup.cmd: local time
    assert before[2] == after[2]  # install.ps1: utc = true
