"""One simulated role instance: its logs, agent processes, status timeline and cycles.

Scenario scripts drive it with a handful of steps (agent start/stop, container start, start-up
cycle, config change...). Each step writes the sparse records and returns the new time; the
dense periodic lines are generated from the recorded windows when the files are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random

from azdiag.simulate import messages as m
from azdiag.simulate.eventlogs import SimEvent
from azdiag.simulate.fills import AgentWindow, HostRun
from azdiag.simulate.logs import (
    BARE,
    ISO,
    ISO_FRAC,
    NO_THREAD,
    NORMAL,
    ONE_SPACE,
    QUOTED,
    LogFile,
)
from azdiag.simulate.model import Scenario
from azdiag.simulate.variants import CLASSIC, Variants

OPEN = 1 << 62  # end time of a window still open
_AGENT_STYLE = {"bracketed": NORMAL, "iso": ISO, "iso-frac": ISO_FRAC, "no-thread": NO_THREAD}
#: host_header variant -> (LogFile kind, untimed); "scenario" keeps the scenario's own
_HOST_KIND = {
    "bracketed": ("trace", False),
    "tracesource-pid-tid": ("tracepid", False),
    "pid-tid": ("hostblock", False),
    "untimed": ("trace", True),
}


@dataclass
class Generation:
    """One bootstrapper start: its own log file, process ids and host processes."""

    log: LogFile
    start: int
    pid: int
    tid: int
    probe_tid: int
    two_line_probes: bool
    runs: list[HostRun] = field(default_factory=list)


@dataclass
class CycleRec:
    """Internal cycle bookkeeping (times in ms); becomes a manifest ``Cycle``."""

    start: int
    stage: str = "agent"
    outcome: str = "running"
    ready_at: int | None = None
    end: int | None = None
    gen: Generation | None = None


class InstanceSim:
    """State of one instance while a scenario script runs."""

    def __init__(
        self,
        scen: Scenario,
        *,
        index: int,
        seed: int,
        t0: int,
        dep: str,
        role: str,
        variants: Variants = CLASSIC,
    ) -> None:
        self.scen = scen
        self.rng = Random(seed)
        # Shape choices draw from a generator of their own: the classic output of a seed
        # stays byte-identical, and a variant collection has the same events and times.
        self.vrng = Random(seed ^ 0x5A7E5)
        self.variants = variants
        self.agent_style = _AGENT_STYLE[variants.agent_time]
        self.seed = seed
        self.t0 = t0
        self.end = t0
        self.dep, self.role = dep, role
        self.web = scen.role_type == "web"
        self.exe = "WaIISHost.exe" if self.web else "WaWorkerHost.exe"
        self.entry = f"{role}.WebRole" if self.web else f"{role}.WorkerRole"
        self.iid = f"{role}_IN_{index}"
        self.full = f"{dep}.{self.iid}"
        self.store = f"Resources/Directory/{dep}.{role}.DiagnosticStore"
        self.store_win = "C:\\" + self.store.replace("/", "\\")
        self.agent = LogFile("RuntimeAndAgent/WaAppAgent.log", "agent")
        self.runtime = LogFile("RuntimeAndAgent/AppAgentRuntime.log", "agent")
        iis_kind = "tracepid" if variants.iis_header == "tracesource-pid-tid" else "trace"
        self.iis = LogFile(
            f"{self.store}/IISConfigurator.log", iis_kind, "IISConfigurator", scen.iis_encoding
        )
        self.iis_pid = self.iis_tid = 0  # of the IISConfigurator pass running (tracepid)
        host_kind, untimed = _HOST_KIND.get(
            variants.host_header, ("hostblock" if scen.host_style == "block" else "trace", False)
        )
        host_dir = self.store
        if variants.host_folder == "directory":  # log-formats.md §7: no .DiagnosticStore
            host_dir = f"Resources/Directory/{dep}.{role}"
        self.host = LogFile(
            f"{host_dir}/{self.exe[:-4]}.log",
            host_kind,
            self.exe[:-4],
            scen.host_encoding,
            untimed=untimed,
        )
        self.plugin: LogFile | None = None
        self.gens: list[Generation] = []
        self.windows: list[AgentWindow] = []
        self.status: list[tuple[int, str, str]] = []
        self.cycles: list[CycleRec] = []
        self.host_runs: list[HostRun] = []
        self.proc: HostRun | None = None  # the host process currently running
        self.version = m.AGENT_V1
        self.config_version = 1 + self.rng.randrange(5)
        self.configs = [self.config_version]
        self.agent_starts: list[tuple[int, str]] = []
        self.planned_stops: list[int] = []
        self.thumb = "".join(self.rng.choice("0123456789ABCDEF") for _ in range(40))
        # event logs and IIS logs, for the scenarios that write them (simulate/eventlogs.py)
        self.events: list[SimEvent] = []
        self.azure_channel = False  # derive the Windows Azure channel from the bootstrapper
        self.requests: list[tuple[int, str, int, int]] = []  # (t, uri, status, ms)
        self.http_errors: list[tuple[int, int, str]] = []  # (t, status, reason)
        self.tid_main = 12

    # -- small helpers -------------------------------------------------------------------
    def r(self, lo: float, hi: float) -> int:
        """A random duration between lo and hi seconds, in ms."""
        return int((lo + (hi - lo) * self.rng.random()) * 1000)

    def _style(self) -> int:
        x = self.rng.random()
        if self.scen.iso_share and x > 1 - self.scen.iso_share:
            return ISO_FRAC if x > 1 - self.scen.iso_share / 3 else ISO
        if self.agent_style != NORMAL:  # the collection's agent writes another time form
            return self.agent_style
        return ONE_SPACE if 0.5 < x < 0.53 else NORMAL

    def a(self, t: int, level: str, msg: str, cont: tuple[str, ...] | list[str] = ()) -> int:
        """WaAppAgent.log record on the agent's main thread."""
        self.agent.add(t, level, msg, cont, style=self._style(), tid=self.tid_main)
        return t

    def rt(self, t: int, level: str, msg: str, cont: tuple[str, ...] | list[str] = ()) -> int:
        """AppAgentRuntime.log record."""
        self.runtime.add(t, level, msg, cont, style=self._style(), tid=self.tid_main - 4)
        return t

    def b(
        self, gen: Generation, t: int, level: str, msg: str, cont: list[str] | None = None
    ) -> int:
        """Bootstrapper record in generation ``gen``."""
        gen.log.add(t, level, msg, cont or (), pid=gen.pid, tid=gen.tid)
        return t

    def h(
        self, t: int, level: str, msg: str, cont: list[str] | None = None, timed: bool = True
    ) -> int:
        """Host-log record of the current host process."""
        pid, tid = (self.proc.pid, self.proc.tid) if self.proc else (0, 0)
        self.host.add(t, level, msg, cont or (), style=0 if timed else 1, pid=pid, tid=tid)
        return t

    def ic(self, t: int, level: str, msg: str, cont: list[str] | None = None) -> int:
        self.iis.add(t, level, msg, cont or (), pid=self.iis_pid, tid=self.iis_tid)
        return t

    def set_status(self, t: int, state: str, detail: str = "") -> int:
        """Record a role status change and the agent's report of it."""
        if self.status and self.status[-1][1:] == (state, detail):
            return t
        t = max(t, self.status[-1][0] + 1) if self.status else t
        self.status.append((t, state, detail))
        if self.rng.random() < 0.5:
            self.a(t, "INFO", f"Role {self.full} is reporting state {state}.")
        else:
            ex = {"Ready": "Succeeded", "Recycling": "Failed"}.get(state, "InProgress")
            self.a(
                t,
                "INFO",
                f"Role {self.full} has current state {state}, desired state Started, "
                f"and goal state execution status {ex}.",
            )
        self.a(
            t + 1,
            "INFO",
            f"Reporting status: {state} ({detail})" if detail else f"Reporting status: {state}",
        )
        return t

    def task_exit(self, cmd: str, code: int) -> str:
        """The bootstrapper's exit line of task ``cmd`` in the collection's wording."""
        redirect = ""
        if self.variants.task_line == "redirect" and cmd in m.CUSTOMER_TASKS:
            redirect = m.REDIRECT
        published = self.variants.task_exit == "published"
        return m.task_exit(self.rng, cmd, code, published=published, redirect=redirect)

    def config_name(self, version: int) -> str:
        return f"{self.dep}.{self.dep}.{self.iid}.{version}.xml"

    # -- the guest agent -----------------------------------------------------------------
    def agent_start(
        self, t: int, version: str | None = None, *, oobe: bool = True, trouble: bool = False
    ) -> int:
        """Agent process start (VM boot or agent restart) up to its first heartbeat."""
        self.version = version or self.version
        self.tid_main = 8 + self.rng.randrange(20)
        self.agent_starts.append((t, self.version))
        self.a(t, "INFO", f"WindowsAzureGuestAgent starting. Version {self.version}")
        t += self.r(0.2, 1.5)
        self.a(t, "INFO", r"Loading configuration D:\Packages\GuestAgent\WaAppAgent.exe.config")
        if oobe:
            t += self.r(0.5, 3)
            self.a(t, "WARN", "Waiting for OOBE to Complete ...")
            t += self.r(15, 45)
        self.a(t, "INFO", "Attempting to discover fabric address on interface Ethernet.")
        if trouble:  # the wire server does not answer at first (S17)
            t += self.r(5, 15)
            self.a(t, "WARN", "Did not discover fabric address on interface Ethernet. Retrying.")
            t += self.r(5, 15)
            self.a(t, "INFO", "Attempting to discover fabric address on interface Ethernet.")
        t += self.r(0.1, 1.2)
        self.a(t, "INFO", f"Using fabric address {m.FABRIC} from DHCP option 245.")
        t += self.r(1, 4)
        self.a(t, "INFO", "StateExecutor initialization completed.")
        self.rt(t, "INFO", "_Context_Start")
        self.rt(t + 2, "INFO", f"Guest agent runtime {self.version} initialised for {self.full}.")
        tid_heart = 20 + self.rng.randrange(30)
        self.windows.append(AgentWindow(t + self.r(0.2, 1.0), OPEN, tid_heart, self.tid_main))
        self.set_status(t + 50, "Busy", m.D_INIT)
        return t + 100

    def agent_stop(self, t: int) -> int:
        """Planned agent shutdown: the agent says so and its heartbeats end."""
        self.a(t, "INFO", "WindowsAzureGuestAgent stopping.")
        self.planned_stops.append(t)
        self._close_window(t + 5)
        return t + 10

    def _close_window(self, t: int) -> None:
        if self.windows and self.windows[-1].end == OPEN:
            self.windows[-1].end = t

    def goal_state(self, t: int) -> int:
        """Goal state with its JSON blob, config applied, certificates, firewall, ACLs."""
        v = self.config_version
        self.rt(
            t,
            "INFO",
            f"Goal state received (incarnation {v}):",
            m.goal_state_json(self.dep, self.iid, v, self.thumb),
        )
        t += self.r(0.1, 0.6)
        self.rt(t, "INFO", f"Applying configuration version {v} ...")
        t += self.r(0.1, 0.5)
        self.rt(t, "INFO", f"Configuration file C:\\Config\\{self.config_name(v)} written.")
        return t

    def container_start(self, t: int) -> int:
        """The agent prepares the role container (step 5)."""
        self.rt(t, "INFO", "_Context_Start")
        self.rt(t + 1, "INFO", f"StartContainer(): starting role {self.full}.")
        t = self.goal_state(t + self.r(0.2, 1))
        t += self.r(0.3, 2)
        self.rt(t, "INFO", f"Installed certificate {self.thumb} in the LocalMachine\\My store.")
        t += self.r(0.2, 1)
        port = "80" if self.web else "10100"
        self.rt(t, "INFO", f"Configured firewall rules for role {self.full}: Endpoint1 tcp/{port}.")
        t += self.r(0.1, 0.8)
        self.rt(
            t,
            "INFO",
            f"Set ACLs on {self.store_win} for the role account.",
        )
        return t + self.r(0.5, 2)

    def stop_container(self, t: int, reason: str) -> int:
        """Platform-initiated stop: StopContainer() context, host stopped gracefully."""
        self.set_status(t, "Stopping", m.D_STOPPING)
        self.rt(t, "INFO", "_Context_Start")
        self.rt(t + 1, "INFO", f"StopContainer(): stopping role {self.full}. Reason: {reason}.")
        return self.graceful_host_stop(t + self.r(0.5, 2), recycle=False)

    def graceful_host_stop(self, t: int, *, recycle: bool) -> int:
        """OnStop in the host, exit code 0, bootstrapper exits."""
        proc, gen = self.proc, (self.gens[-1] if self.gens else None)
        if proc is None or gen is None:
            return t
        if recycle:
            self.h(t, "INFO", "Role instance recycling is starting")
            t += self.r(0.1, 0.5)
        else:
            self.b(gen, t, "INFO", "Received shutdown request from the agent.")
        self.h(t, "INFO", f"Role entrypoint . CALLING   OnStop(): {self.entry}")
        t += self.r(1, 5)
        self.h(t, "INFO", f"Role entrypoint . COMPLETED OnStop(): {self.entry}")
        t += self.r(0.2, 1.5)
        return self.host_exit(t, 0)

    def host_exit(self, t: int, code: int) -> int:
        """The host process ends; the bootstrapper logs it and exits."""
        gen, proc = self.gens[-1], self.proc
        if proc is None:
            return t
        proc.end = t
        self.proc = None
        self.b(
            gen,
            t,
            "INFO" if code == 0 else "ERROR",
            m.host_exit(self.rng, self.exe, proc.pid, code),
        )
        t += self.r(0.05, 0.4)
        self.b(gen, t, "INFO", f"Exiting bootstrapper with code {0 if code == 0 else 1}.")
        return t

    def crash_vm(self, t: int) -> int:
        """Everything stops at once (VM hang or restart by the host agent): no more lines."""
        self._close_window(t)
        if self.proc is not None:
            self.proc.end = t
            self.proc = None
        return t

    def config_change(self, t: int) -> int:
        """A new configuration version arrives and the role recycles once (S23)."""
        self.config_version += 1
        self.configs.append(self.config_version)
        self.rt(t, "INFO", "_Context_Start")
        t = self.goal_state(t + 1)
        t += self.r(0.2, 1)
        self.rt(
            t, "INFO", f"Configuration change requires a role restart; recycling role {self.full}."
        )
        self.set_status(t, "Busy", m.D_CONFIG)
        self.h(
            t + 200,
            "INFO",
            "RoleEnvironment.Changing event raised: 1 configuration setting change(s).",
        )
        return self.graceful_host_stop(t + self.r(0.5, 2), recycle=True)

    def finish(self) -> None:
        """Close everything still open at the end of the collection."""
        for w in self.windows:
            w.end = min(w.end, self.end)
        for run in self.host_runs:
            run.end = min(run.end, self.end)
        for c in self.cycles:
            if c.outcome == "running" and c.stage == "ready":
                c.outcome = "ready"
        recs = self.agent.recs[1:]
        for _ in range(min(self.scen.no_thread_lines, len(recs))):
            recs[self.rng.randrange(len(recs))].style = NO_THREAD  # trimmed copies lose the tid
        self._quote_agent_lines()
        if self.variants.boot_glued == "some":
            for gen in self.gens:  # a trace pasted into a ticket: exit traces lose their line end
                for rec in gen.log.recs[1:]:
                    rec.glued = rec.msg.startswith("<- ") and self.vrng.random() < 0.6

    def _quote_agent_lines(self) -> None:
        """A few agent lines without thread and time (variants.agent_quoted, §7); never the
        first line (it would have no time) nor an agent start (it opens a cycle)."""
        style = {"level": QUOTED, "bare": BARE}.get(self.variants.agent_quoted)
        if style is None:
            return
        recs = [r for r in self.agent.recs[1:] if "GuestAgent starting" not in r.msg]
        for _ in range(min(3, len(recs))):
            recs[self.vrng.randrange(len(recs))].style = style
