"""The dense periodic streams: guest-agent heartbeats and state reports, bootstrapper health
probes, host status checks. Written as tight loops over cached strings because they are 95% of
a large collection's lines (the brief asks for >= 1M lines/s)."""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random

from azdiag.simulate import timefmt as tf
from azdiag.simulate.logs import MASK_MESSAGE, MASK_TRACE, NORMAL, _Day, agent_head

TWO, THREE = tf.TWO, tf.THREE
_EXEC = {
    "Ready": "Succeeded",
    "Busy": "InProgress",
    "Recycling": "Failed",
    "Stopping": "InProgress",
}
_AGENT_NOISE = (
    ("TRACE", "Goal state is current; nothing to do."),
    ("INFO", "Checking for guest agent updates. None available."),
    ("WARN", "Slow response from the host agent: {ms} ms."),
    ("INFO", "Role instance {iid} health report sent to the fabric."),
)


@dataclass
class AgentWindow:
    """A stretch during which one guest-agent process is alive and heartbeating."""

    start: int
    end: int
    tid_heart: int
    tid_status: int


class AgentFill:
    """WaAppAgent.log heartbeats (2-3 s), periodic state reports (15-60 s) and rare noise."""

    def __init__(
        self,
        rng: Random,
        windows: list[AgentWindow],
        status: list[tuple[int, str, str]],
        full_iid: str,
        iso_share: float,
        incarnation: int = 3,
        style: int = NORMAL,
    ) -> None:
        self.rng, self.windows, self.status = rng, windows, status
        self.style = style  # the collection's agent line style (variants.agent_time)
        self.full_iid, self.iso, self.inc = full_iid, iso_share, incarnation
        self.lines = 0
        self.start = windows[0].start if windows else 0
        self.w = 0
        self.t = self.start
        self.next_rep = self.start + 5000
        self.next_noise = self.start + 120_000
        self.si = -1
        self.next_iso = 1 << 62
        self.spans: list[list[int]] = []  # [first, last] heartbeat time per window
        self.day = _Day(0)
        self._variants: dict[int, tuple[str, str, str]] = {}

    def _report(self, t: int, tid: int) -> list[str]:
        status = self.status
        while self.si + 1 < len(status) and status[self.si + 1][0] <= t:
            self.si += 1
        if self.si < 0:
            return []
        texts = self._variants.get(self.si)
        if texts is None:
            _, state, detail = status[self.si]
            texts = (
                f"Role {self.full_iid} is reporting state {state}.",
                f"Role {self.full_iid} has current state {state}, desired state Started, "
                f"and goal state execution status {_EXEC.get(state, 'InProgress')}.",
                f"Reporting status: {state} ({detail})" if detail else "",
            )
            self._variants[self.si] = texts
        rnd = self.rng.random()
        head = agent_head(self.style, t, tid, "INFO", "  ")
        out = [head + texts[0 if rnd < 0.5 else 1] + "\r\n"]
        if texts[2] and rnd > 0.8:
            out.append(head + texts[2] + "\r\n")
        return out

    def _noise(self, t: int, tid: int) -> str:
        level, text = _AGENT_NOISE[int(self.rng.random() * len(_AGENT_NOISE))]
        text = text.format(inc=self.inc, ms=800 + int(self.rng.random() * 2000), iid=self.full_iid)
        sp = " " if len(level) > 4 else "  "
        return f"{agent_head(self.style, t, tid, level, sp)}{text}\r\n"

    def _next_iso(self, t: int) -> int:
        if not self.iso:
            return 1 << 62
        return t + int(2500 / self.iso * (0.5 + self.rng.random()))

    def until(self, limit: int) -> list[str]:
        hms = tf.hms_table()
        out: list[str] = []
        ap = out.append
        rnd = self.rng.random
        day = self.day
        wins = self.windows
        style, styled = self.style, self.style != NORMAL
        beat = "WindowsAzureGuestAgent Heartbeat.\r\n"
        n = 0
        while self.w < len(wins):
            win = wins[self.w]
            t = self.t
            if t >= win.end:
                self.w += 1
                if self.w < len(wins):
                    self.t = wins[self.w].start + int(rnd() * 1500)
                    self.next_rep = self.t + 3000
                    self.next_noise = self.t + 60_000 + int(rnd() * 400_000)
                continue
            seg_end = min(limit, win.end)
            if t >= seg_end:
                break
            if len(self.spans) <= self.w:
                self.spans.append([t, t])
                self.next_iso = self._next_iso(t)
            pre = f"[{win.tid_heart:08d}] ["
            tail = "] [HEART] WindowsAzureGuestAgent Heartbeat.\r\n"
            last = t
            nxt = min(self.next_rep, self.next_noise, self.next_iso)
            day_end, day_start, dtext = day.end, day.start, day.text
            while t < seg_end:
                if t >= day_end:
                    day.at(t)
                    day_end, day_start, dtext = day.end, day.start, day.text
                r = t - day_start
                n += 1
                if t < nxt and styled:
                    ap(f"{agent_head(style, t, win.tid_heart, 'HEART', ' ')}{beat}")
                    last = t
                    t += 2000 + int(rnd() * 1000)
                    continue
                if t < nxt:  # the hot path: a plain heartbeat
                    ap(f"{pre}{dtext} {hms[r // 1000]}.{TWO[r % 1000 // 10]}{tail}")
                    last = t
                    t += 2000 + int(rnd() * 1000)
                    continue
                if t >= self.next_iso:
                    ap(f"[{win.tid_heart:08d}] {tf.agent_iso(t)} [HEART] WindowsAzureGuestAgent")
                    ap(" Heartbeat.\r\n")
                    self.next_iso = self._next_iso(t)
                elif styled:
                    ap(f"{agent_head(style, t, win.tid_heart, 'HEART', ' ')}{beat}")
                else:
                    ap(f"{pre}{dtext} {hms[r // 1000]}.{TWO[r % 1000 // 10]}{tail}")
                if t >= self.next_rep:
                    rt = t + 20 + int(rnd() * 400)
                    lines = self._report(rt if rt < seg_end else t, win.tid_status)
                    out.extend(lines)
                    n += len(lines)
                    self.next_rep = t + 15_000 + int(rnd() * 45_000)
                if t >= self.next_noise:
                    ap(self._noise(t + 500 if t + 500 < seg_end else t, win.tid_status))
                    n += 1
                    self.next_noise = t + 240_000 + int(rnd() * 480_000)
                nxt = min(self.next_rep, self.next_noise, self.next_iso)
                last = t
                t += 2000 + int(rnd() * 1000)
            self.spans[self.w][1] = last
            self.t = t
            if t < win.end:
                break
        self.lines += n
        return out


