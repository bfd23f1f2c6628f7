"""azdiag beside lnav on the same files, in the same run: speed, memory and how cost grows.

Two collections, each at 1x, 2x and 4x its base size:
  * ``bench``: several instances of weeks of running (``azdiag.simulate.write_large``),
  * ``month``: one instance whose WaAppAgent.log alone is 150-200 MB at 1x, with its
    bootstrapper generations and the other logs.

For each collection and size, fresh processes of azdiag (``report --format json``, the whole
analysis) and of lnav (headless, indexing every file with the formats in bench/lnav/) alternate;
their medians give azdiag / lnav in wall time and in CPU time (the machine is shared: CPU time
is the steadier figure). In-process, the parse alone is compared with a bare polars line split
of the same bytes. Every figure is recorded with the load average while it was measured.

Before timing, lnav is checked to index every line of every file with one of our formats
(``lnav_file``), so it does the same work as azdiag, not less.

Usage:  python bench/lnav.py [--sizes 1,2,4] [--runs 3] [--collections bench,month]
                             [--out bench/out] [--write-results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from results import write_section  # noqa: E402

LNAV = shutil.which("lnav") or "/usr/bin/lnav"
#: Base sizes: the bench collection in bytes, the month in simulated hours of one instance
#: (1,200 h gives a WaAppAgent.log of about 155 MB).
BENCH_BYTES = 60_000_000
MONTH_HOURS = 1_200.0
TARGETS = {"speed_over_lnav": 1.5, "parse_over_split": 0.75, "rss_over_input": 1.5}


@dataclass
class Run:
    """One fresh process: wall and CPU seconds, peak RSS in bytes, load average at its start."""

    wall: float
    cpu: float
    rss: int
    load: float


def _collection(out: Path, name: str, scale: int) -> Path:
    from azdiag.simulate.api import _run, write_large
    from azdiag.simulate.scenarios import BENCH

    path = out / f"{name}-{scale}x"
    done = out / f"{name}-{scale}x.complete"
    if done.exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    if name == "bench":
        write_large(path, target_bytes=BENCH_BYTES * scale)
    else:
        _run(BENCH, path, 1, MONTH_HOURS * scale, 1, False, None)
    done.write_text("done\n")
    return path


def _log_files(path: Path) -> list[Path]:
    """The files both tools read: the logs (azdiag also reads the small config XML files)."""
    return sorted(p for p in path.rglob("*") if p.is_file() and ".log" in p.name.lower())


def _lnav_config(tmp: Path) -> tuple[list[str], dict[str, str]]:
    config = tmp / "config"
    (config / "formats" / "azdiag").mkdir(parents=True)
    for fmt in (ROOT / "bench" / "lnav").glob("*.json"):
        shutil.copy(fmt, config / "formats" / "azdiag" / fmt.name)
    home = tmp / "home"
    home.mkdir()
    return [LNAV, "-I", str(config), "-n"], {**os.environ, "HOME": str(home)}


def _lnav_command(lnav: list[str], files: list[Path], query: str) -> list[str]:
    """lnav opens about 100 new files per scan and runs headless commands after the first:
    one ``:rebuild`` per further hundred files makes it open and index all of them."""
    rebuilds = ["-c", ":rebuild"] * (len(files) // 100)
    return [*lnav, *rebuilds, "-c", query, *map(str, files)]


def _check_lnav(lnav: list[str], env: dict[str, str], files: list[Path]) -> dict:
    """What lnav made of the files: every file in one of our formats, every line indexed."""
    query = ";SELECT count(*), sum(format IS NULL), sum(lines) FROM lnav_file"
    done = subprocess.run(
        _lnav_command(lnav, files, query), env=env, capture_output=True, text=True
    )
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()]
    counted, unknown, lines = (int(v) for v in rows[-1])
    messages = subprocess.run(
        _lnav_command(lnav, files, ";SELECT count(*) FROM all_logs"),
        env=env,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    expected = sum(_count_lines(f) for f in files)
    return {
        "files": counted,
        "files_given": len(files),
        "files_without_format": unknown,
        "lines": lines,
        "lines_in_files": expected,
        "messages": int(messages),
        "every_line_indexed": counted == len(files) and unknown == 0 and lines == expected,
    }


def _count_lines(path: Path) -> int:
    data = path.read_bytes()
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


def _timed(command: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``command`` to the end; its own wall time, CPU time and peak RSS (``wait4``)."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise RuntimeError(f"{command[:3]} failed with {status}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, load)


_PARSE_CHILD = """
import json, resource, sys
sys.path.insert(0, {root!r})
from azdiag.knowledge.formats import load_formats
from azdiag.parse.ingest import ingest
formats = load_formats()
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
started = cpu()
events = ingest({path!r}, formats=formats).events
print(json.dumps({{"cpu": cpu() - started, "rows": events.height}}))
"""

_SPLIT_CHILD = """
import json, resource
import polars as pl
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
files = {files!r}
started = cpu()
rows = 0
for name in files:
    with open(name, "rb") as handle:
        data = handle.read()
    lines = pl.read_csv(data, separator="\\x1f", quote_char=None, has_header=False,
                        new_columns=["text"], infer_schema=False, encoding="utf8-lossy")
    parts = lines.select(pl.col("text").str.splitn("] ", 4)).unnest("text")
    rows += parts.height
