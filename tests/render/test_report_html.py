"""The HTML troubleshooting report, read without a browser: offline, escaped, pinned by its CSP.

For every bundled fixture the page must carry the verdict as plain (escaped) HTML, reference
nothing outside itself, and declare a Content-Security-Policy whose hashes match the inlined
style and script. ``--format md`` and ``--redact`` are checked here too, and a hostile
collection (log lines that look like markup or template code) must come out as text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markupsafe import escape

from azdiag.diagnosis.engine import Diagnosis, diagnose
from azdiag.render.writer import render_report
from azdiag.timeline.analysis import analyze
from tests.conftest import FIXTURES, analysed, manifest_names

NAMES = manifest_names()

#: Attributes that make a browser fetch or navigate somewhere.
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "poster",
    "data",
    "srcset",
    "background",
    "ping",
    "cite",
    "manifest",
}
#: Elements that exist to pull something in from elsewhere.
EMBEDDING_TAGS = {"link", "base", "iframe", "frame", "object", "embed", "img", "audio", "video"}

#: What log lines of the hostile collection carry in place of an assembly name or a state.
PAYLOADS = (
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    '"></pre><script>window.__pwned=1</script>',
    "{{ 7*7 }}",
)

DEPLOYMENT_ID = re.compile(r"(?i)\b[0-9a-f]{32}\b")
THUMBPRINT = re.compile(r"(?i)\b[0-9a-f]{40}\b")
IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
PLATFORM_IP = "168.63.129.16"


@cache
def diagnosed(name: str) -> Diagnosis:
    return diagnose(analysed(name))


@cache
def page(name: str) -> str:
    return render_report(analysed(name), diagnosed(name), "html", timestamp=False)


class Page(HTMLParser):
    """The parts of a report page the checks look at."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self.overall: list[str] = []
        self._raw: tuple[str, dict[str, str | None]] | None = None
        self._raw_text: list[str] = []
        self._overall_depth = 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag in ("script", "style"):
            self._raw = (tag, attributes)
            self._raw_text = []
        if self._overall_depth:
            self._overall_depth += 1
        elif "overall" in (attributes.get("class") or "").split():
            self._overall_depth = 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if self._raw and tag == self._raw[0]:
            kind, attributes = self._raw
            text = "".join(self._raw_text)
            if kind == "script":
                self.scripts.append((attributes, text))
            else:
                self.styles.append(text)
            self._raw = None
        if self._overall_depth:
            self._overall_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._raw:
            self._raw_text.append(data)
        elif self._overall_depth:
            self.overall.append(data)

    @property
    def data_block(self) -> str:
        blocks = [text for attrs, text in self.scripts if attrs.get("id") == "azdiag-data"]
        assert len(blocks) == 1, "the page carries exactly one JSON data block"
        return blocks[0]

    @property
    def code(self) -> list[str]:
        return [text for attrs, text in self.scripts if attrs.get("type") != "application/json"]

    def csp(self) -> dict[str, list[str]]:
        metas = [
            attrs.get("content") or ""
            for tag, attrs in self.tags
            if tag == "meta"
            and (attrs.get("http-equiv") or "").lower() == "content-security-policy"
        ]
        assert len(metas) == 1, "one Content-Security-Policy meta element"
        policy: dict[str, list[str]] = {}
        for directive in metas[0].split(";"):
            name, *values = directive.split()
            policy[name.lower()] = values
        return policy


