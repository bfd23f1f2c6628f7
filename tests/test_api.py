"""The Python API as a notebook user meets it: public names, repr, the notebook view, errors."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

import azdiag
from azdiag.diagnosis.engine import diagnose
from azdiag.timeline.analysis import REPR_INSTANCES
from tests.conftest import FIXTURES, analysed

PUBLIC = {"analyze", "diagnose", "Analysis", "Diagnosis", "CollectError", "NoGuestLog"}


def test_dir_lists_the_public_names():
    assert set(dir(azdiag)) >= PUBLIC
    assert set(azdiag.__all__) == PUBLIC | {"__version__"}
    assert "Any" not in dir(azdiag) and "import_module" not in dir(azdiag)
    for name in azdiag.__all__:
        assert getattr(azdiag, name) is not None, name
    assert azdiag.diagnose is diagnose
    with pytest.raises(AttributeError):
        azdiag.no_such_thing  # noqa: B018


def test_import_azdiag_does_not_import_polars():
    code = "import sys, azdiag; azdiag.__all__; dir(azdiag); print('polars' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_repr_is_one_screen_with_the_essentials():
    analysis = analysed("multi-instance")
    text = repr(analysis)
    lines = text.splitlines()
    assert len(lines) <= 25 and max(len(line) for line in lines) <= 120
    files = len(analysis.ingested.files)
    assert f"{files} read" in text
    assert f"{sum(f.lines for f in analysis.ingested.files):,} lines" in text
    assert "2024-03-14 09:00:00 UTC →" in text
    assert f"cycles     {analysis.cycles.height} ({analysis.cycles.height} failed)" in text
    for name in ("WebRole1_IN_0", "WebRole1_IN_1"):
        row = next(line for line in lines if line.strip().startswith(name))
        assert "last failed at onstart" in row
    assert "None" not in text


def test_repr_stays_short_with_many_instances():
    analysis = dataclasses.replace(analysed("multi-instance"))  # a copy: the cached one stays
    rows = analysis.instances()
    many = [{**rows[0], "instance": f"WebRole1_IN_{i}"} for i in range(500)]
    analysis.instances = lambda: many  # type: ignore[method-assign]
    text = repr(analysis)
    assert len(text.splitlines()) <= 25
    assert f"… and {500 - REPR_INSTANCES} more" in text


class Cells(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_repr_html_shows_the_verdict_table():
    analysis = analysed("S01")
    diagnosis = diagnose(analysis)
    html = analysis._repr_html_()
    parsed = Cells(html)
    assert "script" not in parsed.tags and "style" not in parsed.tags
    header, *rows = parsed.rows
    assert header == ["instance", "outcome", "severity", "what happened", "stage", "cycles"]
    verdict = diagnosis.verdicts[0]
    assert rows == [
        [
            verdict.instance,
            "failing",
            "critical",
            verdict.summary,
            "G/7 Startup tasks run",
            str(analysis.cycles.height),
        ]
    ]
    assert diagnosis.overall.summary.replace("\\", "") in html.replace("\\", "")


def test_repr_html_of_a_healthy_collection():
    html = analysed("healthy")._repr_html_()
    rows = Cells(html).rows[1:]
    assert [row[1] for row in rows] == ["healthy"]
    assert re.search(r"\bNone\b", html) is None


def test_analyze_an_empty_folder_raises_what_the_cli_reports(tmp_path):
    from click.testing import CliRunner

    from azdiag.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a log\n")
    with pytest.raises(azdiag.NoGuestLog) as raised:
        azdiag.analyze(empty)
    assert isinstance(raised.value, azdiag.CollectError)
    result = CliRunner().invoke(main, ["report", str(empty), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert str(raised.value) in result.output


def test_analyze_a_missing_path_raises_collect_error(tmp_path):
    with pytest.raises(azdiag.CollectError, match="no such file"):
        azdiag.analyze(tmp_path / "missing")


def test_analyze_a_fixture_still_works():
    analysis = azdiag.analyze(FIXTURES / "healthy")
    assert analysis.events.height > 0
