"""One start-up cycle (workflow steps 5-9) and the agent-stage failures before it.

A cycle writes a new bootstrapper generation and walks the stages in order; a ``CycleSpec``
says where (and how) it stops, which is what the scenario catalogue varies.
"""

from __future__ import annotations

from dataclasses import dataclass

from azdiag.simulate import messages as m
from azdiag.simulate import timefmt as tf
from azdiag.simulate.fills import HostRun
from azdiag.simulate.instance import OPEN, CycleRec, Generation, InstanceSim
from azdiag.simulate.logs import LogFile


@dataclass(frozen=True)
class CycleSpec:
    """Where a cycle fails; the default is a clean start to Ready."""

    setup_exit: int = 0
    setup_output: tuple[str, ...] = ()
    setup_hang: bool = False
    block_hang: bool = False
    slow_task_ms: int = 0
    iis_error: bool = False
    host_fail: str = (
        ""  # a key of messages.LOAD_FAILURES, or onstart_crash/disk_full/silent/run_returns
    )


def start_bootstrapper(sim: InstanceSim, t: int) -> tuple[Generation, int]:
    """The agent launches WaHostBootstrapper: a new log generation begins."""
    sim.rt(
        t,
        "INFO",
        f"Starting WaHostBootstrapper E:\\base\\x64\\WaHostBootstrapper.exe for {sim.full} ...",
    )
    t += sim.r(0.3, 1.5)
    rng = sim.rng
    gen = Generation(
        log=LogFile("", "boot", mask=sim.variants.boot_level == "mask"),
        start=t,
        pid=1000 + rng.randrange(6000),
        tid=1000 + rng.randrange(8000),
        probe_tid=1000 + rng.randrange(8000),
        two_line_probes=rng.random() < 0.7,
    )
    sim.gens.append(gen)
    banner = [
        "=" * 78,
        f"========== WaHostBootstrapper.exe {sim.version} | pid {gen.pid} | {sim.iid} ==========",
        "=" * 78,
    ]
    sim.b(gen, t, "INFO", f"Bootstrapper starting. Version {sim.version}.", banner)
    sim.b(gen, t + 2, "INFO", f"Role instance {sim.full}, deployment {sim.dep}.")
    sim.b(gen, t + 3, "ERROR", "<- WapGetAppCmdPath=0x1")
    t += sim.r(0.05, 0.3)
    sim.b(gen, t, "INFO", r"Reading role model from E:\RoleModel.xml.")
    sim.b(gen, t + 4, "ERROR", "<- WapXmlReadRoleModel=0x1")
    if rng.random() < 0.5:
        sim.b(gen, t + 5, "ERROR", "<- WapGetEnvironmentVariable=0x800700cb")
    sim.b(gen, t + 6, "ERROR", "<- WapGetRoleRootPath=0x1")
    sim.b(gen, t + 8, "INFO", f"Role model has {3 if sim.web else 2} startup tasks.")
    if rng.random() < 0.6:  # the documented out-of-order step back of a few ms
        sim.b(gen, t + 30, "INFO", "Loaded local resources: DiagnosticStore, RoleTemp.")
        gen.log.recs[-1].shown = t + 8 - rng.randrange(3, 15)
    return gen, t + sim.r(0.1, 0.5)


