"""Text from logs made inert where the Markdown report puts it: prose, table cells, code.

The Markdown report is pasted into tickets, and their renderers (GitHub, Azure DevOps) read
Markdown and pass some HTML through. A log line is a stranger's text: a ``|`` in it would split a
table row, a backtick close a code span, a line of backticks close a code block, and
``<script>`` or ``[text](url)`` become markup. Each function here escapes for one place:

- :func:`inline`: running text (a sentence, a list item, a heading);
- :func:`cell`: a table cell (also no ``|`` and no line break);
- :func:`code_span`: an inline code span, fenced by more backticks than any run inside;
- :func:`code_block`: a fenced code block, fenced the same way;
- :func:`fill`: a rule's Markdown text (knowledge, trusted) with its ``{name}`` fields filled
  from the logs (not trusted), each escaped for the place the field sits in.

Source of the rules: CommonMark 0.31 (backslash escapes, entity references, code spans, fenced
code blocks) and GitHub Flavored Markdown 0.29 (tables: ``\\|`` in a cell, code spans included).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

#: Characters that start markup inside a line: emphasis, code, links and images, table cells,
#: strikethrough, and headings (a value may start a line: a rule's text may put it there).
_MARKUP = re.compile(r"([`*_\[\]|~#])")
#: What starts a block when it starts a line: a list item ("-", "+", "1." or "1)"), or the
#: underline of a heading ("===", "---").
_BLOCK_START = re.compile(r"^(\s*)([-+]|\d+(?=[.)]))(?=[.)]?(\s|$))|^(\s*)([-=])(?=[-=\s]*$)")
#: A backslash that would escape what follows it (ASCII punctuation, or the markup the report
#: writes after the value); one before a letter, as in E:\approot\bin, is shown as it is.
_ESCAPING = re.compile(r"\\(?=[!-/:-@\[-`{-~]|$)")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_NEWLINES = re.compile(r"\r\n|\r|\n")
_BACKTICKS = re.compile(r"`+")


def inline(text: Any) -> str:
    """``text`` as plain running text: markup characters backslash-escaped, ``&``, ``<`` and
    ``>`` as entities (no HTML, no autolink), line breaks as spaces (one line stays one)."""
    flat = "".join(_ENTITIES.get(c, c) for c in _NEWLINES.sub(" ", str(text)))
    escaped = _MARKUP.sub(r"\\\1", _ESCAPING.sub(r"\\\\", flat))
    return _BLOCK_START.sub(_escape_block_start, escaped, count=1)


def _escape_block_start(match: re.Match[str]) -> str:
    """ "- x" as "\\- x", "1. x" as "1\\. x": the marker's punctuation escaped."""
    space, marker = (match.group(1), match.group(2)) if match.group(2) else match.group(4, 5)
    return f"{space}{marker}\\" if marker[0].isdigit() else f"{space}\\{marker}"


def cell(text: Any) -> str:
    """``text`` as the content of a table cell: as :func:`inline` (``|`` becomes ``\\|``, which
    GFM reads as a pipe inside the cell), line breaks as ``<br>``."""
    return "<br>".join(inline(part) for part in _NEWLINES.split(str(text)))


def _fence(text: str, least: int) -> str:
    """Backticks one more than the longest run in ``text``, and at least ``least``."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(least, longest + 1)


def code_span(text: Any, *, in_table: bool = False) -> str:
    """``text`` as an inline code span. Backslashes do nothing in a code span, so the fence is
    longer than any backtick run inside, with a space inside it when ``text`` starts or ends
    with a backtick or a space (CommonMark strips one on each side). In a table a ``|`` is
    written ``\\|`` (GFM reads it back as ``|``, also inside code)."""
    flat = _NEWLINES.sub(" ", str(text))
    if in_table:
        flat = flat.replace("|", "\\|")
    fence = _fence(flat, 1)
    pad = " " if flat[:1] in ("`", " ") or flat[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def code_block(lines: Iterable[str]) -> list[str]:
    """``lines`` as a fenced code block: the fence is longer than any backtick run in them, so
    no line of the content can close it."""
    body = [line for text in lines for line in _NEWLINES.split(str(text))]
    fence = _fence("\n".join(body), 3)
    return [fence, *body, fence]


#: In a rule's Markdown: a fenced code block (its fence at a line start), or a code span.
_CODE = re.compile(
    r"""(?msx)
    ^(?P<block>[ \t]*(?P<fence>`{3,})[^\n]*\n .*? ^[ \t]*(?P=fence)[ \t]*$)  # fenced block
    | (?P<span>(?P<tick>`+)(?!`) .+? (?<!`)(?P=tick)(?!`))  # code span
    """
)
_BLOCK = re.compile(
    r"""(?sx)
    ^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^\n]*)\n  # the opening fence and its info
    (?P<body>.*?)\n?[ \t]*(?P=fence)[ \t]*$
    """
)


def fill(template: str, values: dict[str, Any], fill_text: Callable[..., str]) -> str:
    """A rule's Markdown ``template`` with its fields filled from ``values`` by ``fill_text``
    (``fill_text(template, values, escape=...)``, the diagnosis' own filling), each value
    escaped for its place: :func:`inline` in running text; raw inside a code span or a code
    block, whose fence is then made longer than any backtick run the values brought in."""
    out: list[str] = []
    at = 0
    for match in _CODE.finditer(template):
        out.append(fill_text(template[at : match.start()], values, escape=inline))
        if match.group("block"):
            block = _BLOCK.match(match.group("block"))
            assert block is not None  # the same shape _CODE matched
            indent = block.group("indent")
            body = fill_text(block.group("body"), values, escape=_in_block(indent))
            fence, *lines, _ = code_block([body])
            out.append("\n".join([indent + fence + block.group("info"), *lines, indent + fence]))
        else:
            tick = match.group("tick")
            content = match.group("span")[len(tick) : -len(tick)]
            out.append(code_span(fill_text(content, values, escape=_as_code)))
        at = match.end()
    out.append(fill_text(template[at:], values, escape=inline))
    return "".join(out)


def _as_code(text: str) -> str:
    return text


def _in_block(indent: str) -> Callable[[str], str]:
    """A value's lines indented as the code block it goes in: a line indented less would end
    the list item holding the block, and the rest of the value would be read as Markdown."""
    return lambda text: _NEWLINES.sub("\n" + indent, text)