print(json.dumps({{"cpu": cpu() - started, "rows": rows}}))
"""


def _child_cpu(code: str) -> tuple[float, float]:
    """CPU seconds the child measured around its own work, and the load at its start."""
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["cpu"], load


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def measure(path: Path, runs: int, lnav: list[str], env: dict[str, str]) -> dict:
    """Interleaved fresh processes of azdiag and lnav, then of parse and bare split."""
    files = _log_files(path)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    check = _check_lnav(lnav, env, files)
    report = Path(tempfile.mkdtemp()) / "report.json"
    azdiag_cmd = [sys.executable, "-m", "azdiag", "report", str(path), "--format", "json"]
    azdiag_cmd += ["-o", str(report), "--no-timestamp"]
    lnav_cmd = _lnav_command(lnav, files, ";SELECT count(*) FROM all_logs")
    azdiag_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ours: list[Run] = []
    theirs: list[Run] = []
    parse: list[tuple[float, float]] = []
    split: list[tuple[float, float]] = []
    parse_code = _PARSE_CHILD.format(root=str(ROOT), path=str(path))
    split_code = _SPLIT_CHILD.format(files=[str(f) for f in files])
    for index in range(runs):  # alternate the order too: neither always runs second
        pair = [(ours, azdiag_cmd, azdiag_env), (theirs, lnav_cmd, env)]
        for runs_of, command, environment in pair if index % 2 == 0 else pair[::-1]:
            runs_of.append(_timed(command, environment))
        parse.append(_child_cpu(parse_code))
        split.append(_child_cpu(split_code))
    lines = check["lines_in_files"]
    result = {
        "path": path.name,
        "input_bytes": size,
        "log_bytes": sum(f.stat().st_size for f in files),
        "files": len(files),
        "largest_file": max(f.stat().st_size for f in files),
        "lines": lines,
        "lnav_check": check,
        "runs": runs,
    }
    for name, measured in (("azdiag", ours), ("lnav", theirs)):
        result[name] = {
            "wall": _median([r.wall for r in measured]),
            "cpu": _median([r.cpu for r in measured]),
            "rss": max(r.rss for r in measured),
            "load": _median([r.load for r in measured]),
        }
    result["speed_over_lnav_wall"] = result["lnav"]["wall"] / result["azdiag"]["wall"]
    result["speed_over_lnav_cpu"] = result["lnav"]["cpu"] / result["azdiag"]["cpu"]
    result["rss_over_input"] = result["azdiag"]["rss"] / size
    result["parse_cpu"] = _median([p[0] for p in parse])
    result["split_cpu"] = _median([s[0] for s in split])
    result["parse_over_split"] = result["split_cpu"] / result["parse_cpu"]
    result["parse_load"] = _median([p[1] for p in parse + split])
    result["azdiag_cpu_per_mline"] = result["azdiag"]["cpu"] / (lines / 1e6)
    result["lnav_cpu_per_mline"] = result["lnav"]["cpu"] / (lines / 1e6)
    shutil.rmtree(report.parent, ignore_errors=True)
    return result


def _fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (per unit, fixed) of cost against size."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points) or 1.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var
    return slope, mean_y - slope * mean_x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4")
    parser.add_argument("--collections", default="bench,month")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes of each; medians")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        lnav, env = _lnav_config(Path(tmp))
        for name in args.collections.split(","):
            for scale in sizes:
                path = _collection(args.out, name, scale)
                result = measure(path, args.runs, lnav, env)
                result["collection"], result["scale"] = name, scale
                print(json.dumps(result), flush=True)
                results.append(result)
    summary = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{subprocess.run([LNAV, '-V'], capture_output=True, text=True).stdout.strip()}"
        ),
        "results": results,
    }
    if args.write_results:
        _write_results(summary)


def _write_results(summary: dict) -> None:
    results = summary["results"]
    lines = [
        "## azdiag beside lnav (`python bench/lnav.py --write-results`)",
        "",
        f"Machine: {summary['machine']}; shared with other jobs, so the load average (1 min) "
        "at the start of each measured process is given, and CPU time beside wall time. "
        f"Medians of {results[0]['runs']} fresh processes of each tool, alternating. azdiag: "
        "`azdiag report PATH --format json` (the whole analysis); lnav: headless, indexing "
        "every log file with the formats in bench/lnav/ (checked first: every file in one of "
        "them, every line indexed). Speed ratios are lnav's time / azdiag's time: above 1, "
        "azdiag is faster.",
        "",
        "| collection | input | lines | largest file | azdiag wall / CPU | lnav wall / CPU "
        "| speed vs lnav (wall / CPU) | azdiag peak RSS / input | parse vs bare split (CPU) "
        "| load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ok = "yes" if r["lnav_check"]["every_line_indexed"] else "NO"
        lines.append(
            f"| {r['collection']} {r['scale']}x | {r['input_bytes'] / 1e6:.0f} MB, "
            f"{r['files']} logs | {r['lines'] / 1e6:.2f} M (lnav indexed all: {ok}) "
            f"| {r['largest_file'] / 1e6:.0f} MB "
            f"| {r['azdiag']['wall']:.2f} s / {r['azdiag']['cpu']:.2f} s "
            f"| {r['lnav']['wall']:.2f} s / {r['lnav']['cpu']:.2f} s "
            f"| {r['speed_over_lnav_wall']:.2f}x / {r['speed_over_lnav_cpu']:.2f}x "
            f"| {r['rss_over_input']:.2f}x (lnav {r['lnav']['rss'] / r['input_bytes']:.2f}x) "
            f"| {r['parse_over_split']:.2f} | {r['azdiag']['load']:.1f} / "
            f"{r['lnav']['load']:.1f} |"
        )
    lines += ["", "Cost against size (least squares over 1x, 2x, 4x; CPU seconds):", ""]
    lines += ["| collection | azdiag per M lines + fixed | lnav per M lines + fixed |"]
    lines += ["|---|---|---|"]
    for name in dict.fromkeys(r["collection"] for r in results):
        rows = [r for r in results if r["collection"] == name]
        ours = _fit([(r["lines"] / 1e6, r["azdiag"]["cpu"]) for r in rows])
        theirs = _fit([(r["lines"] / 1e6, r["lnav"]["cpu"]) for r in rows])
        lines.append(
            f"| {name} | {ours[0]:.2f} s + {ours[1]:.2f} s | {theirs[0]:.2f} s + "
            f"{theirs[1]:.2f} s |"
        )
    lines += ["", "Targets over every collection and size (lowest to highest):", ""]
    for key, what, target, above in (
        ("speed_over_lnav_wall", "whole analysis, speed vs lnav (wall)", 1.5, True),
        ("speed_over_lnav_cpu", "whole analysis, speed vs lnav (CPU)", 1.5, True),
        ("parse_over_split", "parse vs bare polars split (CPU)", 0.75, True),
        ("rss_over_input", "peak RSS / input bytes", 1.5, False),
    ):
        values = [r[key] for r in results]
        met = all(v >= target for v in values) if above else all(v <= target for v in values)
        sign = ">=" if above else "<="
        lines.append(
            f"- {what}: {min(values):.2f}-{max(values):.2f} (target {sign} {target}): "
            + ("met" if met else "**not met**")
        )
    lines.append("")
    write_section(lines)


if __name__ == "__main__":
    main()
