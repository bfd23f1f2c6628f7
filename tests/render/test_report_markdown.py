"""The Markdown report stays the report whatever the logs say: tables keep their columns, code
stays code, and no tag or link from a log becomes markup in a ticket's renderer.

Tickets (GitHub, Azure DevOps) render Markdown and pass some HTML through: the pages are read
here as CommonMark with tables and raw HTML on, the most permissive of them.
"""

from __future__ import annotations

import copy
import html
import re
import shutil
from functools import cache
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from azdiag.diagnosis.engine import diagnose
from azdiag.diagnosis.findings import fill as fill_text
from azdiag.render.markdown import render_markdown
from azdiag.render.markdown_text import cell, code_block, code_span, fill, inline
from azdiag.render.model import build_model
from azdiag.render.writer import render_report
from azdiag.timeline.analysis import analyze
from tests.conftest import FIXTURES, analysed

#: Pieces of hostile log text: markup, tables, code fences, HTML, links, entities.
HOSTILE = [
    "|",
    "||",
    "`",
    "``",
    "```",
    "````",
    "\n",
    "\n```\n",
    "\n    ",
    "<script>alert(1)</script>",
    "<script",
    "<img src=x onerror=alert(1)>",
    "</td></tr></table>",
    "[click](javascript:alert(1))",
    "![x](http://example.invalid/x.png)",
    "<http://example.invalid>",
    "[ref]: http://example.invalid",
    "&lt;script&gt;",
    "&#60;script",
    "\\",
    "\\|",
    "*",
    "_",
    "# ",
    "- ",
    "{",
    "}",
    "{instance}",
]
messages = (
    st.lists(
        st.one_of(st.sampled_from(HOSTILE), st.text(alphabet="ab |`<>&[]()\\*_\n", max_size=6)),
        min_size=1,
        max_size=8,
    )
    .map("".join)
    .filter(bool)
)  # an empty value reads "no time", "-", ...: not hostile

#: What a renderer must never produce from a log: elements that run, load or link.
FORBIDDEN = re.compile(r"<\s*(script|img|iframe|a|object|embed|style|svg)\b", re.IGNORECASE)


def renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table")


@cache
def base_model() -> dict[str, Any]:
    """A real model (a failing fixture's), with one of each part the Markdown shows."""
    analysis = analysed("S03")
    model = build_model(analysis, diagnose(analysis))
    finding = model["findings"][0]
    finding["templates"] = [
        {"template": "t", "records": 1, "first": None, "last": None, "stage": "s", "lines": ["l"]}
    ]
    model["warnings"] = ["w"]
    model["traffic"] = [
        {
            "instance": "i",
            "peak": 1,
            "bin_minutes": 5,
            "totals": dict.fromkeys(
                ("requests", "http_5xx", "http_500", "http_503", "refused", "refused_503"), 1
            ),
        }
    ]
    assert finding["fill"]["values"] and finding["evidence"] and model["inventory"]["files"]
    return model


def hostile(value: Any, text: str, key: str = "") -> Any:
    """``value`` with every string it holds replaced by ``text``, except a rule's own Markdown
    (knowledge from rules/, not from the logs)."""
    if isinstance(value, str):
        return value if key in ("explanation", "advice") else text
    if isinstance(value, dict):
        return {k: hostile(v, text, k) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(item, text) for item in value]
    return value


def cells(row: str) -> int:
    """The cells of a GFM table row: ``|`` not escaped by a backslash separate them."""
    count, escaped = 0, False
    for char in row.strip()[1:-1]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            count += 1
    return count + 1


