"""Many small files against the same lines in a few: what each file costs beyond its lines.

Reports, in one run on this machine, as ratios (the machine is shared: CPU time beside wall):
  * a zip of N small WaAppAgent logs (10 lines each; their paths name no instance, so the
    instance comes from their text) against a zip of the same lines in 10 members, for each N
    in ``--members`` (target: within 2x; above MAX_FILES, 50,000, the input is refused: then
    how fast and with what message),
  * a folder of ``--folder-files`` small logs (the 7,080-file collection of issue 13) against
    the same lines in 10 files, and discovery's share of its parse.

Each figure is the median of ``--runs`` fresh processes, the many- and few-file inputs
alternating; each process times ``discover`` alone, then ``ingest`` (discovery and the parse).
The events tables of both inputs are checked to hold the same number of rows and lines.

Usage:  python bench/files.py [--members 10000,50000,100000] [--folder-files 7080] [--runs 3]
                              [--out bench/out] [--write-results]
The inputs are generated once into --out (and reused).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from results import write_section  # noqa: E402

LINES_PER_FILE = 10
FEW = 10  # files holding the same lines
TARGET = 2.0  # many files' time / few files' time, at most


def _agent_lines() -> list[bytes]:
    """A simulated guest agent's log lines: real format, instance named in the text."""
    from azdiag.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp:
        simulate("healthy", Path(tmp) / "c", seed=1)
        data = (Path(tmp) / "c" / "RuntimeAndAgent" / "WaAppAgent.log").read_bytes()
    return data.splitlines(keepends=True)


_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_START = datetime(2024, 3, 1, tzinfo=UTC)


def _chunks(lines: list[bytes], files: int, total: int) -> list[bytes]:
    """``total`` lines (the agent's lines over and over, a tenth of a second apart, so that no
    two files are the same: copies would be read once) cut into ``files`` files."""
    per, extra = divmod(total, files)
    out, at = [], 0
    for index in range(files):
        count = per + (1 if index < extra else 0)
        chunk = []
        for k in range(at, at + count):
            stamp = (_START + timedelta(milliseconds=100 * k)).strftime("%Y-%m-%dT%H:%M:%S.%f")
            chunk.append(_STAMP.sub(stamp[:-3].encode() + b"Z", lines[k % len(lines)], count=1))
        out.append(b"".join(chunk))
        at += count
    return out


def _names(files: int) -> list[str]:
    """Paths that name no instance, a thousand files a folder."""
    return [f"logs/d{i // 1000:03d}/WaAppAgent_{i:06d}.log" for i in range(files)]


def _write_zip(path: Path, contents: list[bytes]) -> None:
    tmp = path.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in zip(_names(len(contents)), contents, strict=True):
            zf.writestr(name, data)
    tmp.replace(path)


