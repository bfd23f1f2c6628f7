"""Writing a simulated instance to a folder or a zip, and turning it into its manifest.

The sink hides the folder/zip difference; zip entries get a fixed date (the collection start)
so that the same seed gives byte-identical archives.
"""

from __future__ import annotations

import itertools
import zipfile
from pathlib import Path
from random import Random
from typing import BinaryIO

from azdiag.simulate import eventlogs as ev
from azdiag.simulate import messages as m
from azdiag.simulate import timefmt as tf
from azdiag.simulate.fills import AgentFill, HostCheckFill, ProbeFill
from azdiag.simulate.instance import CycleRec, InstanceSim
from azdiag.simulate.logs import LogFile
from azdiag.simulate.model import Cycle, Gap, InstanceManifest, StatusChange

_BOMS = {"utf-16": b"\xff\xfe", "utf-8-sig": b"\xef\xbb\xbf"}
GAP_MS = 20_000


class Sink:
    """A collection being written: files under a folder, or members of one zip file."""

    def __init__(self, root: Path, *, as_zip: bool, when: int) -> None:
        self.root = root
        self.files: list[str] = []
        self.bytes = 0
        self._zip: zipfile.ZipFile | None = None
        self._date = tf.to_datetime(when).timetuple()[:6]
        if as_zip:
            self._zip = zipfile.ZipFile(root, "w", zipfile.ZIP_DEFLATED, allowZip64=True)

    def _open(self, rel: str) -> BinaryIO:
        self.files.append(rel)
        if self._zip is not None:
            info = zipfile.ZipInfo(rel, date_time=self._date)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            return self._zip.open(info, "w", force_zip64=True)  # type: ignore[return-value]
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("wb", buffering=1 << 20)

    def write_log(self, rel: str, log: LogFile, end: int) -> int:
        """Render a log with its encoding (CRLF, optional BOM); returns its line count."""
        codec = "utf-16-le" if log.encoding == "utf-16" else "utf-8"
        with self._open(rel) as raw:
            raw.write(_BOMS.get(log.encoding, b""))
            size = len(_BOMS.get(log.encoding, b""))

            def write(text: str) -> None:
                nonlocal size
                data = text.encode(codec)
                size += len(data)
                raw.write(data)

            lines = log.render(end, write)
        self.bytes += size
        return lines

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self._open(rel) as raw:
            raw.write(data)
        self.bytes += len(data)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _gen_names(count: int, starts: list[int], rng: Random) -> list[str]:
    """Bootstrapper generation file names, oldest first; the naming of old ones is mixed."""
    names = ["WaHostBootstrapper.log"] if count else []
    n = 0
    for i in range(count - 2, -1, -1):  # newest old generation first
        if i == count - 2:
            names.append("WaHostBootstrapper.log.old")
        elif rng.random() < 0.5:
            names.append(f"WaHostBootstrapper_{tf.stamp(starts[i])}.log")
        else:
            n += 1
            names.append(f"WaHostBootstrapper.log.{n}")
    return names[::-1]


def _split_runtime(sim: InstanceSim) -> tuple[LogFile | None, LogFile]:
    """AppAgentRuntime.log rotates to .old when the agent restarts."""
    log = sim.runtime
    if len(sim.agent_starts) < 2:
        return None, log
    cut = sim.agent_starts[-1][0]
    old = LogFile(log.path + ".old", "agent", recs=[r for r in log.recs if r.t < cut])
    new = LogFile(log.path, "agent", recs=[r for r in log.recs if r.t >= cut])
    return old, new


def _config_settings(sim: InstanceSim, version: int) -> dict[str, str]:
    conn = "DefaultEndpointsProtocol=https;AccountName=diagstore01"
    if sim.scen.id == "S09":
        conn = "UseDevelopmentStorage=true"
    return {
        "Microsoft.WindowsAzure.Plugins.Diagnostics.ConnectionString": conn,
        "App.FeatureLevel": str(version),
        "App.CacheSizeMB": "512",
    }


