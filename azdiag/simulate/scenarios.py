"""The scenario catalogue: one script per failure of failures.md that the simulator covers.

A script drives one ``InstanceSim`` from its start time and sets ``sim.end``, the end of the
collection. ``hours`` (in ms) is the healthy steady period for healthy runs and the whole
window for failure runs (raised to the scenario's ``min_hours``).
"""

from __future__ import annotations

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
        _sc("S13", "IISConfigurator failure", s13, min_hours=0.5, iis_encoding="utf-8-sig"),
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
