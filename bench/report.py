"""HTML report benchmark: the page of a >= 1M-line simulated collection, its size and cost, and
how the page's cost grows with a crash loop's length (scenario S10 at 24 h and 192 h).

Reports, in one process on this machine (median of --runs repetitions):
  * the analysis: parse, timeline and diagnosis (rules applied), in seconds,
  * the HTML report on top of it (model, templates, inlined data), in seconds,
    and as a ratio to the analysis,
  * the page's size in MB, and how much of it is the embedded data (events table, timeline);
  * for S10 (disk quota exhausted: a restart about every minute) at each of --s10-hours: the
    render's CPU time over the analysis's CPU time (CPU time, not wall time: the machine is
    shared) and the page's size, with the cycles and events behind them.

Targets: <= 5 MB for a 1M-line collection, rendering <= 3 s on top of the analysis; for S10 at
192 h (issue 13) the render <= 10% of the analysis and the page <= 5 MB at every length.

Usage:  python bench/report.py [--lines 1000000] [--out bench/out] [--runs 3] [--write-results]
                               [--s10-hours 24,192] [--only large|s10]
The collections are generated once into --out (and reused when their manifest matches).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from results import write_section  # noqa: E402

TARGETS = {"html_mb": 5.0, "render_seconds": 3.0, "s10_render_over_analysis": 0.10}
#: The S10 length the render-over-analysis target is set for (issue 13).
S10_TARGET_HOURS = 192.0
HEADING = "## HTML report"
#: Bytes per line of the benchmark scenario, to size the collection (checked afterwards).
BYTES_PER_LINE = 87


def _collection(out: Path, lines: int) -> tuple[Path, dict]:
    from azdiag.simulate import write_large

    name = f"report-{lines // 1000}k"
    path, manifest_file = out / name, out / f"{name}.manifest.json"
    if path.is_dir() and manifest_file.is_file():
        manifest = json.loads(manifest_file.read_text())
        if manifest["lines"] >= lines:
            return path, manifest
    out.mkdir(parents=True, exist_ok=True)
    target = int(lines * BYTES_PER_LINE * 1.05)
    while True:
        if path.exists():
            import shutil

            shutil.rmtree(path)
        started = time.perf_counter()
        manifest = write_large(path, target_bytes=target).to_dict()
        manifest["generation_seconds"] = round(time.perf_counter() - started, 2)
        if manifest["lines"] >= lines:
            break
        target = int(target * lines / manifest["lines"] * 1.05)
    manifest_file.write_text(json.dumps(manifest))
    return path, manifest


def _analysis(path: Path):
    from azdiag.diagnosis.engine import diagnose
    from azdiag.timeline.analysis import analyze

    analysis = analyze(path)
    return analysis, diagnose(analysis)


def _render(analysis, diagnosis) -> str:
    from azdiag.render.writer import render_report

    return render_report(analysis, diagnosis, "html")


def _timed(function, *args):
    started = time.perf_counter()
    value = function(*args)
    return time.perf_counter() - started, value


def _s10(out: Path, hours: float) -> Path:
    """S10 simulated over ``hours``, generated once into ``out`` (reused while its manifest is
    there: the manifest is written last, so a half-written collection is made again)."""
    import shutil

    from azdiag.simulate import simulate

    path = out / f"s10-{hours:g}h"
    manifest_file = out / f"s10-{hours:g}h.manifest.json"
    if path.is_dir() and manifest_file.is_file():
        return path
    if path.exists():
        shutil.rmtree(path)
    out.mkdir(parents=True, exist_ok=True)
    manifest = simulate("S10", path, hours=hours)
    # a small marker, not the whole manifest (every line's expected reading: 15 MB at 192 h)
    manifest_file.write_text(json.dumps({"scenario": "S10", "hours": hours, "seed": manifest.seed}))
    return path


def _cpu(function, *args):
    started = time.process_time()
    value = function(*args)
    return time.process_time() - started, value


def s10_scaling(out: Path, hours: list[float], runs: int) -> list[dict]:
    """Render cost against analysis cost for S10 at each length in ``hours``: per length the
    median CPU seconds of the analysis and of the HTML render over ``runs`` repetitions, their
    ratio, the page's size, and the cycles, events and files behind them."""
    results = []
    for length in hours:
        path = _s10(out, length)
        analysis_times, render_times = [], []
        html = ""
        for _ in range(runs):
            seconds, (analysis, diagnosis) = _cpu(_analysis, path)
            analysis_times.append(seconds)
            seconds, html = _cpu(_render, analysis, diagnosis)
            render_times.append(seconds)
        analysis_cpu = statistics.median(analysis_times)
        render_cpu = statistics.median(render_times)
        size = len(html.encode("utf-8"))
        results.append(
            {
                "hours": length,
                "lines": sum(f.lines for f in analysis.ingested.files),
                "files": len(analysis.ingested.files),
                "events": analysis.events.height,
                "cycles": analysis.cycles.height,
                "analysis_cpu_seconds": analysis_cpu,
                "render_cpu_seconds": render_cpu,
                "render_over_analysis": render_cpu / analysis_cpu,
                "html_bytes": size,
                "html_mb": size / 1e6,
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; the median counts")
    parser.add_argument(
        "--s10-hours",
        default="24,192",
        help="comma-separated lengths of the S10 crash loop, in hours",
    )
    parser.add_argument("--only", choices=("large", "s10"), help="run one of the two parts")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    if args.write_results and args.only:
        parser.error("--write-results writes both parts: leave out --only")

    result = {} if args.only == "s10" else _large(args)
    if args.only != "large":
        hours = [float(h) for h in args.s10_hours.split(",") if h.strip()]
        result["load_average_s10"] = os.getloadavg()[0]
        result["s10"] = s10_scaling(args.out, hours, args.runs)
        at_target = [r for r in result["s10"] if r["hours"] == S10_TARGET_HOURS]
        result.setdefault("targets_met", {}).update(
            {
                "s10_render_over_analysis": all(
                    r["render_over_analysis"] <= TARGETS["s10_render_over_analysis"]
                    for r in at_target
                )
                if at_target
                else None,
                "s10_html_mb": all(r["html_mb"] <= TARGETS["html_mb"] for r in result["s10"]),
            }
        )
    print(json.dumps(result, indent=2))
    if args.write_results:
        _write_results(result)


def _large(args: argparse.Namespace) -> dict:
    """The page of the >= ``args.lines`` collection: wall times, size, embedded data."""
    import polars

    path, manifest = _collection(args.out, args.lines)
    load = os.getloadavg()[0]
    analysis_times, render_times = [], []
    html = ""
    for _ in range(args.runs):
        seconds, (analysis, diagnosis) = _timed(_analysis, path)
        analysis_times.append(seconds)
        seconds, html = _timed(_render, analysis, diagnosis)
        render_times.append(seconds)
    data = re.search(r'<script id="azdiag-data" type="application/json">(.*?)</script>', html)
    model = json.loads(data[1]) if data else {}
    analysis_seconds = statistics.median(analysis_times)
    render_seconds = statistics.median(render_times)
    size = len(html.encode("utf-8"))
    lines = sum(f.lines for f in analysis.ingested.files)
    result = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"polars {polars.__version__}"
        ),
        "runs": args.runs,
        "load_average": load,
        "input_bytes": manifest["bytes"],
        "lines": lines,
        "files": len(analysis.ingested.files),
        "events": analysis.events.height,
        "instances": len(diagnosis.verdicts),
        "cycles": analysis.cycles.height,
        "findings": len(diagnosis.findings),
        "verdict": diagnosis.overall.summary,
        "analysis_seconds": analysis_seconds,
        "render_seconds": render_seconds,
        "render_over_analysis": render_seconds / analysis_seconds,
        "html_bytes": size,
        "html_mb": size / 1e6,
        "data_bytes": len(data[1].encode("utf-8")) if data else 0,
        "events_embedded": model.get("events", {}).get("shown"),
        "events_omitted": model.get("events", {}).get("omitted"),
    }
    result["targets_met"] = {
        "html_mb": result["html_mb"] <= TARGETS["html_mb"],
        "render_seconds": result["render_seconds"] <= TARGETS["render_seconds"],
    }
    return result