@dataclass
class HostRun:
    """A host process alive between ``start`` and ``end``, with its health status changes."""

    start: int
    end: int
    pid: int
    tid: int
    exe: str
    ready_at: int | None = None  # probes and status checks begin once the role is Ready
    codes: list[tuple[int, int]] = field(default_factory=list)  # (time, 0 ready / 1 busy)


def _ready_runs(runs: list[HostRun]) -> list[HostRun]:
    return [r for r in runs if r.ready_at is not None and r.ready_at < r.end]


def _code_at(codes: list[tuple[int, int]], t: int) -> int:
    code = 0
    for ct, c in codes:
        if ct <= t:
            code = c
    return code


class ProbeFill:
    """Bootstrapper health probes of the running host process, every 5-15 s."""

    def __init__(
        self,
        rng: Random,
        pid: int,
        tid: int,
        runs: list[HostRun],
        two_line: bool,
        mask: bool = False,
    ) -> None:
        self.rng, self.pid, self.tid, self.two_line = rng, pid, tid, two_line
        # the level field: padded words, or the hex trace masks (variants.boot_level)
        self.info = f"{MASK_MESSAGE}]" if mask else "INFO ]"
        self.error = f"{MASK_TRACE}]" if mask else "ERROR]"
        self.runs = _ready_runs(runs)
        self.start = self.runs[0].ready_at or 0 if self.runs else 0
        self.lines = 0
        self.i = 0
        self.t = self.start + 3000
        self.next_trace = self.start + 1_200_000
        self.day = _Day(1)

    def until(self, limit: int) -> list[str]:
        hms = tf.hms_table()
        out: list[str] = []
        ap = out.append
        rnd = self.rng.random
        day = self.day
        n = 0
        pre = f"[{self.pid:08d}:{self.tid:08d}, "
        while self.i < len(self.runs):
            run = self.runs[self.i]
            if self.t >= run.end:
                self.i += 1
                if self.i < len(self.runs):
                    self.t = (self.runs[self.i].ready_at or 0) + 3000
                continue
            seg_end = min(limit - 50, run.end)  # replies (+<50 ms) stay before the next record
            t = self.t
            info = self.info
            ask = f"{info} Getting status from client {run.exe} ({run.pid}).\r\n"
            busy_from = min((ct for ct, c in run.codes if c), default=None)
            while t < seg_end:
                if t >= day.end:
                    day.at(t)
                code = 0 if busy_from is None or t < busy_from else _code_at(run.codes, t)
                r = t - day.start
                if self.two_line:
                    ap(f"{pre}{day.text}, {hms[r // 1000]}.{THREE[r % 1000]}, {ask}")
                    r2 = min(r + 1 + int(rnd() * 25), 86_399_999)
                    ap(f"{pre}{day.text}, {hms[r2 // 1000]}.{THREE[r2 % 1000]}, ")
                    ap(f"{info} Client reported status {code}.\r\n")
                    n += 2
                else:
                    word = "Busy" if code else "Ready"
                    ap(f"{pre}{day.text}, {hms[r // 1000]}.{THREE[r % 1000]}, {info} ")
                    ap(f"Client {run.exe} ({run.pid}) reported status {word}\r\n")
                    n += 1
                if t >= self.next_trace:
                    r = min(r + 30, 86_399_999)
                    ap(f"{pre}{day.text}, {hms[r // 1000]}.{THREE[r % 1000]}, ")
                    ap(f"{self.error} <- WapGetRoleStatus=0x1\r\n")
                    n += 1
                    self.next_trace = t + 1_200_000 + int(rnd() * 2_400_000)
                t += 5000 + int(rnd() * 10_000)
            self.t = t if t >= limit or t >= run.end else limit + 1
            if t < run.end:
                break
        self.lines += n
        return out


