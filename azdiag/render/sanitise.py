"""Text from logs made harmless where it is shown: a terminal, a spreadsheet.

Logs and file names come from strangers' machines. A log line holding an escape sequence could
retitle, clear or rewrite the engineer's terminal (OSC and CSI sequences), and a CSV cell starting
with ``=`` runs as a formula when the summary is opened in a spreadsheet. So every name and text
the CLI prints passes through :func:`for_terminal`, and every CSV cell through :func:`csv_cell`.
"""

from __future__ import annotations

from typing import Any

#: C0 controls except tab and newline, DEL, the C1 controls (U+0080-U+009F: CSI is U+009B),
#: and the bidirectional overrides that can make a line read differently from what it holds.
_UNSAFE = [
    *(c for c in range(0x20) if c not in (0x09, 0x0A)),
    *range(0x7F, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
# \u escapes above ASCII: also valid inside the JSON a page embeds, so a page stays whole.
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x7F else f"\\u{c:04x}" for c in _UNSAFE}


def for_terminal(text: str) -> str:
    """``text`` with every control character and escape sequence shown escaped (``\\x1b``).

    Tabs and newlines stay; a carriage return is escaped (it would let a line overwrite the
    one before it). Lone surrogates (undecodable bytes of a file name) become ``\\udcff``.
    """
    safe = text.translate(_ESCAPES)
    if safe.isascii():
        return safe
    return safe.encode("utf-8", errors="backslashreplace").decode("utf-8")


#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` before a formula character.

    Numbers are left alone (a negative number is data, not a formula); any other value is text.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
