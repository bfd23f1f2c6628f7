"""Metamorphic tests: a collection written another documented way gets the same verdict.

Each bundled scenario fixture is copied to a temporary folder and transformed in a way that
must not change what happened on the instance: every log's time form rewritten into another
documented form (same instants, log-formats.md §1-§4 and §7), bootstrapper and agent-runtime
generations renamed into another documented naming (`.old`, `.N`, `_<timestamp>`), the folder
zipped, or the tree nested the way support engineers and CollectGuestLogs lay it out. The
verdict's scenario and stage, and the number of start-up cycles of each instance, must be those
of the untouched fixture (issue 10, item 7).

Cost: one analysis per fixture and transform; each fixture gets one time-form rewrite and one
layout change, picked from its position in the sorted fixture list, so that every transform
runs on several fixtures and the whole file stays well under a minute.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from azdiag.analysis import analyze
from azdiag.diagnosis import diagnose
from tests.conftest import analysed, fixture_path, manifest_names

# ------------------------------------------------------------------------------------------
# Line rewriters: one line (without its line end) in, the same record in another documented
# form out. A line that is not a header of the form they read (a continuation line, another
# form) comes back unchanged.

_AGENT = re.compile(
    r"^\[(?P<tid>\d+)\] \[(?P<mo>\d+)/(?P<d>\d+)/(?P<y>\d{4}) (?P<hms>\d+:\d\d:\d\d)"
    r"(?:\.(?P<frac>\d+))?\] (?P<rest>\[[A-Za-z]+\].*)$",
    re.S,
)
_BLOCK = re.compile(
    r"^\[(?P<ids>\d+:\d+), (?P<when>\d{4}/\d+/\d+, \d+:\d\d:\d\d(?:\.\d+)?), "
    r"(?P<level>[A-Za-z]+) *\] ?(?P<msg>.*)$",
    re.S,
)
_TRACE = re.compile(
    r"^(?P<prefix>\S+ [A-Za-z]+: -?\d+ : )\[(?P<mo>\d+)/(?P<d>\d+)/(?P<yy>\d\d) "
    r"(?P<hms>\d+:\d\d:\d\d)(?:\.(?P<frac>\d+))?\] ?(?P<msg>.*)$",
    re.S,
)
#: bootstrapper trace masks (log-formats.md §7): ordinary messages, function-exit traces
MASK_MESSAGE, MASK_TRACE = "00040000", "00100000"


def _ms(frac: str | None) -> str:
    """Fraction digits as milliseconds: "43" (hundredths) -> "430", the same instant."""
    return ((frac or "") + "000")[:3]


def agent_to_iso(line: str) -> str:
    """``[tid] [MM/DD/YYYY HH:MM:SS.ff] [LEVEL] msg`` -> ``[tid] YYYY-MM-DDTHH:MM:SS.mmmZ
    [LEVEL] msg`` (newer agents, §1)."""
    if not (m := _AGENT.match(line)):
        return line
    day = f"{m['y']}-{int(m['mo']):02d}-{int(m['d']):02d}"
    return f"[{m['tid']}] {day}T{m['hms']}.{_ms(m['frac'])}Z {m['rest']}"


def agent_drop_thread(line: str) -> str:
    """``[tid] [time] [LEVEL] msg`` -> ``[time] [LEVEL] msg`` (trimmed copies, §1)."""
    if not (m := _AGENT.match(line)):
        return line
    frac = f".{m['frac']}" if m["frac"] else ""
    return f"[{m['mo']}/{m['d']}/{m['y']} {m['hms']}{frac}] {m['rest']}"


def block_level_to_mask(line: str) -> str:
    """``[pid:tid, date, time, LEVEL] msg`` -> the hex trace mask where the level stands:
    ``00100000`` for ``<- X=0x..`` function-exit traces, ``00040000`` otherwise (§7)."""
    if not (m := _BLOCK.match(line)):
        return line
    mask = MASK_TRACE if m["msg"].startswith("<- ") else MASK_MESSAGE
    return f"[{m['ids']}, {m['when']}, {mask}] {m['msg']}"


def trace_to_pid_tid(line: str) -> str:
    """``Source Type: 0 : [MM/DD/YY HH:MM:SS.ff] msg`` -> ``Source Type: 0 : [pid:tid,
    YYYY/MM/DD, HH:MM:SS.mmm] msg`` (the TraceSource prefix with the bootstrapper's block, §4)."""
    if not (m := _TRACE.match(line)):
        return line
    day = f"20{m['yy']}/{int(m['mo']):02d}/{int(m['d']):02d}"
    return f"{m['prefix']}[00002104:00000001, {day}, {m['hms']}.{_ms(m['frac'])}] {m['msg']}"


@pytest.mark.parametrize(
    ("rewrite", "line", "expected"),
    [
        (
            agent_to_iso,
            "[00000012] [03/14/2024 09:26:53.43] [INFO]  WindowsAzureGuestAgent starting.",
            "[00000012] 2024-03-14T09:26:53.430Z [INFO]  WindowsAzureGuestAgent starting.",
        ),
        (
            agent_drop_thread,
            "[00000021] [03/14/2024 09:28:01.78] [HEART] WindowsAzureGuestAgent Heartbeat.",
            "[03/14/2024 09:28:01.78] [HEART] WindowsAzureGuestAgent Heartbeat.",
        ),
        (
            block_level_to_mask,
            "[00002140:00003312, 2024/03/14, 09:29:40.118, INFO ] Executing Startup Task type=2",
            "[00002140:00003312, 2024/03/14, 09:29:40.118, 00040000] Executing Startup Task type=2",
        ),
        (
            block_level_to_mask,
            "[00002140:00003312, 2024/03/14, 09:29:40.120, ERROR] <- WapGetAppCmdPath=0x1",
            "[00002140:00003312, 2024/03/14, 09:29:40.120, 00100000] <- WapGetAppCmdPath=0x1",
        ),
        (
            trace_to_pid_tid,
            "WaIISHost Information: 0 : [09/01/24 06:00:23.83] Role environment . INITIALIZING",
            "WaIISHost Information: 0 : [00002104:00000001, 2024/09/01, 06:00:23.830] "
            "Role environment . INITIALIZING",
        ),
        (
            trace_to_pid_tid,
            "IISConfigurator Error: 0 : [03/14/24 09:29:40.02] System.Exception: boom",
            "IISConfigurator Error: 0 : [00002104:00000001, 2024/03/14, 09:29:40.020] "
            "System.Exception: boom",
        ),
        # not a header of the form read: unchanged
        (agent_to_iso, "   at Foo.Bar()", "   at Foo.Bar()"),
        (block_level_to_mask, "=" * 20, "=" * 20),
        (trace_to_pid_tid, "WaIISHost Information: 0 : Role environment . INITIALIZED", None),
    ],
)
def test_rewriter_keeps_the_record(rewrite: Callable[[str], str], line: str, expected: str | None):
    assert rewrite(line) == (line if expected is None else expected)


# ------------------------------------------------------------------------------------------
# Collection transforms: each takes a copy of a fixture (a folder) and changes it in place,
# or returns the path of what replaces it.


def _both(*rewrites: Callable[[str], str]) -> Callable[[str], str]:
    """Each rewriter in turn (each leaves the lines of other forms alone)."""

    def rewrite(line: str) -> str:
        for one in rewrites:
            line = one(line)
        return line

    return rewrite


_HOST = _both(trace_to_pid_tid, block_level_to_mask)
#: time-form rewrites: log kind (file name start, lower case) -> rewriter. Every form rewrites
#: the agent logs, so that it changes every fixture.
TIME_FORMS: dict[str, dict[str, Callable[[str], str]]] = {
    "agent-iso+mask+pid-tid": {
        "waappagent": agent_to_iso,
        "appagentruntime": agent_to_iso,
        "wahostbootstrapper": block_level_to_mask,
        "iisconfigurator": trace_to_pid_tid,
        "waiishost": _HOST,
        "waworkerhost": _HOST,
    },
    "agent-no-thread+pid-tid": {
        "waappagent": agent_drop_thread,
        "appagentruntime": agent_drop_thread,
        "iisconfigurator": trace_to_pid_tid,
        "waiishost": trace_to_pid_tid,
        "waworkerhost": trace_to_pid_tid,
    },
    "agent-iso+mask": {
        "waappagent": agent_to_iso,
        "appagentruntime": agent_to_iso,
        "wahostbootstrapper": block_level_to_mask,
        "waiishost": block_level_to_mask,
        "waworkerhost": block_level_to_mask,
    },
}


def _decode(raw: bytes) -> tuple[str, str, bytes]:
    """(text, codec, BOM) of a fixture log: UTF-16LE or UTF-8, with or without a BOM."""
    if raw.startswith(b"\xff\xfe"):
        return raw[2:].decode("utf-16-le"), "utf-16-le", raw[:2]
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8"), "utf-8", raw[:3]
    return raw.decode("utf-8"), "utf-8", b""


def rewrite_file(path: Path, rewrite: Callable[[str], str]) -> int:
    """Rewrite every line of ``path`` in place, keeping encoding, BOM and line ends; return
    how many lines changed."""
    text, codec, bom = _decode(path.read_bytes())
    out, changed = [], 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        new = rewrite(body)
        changed += new != body
        out.append(new + line[len(body) :])
    path.write_bytes(bom + "".join(out).encode(codec))
    return changed


def rewrite_time_forms(root: Path, form: str) -> Path:
    changed = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        for kind, rewrite in TIME_FORMS[form].items():
            if path.name.lower().startswith(kind):
                changed += rewrite_file(path, rewrite)
    assert changed, f"{form} changed no line of {root}"
    return root


_FIRST_TIME = re.compile(r"(\d{4})/(\d+)/(\d+), (\d+):(\d\d):(\d\d)")


def _first_stamp(path: Path) -> str:
    """``YYYYMMDDTHHMMSS`` of the first block time of a bootstrapper log."""
    text, _, _ = _decode(path.read_bytes()[:4096])
    m = _FIRST_TIME.search(text)
    assert m, path
    y, mo, d, h, mi, s = (int(x) for x in m.groups())
    return f"{y:04d}{mo:02d}{d:02d}T{h:02d}{mi:02d}{s:02d}"


def rename_generations(root: Path, scheme: str) -> Path:
    """Old generations (every WaHostBootstrapper / AppAgentRuntime log but the current
    ``*.log``) renamed: ``numbered`` -> ``.log.1`` (newest) ... ``.log.N``; ``stamped`` ->
    ``_<first time>.log`` (AppAgentRuntime: ``_01.log``); ``old`` -> newest ``.log.old``,
    older ones ``_<first time>.log``."""
    renamed = 0
    for folder in {p.parent for p in root.rglob("*.log*")}:
        for base in ("WaHostBootstrapper", "AppAgentRuntime"):
            olds = [
                p
                for p in folder.iterdir()
                if p.name.startswith(base) and p.name != f"{base}.log" and p.is_file()
            ]
            olds.sort(key=lambda p: _first_stamp(p) if base != "AppAgentRuntime" else "")
            olds.reverse()  # newest first
            staging = [p.rename(p.with_name(f"{p.name}.moving")) for p in olds]
            for i, path in enumerate(staging, 1):
                if scheme == "numbered":
                    name = f"{base}.log.{i}"
                elif scheme == "stamped" and base == "WaHostBootstrapper":
                    name = f"{base}_{_first_stamp(path)}.log"
                elif scheme == "stamped":
                    name = f"{base}_{i:02d}.log"
                elif i == 1:
                    name = f"{base}.log.old"
                else:
                    name = f"{base}_{_first_stamp(path)}.log"
                path.rename(path.with_name(name))
                renamed += 1
    assert renamed, f"no generation to rename under {root}"
    return root


def zip_folder(root: Path) -> Path:
    """The folder as one zip beside it (members relative to the folder, like the fixtures)."""
    target = root.with_name(root.name + ".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(root).as_posix())
    shutil.rmtree(root)
    return target


def nest(root: Path, layout: str) -> Path:
    """``c-drive``: top folders carry the drive letter as copied by hand (``Resources`` ->
    ``C_Resources``, ``Config`` -> ``C_Config``); ``runtime-and-agent``: the ``Resources`` and
    ``Config`` trees moved under ``RuntimeAndAgent/``; ``deeper``: the whole collection two
    folders down, names with spaces."""
    moves: list[tuple[Path, Path]] = []
    for top in sorted({p.relative_to(root).parts[0] for p in root.rglob("*") if p.is_file()}):
        src = root / top
        instances = [src] if not re.fullmatch(r"\w+_IN_\d+", top) else list(src.iterdir())
        for folder in instances:
            base, name = folder.parent, folder.name
            if layout == "c-drive" and name in ("Resources", "Config"):
                moves.append((folder, base / f"C_{name}"))
            elif layout == "runtime-and-agent" and name in ("Resources", "Config"):
                moves.append((folder, base / "RuntimeAndAgent" / name))
    if layout == "deeper":
        inner = root / "Case 0042" / "guest logs"
        inner.mkdir(parents=True)
        moves = [(root / p.name, inner / p.name) for p in root.iterdir() if p.name != "Case 0042"]
    assert moves, f"{layout}: nothing to move under {root}"
    for src, dst in moves:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, dst)
    return root


TRANSFORMS: dict[str, Callable[[Path], Path]] = {
    **{f"time:{form}": (lambda root, f=form: rewrite_time_forms(root, f)) for form in TIME_FORMS},
    "rename:numbered": lambda root: rename_generations(root, "numbered"),
    "rename:stamped": lambda root: rename_generations(root, "stamped"),
    "rename:old": lambda root: rename_generations(root, "old"),
    "zip": zip_folder,
    "nest:c-drive": lambda root: nest(root, "c-drive"),
    "nest:runtime-and-agent": lambda root: nest(root, "runtime-and-agent"),
    "nest:deeper": lambda root: nest(root, "deeper"),
}
TIME = [t for t in TRANSFORMS if t.startswith("time:")]
LAYOUT = [t for t in TRANSFORMS if not t.startswith("time:")]
FIXTURES = manifest_names()


def _has_generations(name: str) -> bool:
    folder = fixture_path(name)
    if folder.suffix == ".zip":
        with zipfile.ZipFile(folder) as archive:
            return sum("WaHostBootstrapper" in n for n in archive.namelist()) > 1
    return len(list(folder.rglob("WaHostBootstrapper*"))) > 1


def plan() -> list[tuple[str, str]]:
    """(fixture, transform) pairs: each fixture one time-form rewrite and one layout change,
    in turn by the fixture's position; renaming only where there are old generations."""
    pairs = []
    renames = [t for t in LAYOUT if t.startswith("rename:")]
    others = [t for t in LAYOUT if not t.startswith("rename:")]
    for i, name in enumerate(FIXTURES):
        pairs.append((name, TIME[i % len(TIME)]))
        pool = renames + others if _has_generations(name) else others
        pairs.append((name, pool[i % len(pool)]))
    return pairs


PLAN = plan()


def test_every_transform_runs_on_several_fixtures():
    for transform in TRANSFORMS:
        assert sum(t == transform for _, t in PLAN) >= 2, transform
    assert {name for name, _ in PLAN} == set(FIXTURES)


def verdict(analysis) -> tuple[str | None, str | None, dict[str, int]]:
    """(scenario, stage) of the overall verdict and the start-up cycles of each instance."""
    finding = diagnose(analysis).overall.finding
    cycles = analysis.cycles.group_by("instance").len().rows()
    return (
        finding.rule.scenario if finding else None,
        finding.rule.stage if finding else None,
        dict(sorted(cycles)),
    )


def _copy(name: str, tmp: Path) -> Path:
    """The fixture as a folder under ``tmp`` (zip fixtures are extracted)."""
    src, root = fixture_path(name), tmp / name
    if src.suffix == ".zip":
        with zipfile.ZipFile(src) as archive:
            archive.extractall(root)
    else:
        shutil.copytree(src, root)
    return root


@pytest.mark.parametrize(("name", "transform"), PLAN, ids=[f"{n}-{t}" for n, t in PLAN])
def test_transform_keeps_the_verdict(name: str, transform: str, tmp_path: Path):
    changed = TRANSFORMS[transform](_copy(name, tmp_path))
    assert verdict(analyze(changed)) == baseline(name), f"{name} after {transform}"


@cache
def baseline(name: str) -> tuple[str | None, str | None, dict[str, int]]:
    return verdict(analysed(name))


def test_the_comparison_sees_a_change_that_matters(tmp_path: Path):
    """Guard for the test above: dropping the failing task's exit lines (S01) changes the
    verdict, so equal verdicts after a transform are not an accident of a blind comparison."""
    root = _copy("S01", tmp_path)
    for path in root.rglob("WaHostBootstrapper*"):
        rewrite_file(path, lambda line: "" if "setup.cmd" in line else line)
    assert verdict(analyze(root)) != baseline("S01")
