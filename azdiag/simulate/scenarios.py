"""The scenario catalogue: one script per failure of failures.md that the simulator covers.

A script drives one ``InstanceSim`` from its start time and sets ``sim.end``, the end of the
collection. ``hours`` (in ms) is the healthy steady period for healthy runs and the whole
window for failure runs (raised to the scenario's ``min_hours``).
"""

from __future__ import annotations

from azdiag.simulate import eventlogs as ev
from azdiag.simulate import messages as m
from azdiag.simulate import timefmt as tf
from azdiag.simulate.cycle import CycleSpec, agent_trouble, container_fail, run_cycle
from azdiag.simulate.instance import InstanceSim
from azdiag.simulate.model import Scenario

_APPCMD = (
    "appcmd set config /section:httpProtocol "
    "/+customHeaders.[name='X-Frame-Options',value='SAMEORIGIN']",
    "ERROR ( message:Cannot add duplicate collection entry of type 'add' with unique key "
    "attribute 'name' set to 'X-Frame-Options'. )",
)


def _boot(sim: InstanceSim, t: int | None = None) -> int:
    t = sim.agent_start(sim.t0 if t is None else t)
    return sim.container_start(t)


def _healthy_start(sim: InstanceSim) -> int:
    return run_cycle(sim, _boot(sim))


def _loop(sim: InstanceSim, t: int, spec: CycleSpec, wait: tuple[float, float] = (10, 30)) -> int:
    """Recycle loop: failing cycles back to back while a whole cycle still fits in the window."""
    while True:
        t = run_cycle(sim, t, spec) + sim.r(*wait)
        if t + 90_000 > sim.end:
            return t


def _planned_restart(
    sim: InstanceSim, t: int, down: tuple[float, float], reason: str, version: str | None = None
) -> int:
    """Platform restart: StopContainer(), agent stops, VM down, the (new) agent starts."""
    t = sim.stop_container(t, reason)
    t = sim.agent_stop(t + sim.r(1, 5))
    t = sim.agent_start(t + sim.r(*down), version)
    return sim.container_start(t)


def healthy(sim: InstanceSim, hours: int) -> None:
    sim.end = _healthy_start(sim) + hours