def tables(markdown: str) -> list[list[str]]:
    """Each table of ``markdown`` as its rows (header first, delimiter row left out)."""
    lines = markdown.split("\n")
    found = []
    for at, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.fullmatch(r"\|(---\|)+", lines[at + 1]):
            rows = [line]
            for row in lines[at + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(row)
            found.append(rows)
    return found


@settings(max_examples=100, deadline=None)
@given(messages)
@example("# ")  # a line the report starts with a value (the collection time) became a heading
@example("1. x")
@example("---")
def test_hostile_log_text_keeps_tables_whole_and_never_becomes_markup(message):
    markdown = render_markdown(hostile(copy.deepcopy(base_model()), message))
    found = tables(markdown)
    assert len(found) == 3  # coverage, unrecognised templates, cycles
    for rows in found:
        header = cells(rows[0])
        assert [cells(row) for row in rows] == [header] * len(rows), rows
    page = renderer().render(markdown)
    assert not FORBIDDEN.search(page), FORBIDDEN.search(page)
    # a raw "<script" in the Markdown is only ever code (a span or block), shown as text
    code = "".join(re.findall(r"<code>(.*?)</code>", page, re.DOTALL)).lower()
    assert markdown.lower().count("<script") == code.count("&lt;script")
    # running text reads back as the log said it (on one line)
    [title] = re.findall(r"<h1>(.*?)</h1>", page)
    flat = re.sub(r"\r\n|\r|\n", " ", message)
    assert html.unescape(title) == f"azdiag report: {flat}".strip()
    # the evidence stays one code block, its text verbatim
    blocks = re.findall(r"<pre><code>(.*?)</code></pre>", page, re.DOTALL)
    evidence = f"  {message}  {message}"  # file:line  time  text
    assert any(evidence in html.unescape(block) for block in blocks)


def test_the_newcomers_line_stays_in_its_cell_and_its_script_is_text():
    line = "Bad text | with pipe and <script>alert(1)</script> `backtick`"
    model = copy.deepcopy(base_model())
    model["findings"][0]["templates"][0]["template"] = line
    markdown = render_markdown(model)
    [row] = [r for r in markdown.split("\n") if "with pipe" in r and r.startswith("|")]
    assert cells(row) == 6
    assert "<script" not in markdown
    cell_html = renderer().render(markdown)
    assert "<td>Bad text | with pipe and &lt;script&gt;alert(1)&lt;/script&gt; `backtick`</td>" in (
        cell_html
    )


def test_each_place_has_its_escape():
    assert inline("a <b> & [c](d) *e* _f_ `g` |") == (
        "a &lt;b&gt; &amp; \\[c\\](d) \\*e\\* \\_f\\_ \\`g\\` \\|"
    )
    # a backslash stays as it is unless it would escape what follows (a path reads as a path)
    assert (
        inline("E:\\approot\\bin\\x.cmd \\\\server\\share")
        == "E:\\approot\\bin\\x.cmd \\\\\\server\\share"
    )
    assert inline("a\\* b\\") == "a\\\\\\* b\\\\"
    # what would start a block at the start of a line: a heading, a list item, an underline
    assert [inline(t) for t in ("# x", "- x", "1. x", "===", "-196608")] == [
        "\\# x",
        "\\- x",
        "1\\. x",
        "\\===",
        "-196608",
    ]
    assert cell("a|b\nc") == "a\\|b<br>c"
    assert code_span("x ``y`` z") == "```x ``y`` z```"
    assert code_span("`a`") == "`` `a` ``"
    assert code_span("a|b", in_table=True) == "`a\\|b`"
    assert code_block(["one", "````", "two"]) == ["`````", "one", "````", "two", "`````"]
    assert code_block(["plain"]) == ["```", "plain", "```"]


def test_a_rules_markdown_is_kept_and_its_values_escaped_for_their_place():
    template = (
        "Run `procdump -e {app}` on {instance}:\n\n```\n{text}\n```\n\n"
        "- a list item:\n\n  ```\n  {text}\n  ```\n"
    )
    values = {"app": "a`b", "instance": "<b>x</b>", "text": "```\n<script>\nend"}
    out = fill(template, values, fill_text)
    assert out == (
        "Run ``procdump -e a`b`` on &lt;b&gt;x&lt;/b&gt;:\n\n"
        "````\n```\n<script>\nend\n````\n\n"
        "- a list item:\n\n  ````\n  ```\n  <script>\n  end\n  ````\n"
    )
    page = renderer().render(out)
    assert "<script" not in page and page.count("<pre>") == 2


def test_markdown_shows_how_much_of_each_file_was_understood(tmp_path):
    collection = tmp_path / "c"
    shutil.copytree(FIXTURES / "healthy", collection)
    with (collection / "RuntimeAndAgent/WaAppAgent.log").open("ab") as log:
        log.write(b"this is not a log line\n@@@ nor this\n")
    analysis = analyze(collection)
    markdown = render_report(analysis, diagnose(analysis), "md", timestamp=False)
    files = analysis.ingested.files
    lines = sum(f.lines for f in files)
    assert f"{len(files)} file(s) read, {lines} line(s), 2 not understood (99.7% understood)" in (
        markdown
    )
    [rows] = [t for t in tables(markdown) if t[0].startswith("| file | kind")]
    # the least understood first: where the verdict may have missed something
    agent = "| RuntimeAndAgent/WaAppAgent.log | WaAppAgent | WebRole1\\_IN\\_0 | 425 | 2 | 99.5% |"
    assert rows[1] == agent + "  |"
    assert len(rows) == 1 + len(files)
