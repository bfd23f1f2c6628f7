"""Windows event logs (``.evtx``, ``wevtutil qe /f:xml``, ``Export-Csv``) as timeline text.

Event logs are records, not lines: each has a time (UTC), a channel (``System``,
``Application``, ``Windows Azure``...), a provider (``USER32``, ``.NET Runtime``, ``WAS``...), an
event id, a level and its data (a rendered message, or named ``EventData`` values). This module
reads the three forms support engineers bring and writes every record as one line of a small
canonical text, which the ``windows-eventlog`` format (``parsers/windows-eventlog.toml``) parses
like any guest log, so its signatures, the timeline and the rules see event records as events::

    2024-03-14T09:30:01.123Z Error 3412:3520 [Application] .NET Runtime 1026: Application: w3wp.exe
    \tFramework Version: v4.0.30319

The message's further lines (a stack, one ``Name=value`` line per data field) follow, each
indented by a tab (continuation lines). Times are UTC: ``.evtx`` and XML carry ``SystemTime`` in
UTC; the CSV forms write the exporting machine's local time, which on an Azure guest is UTC.

The ``.evtx`` reader is the ``evtx`` package (Rust bindings of the parser Hayabusa and Chainsaw
use); each record comes back as XML and is read like ``wevtutil``'s output.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from dateutil import parser as dateparser

from azdiag.collect.decode import decode
from azdiag.common.times import iso

#: Windows level numbers (``System/Level``) and their words; 0 ("LogAlways") reads as information.
LEVEL_WORDS = {
    0: "Information",
    1: "Critical",
    2: "Error",
    3: "Warning",
    4: "Information",
    5: "Verbose",
}
#: Get-EventLog's EntryType words, as level words.
_ENTRY_TYPES = {
    "error": "Error",
    "warning": "Warning",
    "information": "Information",
    "successaudit": "Information",
    "failureaudit": "Warning",
    "critical": "Critical",
    "verbose": "Verbose",
}
_EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
#: What a head of an event-log export looks like (for files whose name says nothing).
_XML_HEAD = re.compile(
    rb"<Event\s+xmlns=['\"]http://schemas\.microsoft\.com/win/2004/08/events/event"
)
_CSV_HEAD = re.compile(
    r"^(?:#TYPE System\.Diagnostics\.(?:EventLogEntry|Eventing\.Reader\.EventLogRecord)\S*\s*$"
    r'|"?(?:Message|EventID|Index)"?,.*"?(?:ProviderName|Source)"?)',
    re.MULTILINE,
)
EVTX_MAGIC = b"ElfFile\x00"


class EventLogError(ValueError):
    """The file is not a readable event log (the message says why)."""


@dataclass(frozen=True)
class EventRecord:
    """One event: when (UTC), where it was logged, what it says."""

    time: datetime
    channel: str
    provider: str
    event_id: int
    level: str  # Critical | Error | Warning | Information | Verbose
    text: str  # the rendered message, else the data fields, one per line
    pid: int | None = None
    tid: int | None = None

    def lines(self) -> str:
        """The record in the canonical text form (see the module doc), with a final newline."""
        ids = f"{self.pid}:{self.tid} " if self.pid is not None and self.tid is not None else ""
        first, *rest = _clean(self.text).split("\n") or [""]
        head = (
            f"{iso(self.time)} {self.level} {ids}[{_token(self.channel)}] "
            f"{_token(self.provider)} {self.event_id}: {first}"
        )
        return "\n".join([head, *(f"\t{line}" for line in rest)]) + "\n"


@dataclass
class ReadEvents:
    """The records of one file, and how many could not be read."""

    form: str  # "evtx" | "xml" | "csv"
    records: list[EventRecord]
    unread: int = 0
    problems: tuple[str, ...] = ()

    def text(self) -> bytes:
        """All records in time order as canonical text (UTF-8)."""
        ordered = sorted(self.records, key=lambda r: r.time)
        return "".join(r.lines() for r in ordered).encode("utf-8")


def sniff(head: bytes) -> str | None:
    """``"evtx"``, ``"xml"`` or ``"csv"`` when a file's first bytes are an event log, else None."""
    if head.startswith(EVTX_MAGIC):
        return "evtx"
    probe = head.replace(b"\x00", b"")[:8192]  # UTF-16 exports: the ASCII letters remain
    if _XML_HEAD.search(probe):
        return "xml"
    if _CSV_HEAD.search(probe.decode("utf-8", "replace")):
        return "csv"
    return None


