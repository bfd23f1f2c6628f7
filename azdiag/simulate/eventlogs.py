"""Event logs and IIS logs of a simulated instance, in the forms support engineers bring.

Scenarios that need them (``InstanceSim.events`` / ``.requests`` / ``.http_errors`` filled by
the script) get: the Application log as ``wevtutil qe Application /f:xml`` output (data fields,
no rendered message, as from an .evtx), the System log as ``Get-WinEvent | Export-Csv`` (rendered
messages), the Windows Azure channel as ``wevtutil ... /rd:true`` XML (rendered messages) derived
from the bootstrapper's own steps (a second witness), W3SVC logs (one W3C file per UTC day)
and an HTTPERR log. A binary .evtx cannot be written here (see tests for the reader).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from azdiag.simulate import messages as m
from azdiag.simulate import timefmt as tf

_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
_LEVELS = {"Critical": 1, "Error": 2, "Warning": 3, "Information": 4}
_AZURE_PROVIDER = "Windows Azure Runtime 2.9"
_TASK = re.compile(r'Executing Startup Task type=\d+ rolemodule=\S+ cmd="(?P<cmd>[^"]+)"')
_TASK_OK = re.compile(
    r'(?:Program|Process) "(?P<cmd>[^"]+)" exited with (?:exit code )?0\b|'
    r"Startup task (?P<cmd2>\S+) exit code = 0\b"
)


@dataclass(frozen=True)
class SimEvent:
    """One simulated event record; ``data`` are EventData values (name, value), name "" for an
    unnamed ``<Data>``; ``message`` the rendered text."""

    t: int  # ms since the epoch
    channel: str
    provider: str
    event_id: int
    level: str
    message: str
    data: tuple[tuple[str, str], ...] = ()


def computer_name(seed: int) -> str:
    """The simulated VM's computer name (Azure names them RD + hex)."""
    return f"RD{seed % 0xFFFFFFFF:08X}"


# -- the events scenarios add ----------------------------------------------------------------


def clr_crash(t: int, exe: str, exception: str, frames: Iterable[str]) -> list[SimEvent]:
    """.NET Runtime 1026 then Application Error 1000 for a managed crash of ``exe``."""
    text = "\n".join(
        [
            f"Application: {exe}",
            "Framework Version: v4.0.30319",
            "Description: The process was terminated due to an unhandled exception.",
            f"Exception Info: {exception}",
            *(f"   at {frame}" for frame in frames),
        ]
    )
    fault = [
        ("", exe),
        ("", "2.9.6504.34"),
        ("", "5c8f2e55"),
        ("", "KERNELBASE.dll"),
        ("", "10.0.14393.5127"),
        ("", "625f9c2b"),
        ("", "e0434352"),
    ]
    return [
        SimEvent(t, "Application", ".NET Runtime", 1026, "Error", text, (("", text),)),
        SimEvent(t + 120, "Application", "Application Error", 1000, "Error", "", tuple(fault)),
    ]


def was_event(t: int, event_id: int, pool: str, pid: int) -> SimEvent:
    """WAS 5009 (worker crashed), 5011 (lost its channel) or 5002 (pool disabled)."""
    texts = {
        5009: f"A process serving application pool '{pool}' terminated unexpectedly. "
        f"The process id was '{pid}'. The process exit code was '0xe0434352'.",
        5011: f"A process serving application pool '{pool}' suffered a fatal communication "
        f"error with the Windows Process Activation Service. The process id was '{pid}'.",
        5002: f"Application pool '{pool}' is being automatically disabled due to a series of "
        "failures in the process(es) serving that application pool.",
    }
    level = "Error" if event_id == 5002 else "Warning"
    return SimEvent(t, "System", "Microsoft-Windows-WAS", event_id, level, texts[event_id])


def agent_shutdown(t: int, computer: str) -> SimEvent:
    """USER32 1074: the guest agent restarts Windows (a planned platform restart)."""
    text = (
        rf"The process D:\Packages\GuestAgent\WaAppAgent.exe ({computer}) has initiated the "
        rf"restart of computer {computer} on behalf of user NT AUTHORITY\SYSTEM for the "
        "following reason: Legacy API shutdown\nReason Code: 0x80070000\nShutdown Type: restart\n"
        "Comment: "
    )
    return SimEvent(t, "System", "User32", 1074, "Information", text)


def azure_channel(
    agent_starts: Iterable[int], boot_records: Iterable[tuple[int, str]]
) -> list[SimEvent]:
    """The Windows Azure channel's witness of the start-up: 20001 at each agent start, 10001 /
    10002 for each startup task started / finished with 0, 10003 / 10004 around IIS
    configuration (from the bootstrapper's records ``(time, message)``)."""

    def azure(t: int, event_id: int, text: str) -> SimEvent:
        return SimEvent(t, "Windows Azure", _AZURE_PROVIDER, event_id, "Information", text)

    events = [azure(t + 50, 20001, "The guest agent has been initialized.") for t in agent_starts]
    for t, msg in boot_records:
        if m.IISCFG in msg and "/start" in msg:
            if msg.startswith("Executing"):
                events.append(azure(t + 5, 10003, "IIS configuration started."))
            elif re.search(r"\b(?:with|=) 0\b|code 0\b", msg):
                events.append(azure(t + 5, 10004, "IIS configuration finished."))
            continue
        if m.IISCFG in msg:
            continue
        started = _TASK.search(msg)
        if started:
            events.append(azure(t + 5, 10001, f"Startup task started: {started['cmd']}"))
            continue
        done = _TASK_OK.search(msg)
        if done:
            cmd = done["cmd"] or done["cmd2"]
            events.append(azure(t + 5, 10002, f"Startup task finished successfully: {cmd}"))
    return events