def _write_folder(path: Path, contents: list[bytes]) -> None:
    tmp = path.with_name(path.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    for name, data in zip(_names(len(contents)), contents, strict=True):
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    tmp.replace(path)


def _pair(out: Path, kind: str, files: int, lines: list[bytes]) -> tuple[Path, Path]:
    """(many files, the same lines in FEW files) as zips or folders, generated once."""
    total = files * LINES_PER_FILE
    suffix = ".zip" if kind == "zip" else ""
    many = out / f"files-{kind}-{files}x{LINES_PER_FILE}{suffix}"
    few = out / f"files-{kind}-{FEW}x{total // FEW}{suffix}"
    write = _write_zip if kind == "zip" else _write_folder
    out.mkdir(parents=True, exist_ok=True)
    for path, count in ((many, files), (few, FEW)):
        if not path.exists():
            write(path, _chunks(lines, count, total))
    return many, few


_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from azdiag.knowledge.formats import load_formats
from azdiag.collect.discover import CollectError, discover
from azdiag.parse.ingest import ingest
formats = load_formats()
def now():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, time.perf_counter()
c0, w0 = now()
try:
    sources = len(discover({path!r}, formats).sources)
except CollectError as exc:
    c1, w1 = now()
    print(json.dumps({{"refused": str(exc), "cpu": c1 - c0, "wall": w1 - w0}}))
    sys.exit(0)
c1, w1 = now()
ingested = ingest({path!r}, formats=formats)
c2, w2 = now()
print(json.dumps({{
    "discover_cpu": c1 - c0, "discover_wall": w1 - w0,
    "ingest_cpu": c2 - c1, "ingest_wall": w2 - w1,
    "sources": sources, "rows": ingested.events.height,
    "lines": sum(f.lines for f in ingested.files),
    "errors": sum(1 for f in ingested.files if f.error),
    "instances": sorted({{f.instance for f in ingested.files}}),
    "load": __import__("os").getloadavg()[0],
}}))
"""


def _child(path: Path) -> dict:
    code = _CHILD.format(root=str(ROOT), path=str(path))
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def measure(many: Path, few: Path, runs: int) -> dict:
    """Alternating fresh processes on both inputs; medians and many / few ratios; or, when the
    many files are refused (more than azdiag.collect.archive.MAX_FILES), how fast and why."""
    first = _child(many)
    if "refused" in first:
        runs_of = [first] + [_child(many) for _ in range(runs - 1)]
        return {
            "runs": runs,
            "refused": first["refused"],
            "refused_wall": _median([r["wall"] for r in runs_of]),
            "refused_cpu": _median([r["cpu"] for r in runs_of]),
        }
    measured: dict[str, list[dict]] = {"many": [first], "few": [_child(few)]}
    for index in range(1, runs):
        order = [("many", many), ("few", few)]
        for name, path in order if index % 2 == 0 else order[::-1]:
            measured[name].append(_child(path))
    result: dict = {"runs": runs}
    for name, rows in measured.items():
        first = rows[0]
        result[name] = {
            key: _median([r[key] for r in rows])
            for key in ("discover_cpu", "discover_wall", "ingest_cpu", "ingest_wall", "load")
        }
        result[name].update({k: first[k] for k in ("sources", "rows", "lines", "errors")})
        result[name]["instances"] = first["instances"]
    m, f = result["many"], result["few"]
    result["same_lines"] = m["lines"] == f["lines"] and m["rows"] == f["rows"]
    result["ratio_cpu"] = m["ingest_cpu"] / f["ingest_cpu"]
    result["ratio_wall"] = m["ingest_wall"] / f["ingest_wall"]
    # in CPU time: discovery runs first in each process, the one to wait for the page cache
    result["discover_share"] = m["discover_cpu"] / m["ingest_cpu"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--members", default="10000,50000,100000", help="zip sizes, comma-separated"
    )
    parser.add_argument("--folder-files", type=int, default=7080, help="0: no folder")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes of each; medians")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()

    lines = _agent_lines()
    cases = [("zip", int(n)) for n in args.members.split(",") if n]
    cases += [("folder", args.folder_files)] if args.folder_files else []
    results = []
    for kind, files in cases:
        many, few = _pair(args.out, kind, files, lines)
        result = measure(many, few, args.runs)
        result.update(kind=kind, files=files, lines=files * LINES_PER_FILE)
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.write_results:
        _write_results(results)


def _write_results(results: list[dict]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        "## Many small files (`python bench/files.py --write-results`)",
        "",
        f"Machine: {machine}; shared with other jobs, so CPU time is given beside "
        f"wall time, with the load average (1 min). Medians of {results[0]['runs']} fresh "
        f"processes per input, alternating. Each small file holds {LINES_PER_FILE} lines of a "
        "guest agent log, its path names no instance (the text does); the reference holds the "
        f"same lines in {FEW} files of the same kind of input. Time: `ingest` (discovery and "
        f"parse) to the events table. Target: many files within {TARGET:g}x the few.",
        "",
        "| input | lines | many files wall / CPU | same lines in 10 wall / CPU "
        "| many / few (wall / CPU) | discovery's share (many, CPU) | same rows | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "refused" in r:
            lines.append(
                f"| {r['kind']} of {r['files']:,} files | {r['lines'] / 1e6:.2f} M "
                f"| refused in {r['refused_wall']:.2f} s / {r['refused_cpu']:.2f} s "
                f"(`{r['refused'].split(': ', 1)[-1][:60]}...`) | - | - | - | - | - |"
            )
            continue
        m, f = r["many"], r["few"]
        lines.append(
            f"| {r['kind']} of {r['files']:,} files | {r['lines'] / 1e6:.2f} M "
            f"| {m['ingest_wall']:.2f} s / {m['ingest_cpu']:.2f} s "
            f"| {f['ingest_wall']:.2f} s / {f['ingest_cpu']:.2f} s "
            f"| {r['ratio_wall']:.2f}x / {r['ratio_cpu']:.2f}x "
            f"| {r['discover_share'] * 100:.0f}% | {'yes' if r['same_lines'] else 'NO'} "
            f"| {m['load']:.1f} / {f['load']:.1f} |"
        )
    lines.append("")
    write_section(lines)


if __name__ == "__main__":
    main()