def iis_pass(sim: InstanceSim, gen: Generation, t: int, args: str, *, error: bool = False) -> int:
    """An IISConfigurator run (/clean at step 6, /start at step 8); returns its end time."""
    site = f"{sim.iid}_Web"
    sim.b(gen, t, "INFO", f'Executing "{m.IISCFG}" {args}')
    sim.iis_pid, sim.iis_tid = 1000 + sim.vrng.randrange(8000), 1 + sim.vrng.randrange(20)
    t += sim.r(0.3, 1.0)
    sim.ic(t, "INFO", f"Started iisconfigurator with args {args}")
    t += sim.r(0.05, 0.3)
    sim.ic(t, "INFO", "Starting service WAS")
    recycled = len(sim.gens) > 1
    if args == "/start":
        t += sim.r(0.5, 2)
        sim.ic(t, "INFO", "Starting service w3svc")
        t += sim.r(0.1, 0.5)
        sim.ic(t, "INFO", "Adding rewrite module section declarations to applicationHost.config")
        if sim.rng.random() < 0.5:
            sim.ic(t + 20, "WARN", "Rewrite module section group already declared; skipping.")
    t += sim.r(0.2, 1)
    sim.ic(t, "INFO", "Cleaning All Sites")
    if recycled and args == "/clean":
        t += sim.r(0.05, 0.2)
        sim.ic(t, "INFO", f"Found site:{site}")
        sim.ic(t + 30, "INFO", f"Deleting site {site}")
    if args == "/start":
        pool = f"{sim.dep[:8]}-{sim.dep[8:12]}-{sim.dep[12:16]}-{sim.dep[16:20]}-{sim.dep[20:]}"
        t += sim.r(0.3, 1)
        sim.ic(t, "INFO", f"Creating AppPool {pool} with identity ApplicationPoolIdentity")
        t += sim.r(0.1, 0.5)
        sim.ic(t, "INFO", rf"Creating site {site} with physical path E:\sitesroot\0")
        sim.ic(t + 15, "VERB", "Committing changes to applicationHost.config")
        t += sim.r(0.1, 0.5)
        sim.ic(t, "INFO", f"Adding binding http *:80: to site {site}")
        if error:
            t += sim.r(0.1, 0.5)
            sim.ic(
                t,
                "INFO",
                f"Adding binding https *:443: with certificate {sim.thumb} to site {site}",
            )
            t += sim.r(0.2, 1)
            msg, cont = m.iis_cert_error()
            sim.ic(t, "ERROR", msg, cont)
            return t
        t += sim.r(0.1, 0.6)
        sim.ic(
            t,
            "INFO",
            f"Setting IIS log directory to {sim.store_win}\\LogFiles\\Web",
        )
        t += sim.r(0.1, 0.6)
        sim.ic(t, "INFO", rf"Granting read access on E:\sitesroot\0 to IIS AppPool\{pool}")
    t += sim.r(0.2, 1)
    done = f"Finished iisconfigurator with args {args}"
    sim.ic(t, "INFO", m.pick(sim.rng, done, done, "IISConfigurator completed successfully."))
    t += sim.r(0.1, 0.5)
    sim.b(gen, t, "INFO", sim.task_exit(f"{m.IISCFG} {args}", 0))
    return t


def _task(sim: InstanceSim, gen: Generation, t: int, typ: int, module: str, cmd: str) -> int:
    level = "WARN" if module == "(null)" and sim.rng.random() < 0.5 else "INFO"
    redirect = ""
    if sim.variants.task_line == "redirect":  # older bootstrapper: no rolemodule=
        module = ""
        redirect = m.REDIRECT if cmd in m.CUSTOMER_TASKS else ""
    task, launch = m.task_start(typ, module, cmd, redirect)
    sim.b(gen, t, level, task)
    t += sim.r(0.001, 0.02)
    sim.b(gen, t, level, launch)
    return t


def _fail(sim: InstanceSim, cyc: CycleRec, t: int, detail: str) -> int:
    cyc.outcome, cyc.end = "failed", t
    return sim.set_status(t + sim.r(0.5, 3), "Recycling", detail)


def _plugin_hang(sim: InstanceSim, t: int) -> None:
    """Diagnostics plugin errors while its /blockStartup task never returns (S20)."""
    log = LogFile(
        "RuntimeAndAgent/Plugins/Microsoft.Azure.Diagnostics.PaaSDiagnostics/1.18.0.0/"
        "DiagnosticsPluginLauncher.log",
        "plugin",
        "diagnosticspluginlauncher.exe",
    )
    sim.plugin = log
    log.add(t, "INFO", "DiagnosticPlugin is starting with arguments /blockStartup")
    t += sim.r(0.5, 2)
    log.add(t, "INFO", "Reading the private configuration.")
    t += sim.r(0.2, 1)
    log.add(
        t,
        "ERROR",
        f"Failed to decrypt the private configuration: the certificate with thumbprint "
        f"{sim.thumb} was not found in LocalMachine\\My.",
    )
    log.add(
        t + 300,
        "ERROR",
        "Invalid diagnostics storage account settings: StorageAccount is empty or "
        "'UseDevelopmentStorage=true' in the public configuration.",
    )
    while t + 300_000 < sim.end:
        t += sim.r(280, 320)
        log.add(t, "WARN", "DiagnosticsAgent has not initialised yet; /blockStartup keeps waiting.")


