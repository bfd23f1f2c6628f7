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
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azdiag.collect.several import LAYOUT_FOLDERS, is_own_folder

if TYPE_CHECKING:  # formats are imported when a folder is read, not with the CLI
    from azdiag.collect.discover import Collection
    from azdiag.knowledge.formats import FormatSet

#: Archive suffixes that make a file a collection of its own.
ARCHIVES = (".zip", ".gz")
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Task:
    name: str  # unique, file-system safe: its output folder ("a/b" for b found in a)
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


def expand(
    paths: list[str],
    refused: list[str] | None = None,
    *,
    format_dirs: tuple[str, ...] = (),
    max_bytes: int | None = None,
) -> list[tuple[str, str]]:
    """(name, path) of every collection under ``paths``, sorted by name, names made unique.

    A glob's matches and archives are collections. A folder is one collection when it looks
    like one (a guest log or a collection's own folders right inside it); otherwise each
    sub-folder or archive in it is a collection, except a symbolic link leading out of the
    folder: it is not followed. A folder that is not one collection by its look alone (see
    ``_may_hold_several``) is inventoried as ``azdiag report`` does; when it holds several
    collections side by side (the same instance's same log in two of its sub-folders or
    archives), each of its sub-folders and archives is one instead, recursively, named
    ``folder/sub`` after where it lies.
    ``refused`` gets one line for each input that is not followed or does not exist (a missing
    one stays a collection, so that its row says so too) and each log left out of a split.
    ``format_dirs``/``max_bytes``: as for the analysis, so that the inventory sees what it will.
    """
    notes: list[str] = [] if refused is None else refused
    found: list[Path] = []
    for given in paths:
        if glob.has_magic(given):
            found += [Path(match) for match in sorted(glob.glob(given))]
            continue
        path = Path(given)
        if not os.path.lexists(path):
            notes.append(f"{given}: no such file or folder")
        if path.is_dir() and not _looks_like_a_collection(path):
            found += _children(path, notes) or [path]
        else:
            found.append(path)
    split = _Splitter(notes, format_dirs, max_bytes)
    return sorted(item for name, path in _named(found) for item in split(name, path))


def _named(paths: list[Path], parent: str = "") -> list[tuple[str, Path]]:
    """Each path with a file-system safe name unique among them, under ``parent`` when given."""
    named: dict[str, Path] = {}
    for path in paths:
        base = f"{parent}/{_safe_name(path)}" if parent else _safe_name(path)
        name, n = base, 1
        while name in named and named[name] != path:
            n += 1
            name = f"{base}-{n}"
        named[name] = path
    return list(named.items())


def _children(folder: Path, refused: list[str]) -> list[Path]:
    """The sub-folders and archives of ``folder`` in name order, without symbolic links that
    lead out of it (one line each into ``refused``)."""
    children = []
    for child in sorted(folder.iterdir()):
        if not (child.is_dir() or child.name.lower().endswith(ARCHIVES)):
            continue
        if _leads_out(child, folder):
            target = os.path.realpath(child)
            refused.append(f"{child}: symbolic link to {target}, outside the input: not followed")
            continue
        children.append(child)
    return children


@dataclass
class _Splitter:
    """Splits a folder of collections into its collections, by ``azdiag report``'s rule."""

    refused: list[str]
    format_dirs: tuple[str, ...]
    max_bytes: int | None

    def __call__(self, name: str, path: Path) -> list[tuple[str, str]]:
        """(name, path) of the collections in ``path``: itself, unless it is a folder that holds
        several side by side; then those in each of its sub-folders and archives. A folder of
        a collection's own folders with another collection beside them is itself (its own
        logs, as report reads it) and, named after where they lie, the collections beside."""
        if not path.is_dir() or not _may_hold_several(path):
            return [(name, str(path))]
        collection = self._inventory(path)
        if collection is None:
            return [(name, str(path))]
        if collection.beside:
            return self._with_beside(name, path, collection.beside)
        if not collection.collections:
            return [(name, str(path))]
        tops = {re.split(r"[/!]", source.display, maxsplit=1)[0] for source in collection.sources}
        children = _children(path, self.refused)
        kept = {child.name for child in children}
        for top in sorted(tops - kept):  # a log right inside it, or a link not followed
            if not (path / top).is_symlink():
                self.refused.append(
                    f"{path / top}: a log beside the collections in {path}, in none of them: "
                    "not analysed"
                )
        return [item for sub, child in _named(children, name) for item in self(sub, child)]

    def _with_beside(self, name: str, path: Path, beside: list[str]) -> list[tuple[str, str]]:
        """``path`` (the collection its own folders hold) and the collections ``beside`` them,
        named after where they lie; when all lie in one folder that wraps everything, what
        that folder splits into instead."""
        wrapper = path / beside[0].split("/", 1)[0]
        if "/" not in beside[0]:
            others = [path / top for top in beside]
            return [(name, str(path))] + [
                item for sub, child in _named(others, name) for item in self(sub, child)
            ]
        if not wrapper.is_dir():  # an archive: triage cannot split it, its report lists them
            self.refused.append(
                f"{wrapper}: holds another collection beside its own folders "
                f"({', '.join(beside)}): not analysed (unpack it and triage the folder)"
            )
        return self(f"{name}/{_safe_name(wrapper)}", wrapper)

    @cached_property
    def _formats(self) -> FormatSet:
        """The formats, loaded once for every folder the split reads."""
        from azdiag.knowledge.formats import load_formats

        return load_formats(tuple(Path(d) for d in self.format_dirs))

    def _inventory(self, folder: Path) -> Collection | None:
        """``folder`` inventoried as ``azdiag report`` does; None when it cannot be."""
        from azdiag.collect.discover import CollectError, Limits, discover

        try:
            return discover(folder, self._formats, limits=Limits.with_max_bytes(self.max_bytes))
        except CollectError:
            return None  # the analysis meets the same problem and says so in its row


def _may_hold_several(folder: Path) -> bool:
    """False when ``folder`` is one collection by its look alone: a guest log or a collection's
    own folders right inside it, and no archive or other folder beside them."""
    if not _looks_like_a_collection(folder):
        return True
    for child in folder.iterdir():
        name = child.name.lower()
        if child.is_dir() and not is_own_folder(name):
            return True
        if child.is_file() and name.endswith(ARCHIVES) and not name.endswith(".log.gz"):
            return True
    return False


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
        if child.is_dir() and (name in LAYOUT_FOLDERS or "_in_" in name):
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
    if not ingested.has_guest_log:
        raise ValueError(f"only empty guest logs in this collection ({len(ingested.files)})")
    if ingested.collection.collections:  # one verdict would mix incidents (report refuses it)
        raise ValueError(
            f"holds {ingested.collection.several()}, not analysed as one: "
            "give each to 'azdiag triage' (unpack an archive first)"
        )
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
