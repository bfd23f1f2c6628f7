"""Batch triage benchmark: many ~5 MB collections, jobs 1 vs 2, local pool vs Dask.

Reports, in one run on this machine: throughput (collections/s) with --jobs 1 and --jobs 2
(target: 2 jobs >= 1.8x one job), the local pool against a Dask LocalCluster of the same size
(target: Dask overhead <= 20%), the default --jobs (the usable cores; measured as well when it
is neither 1 nor 2) and the load average while measuring. --jobs 1 gives its worker every core
for polars; a run of --jobs 1 with one polars thread (POLARS_MAX_THREADS=1) shows besides how
the workers themselves scale, each with the same share of the machine. Each measure is a whole
``azdiag triage`` process, as a user runs it; the variants alternate for --rounds rounds and
the best of each counts. Writes bench/RESULTS.md with --write-results.

Usage: python bench/triage.py [--collections 200] [--mb 5] [--rounds 2] [--write-results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from results import write_section  # noqa: E402

SCENARIOS = ("S01", "S09", "healthy", "S18", "S12", "S02", "S13", "S22")


def _collections(out: Path, count: int, megabytes: float) -> Path:
    from azdiag.simulate import simulate

    folder = out / f"triage-{count}x{megabytes:g}mb"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    hours = megabytes * 1e6 / 340_000  # the scenarios write ~340 kB per simulated hour
    for i in range(count):
        scenario = SCENARIOS[i % len(SCENARIOS)]
        simulate(scenario, folder / f"c{i:04d}-{scenario}", seed=i + 1, hours=hours)
    marker.write_text("done\n")
    return folder


def _run(
    source: Path, out: Path, *options: str, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """One ``azdiag triage`` process, as a user runs it (its own start-up and worker pool
    included): wall seconds, CPU seconds of it and its workers, and the load average before."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "azdiag", "triage", str(source), "--out", str(out)]
    command += ["--format", "json", *options]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr[-2000:]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", type=int, default=200)
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()

    from distributed import LocalCluster

    from azdiag.triage.run import POLARS_THREADS_ENV, default_jobs, worker_threads

    source = _collections(args.out, args.collections, args.mb)
    size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    work = args.out / "triage-results"
    default = default_jobs()
    variants = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "jobs1_one_thread": []}
    if default not in (1, 2):
        variants["default"] = []  # --jobs left out: what a user gets
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in [*variants, "dask"]}
    # the Dask workers get the same polars threads as local workers (docs/triage.md)
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={POLARS_THREADS_ENV: str(worker_threads(2))},
    ) as cluster:
        variants["dask"] = ["--jobs", "2", "--scheduler", cluster.scheduler_address]
        for _ in range(args.rounds):  # interleaved, the best of each counts: the load varies
            for name, options in variants.items():
                if name == "jobs1_one_thread":  # the user's POLARS_MAX_THREADS wins
                    one_thread = {POLARS_THREADS_ENV: "1"}
                    runs[name].append(_run(source, work, "--jobs", "1", env=one_thread))
                else:
                    runs[name].append(_run(source, work, *options))
    best = {name: min(measured) for name, measured in runs.items()}
    one, two, dask = best["jobs1"][0], best["jobs2"][0], best["dask"][0]
    loads = [load for measured in runs.values() for _, _, load in measured]
    n = args.collections
    result = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "default_jobs": default,
        "collections": n,
        "input_mb": round(size / 1e6, 1),
        "rounds": args.rounds,
        "load_average": {"min": min(loads), "max": max(loads)},
        "seconds": {name: round(b[0], 2) for name, b in best.items()},
        "cpu_seconds": {name: round(b[1], 2) for name, b in best.items()},
        "jobs1_per_second": n / one,
        "jobs2_per_second": n / two,
        "speedup_2_over_1": one / two,
        "jobs1_one_thread_per_second": n / best["jobs1_one_thread"][0],
        "workers_scale_2_over_1": best["jobs1_one_thread"][0] / two,
        "dask_per_second": n / dask,
        "dask_over_local": dask / two,
        "dask_overhead": dask / two - 1,
        "targets_met": {"speedup": one / two >= 1.8, "dask_overhead": dask / two - 1 <= 0.20},
    }
    if "default" in best:
        result["default_per_second"] = n / best["default"][0]
    print(json.dumps(result, indent=2))
    if args.write_results:
        _write(result)


def _write(result: dict) -> None:
    heading = "## Batch triage (`python bench/triage.py --write-results`)"
    lines = [
        heading,
        "",
        f"Machine: {result['machine']}; default --jobs {result['default_jobs']} (the usable "
        f"cores). {result['collections']} simulated collections, {result['input_mb']} MB in all; "
        f"JSON reports. Each figure is a whole `azdiag triage` process; the variants alternate "
        f"for {result['rounds']} rounds, the best of each counts. Load average while measuring: "
        f"{result['load_average']['min']:.1f}-{result['load_average']['max']:.1f}.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| --jobs 1 | {result['jobs1_per_second']:.2f} collections/s | baseline |",
        f"| --jobs 2 | {result['jobs2_per_second']:.2f} collections/s "
        f"({result['speedup_2_over_1']:.2f}x) | >= 1.8x |",
        f"| --jobs 1, one polars thread | {result['jobs1_one_thread_per_second']:.2f} "
        f"collections/s (--jobs 2 does {result['workers_scale_2_over_1']:.2f}x: how the workers "
        "scale, each with one core) | - |",
        f"| Dask LocalCluster, 2 workers | {result['dask_per_second']:.2f} collections/s "
        f"({result['dask_overhead'] * 100:+.0f}% time vs the local pool) | <= +20% |",
        *(
            [f"| default --jobs | {result['default_per_second']:.2f} collections/s | - |"]
            if "default_per_second" in result
            else []
        ),
        "",
    ]
    write_section(lines)


if __name__ == "__main__":
    main()