def read(data: bytes, text: str | None = None) -> ReadEvents:
    """The records of an event-log file in any of the three forms.

    ``data`` is the raw file; ``text`` its decoded text when already at hand (XML and CSV).
    Raises :class:`EventLogError` when the file is none of them or cannot be read at all.
    """
    form = sniff(data[:65536])
    if form == "evtx":
        return read_evtx(data)
    if text is None:
        text = decode(data).text
    if form == "xml" or text.lstrip().startswith("<"):
        return read_xml(text)
    if form == "csv":
        return read_csv(text)
    raise EventLogError("neither an .evtx file nor an XML or CSV export of events")


def read_evtx(data: bytes) -> ReadEvents:
    """Records of a binary ``.evtx`` file (via the ``evtx`` package); damaged records are
    skipped and counted, a file the parser cannot open raises :class:`EventLogError`."""
    try:
        from evtx import PyEvtxParser
    except ImportError as exc:  # declared in pyproject; say so plainly if it is missing
        raise EventLogError("the 'evtx' package is not installed: pip install evtx") from exc
    records: list[EventRecord] = []
    problems: list[str] = []
    unread = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser = PyEvtxParser(io.BytesIO(data), number_of_threads=1, skip_errors=True)
            for item in parser.records():
                if not isinstance(item, dict):
                    continue
                try:
                    records.append(_from_xml(ET.fromstring(item["data"])))
                except (ET.ParseError, EventLogError, KeyError) as exc:
                    unread += 1
                    problems.append(f"record {item.get('event_record_id')}: {exc}")
        except (RuntimeError, OSError) as exc:
            if not records:
                raise EventLogError(f"not a readable .evtx file: {exc}") from exc
            problems.append(f"reading stopped early: {exc}")
    for warning in caught:
        unread += 1
        problems.append(str(warning.message))
    return ReadEvents("evtx", records, unread, tuple(problems[:5]))


def read_xml(text: str) -> ReadEvents:
    """Records of ``wevtutil qe <log> /f:xml`` output (``<Event>`` elements one after the other,
    with or without an ``<Events>`` root; ``/rd:true`` adds the rendered message)."""
    body = re.sub(r"<\?xml[^>]*\?>", "", text)
    try:
        root = ET.fromstring(f"<azdiag-events>{body}</azdiag-events>")
    except ET.ParseError as exc:
        raise EventLogError(f"not well-formed event XML: {exc}") from exc
    records, problems = [], []
    elements = list(_events(root))
    for element in elements:
        try:
            records.append(_from_xml(element))
        except EventLogError as exc:
            problems.append(str(exc))
    if not elements:
        raise EventLogError("no <Event> element in the XML")
    return ReadEvents("xml", records, len(problems), tuple(problems[:5]))


def read_csv(text: str) -> ReadEvents:
    """Records of ``Get-WinEvent ... | Export-Csv`` or ``Get-EventLog ... | Export-Csv``.

    Get-WinEvent columns: ``TimeCreated``, ``ProviderName``, ``Id``, ``LevelDisplayName`` (or
    ``Level``), ``LogName``, ``ProcessId``, ``ThreadId``, ``Message``. Get-EventLog columns:
    ``TimeGenerated``, ``Source``, ``EventID`` (or ``InstanceId``), ``EntryType``, ``Message``
    (no channel: written as ``-``). A ``#TYPE`` first line is skipped.
    """
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("#TYPE"):
        lines = lines[1:]
    reader = csv.DictReader(io.StringIO("".join(lines)))
    records, problems = [], []
    for row in reader:
        try:
            records.append(_from_csv_row(row))
        except (EventLogError, ValueError, OverflowError) as exc:
            problems.append(f"row {reader.line_num}: {exc}")
    if not records and not problems:
        raise EventLogError("no event rows in the CSV")
    return ReadEvents("csv", records, len(problems), tuple(problems[:5]))


# -- one record ----------------------------------------------------------------------------