# -- the files ---------------------------------------------------------------------------------


def xml_export(events: Iterable[SimEvent], computer: str, *, rendered: bool) -> str:
    """``wevtutil qe <log> /f:xml`` output: one ``<Event>`` per line, no root element."""
    lines = []
    for record, ev in enumerate(sorted(events, key=lambda e: e.t), start=1):
        stamp = tf.iso(ev.t).replace("Z", "0000Z")
        system = (
            f"<System><Provider Name={quoteattr(ev.provider)}/>"
            f"<EventID Qualifiers='0'>{ev.event_id}</EventID><Level>{_LEVELS[ev.level]}</Level>"
            f"<Task>0</Task><Keywords>0x80000000000000</Keywords>"
            f"<TimeCreated SystemTime='{stamp}'/><EventRecordID>{record}</EventRecordID>"
            f"<Execution ProcessID='0' ThreadID='0'/><Channel>{escape(ev.channel)}</Channel>"
            f"<Computer>{computer}</Computer><Security/></System>"
        )
        data = "".join(
            f"<Data Name={quoteattr(name)}>{escape(value)}</Data>"
            if name
            else f"<Data>{escape(value)}</Data>"
            for name, value in ev.data
        )
        body = f"<EventData>{data}</EventData>" if ev.data else ""
        if rendered or not ev.data:
            body += (
                f"<RenderingInfo Culture='en-US'><Message>{escape(ev.message)}</Message>"
                f"<Level>{ev.level}</Level></RenderingInfo>"
            )
        lines.append(f"<Event xmlns='{_NS}'>{system}{body}</Event>")
    return "\r\n".join(lines) + "\r\n"


def csv_export(events: Iterable[SimEvent], computer: str) -> str:
    """``Get-WinEvent -LogName System | Export-Csv`` (Windows PowerShell 5.1, en-US times)."""
    out = io.StringIO()
    out.write("#TYPE System.Diagnostics.Eventing.Reader.EventLogRecord\r\n")
    columns = [
        "Message",
        "Id",
        "Level",
        "RecordId",
        "ProviderName",
        "LogName",
        "ProcessId",
        "ThreadId",
        "MachineName",
        "TimeCreated",
        "LevelDisplayName",
    ]
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(columns)
    for record, ev in enumerate(sorted(events, key=lambda e: e.t), start=1):
        when = tf.to_datetime(ev.t)
        stamp = f"{when.month}/{when.day}/{when.year} {when:%I:%M:%S %p}".replace(" 0", " ", 1)
        writer.writerow(
            [
                ev.message.replace("\n", "\r\n"),
                ev.event_id,
                _LEVELS[ev.level],
                record,
                ev.provider,
                ev.channel,
                0,
                0,
                computer,
                stamp,
                ev.level,
            ]
        )
    return out.getvalue()


def w3svc_days(requests: list[tuple[int, str, int, int]], site: str) -> dict[str, str]:
    """W3C logs per UTC day (``u_exYYMMDD.log``) for requests ``(t, uri, status, ms)``."""
    files: dict[str, list[str]] = {}
    fields = (
        "#Fields: date time s-sitename s-ip cs-method cs-uri-stem cs-uri-query s-port "
        "cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status "
        "time-taken"
    )
    for t, uri, status, taken in sorted(requests):
        when = tf.to_datetime(t)
        name = f"u_ex{when:%y%m%d}.log"
        lines = files.setdefault(
            name,
            [
                "#Software: Microsoft Internet Information Services 10.0",
                "#Version: 1.0",
                f"#Date: {when:%Y-%m-%d %H:%M:%S}",
                fields,
            ],
        )
        lines.append(
            f"{when:%Y-%m-%d %H:%M:%S} {site} 10.0.0.4 GET {uri} - 80 - 168.63.129.16 "
            f"Load+Balancer+Agent - {status} 0 0 {taken}"
        )
    return {name: "\r\n".join(lines) + "\r\n" for name, lines in files.items()}


def httperr_log(errors: list[tuple[int, int, str]], queue: str) -> str:
    """An HTTPERR log for requests HTTP.sys answered itself: ``(t, status, reason)``."""
    lines = [
        "#Software: Microsoft HTTP API 2.0",
        "#Version: 1.0",
        f"#Date: {tf.to_datetime(min(t for t, _, _ in errors)):%Y-%m-%d %H:%M:%S}",
        "#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri sc-status "
        "s-siteid s-reason s-queuename",
    ]
    for t, status, reason in sorted(errors):
        when = tf.to_datetime(t)
        lines.append(
            f"{when:%Y-%m-%d %H:%M:%S} 168.63.129.16 {50000 + t % 9000} 10.0.0.4 80 HTTP/1.1 "
            f"GET / {status} 1 {reason} {queue}"
        )
    return "\r\n".join(lines) + "\r\n"