def s01(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    _loop(sim, _boot(sim), CycleSpec(setup_exit=1))


def s02(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    run_cycle(sim, _boot(sim), CycleSpec(setup_hang=True))


def s03(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    _healthy_start(sim)
    t = sim.t0 + int(hours * 0.55)
    t = _planned_restart(sim, t, (150, 300), "Host OS update", m.AGENT_V2)
    _loop(sim, t, CycleSpec(setup_exit=183, setup_output=_APPCMD))


def _host_loop(kind: str, wait: tuple[float, float] = (10, 30)):
    def script(sim: InstanceSim, hours: int) -> None:
        sim.end = sim.t0 + hours
        _loop(sim, _boot(sim), CycleSpec(host_fail=kind), wait)

    return script


def s13(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    run_cycle(sim, _boot(sim), CycleSpec(iis_error=True))


def s16(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    t = sim.agent_start(sim.t0)
    while t + 60_000 < sim.end:
        t = container_fail(sim, t) + sim.r(60, 120)


def s17(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    t = sim.agent_start(sim.t0, trouble=True)
    stuck = sim.t0 + int(hours * 0.7)
    while t + 60_000 < sim.end:
        t = agent_trouble(sim, t) + sim.r(60, 150)
        if t > stuck:  # an attempt to restart the agent hangs; the old process keeps running
            sim.a(t, "ERROR", *m.stuck_stop())
            stuck = 1 << 62


def s18(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    _healthy_start(sim)
    bad = sim.t0 + int(hours * 0.4)
    warnings = (
        ("Available physical memory is low: {} MB free.", 40, 250),
        ("Heartbeat to the host agent took {} ms.", 4000, 12000),
        ("Guest agent could not read performance counters within {} ms.", 3000, 9000),
    )
    for i in range(4):
        text, lo, hi = warnings[i % 3]
        sim.a(bad - (4 - i) * sim.r(20, 50), "WARN", text.format(sim.rng.randrange(lo, hi)))
    sim.crash_vm(bad)
    t = _boot(sim, bad + sim.r(11.5 * 60, 13 * 60))
    run_cycle(sim, t)


def s19(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    _healthy_start(sim)
    t = sim.t0 + int(hours * 0.45)
    run_cycle(sim, _planned_restart(sim, t, (150, 390), "Guest agent update", m.AGENT_V2))


def s20(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    run_cycle(sim, _boot(sim), CycleSpec(block_hang=True))


def s20b(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    run_cycle(sim, _boot(sim), CycleSpec(slow_task_ms=sim.r(40 * 60, 50 * 60)))


def s22(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    _healthy_start(sim)
    t = sim.t0 + int(hours * 0.3)
    if sim.proc is not None:
        sim.proc.codes.append((t, 1))
        sim.h(
            t - 40,
            "WARN",
            "RoleEnvironment.StatusCheck handler called SetBusy(): dependency check failed.",
        )
        sim.set_status(t + sim.r(1, 10), "Busy", m.D_BUSY)


def s23(sim: InstanceSim, hours: int) -> None:
    sim.end = sim.t0 + hours
    _healthy_start(sim)
    t = sim.config_change(sim.t0 + int(hours * 0.4))
    run_cycle(sim, t + sim.r(3, 10))


def _traffic(
    sim: InstanceSim, start: int, end: int, status: int = 200, every: tuple[float, float] = (2, 6)
) -> None:
    """Requests served by IIS (W3SVC log) from ``start`` to ``end``: the load balancer's probe
    and some pages."""
    t = start + sim.r(*every)
    while t < end:
        uri = sim.rng.choice(("/", "/", "/health", "/api/orders", "/content/site.css"))
        taken = int(sim.rng.lognormvariate(3, 0.8)) if status < 500 else sim.rng.randrange(5, 40)
        sim.requests.append((t, uri, status, taken))
        t += sim.r(*every)


def _refused(sim: InstanceSim, start: int, end: int, status: int, reason: str) -> None:
    """Requests HTTP.sys answers itself (HTTPERR log) from ``start`` to ``end``."""
    t = start + sim.r(2, 6)
    while t < end:
        sim.http_errors.append((t, status, reason))
        t += sim.r(2, 6)


def _ready_at(sim: InstanceSim) -> int:
    ready = [c.ready_at for c in sim.cycles if c.ready_at is not None]
    return ready[-1] if ready else sim.end


def s12_applog(sim: InstanceSim, hours: int) -> None:
    """S12 whose cause is in the Application log: .NET Runtime 1026 + Application Error 1000
    for each death of the host process; the Windows Azure channel shows the steps."""
    _host_loop("silent", (5, 15))(sim, hours)
    frames = (f"{sim.entry}..cctor()", f"{sim.entry}.OnStart()")
    for run in sim.host_runs:
        if run.end < sim.end:
            sim.events += ev.clr_crash(
                run.end - 40, sim.exe, "System.TypeInitializationException", frames
            )
    sim.azure_channel = True


def s14(sim: InstanceSim, hours: int) -> None:
    """Ready, but HTTP.sys answers 503 to every request: no W3SVC lines at all."""
    healthy(sim, hours)
    _refused(sim, _ready_at(sim), sim.end, 503, "N/A")
    sim.azure_channel = True


def s15(sim: InstanceSim, hours: int) -> None:
    """Ready and serving, then w3wp crashes five times in a few minutes and WAS disables the
    AppPool (rapid-fail protection): from then on HTTP.sys answers 503 AppOffline."""
    healthy(sim, hours)
    ready = _ready_at(sim)
    bad = ready + int((sim.end - ready) * 0.4)
    _traffic(sim, ready, bad)
    pool = f"{sim.dep[:8]}-{sim.dep[8:12]}-{sim.dep[12:16]}-{sim.dep[16:20]}-{sim.dep[20:]}"
    t = bad
    for _ in range(5):
        pid = 4000 + sim.rng.randrange(4000)
        sim.events += ev.clr_crash(
            t,
            "w3wp.exe",
            "System.StackOverflowException",
            ("Contoso.Web.Cache.Get(System.String)",),
        )
        sim.events.append(ev.was_event(t + 400, 5009, pool, pid))
        _traffic(sim, t - 20_000, t, status=500, every=(1, 3))
        t += sim.r(30, 55)
    sim.events.append(ev.was_event(t, 5002, pool, 0))
    _refused(sim, t, sim.end, 503, "AppOffline")
    sim.cycles[-1].stage = "serve"  # the cycle went on to serve requests (WAS, w3wp events)
    sim.azure_channel = True


def s19_user32(sim: InstanceSim, hours: int) -> None:
    """S19 with the System log: USER32 1074 shows the guest agent initiating the restart."""
    sim.end = sim.t0 + hours
    _healthy_start(sim)
    t = sim.t0 + int(hours * 0.45)
    _traffic(sim, _ready_at(sim), t)
    sim.events.append(ev.agent_shutdown(t + sim.r(0.5, 2), ev.computer_name(sim.seed)))
    run_cycle(sim, _planned_restart(sim, t, (150, 390), "Guest agent update", m.AGENT_V2))
    _traffic(sim, _ready_at(sim), sim.end)
    sim.azure_channel = True


def bench(sim: InstanceSim, hours: int) -> None:
    """Weeks of mostly healthy running with episodes: bad configs, restarts, a VM hang."""
    sim.end = sim.t0 + hours
    t = _healthy_start(sim)
    every = min(max(hours / 6000, 3600), 40 * 3600)  # seconds between episodes, on average
    while True:
        t += sim.r(every * 0.5, every * 1.5)
        if t + 45 * tf.MINUTE_MS > sim.end:
            return
        kind = sim.rng.random()
        if kind < 0.5:  # a bad configuration: crash loop (stack traces) until fixed
            t = sim.config_change(t)
            spec = CycleSpec(
                host_fail="onstart_crash" if kind < 0.3 else "", setup_exit=0 if kind < 0.3 else 1
            )
            for _ in range(2 + sim.rng.randrange(6)):
                t = run_cycle(sim, t + sim.r(10, 30), spec)
            t = run_cycle(sim, sim.config_change(t + sim.r(30, 90)) + sim.r(3, 10))
        elif kind < 0.8:
            t = run_cycle(sim, _planned_restart(sim, t, (150, 390), "Host OS update"))
        elif kind < 0.9:
            t = run_cycle(sim, sim.config_change(t) + sim.r(3, 10))
        else:
            sim.crash_vm(t)
            t = run_cycle(sim, _boot(sim, t + sim.r(11 * 60, 14 * 60)))


def _sc(id_: str, title: str, script, role: str = "web", **kw) -> Scenario:
    fails = () if id_.startswith("healthy") else (id_,)
    return Scenario(id_, title, role, script, failures=kw.pop("failures", fails), **kw)


SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in (
        _sc("healthy", "Healthy web role (full IIS)", healthy),
        _sc("healthy-worker", "Healthy worker role", healthy, "worker", host_encoding="utf-8-sig"),
        _sc("S01", "Simple startup task exits non-zero", s01, min_hours=0.1),
        _sc("S02", "Simple startup task hangs", s02, min_hours=1.25),
        _sc(
            "S03",
            "Startup task fails only when re-run, after a platform restart",
            s03,
            min_hours=0.75,
            iso_share=0.01,
            failures=("S03", "S19", "S01"),
        ),
        _sc(
            "S06",
            "Missing dependency assembly",
            _host_loop("missing_assembly"),
            min_hours=0.1,
            host_encoding="utf-16",
        ),
        _sc("S07", "Assembly version mismatch", _host_loop("version_mismatch"), min_hours=0.1),
        _sc("S08", "32-bit assembly in the 64-bit host", _host_loop("bad_format"), min_hours=0.1),
        _sc(
            "S09",
            "Unhandled exception in OnStart",
            _host_loop("onstart_crash"),
            min_hours=0.1,
            host_style="block",
        ),
        _sc("S10", "Disk quota exhausted", _host_loop("disk_full"), "worker", min_hours=0.1),
        _sc("S11", "Run() returns", _host_loop("run_returns"), min_hours=0.1, host_style="block"),
        _sc(
            "S12",
            "Silent crash loop of the host process",
            _host_loop("silent", (5, 15)),
            min_hours=0.1,
            host_encoding="utf-16",
        ),
        _sc(
            "S12-applog",
            "Silent crash loop of the host process, its cause in the Application log",
            s12_applog,
            min_hours=0.1,
            failures=("S12",),
        ),
        _sc("S13", "IISConfigurator failure", s13, min_hours=0.5, iis_encoding="utf-8-sig"),
        _sc("S14", "Ready, but HTTP.sys answers 503", s14, min_hours=0.25),
        _sc("S15", "AppPool crash and rapid-fail protection", s15, min_hours=0.5),
        _sc("S16", "Guest agent cannot start the role", s16, "worker", min_hours=0.1),
        _sc("S17", "Guest agent unhealthy", s17, min_hours=0.1, iso_share=0.01, no_thread_lines=2),
        _sc(
            "S18",
            "Heartbeats lost, host agent restarts the VM",
            s18,
            min_hours=0.75,
            iso_share=0.01,
        ),
        _sc("S19", "Planned platform restart", s19, min_hours=0.5, iso_share=0.01),
        _sc(
            "S19-user32",
            "Planned platform restart confirmed by USER32 1074 in the System log",
            s19_user32,
            min_hours=0.5,
            failures=("S19",),
        ),
        _sc("S20", "Diagnostics plugin blocks startup", s20, min_hours=1.0),
        _sc("S20b", "Startup slower than 30 minutes", s20b, min_hours=1.25),
        _sc("S22", "Busy while processes run", s22, min_hours=0.5, host_style="block"),
        _sc("S23", "Configuration change recycles the role", s23, min_hours=0.5, no_thread_lines=2),
    )
}

BENCH = _sc(
    "bench",
    "Benchmark: weeks of running with episodes",
    bench,
    failures=("S01", "S09", "S18", "S19", "S23"),
    iso_share=0.002,
)