def _events(root: ET.Element) -> Iterator[ET.Element]:
    for element in root.iter():
        if _local(element.tag) == "Event" and element.find(f"{_EVENT_NS}System") is not None:
            yield element


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _from_xml(event: ET.Element) -> EventRecord:
    system = event.find(f"{_EVENT_NS}System")
    if system is None:
        raise EventLogError("an <Event> without <System>")

    def child(name: str) -> ET.Element | None:
        return system.find(f"{_EVENT_NS}{name}")

    provider = child("Provider")
    created = child("TimeCreated")
    when = created.get("SystemTime") if created is not None else None
    event_id = child("EventID")
    if not when or event_id is None or not (event_id.text or "").strip():
        raise EventLogError("an <Event> without TimeCreated/SystemTime or EventID")
    execution = child("Execution")
    level = child("Level")
    level_text = (level.text or "") if level is not None else ""
    level_number = int(level_text) if level_text.isdigit() else 4
    name = ""
    if provider is not None:
        name = provider.get("EventSourceName") or provider.get("Name") or ""
    channel = child("Channel")
    return EventRecord(
        time=_utc(dateparser.isoparse(when)),
        channel=(channel.text or "").strip() if channel is not None else "",
        provider=name,
        event_id=int((event_id.text or "0").strip()),
        level=LEVEL_WORDS.get(level_number, "Information"),
        text=_xml_message(event),
        pid=_int(execution.get("ProcessID")) if execution is not None else None,
        tid=_int(execution.get("ThreadID")) if execution is not None else None,
    )


def _xml_message(event: ET.Element) -> str:
    """The rendered message (``/rd:true``) when there is one, else the event's data fields."""
    rendering = event.find(f"{_EVENT_NS}RenderingInfo")
    if rendering is not None:
        message = rendering.find(f"{_EVENT_NS}Message")
        if message is not None and (message.text or "").strip():
            return message.text or ""
    for section in ("EventData", "UserData"):
        data = event.find(f"{_EVENT_NS}{section}")
        if data is not None:
            return _data_fields(data)
    return ""


def _data_fields(data: ET.Element) -> str:
    """``EventData`` as text: a lone unnamed value as it is (the .NET Runtime's whole text),
    else one ``Name=value`` line per field (unnamed ones as ``Data1``, ``Data2``...)."""
    items = [e for e in data.iter() if e is not data and len(e) == 0]
    values = [(e.get("Name") or _local(e.tag), (e.text or "").strip()) for e in items]
    if len(values) == 1 and values[0][0] == "Data":
        return values[0][1]
    numbered = []
    for index, (name, value) in enumerate(values, start=1):
        numbered.append(f"{f'Data{index}' if name == 'Data' else name}={value}")
    return "\n".join(numbered)


def _from_csv_row(row: dict[str, str | None]) -> EventRecord:
    def get(*names: str) -> str:
        for name in names:
            value = row.get(name)
            if value not in (None, ""):
                return str(value)
        return ""

    when = get("TimeCreated", "TimeGenerated", "TimeWritten")
    event_id = get("Id", "EventID", "EventId")
    if not when or not event_id.lstrip("-").isdigit():
        raise EventLogError("a row without a time or an event id")
    level = get("LevelDisplayName", "EntryType")
    number = get("Level")
    if level:
        level = _ENTRY_TYPES.get(level.lower().replace(" ", ""), level)
    else:
        level = LEVEL_WORDS.get(int(number), "Information") if number.isdigit() else "Information"
    # Get-EventLog's EventID keeps the qualifier bits off; InstanceId has them (1026 is 1026)
    return EventRecord(
        time=_utc(dateparser.parse(when)),
        channel=get("LogName", "ContainerLog") or "-",
        provider=get("ProviderName", "Source"),
        event_id=int(event_id) & 0xFFFF,
        level=level if level in _ENTRY_TYPES.values() else "Information",
        text=get("Message") or get("ReplacementStrings"),
        pid=_int(get("ProcessId")),
        tid=_int(get("ThreadId")),
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _clean(text: str) -> str:
    """One line end style, no trailing blanks, no empty lines (they would end the record)."""
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line.strip()) or "-"


def _token(value: str) -> str:
    """A channel or provider name fit for its place in the line (no brackets, no line ends)."""
    return re.sub(r"[\[\]\r\n\t]+", " ", value).strip() or "-"
