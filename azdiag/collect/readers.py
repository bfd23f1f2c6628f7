"""Sources that are not line logs: event logs and IIS logs, turned into text a format parses.

A format whose definition names a ``reader`` (``parsers/windows-eventlog.toml``:
``reader = "windows-event-log"``; ``parsers/iis-*.toml``: ``reader = "w3c-summary"``) is not
parsed from the file's own lines: the reader turns the file into the canonical text that format's
headers read (:mod:`azdiag.collect.eventlog`, :mod:`azdiag.collect.iislog`), and says how
much of the *original* it understood, so the inventory's coverage is about the file, not about
the text made from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from azdiag.collect import eventlog, iislog
from azdiag.collect.decode import Decoded, decode

if TYPE_CHECKING:  # collect imports this module to sniff
    from azdiag.collect.discover import LogSource
    from azdiag.knowledge.formats import LogFormat

#: reader name -> the format ids it serves, found by content when a file's name says nothing
SNIFFED_FORMATS = {
    "evtx": "windows-eventlog",
    "xml": "windows-eventlog",
    "csv": "windows-eventlog",
    "w3svc": "iis-w3svc",
    "httperr": "iis-httperr",
}


@dataclass
class Coverage:
    """How much of the original file the reader understood (records or lines)."""

    lines: int  # records of an event log, lines of an IIS log
    unread: int  # of those, not understood
    examples: list[tuple[int, str]] = field(default_factory=list)
    note: str = ""  # what the file became, for the inventory's warnings


@dataclass
class Loaded:
    """A source ready to parse: its (canonical) text, and its coverage when a reader made it."""

    decoded: Decoded
    coverage: Coverage | None = None


def sniff(head: bytes) -> str | None:
    """The format id of an event log or IIS log recognised by its first bytes, else None."""
    form = eventlog.sniff(head) or iislog.sniff(head)
    return SNIFFED_FORMATS.get(form) if form else None


def load(source: LogSource, fmt: LogFormat) -> Loaded:
    """The text to parse for ``source``: its own (decoded) lines, or what ``fmt``'s reader
    makes of it. Raises what reading the file raises (:class:`eventlog.EventLogError` for an
    event log that cannot be read at all)."""
    reader = fmt.raw.get("reader")
    if reader is None:
        return Loaded(source.load())
    raw = source.read_bytes()
    if reader == "windows-event-log":
        return _event_log(raw)
    if reader == "w3c-summary":
        return _iis_log(raw, "httperr" if fmt.id == "iis-httperr" else "w3svc")
    raise ValueError(f"{fmt.source_file}: unknown reader {reader!r}")


def _event_log(raw: bytes) -> Loaded:
    decoded = None if raw.startswith(eventlog.EVTX_MAGIC) else decode(raw)
    events = eventlog.read(raw, decoded.text if decoded else None)
    text = events.text()
    total = len(events.records) + events.unread
    examples = [(0, problem) for problem in events.problems]
    note = f"{events.form}: {len(events.records)} event record(s) read"
    if events.unread:
        note += f", {events.unread} could not be read ({'; '.join(events.problems[:2])})"
    out = Decoded(text, decoded.encoding if decoded else "evtx")
    out.warnings += decoded.warnings if decoded else []
    return Loaded(out, Coverage(total, events.unread, examples, note))


def _iis_log(raw: bytes, kind: str) -> Loaded:
    decoded = decode(raw)
    summary = iislog.summarise(decoded.data, kind)
    minutes = summary.text.count(b"\n")
    note = f"{summary.requests} request line(s) summarised into {minutes} minute(s)"
    out = Decoded(summary.text, decoded.encoding, warnings=list(decoded.warnings))
    return Loaded(out, Coverage(summary.lines, summary.unread, summary.examples, note))
