"""The public entry points: ``simulate`` one scenario, ``write_large`` for benchmarks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from random import Random

from azdiag.simulate import timefmt as tf
from azdiag.simulate.instance import InstanceSim
from azdiag.simulate.model import Manifest, Scenario
from azdiag.simulate.output import Sink, write_instance
from azdiag.simulate.scenarios import BENCH, SCENARIOS
from azdiag.simulate.variants import Variants, resolve

#: Rough output of the benchmark script per instance-hour, used to size ``write_large``.
BENCH_BYTES_PER_HOUR = 210_000


def _target(out: Path, as_zip: bool) -> Path:
    """Validate the destination: never write into something that already holds data."""
    out = Path(out)
    if as_zip:
        if out.suffix.lower() != ".zip":
            out = out.with_name(out.name + ".zip")
        if out.exists():
            raise FileExistsError(f"{out} already exists")
        out.parent.mkdir(parents=True, exist_ok=True)
        return out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _ids(seed: int) -> tuple[Random, str]:
    master = Random(seed)
    dep = f"{master.getrandbits(128):032x}"
    return master, dep


def _manifest(scen: Scenario, seed: int, dep: str, start: int, as_zip: bool) -> Manifest:
    role = "WebRole1" if scen.role_type == "web" else "WorkerRole1"
    iso = tf.iso(start)
    return Manifest(
        scen.id,
        scen.title,
        seed,
        role,
        scen.role_type,
        dep,
        iso,
        iso,
        list(scen.failures),
        zip=as_zip,
    )


def simulate(
    scenario: str,
    out: Path,
    *,
    seed: int = 1,
    hours: float = 1.0,
    instances: int = 1,
    zip: bool = False,
    start: datetime | None = None,
    variants: Variants | str | None = "recognised",
) -> Manifest:
    """Write a collected-log folder (or zip) for ``scenario``; return its manifest.

    ``hours`` is the healthy steady period for healthy scenarios and the whole collection
    window for failure scenarios (raised to the scenario's minimum so the failure shows).
    ``variants`` chooses the line shapes (docs/simulator.md): "recognised" (default) draws
    them from (seed, scenario) among the shapes the analysis reads like the classic ones,
    "all" among every documented shape, "classic" is the one shape of earlier versions;
    a ``Variants`` or text such as ``"agent_time=iso,boot_level=mask"`` fixes them.
    Raises ``ValueError`` for an unknown scenario or variant, ``FileExistsError`` (above).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if instances < 1:
        raise ValueError("instances must be >= 1")
    scen = SCENARIOS[scenario]
    shapes = resolve(variants, seed, scenario)
    hours = max(hours, scen.min_hours)
    return _run(scen, Path(out), seed, hours, instances, zip, start, variants=shapes)


def _run(
    scen: Scenario,
    out: Path,
    seed: int,
    hours: float,
    instances: int | None,
    as_zip: bool,
    start: datetime | None,
    target_bytes: int = 0,
    variants: Variants | None = None,
) -> Manifest:
    root = _target(out, as_zip)
    t0 = tf.to_ms(start or tf.DEFAULT_START)
    master, dep = _ids(seed)
    man = _manifest(scen, seed, dep, t0, as_zip)
    shapes = variants or Variants()
    man.variants = shapes.to_dict()
    sink = Sink(root, as_zip=as_zip, when=t0)
    end = t0
    try:
        index = 0
        while True:
            if instances is not None and index >= instances:
                break
            if instances is None and index >= 2 and sink.bytes >= target_bytes:
                break
            inst_seed = master.getrandbits(63)
            offset = index * (5_000 + master.randrange(35_000))
            sim = InstanceSim(
                scen,
                index=index,
                seed=inst_seed,
                t0=t0 + offset,
                dep=dep,
                role=man.role,
                variants=shapes,
            )
            scen.script(sim, int(hours * tf.HOUR_MS))
            multi = instances is None or instances > 1
            man.instances.append(write_instance(sim, sink, sim.iid if multi else ""))
            end = max(end, sim.end)
            index += 1
    finally:
        sink.close()
    man.end = tf.iso(end)
    man.files = list(sink.files)
    man.bytes = sink.bytes if not as_zip else root.stat().st_size
    man.lines = sum(i.lines for i in man.instances)
    return man


def write_large(
    out: Path, *, target_bytes: int, seed: int = 1, start: datetime | None = None
) -> Manifest:
    """A benchmark collection of at least ``target_bytes``: several instances, each weeks of
    heartbeats, probes and status reports with recycle loops, restarts and stack traces.
    Always the classic line shapes, so that benchmark runs stay comparable."""
    per_instance = max(target_bytes / 6, 200_000)
    hours = per_instance / BENCH_BYTES_PER_HOUR
    return _run(BENCH, Path(out), seed, hours, None, False, start, target_bytes)