class HostCheckFill:
    """StatusCheck events in the host log (WaIISHost/WaWorkerHost), every 20-40 s.

    ``kind`` is the host log's line shape (``LogFile.kind``): "trace" (TraceSource +
    ``[MM/DD/YY time]``, or no time with ``untimed``), "tracepid" (TraceSource +
    ``[pid:tid, date, time]``) or "hostblock" (``[pid:tid, date, time, LEVEL]``)."""

    def __init__(
        self, rng: Random, runs: list[HostRun], source: str, kind: str, untimed: bool = False
    ) -> None:
        self.rng, self.source, self.kind, self.untimed = rng, source, kind, untimed
        self.runs = _ready_runs(runs)
        self.start = self.runs[0].ready_at or 0 if self.runs else 0
        self.lines = 0
        self.i = 0
        self.t = self.start + 10_000
        self.day = _Day(3 if kind == "trace" else 1)

    def _heads(self, run: HostRun, r: int, r2: int) -> tuple[str, str]:
        hms, text = tf.hms_table(), self.day.text
        if self.kind == "trace":
            if self.untimed:
                pre = f"{self.source} Information: 0 : "
                return pre, pre
            pre = f"{self.source} Information: 0 : ["
            return (
                f"{pre}{text} {hms[r // 1000]}.{TWO[r % 1000 // 10]}] ",
                f"{pre}{text} {hms[r2 // 1000]}.{TWO[r2 % 1000 // 10]}] ",
            )
        pre = f"[{run.pid:08d}:{run.tid:08d}, "
        if self.kind == "tracepid":
            pre = f"{self.source} Information: 0 : {pre}"
            end = "] "
        else:
            end = ", INFO ] "
        return (
            f"{pre}{text}, {hms[r // 1000]}.{THREE[r % 1000]}{end}",
            f"{pre}{text}, {hms[r2 // 1000]}.{THREE[r2 % 1000]}{end}",
        )

    def until(self, limit: int) -> list[str]:
        out: list[str] = []
        ap = out.append
        rnd = self.rng.random
        day = self.day
        n = 0
        while self.i < len(self.runs):
            run = self.runs[self.i]
            if self.t >= run.end:
                self.i += 1
                if self.i < len(self.runs):
                    self.t = (self.runs[self.i].ready_at or 0) + 10_000
                continue
            seg_end = min(limit - 50, run.end)  # replies (+<50 ms) stay before the next record
            t = self.t
            busy_from = min((ct for ct, c in run.codes if c), default=None)
            while t < seg_end:
                if t >= day.end:
                    day.at(t)
                code = 0 if busy_from is None or t < busy_from else _code_at(run.codes, t)
                word = "Busy" if code else "Ready"
                r = t - day.start
                r2 = min(r + 2 + int(rnd() * 40), 86_399_999)
                h1, h2 = self._heads(run, r, r2)
                ap(f"{h1}Role instance status check starting\r\n")
                ap(f"{h2}Role instance status check succeeded: {word}\r\n")
                n += 2
                t += 20_000 + int(rnd() * 20_000)
            self.t = t if t >= limit or t >= run.end else limit + 1
            if t < run.end:
                break
        self.lines += n
        return out
