"""Batch triage, the unit of work: one collection in, its reports and one summary row out.

``triage_one`` is a pure function of its ``Task`` (inputs, output folder, options): the local
process pool and a Dask cluster run exactly the same code, and a collection that fails becomes a
row with its error instead of stopping the batch. Files are written atomically (temporary name,
then rename), so an interrupted run leaves only complete files behind.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Archive suffixes that make a file a collection of its own.
ARCHIVES = (".zip", ".gz")
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Task:
    name: str  # unique, file-system safe: the collection's output folder
    path: str
    out: str  # the batch output folder
    formats: tuple[str, ...] = ("html", "json")
    fail_on: str | None = None
    tz: str = "UTC"
    rule_dirs: tuple[str, ...] = ()
    format_dirs: tuple[str, ...] = ()
    max_bytes: int | None = None  # --max-bytes; None: the machine's limits


@dataclass
class Result:
    """One summary row; ``error`` is set when the collection could not be analysed."""

    name: str
    path: str
    fingerprint: str
    error: str | None = None
    instances: list[str] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)
    top_finding: str | None = None
    severity: str | None = None
    outcome: str | None = None  # the outcome of most concern (verdict.OUTCOMES)
    outcomes: dict[str, int] = field(default_factory=dict)  # instances per outcome
    findings: dict[str, int] = field(default_factory=dict)
    cycles: int = 0
    window: dict[str, str | None] = field(default_factory=dict)
    files: int = 0
    lines: int = 0
    parsed_ratio: float | None = None
    reports: dict[str, str] = field(default_factory=dict)
    skipped: bool = False  # --resume found it done already

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("skipped")
        return data


#: Folder names of a collection's own layout (CollectGuestLogs, or C:\Logs copied by hand).
_LAYOUT = {"runtimeandagent", "resources", "config", "logs", "windowsazure", "plugins"}


def expand(paths: list[str], refused: list[str] | None = None) -> list[tuple[str, str]]:
    """(name, path) of every collection under ``paths``, sorted by name, names made unique.

    A glob's matches and archives are collections. A folder is one collection when it looks
    like one (a guest log or a collection's own folders right inside it); otherwise each
    sub-folder or archive in it is a collection, except a symbolic link leading out of the
    folder: it is not followed, and why goes into ``refused`` (one line each).
    """
    found: list[Path] = []
    for given in paths:
        if glob.has_magic(given):
            found += [Path(match) for match in sorted(glob.glob(given))]
            continue
        path = Path(given)
        if path.is_dir() and not _looks_like_a_collection(path):
            children = []
            for child in sorted(path.iterdir()):
                if not (child.is_dir() or child.name.lower().endswith(ARCHIVES)):
                    continue
                if _leads_out(child, path):
                    if refused is not None:
                        target = os.path.realpath(child)
                        refused.append(
                            f"{child}: symbolic link to {target}, outside the input: not followed"
                        )
                    continue
                children.append(child)
            found += children or [path]
        else:
            found.append(path)
    named: dict[str, str] = {}
    for path in found:
        base = _safe_name(path)
        name, n = base, 1
        while name in named and named[name] != str(path):
            n += 1
            name = f"{base}-{n}"
        named[name] = str(path)
    return sorted(named.items())


def _leads_out(child: Path, folder: Path) -> bool:
    """True when ``child`` is a symbolic link to something outside ``folder``."""
    if not child.is_symlink():
        return False
    return not Path(os.path.realpath(child)).is_relative_to(os.path.realpath(folder))


def _looks_like_a_collection(folder: Path) -> bool:
    from azdiag.knowledge.formats import load_formats

    formats = load_formats()
    for child in folder.iterdir():
        name = child.name.lower()
        if child.is_dir() and (name in _LAYOUT or "_in_" in name):
            return True
        if child.is_file() and formats.kind_for_name(name.removesuffix(".gz")):
            return True
    return False


def _safe_name(path: Path) -> str:
    stem = path.name
    for suffix in ARCHIVES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "collection"


def fingerprint(path: str) -> str:
    """Changes when any file of the collection changes (names, sizes, modification times)."""
    digest = hashlib.sha256()
    root = Path(path)
    items = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for item in items:
        try:
            stat = item.stat()
        except OSError:
            continue
        relative = item.relative_to(root) if root.is_dir() else Path(item.name)
        line = f"{relative.as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
        digest.update(line.encode("utf-8", "surrogateescape"))  # names need not be UTF-8
    return digest.hexdigest()[:32]


def input_bytes(path: str) -> int:
    """The bytes of a collection's files (an archive's own size), 0 when unreadable: how long
    it will take, roughly, to put the longest first."""
    root = Path(path)
    try:
        if not root.is_dir():
            return root.stat().st_size
        return sum(item.stat().st_size for item in root.rglob("*") if item.is_file())
    except OSError:
        return 0


def load_result(task: Task) -> Result | None:
    """The result of ``task`` on disk when it is complete (its reports exist), else None."""
    folder = Path(task.out) / task.name
    try:
        previous = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if any(not (folder / f).exists() for f in previous.get("reports", {}).values()):
        return None
    return Result(**{k: v for k, v in previous.items() if k in Result.__dataclass_fields__})


def done_before(task: Task) -> Result | None:
    """The previous result of ``task`` when its outputs exist and its input did not change."""
    result = load_result(task)
    if result is None or result.fingerprint != fingerprint(task.path):
        return None
    result.skipped = True
    return result


def triage_one(task: Task) -> Result:
    """Analyse one collection, write its reports, return its summary row. Never raises."""
    result = Result(name=task.name, path=task.path, fingerprint=fingerprint(task.path))
    try:
        _analyse_into(task, result)
    except Exception as exc:  # a broken collection is a row with its error, never a crash
        result.error = _error_text(exc)
    folder = Path(task.out) / task.name
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / RESULT_FILE, json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _analyse_into(task: Task, result: Result) -> None:
    from azdiag.collect.discover import Limits
    from azdiag.diagnosis.engine import diagnose
    from azdiag.knowledge.formats import load_formats
    from azdiag.parse.ingest import ingest
    from azdiag.render.writer import render_report
    from azdiag.timeline.analysis import from_ingested

    formats = load_formats(tuple(Path(d) for d in task.format_dirs))
    limits = Limits.with_max_bytes(task.max_bytes)
    ingested = ingest(task.path, formats=formats, tz=task.tz, limits=limits)
    if not ingested.files:
        raise ValueError("no guest log found in this collection")
    analysis = from_ingested(ingested, formats)
    diagnosis = diagnose(analysis, rule_dirs=tuple(Path(d) for d in task.rule_dirs))
    start, end = ingested.window
    lines = sum(f.lines for f in ingested.files)
    unparsed = sum(f.unparsed_lines for f in ingested.files)
    top = diagnosis.overall.finding
    result.instances = [v.instance or "" for v in diagnosis.verdicts]
    result.verdict = diagnosis.overall.to_dict()
    result.top_finding = top.rule.title if top else None
    result.severity = diagnosis.worst_severity()
    result.outcome = diagnosis.overall.outcome
    result.outcomes = dict(Counter(v.outcome for v in diagnosis.verdicts))
    result.findings = {
        level: sum(f.rule.severity == level for f in diagnosis.findings)
        for level in ("critical", "error", "warning", "info")
    }
    result.cycles = analysis.cycles.height
    from azdiag.common.times import iso

    result.window = {"start": iso(start), "end": iso(end)}
    result.files = len(ingested.files)
    result.lines = lines
    result.parsed_ratio = round((lines - unparsed) / lines, 6) if lines else None
    folder = Path(task.out) / task.name
    folder.mkdir(parents=True, exist_ok=True)
    for fmt in task.formats:
        name = f"report.{fmt}"
        text = render_report(analysis, diagnosis, fmt, timestamp=fmt != "json")
        write_atomic(folder / name, text)
        result.reports[fmt] = name


def _error_text(exc: BaseException) -> str:
    """The reason in words for the summary: no Python class names for the user to decode."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    text = str(exc).strip() or "no details"
    if isinstance(exc, ValueError | OSError) or "CollectError" in type(exc).__name__:
        return text
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {Path(frame[0].filename).name}:{frame[0].lineno}" if frame else ""
    return f"internal error{where}, please report it: {text}"


def write_atomic(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` so that readers only ever see a complete file."""
    from azdiag.render.outputs import write_atomic as write

    target.parent.mkdir(parents=True, exist_ok=True)
    write(target, text)