def write_instance(sim: InstanceSim, sink: Sink, folder: str) -> InstanceManifest:
    """Write every file of one instance; return its ground truth."""
    sim.finish()
    pre = f"{folder}/" if folder else ""
    seeds = Random(sim.seed ^ 0x5EED)
    first = len(sink.files)
    lines = 0

    old, runtime = _split_runtime(sim)
    if old is not None:
        lines += sink.write_log(pre + old.path, old, sim.end)
    lines += sink.write_log(pre + runtime.path, runtime, sim.end)
    fill = AgentFill(
        Random(seeds.random()),
        sim.windows,
        sim.status,
        sim.full,
        sim.scen.iso_share,
        sim.configs[0],
        sim.agent_style,
    )
    sim.agent.fill = fill
    lines += sink.write_log(pre + sim.agent.path, sim.agent, sim.end)

    names = _gen_names(len(sim.gens), [g.start for g in sim.gens], Random(seeds.random()))
    for gen, name in zip(sim.gens, names, strict=True):
        gen.log.path = f"{sim.store}/{name}"
        rng = Random(seeds.random())
        gen.log.fill = ProbeFill(
            rng, gen.pid, gen.probe_tid, gen.runs, gen.two_line_probes, gen.log.mask
        )
        lines += sink.write_log(pre + gen.log.path, gen.log, sim.end)
    if sim.iis.recs:
        lines += sink.write_log(pre + sim.iis.path, sim.iis, sim.end)
    if sim.host.recs:
        rng = Random(seeds.random())
        host = sim.host
        host.fill = HostCheckFill(rng, sim.host_runs, host.source, host.kind, host.untimed)
        lines += sink.write_log(pre + sim.host.path, sim.host, sim.end)
    if sim.plugin is not None:
        lines += sink.write_log(pre + sim.plugin.path, sim.plugin, sim.end)
    for v in sim.configs:
        xml = m.config_xml(sim.dep, sim.role, sim.iid, v, _config_settings(sim, v))
        sink.write_bytes(f"{pre}Config/{sim.config_name(v)}", xml.encode("utf-8"))
    _write_event_and_iis_logs(sim, sink, pre)

    return InstanceManifest(
        name=sim.iid,
        folder=folder,
        cycles=[_cycle(c, names, sim) for c in sim.cycles],
        heartbeat_gaps=_gaps(fill.spans, sim.planned_stops),
        agent_starts=[{"time": tf.iso(t), "version": v} for t, v in sim.agent_starts],
        config_versions=list(sim.configs),
        status_changes=[StatusChange(tf.iso(t), s, d) for t, s, d in sim.status],
        final_state=sim.status[-1][1] if sim.status else "",
        bootstrapper_generations=len(sim.gens),
        files=sink.files[first:],
        lines=lines,
    )


def _write_event_and_iis_logs(sim: InstanceSim, sink: Sink, pre: str) -> None:
    """Event logs (XML and CSV exports) and IIS logs, for the scenarios that have them."""
    computer = ev.computer_name(sim.seed)
    events = list(sim.events)
    if sim.azure_channel:
        boot = [(r.t, r.msg) for g in sim.gens for r in g.log.recs]
        events += ev.azure_channel([t for t, _ in sim.agent_starts], boot)
    channels = {
        "Application": ("EventLogs/Application.xml", False),
        "Windows Azure": ("EventLogs/Windows Azure.xml", True),
    }
    for channel in sorted({e.channel for e in events}):
        chosen = [e for e in events if e.channel == channel]
        if channel in channels:
            rel, rendered = channels[channel]
            text = ev.xml_export(chosen, computer, rendered=rendered)
        else:
            rel, text = f"EventLogs/{channel}.csv", ev.csv_export(chosen, computer)
        sink.write_bytes(pre + rel, text.encode("utf-8"))
    for name, text in ev.w3svc_days(sim.requests, "W3SVC1").items():
        sink.write_bytes(f"{pre}{sim.store}/LogFiles/W3SVC1/{name}", text.encode("ascii"))
    if sim.http_errors:
        text = ev.httperr_log(sim.http_errors, f"{sim.iid}_Web")
        sink.write_bytes(f"{pre}LogFiles/HTTPERR/httperr1.log", text.encode("ascii"))


def _cycle(c: CycleRec, names: list[str], sim: InstanceSim) -> Cycle:
    gen = names[sim.gens.index(c.gen)] if c.gen is not None else None
    return Cycle(
        start=tf.iso(c.start),
        stage=c.stage,
        outcome=c.outcome,
        ready_at=tf.iso(c.ready_at) if c.ready_at is not None else None,
        end=tf.iso(c.end) if c.end is not None else None,
        generation=gen,
    )


def _gaps(spans: list[list[int]], planned: list[int]) -> list[Gap]:
    gaps = []
    for (_, last), (first, _) in itertools.pairwise(spans):
        if first - last > GAP_MS:
            was_planned = any(last - 10_000 <= p <= first for p in planned)
            gaps.append(Gap(tf.iso(last), tf.iso(first), (first - last) / 1000, was_planned))
    return gaps