def sha256_source(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def without_scripts(html: str) -> str:
    return re.sub(r"(?is)<script\b[^>]*>.*?</script>", "", html)


# ---------------------------------------------------------------- every fixture


@pytest.mark.parametrize("name", NAMES)
def test_verdict_is_plain_escaped_html(name):
    html = page(name)
    summary = diagnosed(name).overall.summary
    assert summary
    # in the markup itself, not only in the data block the script reads
    assert str(escape(summary)) in without_scripts(html)
    parsed = Page(html)
    assert " ".join("".join(parsed.overall).split()) == " ".join(summary.split())
    for verdict in diagnosed(name).verdicts:
        assert f'data-instance="{escape(verdict.instance)}"' in html


@pytest.mark.parametrize("name", NAMES)
def test_page_references_nothing_outside_itself(name):
    parsed = Page(page(name))
    offenders = []
    for tag, attrs in parsed.tags:
        if tag in EMBEDDING_TAGS:
            offenders.append(f"<{tag}>")
        for attribute, value in attrs.items():
            value = (value or "").strip()
            if attribute.lower() in URL_ATTRIBUTES and not value.startswith(("#", "data:")):
                offenders.append(f"<{tag} {attribute}={value!r}>")
            if attribute.lower() == "style" and "url(" in value.lower():
                offenders.append(f"<{tag} style={value!r}>")
            if attribute.lower() == "http-equiv" and value.lower() == "refresh":
                offenders.append("<meta http-equiv=refresh>")
    assert parsed.styles, "the stylesheet is inlined"
    for css in parsed.styles:
        assert "@import" not in css
        for target in re.findall(r"(?i)url\(\s*['\"]?([^'\")\s]*)", css):
            if not target.startswith(("#", "data:")):
                offenders.append(f"url({target})")
    assert not offenders, f"{name}: the page points outside itself: {offenders}"


@pytest.mark.parametrize("name", NAMES)
def test_csp_pins_the_inlined_style_and_script(name):
    parsed = Page(page(name))
    policy = parsed.csp()
    assert policy.get("default-src") == ["'none'"]
    assert len(parsed.styles) == 1 and len(parsed.code) == 1
    assert policy.get("style-src") == [sha256_source(parsed.styles[0])]
    assert policy.get("script-src") == [sha256_source(parsed.code[0])]
    for directive in ("connect-src", "frame-src", "img-src"):
        for source in policy.get(directive, []):
            assert source in ("'none'", "data:"), f"{directive} allows {source}"
    # the data block is JSON the script reads, never code that runs
    json.loads(parsed.data_block)


@pytest.mark.parametrize("name", NAMES)
def test_markdown_has_the_verdict_and_every_finding(name):
    analysis, diagnosis = analysed(name), diagnosed(name)
    md = render_report(analysis, diagnosis, "md", timestamp=False)
    # the Markdown escapes * and _ so a pasted sentence stays a sentence
    assert diagnosis.overall.summary.replace("\\", "") in md.replace("\\", "")
    for finding in diagnosis.findings:
        assert finding.rule.title in md, finding.rule.id


# ---------------------------------------------------------------- --redact


def identifiers(text: str) -> dict[str, set[str]]:
    return {
        "deployment ids": set(DEPLOYMENT_ID.findall(text)),
        "thumbprints": set(THUMBPRINT.findall(text)),
        "addresses": set(IPV4.findall(text)) - {PLATFORM_IP},
    }


@pytest.mark.parametrize("fmt", ["html", "json", "md"])
def test_redact_removes_customer_identifiers(fmt):
    analysis, diagnosis = analysed("S01"), diagnosed("S01")
    plain = render_report(analysis, diagnosis, fmt, timestamp=False)
    assert identifiers(plain)["deployment ids"], "S01 names its deployment: the check can fail"
    redacted = render_report(analysis, diagnosis, fmt, timestamp=False, redact=True)
    found = identifiers(redacted)
    assert not any(found.values()), f"--redact left {found}"


# ---------------------------------------------------------------- a hostile collection


def build_hostile(root: Path) -> Path:
    """A healthy collection whose role host and agent then log markup and template code."""
    collection = root / "hostile"
    shutil.copytree(FIXTURES / "healthy", collection)
    host_log = next(collection.glob("Resources/Directory/*/WaIISHost.log"))
    with host_log.open("a", encoding="ascii", newline="") as handle:
        for i, payload in enumerate(PAYLOADS):
            handle.write(
                f"WaIISHost Error: 0 : [03/14/24 09:15:58.{10 + i}] Role entrypoint could not be "
                "created: System.TypeLoadException: Unable to load the role entry point due to "
                "the following exceptions: -- System.IO.FileNotFoundException: Could not load "
                f"file or assembly '{payload}' or one of its dependencies. The system cannot "
                "find the file specified.\r\n"
            )
    agent_log = collection / "RuntimeAndAgent" / "WaAppAgent.log"
    with agent_log.open("a", encoding="ascii", newline="") as handle:
        for i, payload in enumerate(PAYLOADS):
            handle.write(
                f"[00000014] [03/14/2024 09:16:1{i}.00] [ERROR] Role state message {payload}\r\n"
            )
    return collection


def test_hostile_collection_renders_as_text(tmp_path):
    analysis = analyze(build_hostile(tmp_path))
    diagnosis = diagnose(analysis)
    # the payloads reach a finding's evidence, not only the events table
    assert any(
        "<script>window.__pwned" in (e.get("text") or "")
        for f in diagnosis.findings
        for e in f.evidence
    )
    html = render_report(analysis, diagnosis, "html", timestamp=False)
    parsed = Page(html)

    block = parsed.data_block
    assert "<" not in block and ">" not in block
    assert "\\u003cscript\\u003ewindow.__pwned=1\\u003c/script\\u003e" in block
    messages = [row[7] for row in json.loads(block)["events"]["rows"]]
    for payload in PAYLOADS:
        assert any(payload in m for m in messages), payload

    markup = without_scripts(html)
    assert "__pwned" in markup, "the evidence is shown in the page"
    for payload in PAYLOADS[:3]:
        assert payload not in markup
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in markup
    assert "&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;" in markup
    assert "&#39;{{ 7*7 }}&#39;" in markup and "&#39;49&#39;" not in markup
    assert "<script>window.__pwned" not in html.replace(block, "")
    # nothing the logs said became an element or an event handler
    assert [tag for tag, attrs in parsed.tags if tag == "script"] == ["script", "script"]
    assert not [tag for tag, _ in parsed.tags if tag == "img"]
    assert not [
        (tag, attribute)
        for tag, attrs in parsed.tags
        for attribute in attrs
        if attribute.lower().startswith("on")
    ]

    md = render_report(analysis, diagnosis, "md", timestamp=False)
    assert "{{ 7*7 }}" in md
    # pasted into a ticket whose renderer lets HTML through, the payloads stay text
    ticket = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert "__pwned" in ticket and "<script" not in ticket and "<img" not in ticket


# ---------------------------------------------------------------- words for unknown values


class VisibleText(HTMLParser):
    """The text a reader sees: everything outside <script> and <style>."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._raw = 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._raw += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._raw -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._raw:
            self.parts.append(data)

    @property
    def words(self) -> set[str]:
        return set(" ".join(self.parts).split())


@pytest.mark.parametrize("name", NAMES)
def test_unknown_values_are_said_in_words(name):
    words = VisibleText(page(name)).words
    assert not words & {"None", "?", "null", "nan", "NaN"}, words & {"None", "?", "null", "nan"}


def test_untimed_and_cycle_less_instance_reads_in_words():
    """An instance without cycles and a finding without times render as words."""
    from azdiag.render.html import render_html
    from azdiag.render.model import build_model

    analysis, diagnosis = analysed("S01"), diagnosed("S01")
    model = build_model(analysis, diagnosis)
    ghost = {
        **model["instances"][0],
        "id": None,
        "cycles": [],
        "cycle_count": 0,
        "last_cycle": None,
        "runs": [],
        "finding": None,
        "verdict": {**model["instances"][0]["verdict"], "stage": None},
        "outcome": "inconclusive",
        "detailed": True,
        "gantt": {"shown": 0},
    }
    model["summary"]["rows"].append(ghost)
    model["detailed"].append(ghost)
    model["findings"][0] = {**model["findings"][0], "first_seen": None, "last_seen": None}
    text = " ".join(VisibleText(render_html(model)).parts)
    assert "None" not in text.split()
    assert "unknown instance" in text
    assert "first no time · last no time" in " ".join(text.split())
    assert "No start-up cycle could be reconstructed" in text


# ---------------------------------------------------------------- many instances


#: Instances of the simulated large collection, and how many of them fail (S01).
MANY = 1000
FAILING = 3
#: The page's size bound at any input size (issue 13).
MAX_HTML_BYTES = 5_000_000


@pytest.fixture(scope="module")
def many_instances(tmp_path_factory) -> tuple[str, Diagnosis]:
    """1,000 healthy instances of which three are replaced by a recycling startup task (S01)."""
    from azdiag.simulate import simulate

    root = tmp_path_factory.mktemp("many")
    simulate("healthy", root / "collection", instances=MANY, hours=0.01)
    simulate("S01", root / "failing", instances=FAILING, hours=0.1)
    for folder in sorted((root / "failing").iterdir()):
        shutil.rmtree(root / "collection" / folder.name)
        shutil.move(str(folder), root / "collection" / folder.name)
    analysis = analyze(root / "collection")
    diagnosis = diagnose(analysis)
    return render_report(analysis, diagnosis, "html", timestamp=False), diagnosis


def test_many_instances_give_a_bounded_page_with_a_summary_table(many_instances):
    html, diagnosis = many_instances
    assert len(diagnosis.verdicts) == MANY
    failing = sorted(v.instance for v in diagnosis.verdicts if v.finding is not None)
    assert len(failing) == FAILING
    assert len(html.encode("utf-8")) <= MAX_HTML_BYTES

    parsed = Page(html)
    rows = [
        attrs
        for tag, attrs in parsed.tags
        if tag == "tr" and "instance" in (attrs.get("class") or "").split()
    ]
    # the summary lists the instances that need a look, failing ones first ...
    assert sorted(r["data-instance"] for r in rows) == failing
    assert {r["data-outcome"] for r in rows} == {"failing"}
    # ... and names every healthy one in one collapsed list
    healthy = [
        attrs["data-instance"]
        for tag, attrs in parsed.tags
        if tag == "li" and attrs.get("data-instance")
    ]
    assert sorted(healthy) == sorted(v.instance for v in diagnosis.verdicts if v.finding is None)
    assert f"{MANY - FAILING} healthy instance(s)</summary>" in html
    assert '<details class="healthy">' in html  # collapsed: no "open" attribute
    # drawings only for the instances that need a look
    workflows = [t for t, a in parsed.tags if t == "svg" and a.get("class") == "workflow"]
    assert len(workflows) == FAILING
    timeline = json.loads(parsed.data_block)["timeline"]
    assert sorted(i["id"] for i in timeline["instances"]) == failing
    assert f"({MANY} instances: {FAILING} failing, {MANY - FAILING} healthy)" in html


def test_events_give_way_when_the_page_would_pass_its_size_limit():
    """Every other section is capped; the events table gives up rows to keep the page bounded."""
    from azdiag.render.html import render_html
    from azdiag.render.model import build_model

    model = build_model(analysed("S01"), diagnosed("S01"))
    whole = render_html(model)
    limit = len(whole.encode("utf-8")) - 50_000
    bounded = render_html(model, max_bytes=limit)
    assert len(bounded.encode("utf-8")) <= limit
    data = json.loads(Page(bounded).data_block)["events"]
    assert 0 < data["shown"] < model["events"]["shown"]
    assert data["rows"] == model["events"]["rows"][: data["shown"]]  # the earliest stay
    assert f"{data['omitted']} of {data['total']} records are not in this page" in bounded


# ---------------------------------------------------------------- cycles collapsed into runs


def _cycle(number: int, outcome: str | None, stage: str | None, seconds: float | None) -> dict:
    return {
        "cycle": number,
        "start": None,
        "end": None,
        "seconds": seconds,
        "outcome": outcome,
        "last_stage": stage,
        "failure_event": "task_exit" if outcome == "failed" else None,
        "observed_start": True,
        "reached": ["agent", stage] if stage else [],
    }


def _cycles_frame(cycles: list[dict], instance: str = "i"):
    """The timeline's cycles frame (the columns the report reads) holding ``cycles``."""
    import polars as pl

    rows = [{"instance": instance, **c, "stages": c["reached"] or None} for c in cycles]
    for row in rows:
        del row["reached"]
    return pl.DataFrame(
        rows,
        schema={
            "instance": pl.String,
            "cycle": pl.UInt32,
            "start": pl.Datetime("us", "UTC"),
            "end": pl.Datetime("us", "UTC"),
            "seconds": pl.Float64,
            "outcome": pl.String,
            "last_stage": pl.String,
            "failure_event": pl.String,
            "observed_start": pl.Boolean,
            "stages": pl.List(pl.String),
        },
    )


def test_alike_consecutive_cycles_are_one_run():
    from azdiag.render.cycles import ordered_cycles, runs_by_instance

    cycles = [
        _cycle(1, "ready", "ready", 60.0),
        *[_cycle(n, "failed", "startup_tasks", 29.0 + n % 20) for n in range(2, 91)],
        _cycle(91, "hung", None, None),
    ]
    collapsed = runs_by_instance(ordered_cycles(_cycles_frame(cycles)), {"i"}, listed=50)["i"]
    assert collapsed["count"] == 3
    collapsed = collapsed["runs"]
    assert [(r["first"], r["last"], r["count"]) for r in collapsed] == [
        (1, 1, 1),
        (2, 90, 89),
        (91, 91, 1),
    ]
    assert collapsed[0]["label"] == "cycle 1: ready at ready, 60 s"
    assert collapsed[1]["label"] == "cycles 2–90: failed at startup_tasks, 29–48 s each"
    assert collapsed[2]["label"] == "cycle 91: hung at an unknown stage, duration unknown"
    # the latest cycles are listed first when the budget is short
    assert [c["cycle"] for c in collapsed[2]["cycles"]] == [91]
    assert [c["cycle"] for c in collapsed[1]["cycles"]] == list(range(42, 91))
    assert collapsed[0]["cycles"] == []


def test_runs_do_not_cross_instances_and_a_differing_cycle_breaks_a_run():
    import polars as pl

    from azdiag.render.cycles import ordered_cycles, runs_by_instance

    failing = [_cycle(n, "failed", "startup_tasks", 30.0) for n in range(1, 11)]
    failing[4] = _cycle(5, "failed", "onstart", 30.0)  # another stage: its own run
    other = [_cycle(n, "failed", "startup_tasks", 30.0) for n in range(1, 4)]
    frame = pl.concat([_cycles_frame(other, "b"), _cycles_frame(failing, "a")])
    collapsed = runs_by_instance(ordered_cycles(frame), {"a", "b"})
    assert [(r["first"], r["last"]) for r in collapsed["a"]["runs"]] == [(1, 4), (5, 5), (6, 10)]
    assert [(r["first"], r["last"]) for r in collapsed["b"]["runs"]] == [(1, 3)]
    assert collapsed["a"]["runs"][1]["label"] == "cycle 5: failed at onstart, 30 s"


def test_only_the_latest_runs_are_built_and_all_are_counted():
    from azdiag.render.cycles import ordered_cycles, runs_by_instance

    # a cycle that fails at one stage, then at another, 60 times over: 120 runs of one cycle
    flapping = [
        _cycle(n, "failed", "startup_tasks" if n % 2 else "onstart", 30.0) for n in range(1, 121)
    ]
    latest = runs_by_instance(ordered_cycles(_cycles_frame(flapping)), {"i"}, latest=5)["i"]
    assert latest["count"] == 120
    assert [r["first"] for r in latest["runs"]] == [116, 117, 118, 119, 120]


def test_gantt_draws_the_latest_cycles_within_its_rows():
    from azdiag.render.cycles import gantt

    cycles = [_cycle(n, "failed", "startup_tasks", 30.0) for n in range(1, 501)]
    stages = {
        ("i", n): [
            {"stage": "agent", "entered": None, "seconds": 5.0},
            {"stage": "startup_tasks", "entered": None, "seconds": 25.0},
        ]
        for n in range(1, 501)
    }
    drawn = gantt(cycles, stages, "i", rows=120)
    assert (drawn["shown"], drawn["total"]) == (120, 500)
    paths = {p["stage"]: p["d"] for p in drawn["paths"]}
    assert paths.keys() == {"agent", "startup_tasks"}
    assert paths["startup_tasks"].count("M") == 120
    assert drawn["height"] <= 120 * 14


def test_what_a_file_lost_is_shown_in_the_page_and_the_ticket(tmp_path):
    # a line cut at 64 KiB and a time no form reads change what the verdict could see: the HTML
    # (warnings section and the file's inventory row) and the Markdown say so, with the file
    root = tmp_path / "collection"
    shutil.copytree(FIXTURES / "S01", root)
    boot = next(p for p in root.rglob("WaHostBootstrapper.log") if p.is_file())
    with boot.open("a", encoding="utf-8", newline="") as handle:
        handle.write("[00002140:00003312, 2024/03/14, 10:00:00.000, INFO ] " + "x" * 70_000 + "\n")
        handle.write("[00002140:00003312, 2024/14/03, 10:00:01.000, INFO ] month fourteen\n")
    analysis = analyze(root)
    diagnosis = diagnose(analysis)
    html = render_report(analysis, diagnosis, "html", timestamp=False)
    md = render_report(analysis, diagnosis, "md", timestamp=False)
    cut = "1 line(s) longer than 64 KiB were cut"
    unread = "1 record(s) with an unreadable time took the time before them"
    for warning in (cut, unread):
        assert html.count(warning) == 2  # the warnings section and the inventory row
        assert warning in md
    assert "## Warnings" in md
