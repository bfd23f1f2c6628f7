"""Log files as sparse event records plus dense "fill" streams, merged in time order on write.

Scenarios add a few hundred records (state changes, stack traces); the high-volume periodic
lines (heartbeats, health probes, status checks) are produced by fills straight into formatted
strings, so small fixtures and multi-GB benchmark collections share one code path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from azdiag.simulate import timefmt as tf

# Canonical levels -> the spelling of each log family.
_AGENT_LEVEL = {"INFO": "INFO", "WARN": "WARN", "ERROR": "ERROR", "CRIT": "ERROR"}
_AGENT_LEVEL |= {"HEART": "HEART", "TRACE": "TRACE", "VERB": "TRACE"}
_BOOT_LEVEL = {"INFO": "INFO ", "WARN": "WARN ", "ERROR": "ERROR", "CRIT": "ERROR"}
_BOOT_LEVEL |= {"VERB": "INFO ", "TRACE": "INFO ", "HEART": "INFO "}
_TRACE_LEVEL = {"INFO": "Information", "WARN": "Warning", "ERROR": "Error", "CRIT": "Critical"}
_TRACE_LEVEL |= {"VERB": "Verbose", "TRACE": "Verbose", "HEART": "Information"}

# Agent line styles. QUOTED ("[WARN]  msg") and BARE (the message alone) are lines quoted
# without thread and time (log-formats.md §7).
NORMAL, ONE_SPACE, ISO, ISO_FRAC, NO_THREAD, QUOTED, BARE = 0, 1, 2, 3, 4, 5, 6
#: Bootstrapper trace masks written where the level word stands (log-formats.md §7).
MASK_MESSAGE, MASK_TRACE = "00040000", "00100000"
# Trace line styles.
TIMED, UNTIMED = 0, 1


@dataclass(slots=True)
class Rec:
    """One record: a header line plus continuation lines (stack traces, JSON, banners)."""

    t: int
    seq: int
    level: str
    msg: str
    cont: tuple[str, ...] = ()
    style: int = NORMAL
    pid: int = 0
    tid: int = 0
    shown: int | None = None  # displayed time when it differs (out-of-order lines)
    glued: bool = False  # written on the line of the record before it (pasted traces)


class Fill(Protocol):
    """A dense periodic stream; ``until(t)`` returns the formatted lines timed before ``t``."""

    lines: int
    start: int

    def until(self, limit: int) -> list[str]: ...


@dataclass
class LogFile:
    """A log being simulated: its path in the collection, grammar family and records."""

    path: str
    kind: str  # "agent", "boot", "trace", "tracepid", "hostblock", "plugin"
    source: str = ""  # TraceSource name for "trace"/"tracepid"/"plugin"
    encoding: str = "utf-8"  # "utf-8", "utf-8-sig" or "utf-16" (LE with BOM)
    recs: list[Rec] = field(default_factory=list)
    fill: Fill | None = None
    lines: int = 0
    mask: bool = False  # "boot"/"hostblock": hex trace mask instead of the level word
    untimed: bool = False  # "trace": no time on any line

    def add(
        self,
        t: int,
        level: str,
        msg: str,
        cont: tuple[str, ...] | list[str] = (),
        *,
        style: int = NORMAL,
        pid: int = 0,
        tid: int = 0,
    ) -> Rec:
        """Append a record; records may be added out of time order (sorted on write)."""
        rec = Rec(t, len(self.recs), level, msg, tuple(cont), style, pid, tid)
        self.recs.append(rec)
        return rec

    @property
    def last_t(self) -> int:
        return max((r.t for r in self.recs), default=0)

    def format(self, rec: Rec) -> str:
        """Render one record with CRLF line ends."""
        t = rec.t if rec.shown is None else rec.shown
        if self.kind == "agent":
            lvl = _AGENT_LEVEL.get(rec.level, rec.level)
            sp = " " if rec.style == ONE_SPACE or len(lvl) > 4 else "  "  # column-aligned
            head = agent_head(rec.style, t, rec.tid, lvl, sp)
        elif self.kind in ("boot", "hostblock"):
            if self.mask:
                lvl = MASK_TRACE if rec.msg.startswith("<- ") else MASK_MESSAGE
            else:
                lvl = _BOOT_LEVEL[rec.level]
            head = f"[{rec.pid:08d}:{rec.tid:08d}, {tf.boot_ts(t)}, {lvl}] "
        elif self.kind == "plugin":
            head = f"{self.source} {_TRACE_LEVEL[rec.level]}: 0 : [{tf.plugin_ts(t)}] "
        elif self.kind == "tracepid":
            head = f"{self.source} {_TRACE_LEVEL[rec.level]}: 0 : "
            head += f"[{rec.pid:08d}:{rec.tid:08d}, {tf.boot_ts(t)}] "
        else:
            head = f"{self.source} {_TRACE_LEVEL[rec.level]}: 0 : "
            if rec.style != UNTIMED and not self.untimed:
                head += f"[{tf.trace_ts(t)}] "
        if not rec.cont:
            return head + rec.msg + "\r\n"
        return head + rec.msg + "\r\n" + "".join(c + "\r\n" for c in rec.cont)

    def render(self, end: int, write: Callable[[str], None]) -> int:
        """Merge records and fill in time order, stream them to ``write``; return line count."""
        recs = sorted(self.recs, key=lambda r: (r.t, r.seq))
        buf: list[str] = []
        lines = 0
        fill = self.fill
        for rec in recs:
            if fill is not None:
                buf.extend(fill.until(rec.t))
            text = self.format(rec)
            if rec.glued and buf and buf[-1].endswith("\r\n"):
                buf[-1] = buf[-1][:-2] + " "  # one physical line for both records
                lines -= 1
            buf.append(text)
            lines += 1 + len(rec.cont)
            if len(buf) > 20_000:
                write("".join(buf))
                buf.clear()
        if buf:
            write("".join(buf))
            buf.clear()
        if fill is not None:
            cursor = recs[-1].t if recs else fill.start
            while cursor < end:
                cursor = min(cursor + 6 * tf.HOUR_MS, end)
                chunk = fill.until(cursor)
                if chunk:
                    write("".join(chunk))
            lines += fill.lines
        self.lines = lines
        return lines


def agent_head(style: int, t: int, tid: int, lvl: str, sp: str) -> str:
    """The header of a guest-agent line in ``style`` (log-formats.md §1, §7)."""
    if style in (ISO, ISO_FRAC):
        return f"[{tid:08d}] {tf.agent_iso(t, style == ISO_FRAC)} [{lvl}]{sp}"
    if style == NO_THREAD:
        return f"[{tf.agent_ts(t)}] [{lvl}]{sp}"
    if style == QUOTED:
        return f"[{lvl}]{sp}"
    if style == BARE:
        return ""
    return f"[{tid:08d}] [{tf.agent_ts(t)}] [{lvl}]{sp}"


class _Day:
    """Per-day date-string cache for the fill loops."""

    __slots__ = ("end", "start", "text", "which")

    def __init__(self, which: int) -> None:
        self.which, self.start, self.end, self.text = which, 0, 0, ""

    def at(self, t: int) -> None:
        self.start = t - t % tf.DAY_MS
        self.end = self.start + tf.DAY_MS
        self.text = tf._day(t // tf.DAY_MS)[self.which]