def run_cycle(sim: InstanceSim, t: int, spec: CycleSpec = CycleSpec()) -> int:
    """Run one start-up cycle; returns the time it failed, hung (collection end) or got Ready."""
    failed_before = bool(sim.cycles) and sim.cycles[-1].outcome == "failed"
    state = "Recycling" if failed_before else "Busy"
    cyc = CycleRec(start=t)
    sim.cycles.append(cyc)
    gen, t = start_bootstrapper(sim, t)
    cyc.gen = gen
    if sim.web:
        cyc.stage = "cleanup"
        t = iis_pass(sim, gen, t, "/clean") + sim.r(0.1, 0.6)
    cyc.stage = "startup_tasks"
    sim.set_status(t, state, m.D_TASKS)
    t = _task(sim, gen, t + 5, 2, "Diagnostics", m.DIAG) + sim.r(0.2, 1)
    t = _task(sim, gen, t, 0, "Diagnostics", f"{m.DIAG} /blockStartup")
    if spec.block_hang:
        _plugin_hang(sim, t + sim.r(1, 3))
        cyc.outcome = "hung"
        return sim.end
    t += sim.r(2, 8)
    sim.b(gen, t, "INFO", sim.task_exit(f"{m.DIAG} /blockStartup", 0))
    t = _task(sim, gen, t + sim.r(0.1, 0.5), 0, "(null)", m.SETUP)
    if spec.setup_hang:
        cyc.outcome = "hung"
        return sim.end
    for i, line in enumerate(spec.setup_output):
        sim.b(gen, t + sim.r(1, 3) + i, "WARN", f"Startup task output: {line}")
    t += sim.r(3, 10)
    sim.b(
        gen,
        t,
        "INFO" if spec.setup_exit == 0 else "ERROR",
        sim.task_exit(m.SETUP, spec.setup_exit),
    )
    if spec.setup_exit:
        sim.b(gen, t + 1, "ERROR", f"Startup task {m.SETUP} failed; the role will be recycled.")
        sim.b(gen, t + sim.r(0.1, 0.3), "INFO", "Exiting bootstrapper with code 1.")
        return _fail(sim, cyc, t, m.task_failed_detail(m.SETUP, spec.setup_exit, tf.portal_ts(t)))
    if spec.slow_task_ms:
        t = _task(sim, gen, t + sim.r(0.1, 0.5), 0, "(null)", m.SLOW_TASK)
        t += spec.slow_task_ms
        sim.b(gen, t, "INFO", sim.task_exit(m.SLOW_TASK, 0))
    if sim.web:
        cyc.stage = "configure_iis"
        sim.set_status(t, state, m.D_SITES)
        t = iis_pass(sim, gen, t + sim.r(0.2, 1), "/start", error=spec.iis_error)
        if spec.iis_error:
            cyc.outcome = "hung"
            return sim.end
    return _host(sim, cyc, gen, t + sim.r(0.2, 1), spec, state)


