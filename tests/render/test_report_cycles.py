"""A long crash loop on one page: alike cycles are one row, long lists are capped and say where
the rest is.

S10 (disk quota exhausted) restarts the role the same way about once a minute: half an hour of
it gives a few dozen identical failing cycles, small enough to analyse in a second or two.
"""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from azdiag.diagnosis.engine import diagnose
from azdiag.render import model as report_model
from azdiag.render.html import _short_time
from azdiag.render.writer import render_report
from azdiag.simulate import simulate
from azdiag.timeline.analysis import Analysis, analyze


@pytest.fixture(scope="module")
def s10(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    root: Path = tmp_path_factory.mktemp("s10")
    simulate("S10", root / "collection", hours=0.5)
    return analyze(root / "collection")


def page(analysis: Analysis) -> str:
    return render_report(analysis, diagnose(analysis), "html", timestamp=False)


#: Elements without an end tag: they open no scope.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class CyclesTable(HTMLParser):
    """The runs of the cycles table: their data-* attributes, ``label`` (the run's sentence),
    ``when`` (its time cell) and ``listed`` (the cycles listed inside it); and the text of every
    cap note of the page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.runs: list[dict] = []
        self.notes: list[str] = []
        self._notes: list[list[str]] = []
        self._sinks: list[list[str] | None] = []  # where the text of each open element goes
        self._in_list = False
        self.feed(html)
        self.close()
        for run in self.runs:
            run["label"] = "".join(run["label"]).strip()
            run["when"] = "".join(run["when"]).strip()
            run["listed"] = ["".join(item).strip() for item in run["listed"]]
        self.notes = [" ".join("".join(note).split()) for note in self._notes]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        sink = self._sinks[-1] if self._sinks else None
        if tag == "tr" and "run" in classes:
            self.runs.append({**attributes, "label": [], "when": [], "listed": [], "bars": 0})
            sink = None
        elif tag == "rect" and self.runs and "bar" in classes:
            self.runs[-1]["bars"] += 1
        elif tag == "td" and "run-label" in classes:
            sink = self.runs[-1]["label"]
        elif tag == "td" and "run-when" in classes:
            sink = self.runs[-1]["when"]
        elif tag == "details" and self.runs:
            sink = None  # a run of several cycles: its sentence is the summary
        elif tag == "summary" and self.runs:
            sink = self.runs[-1]["label"]
        elif tag == "ol" and "run-cycles" in classes:
            self._in_list = True
        elif tag == "li" and self._in_list:
            sink = []
            self.runs[-1]["listed"].append(sink)
        elif tag == "p" and "cap-note" in classes:
            sink = []
            self._notes.append(sink)
        self._sinks.append(sink)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if tag == "ol":
            self._in_list = False
        self._sinks.pop()

    def handle_data(self, data: str) -> None:
        if self._sinks and self._sinks[-1] is not None:
            self._sinks[-1].append(data)


def test_identical_failing_cycles_are_one_row_naming_the_range(s10):
    cycles = s10.cycles.sort("cycle")
    total = cycles.height
    assert total > 20
    assert cycles.select("outcome", "last_stage").unique().rows() == [("failed", "onstart")]

    table = CyclesTable(page(s10))
    assert len(table.runs) == 1
    row = table.runs[0]
    assert (row["data-first"], row["data-last"], row["data-count"]) == ("1", str(total), str(total))
    label, when = table.runs[0]["label"], table.runs[0]["when"]
    assert label.startswith(f"cycles 1–{total}: failed at onstart, ")
    # the run says when it began and when its last cycle ended
    first_start, last_end = cycles["start"][0], cycles["end"][-1]
    assert when == f"{_short_time(first_start.isoformat())} → {_short_time(last_end.isoformat())}"
    assert len(table.runs[0]["listed"]) == total  # under the cap: each is listed on demand
    assert table.runs[0]["bars"] > 1  # the stages of the run's last cycle, drawn to scale


def test_a_differing_cycle_breaks_the_run(s10):
    total = s10.cycles.height
    odd = total // 2
    changed = s10.cycles.with_columns(
        pl.when(pl.col("cycle") == odd)
        .then(pl.lit("startup_tasks"))
        .otherwise(pl.col("last_stage"))
        .alias("last_stage")
    )
    analysis = dataclasses.replace(s10, timeline=dataclasses.replace(s10.timeline, cycles=changed))

    table = CyclesTable(page(analysis))
    spans = [(r["data-first"], r["data-last"]) for r in table.runs]
    assert spans == [("1", str(odd - 1)), (str(odd), str(odd)), (str(odd + 1), str(total))]
    labels = [run["label"] for run in table.runs]
    assert labels[0].startswith(f"cycles 1–{odd - 1}: failed at onstart")
    assert labels[1].startswith(f"cycle {odd}: failed at startup_tasks")
    assert labels[2].startswith(f"cycles {odd + 1}–{total}: failed at onstart")
    assert all(run["bars"] for run in table.runs)


def test_capped_lists_name_where_the_rest_is(s10, monkeypatch):
    """Past its cap a list shows its latest items and a note naming the command that has all."""
    monkeypatch.setattr(report_model, "LISTED_CYCLES_TOTAL", 20)
    monkeypatch.setattr(report_model, "MAX_INVENTORY_ROWS", 5)
    total, files = s10.cycles.height, len(s10.ingested.files)
    assert files > 5

    table = CyclesTable(page(s10))
    listed = table.runs[0]["listed"]
    assert [item.split(" ·")[0] for item in listed] == [
        f"cycle {n}" for n in range(total - 19, total + 1)
    ]
    source = s10.ingested.input
    older = f"{total - 20} older cycle(s) of this run are in azdiag timeline {source} --show cycles"
    assert older + "." in table.notes
    inventory = next(n for n in table.notes if "files are listed" in n)
    assert inventory.startswith(f"5 of {files} files are listed")
    assert f"azdiag formats check {source} --json lists them all" in inventory
    # every cap note names a command that gives the full data
    assert all("azdiag " in note for note in table.notes)