def _write_results(result: dict) -> None:
    busy = result["load_average"] > 1.0
    lines = [
        f"{HEADING} (`python bench/report.py --write-results`)",
        "",
        f"Machine: {result['machine']}, load average {result['load_average']:.1f} at the start"
        + (" (other jobs shared the cores: the times are upper bounds). " if busy else ". ")
        + f"Median of {result['runs']} runs in one process. "
        f"Input: {result['input_bytes'] / 1e6:.0f} MB, {result['lines'] / 1e6:.2f} M lines in "
        f"{result['files']} files, {result['instances']} instances, {result['cycles']} start-up "
        f"cycles, {result['findings']} findings. The page embeds "
        f"{result['events_embedded']:,} of {result['events']:,} events "
        f"(the page counts the other {result['events_omitted']:,} and names the command that "
        "exports them; routine heartbeats and probes are left out first).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| analysis (parse, timeline, diagnosis) | {result['analysis_seconds']:.2f} s | - |",
        f"| HTML report on top of the analysis | {result['render_seconds']:.2f} s "
        f"({result['render_over_analysis'] * 100:.0f}% of the analysis) | <= 3 s |",
        f"| HTML size | {result['html_mb']:.2f} MB "
        f"({result['data_bytes'] / result['html_bytes'] * 100:.0f}% embedded data) | <= 5 MB |",
        "",
        f"Scenario S10 (a restart about every minute) at growing lengths, load average "
        f"{result['load_average_s10']:.1f}; CPU seconds (the cores are shared), median of "
        f"{result['runs']} runs in one process:",
        "",
        "| S10 length | lines | cycles | events | analysis CPU | HTML render CPU | render ÷ "
        "analysis | HTML size |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['hours']:g} h | {r['lines']:,} | {r['cycles']:,} | {r['events']:,} | "
            f"{r['analysis_cpu_seconds']:.2f} s | {r['render_cpu_seconds']:.2f} s | "
            f"{r['render_over_analysis'] * 100:.1f}% | {r['html_mb']:.2f} MB |"
            for r in result["s10"]
        ),
        "",
        f"Targets: render <= {TARGETS['s10_render_over_analysis'] * 100:.0f}% of the analysis at "
        f"{S10_TARGET_HOURS:g} h, HTML <= {TARGETS['html_mb']:g} MB at every length.",
        "",
    ]
    write_section(lines)


if __name__ == "__main__":
    main()