def _host(
    sim: InstanceSim, cyc: CycleRec, gen: Generation, t: int, spec: CycleSpec, state: str
) -> int:
    """Steps 9: host process, OnStart, Run, Ready (or the failure the spec asks for)."""
    cyc.stage = "host_start"
    sim.set_status(t, state, m.D_START_WEB if sim.web else m.D_START_WORKER)
    rng = sim.rng
    proc = HostRun(t, OPEN, 1000 + rng.randrange(8000), 1000 + rng.randrange(8000), sim.exe)
    sim.proc = proc
    gen.runs.append(proc)
    sim.host_runs.append(proc)
    sim.b(gen, t, "INFO", m.host_start(rng, sim.exe, proc.pid))
    t += sim.r(0.5, 2)
    sim.h(t, "INFO", "Role environment . INITIALIZING")
    t += sim.r(0.2, 1.5)
    sim.h(t, "INFO", "Role environment . INITIALED RETURNED. HResult=0")
    sim.h(t + 3, "INFO", "Role environment . INITIALIZED", timed=sim.host.kind == "hostblock")
    stopped = m.D_STOPPED_WEB if sim.web else m.D_STOPPED_WORKER
    clr_crash = -532462766
    if spec.host_fail in m.LOAD_FAILURES:
        msg, cont = m.entrypoint_failure(spec.host_fail)
        t += sim.r(0.3, 2)
        if sim.variants.entrypoint == "event-log":
            sim.h(t, "ERROR", *m.entrypoint_event_log(spec.host_fail))
        else:
            sim.h(t, "ERROR", msg, cont)
        t = sim.host_exit(t + sim.r(0.5, 2), clr_crash)
        detail = m.crash_detail(
            msg.split(": ", 1)[1][:160] + "...", cont[-1].strip()[3:], tf.portal_ts(t), clr_crash
        )
        return _fail(sim, cyc, t, f"{stopped} {detail}")
    cyc.stage = "onstart"
    t += sim.r(0.2, 1)
    sim.h(t, "INFO", f"Role entrypoint . CALLING   OnStart(): {sim.entry}")
    if spec.host_fail in ("onstart_crash", "disk_full"):
        if spec.host_fail == "disk_full":
            t += sim.r(2, 8)
            msg, cont = m.disk_full_write(sim.role, sim.dep)
            sim.h(t, "ERROR", msg, cont)
            sim.b(
                gen,
                t + 40,
                "WARN",
                "Failed to write to the log file: There is not enough space on the disk.",
            )
        t += sim.r(1, 6)
        head, cont, exc, frame = m.onstart_crash(sim.role, sim.iid, spec.host_fail)
        sim.h(t, "CRIT", head, cont)
        sim.h(
            t + 20,
            "CRIT",
            "The process was terminated due to an unhandled exception.",
            [f"Exception Info: {exc}"],
        )
        t = sim.host_exit(t + sim.r(0.5, 2), clr_crash)
        detail = m.crash_detail(cont[0].split(": ", 1)[1], frame, tf.portal_ts(t), clr_crash)
        return _fail(sim, cyc, t, f"{stopped} {detail}")
    if spec.host_fail == "silent":
        t = sim.host_exit(t + sim.r(2, 8), -1073741571)
        return _fail(sim, cyc, t, stopped)
    t += sim.r(3, 15)
    sim.h(t, "INFO", f"Role entrypoint . COMPLETED OnStart(): {sim.entry}")
    cyc.stage = "run"
    t += sim.r(0.05, 0.5)
    sim.h(t, "INFO", f"Role entrypoint . CALLING   Run(): {sim.entry}")
    t += sim.r(1, 4)
    sim.h(t, "INFO", "Role instance status check starting")
    sim.h(t + 15, "INFO", "Role instance status check succeeded: Ready")
    cyc.stage, cyc.ready_at, cyc.outcome = "ready", t, "ready"
    proc.ready_at = t
    sim.set_status(t + sim.r(0.5, 2), "Ready")
    if spec.host_fail == "run_returns":
        t += sim.r(5, 20)
        sim.h(
            t,
            "INFO",
            f"Role entrypoint . COMPLETED Run() ==> ROLE RECYCLING INITIATED: {sim.entry}",
        )
        t = sim.graceful_host_stop(t + sim.r(0.1, 0.5), recycle=True)
        return _fail(sim, cyc, t, stopped)
    return t


def container_fail(sim: InstanceSim, t: int) -> int:
    """S16: the agent cannot start the container; no bootstrapper generation."""
    sim.cycles.append(CycleRec(start=t, outcome="failed", end=t))
    sim.rt(t, "INFO", "_Context_Start")
    sim.rt(t + 1, "INFO", f"StartContainer(): starting role {sim.full}.")
    t += sim.r(1, 6)
    msg, cont = m.container_locked(r"E:\approot\bin\Newtonsoft.Json.dll")
    sim.rt(t, "ERROR", msg, cont)
    sim.cycles[-1].end = t
    sim.a(t + sim.r(0.1, 1), "ERROR", f"Failed to start role {sim.full}. Retrying in 60 seconds.")
    return t


def agent_trouble(sim: InstanceSim, t: int) -> int:
    """S17: wire server 503s, HostGAPlugin port blocked, certificate install failing."""
    msg, cont = m.get_versions_503()
    sim.a(t, "ERROR", msg, cont)
    t += sim.r(0.5, 3)
    msg, cont = m.hostga_blocked()
    sim.a(t, "WARN", msg, cont)
    t += sim.r(1, 5)
    # each retry is a container start attempt that dies installing the certificates
    sim.cycles.append(CycleRec(start=t, outcome="failed"))
    sim.rt(t, "INFO", "_Context_Start")
    sim.rt(t, "INFO", f"StartContainer(): starting role {sim.full}.")
    msg, cont = m.cert_failure()
    sim.rt(t + sim.r(0.2, 1), "ERROR", msg, cont)
    t += sim.r(1, 2)
    sim.a(t, "ERROR", "Could not get transport certificate for role configuration; will retry.")
    sim.cycles[-1].end = t
    return t
