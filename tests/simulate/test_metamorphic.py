"""Metamorphic tests: a collection written another documented way gets the same verdict.

Each bundled scenario fixture is copied to a temporary folder and transformed in a way that
must not change what happened on the instance: every log's time form rewritten into another
documented form (same instants, log-formats.md §1-§4 and §7), bootstrapper and agent-runtime
generations renamed into another documented naming (`.old`, `.N`, `_<timestamp>`), the folder
zipped, or the tree nested the way support engineers and CollectGuestLogs lay it out. The
verdict's scenario and stage, and the number of start-up cycles of each instance, must be those
of the untouched fixture (issue 10, item 7).

Cost: one analysis per fixture and transform; each fixture gets one time-form rewrite (in
turn) and one layout change (the least used of those that apply to it), so that every
transform runs on several fixtures and the file stays under a minute of CPU (about 35 s).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from azdiag.diagnosis.engine import diagnose
from azdiag.timeline.analysis import analyze
from tests.conftest import analysed, fixture_path, manifest_names

# ------------------------------------------------------------------------------------------
# Line rewriters: one line (without its line end) in, the same record in another documented
# form out (same instant, to the precision of the form written: hundredths in the bracketed
# forms). A line in none of the forms a rewriter moves from (a continuation line, a line
# without a time) comes back unchanged.

_TIME = r"(?P<hms>\d+:\d\d:\d\d)(?:\.(?P<frac>\d+))?"
_MDY4 = rf"(?P<mo>\d+)/(?P<d>\d+)/(?P<y>\d{{4}}) {_TIME}"
_YMD = rf"(?P<y>\d{{4}})/(?P<mo>\d+)/(?P<d>\d+), {_TIME}"
_TS = r"(?P<source>\S+) (?P<type>[A-Za-z]+): (?P<id>-?\d+) : "
#: the documented line forms (log-formats.md §1-§4, §7) a rewriter reads
FORMS = {
    # §1 guest agent
    "agent-bracketed": rf"^\[(?P<tid>\d+)\] \[{_MDY4}\] (?P<rest>\[[A-Za-z]+\].*)$",
    "agent-iso": (
        r"^\[(?P<tid>\d+)\] (?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)T"
        rf"{_TIME}Z (?P<rest>\[[A-Za-z]+\].*)$"
    ),
    "agent-no-thread": rf"^\[{_MDY4}\] (?P<rest>\[[A-Za-z]+\].*)$",
    # §2/§7 [pid:tid, date, time, LEVEL or hex mask]
    "block": (
        rf"^\[(?P<pid>\d+):(?P<tid>\d+), {_YMD}, (?P<level>[A-Za-z]+|[0-9A-Fa-f]{{8}}) *\] ?"
        r"(?P<msg>.*)$"
    ),
    # §3/§4 TraceSource + [MM/DD/YY time], TraceSource + [pid:tid, date, time]
    "trace": (rf"^{_TS}\[(?P<mo>\d+)/(?P<d>\d+)/(?P<yy>\d\d) {_TIME}\] ?(?P<msg>.*)$"),
    "trace-pid-tid": rf"^{_TS}\[(?P<pid>\d+):(?P<tid>\d+), {_YMD}\] ?(?P<msg>.*)$",
    # §5 plugin launchers: TraceSource + [M/D/YYYY h:mm:ss AM]
    "trace-ampm": (
        rf"^{_TS}\[(?P<mo>\d+)/(?P<d>\d+)/(?P<y>\d{{4}}) (?P<h12>\d+):(?P<ms60>\d\d:\d\d) "
        r"(?P<ampm>[AP]M)\] ?(?P<msg>.*)$"
    ),
}
_FORMS = {name: re.compile(rx, re.S) for name, rx in FORMS.items()}
#: bootstrapper trace masks (log-formats.md §7): ordinary messages, function-exit traces
MASK_MESSAGE, MASK_TRACE = "00040000", "00100000"
_WORD_OF = {"Information": "INFO", "Warning": "WARN", "Error": "ERROR", "Critical": "FATAL"}
_WORD_OF |= {"Verbose": "VERBOSE", MASK_MESSAGE: "INFO", MASK_TRACE: "ERROR"}
_TYPE_OF = {w: t for t, w in _WORD_OF.items() if not t.isdigit()} | {"DEBUG": "Verbose"}
_TYPE_OF |= {MASK_MESSAGE: "Information", MASK_TRACE: "Verbose"}


def _fields(form: str, m: re.Match[str]) -> dict[str, str]:
    """A parsed header as plain fields: date parts, ``ms`` (three digits), ids, level, text."""
    f = {k: v for k, v in m.groupdict().items() if v is not None}
    f["y"] = f.get("y") or f"20{f['yy']}"
    if "ampm" in f:  # 12-hour clock: 12 AM is 00, 12 PM is 12
        hour = int(f["h12"]) % 12 + (12 if f["ampm"] == "PM" else 0)
        f["hms"] = f"{hour:02d}:{f['ms60']}"
    f["ms"] = (f.get("frac", "") + "000")[:3]
    if "level" in f and not f["level"].isdigit():
        f["word"] = f["level"].upper()
    elif "level" in f:
        f["word"] = _WORD_OF.get(f["level"], "INFO")
    elif "type" in f:
        f["word"] = _WORD_OF.get(f["type"], "INFO")
    return f


def _emit(form: str, f: dict[str, str], source: str) -> str:
    """The record of ``f`` written in ``form``; ids a form lacks are made up, fixed."""
    mo, d, y, hms = int(f["mo"]), int(f["d"]), f["y"], f["hms"]
    tid, pid = f.get("tid", "00000001"), f.get("pid", "00002104")
    cs = f["ms"][:2]
    body = f.get("rest") or f.get("msg", "")
    if form == "agent-bracketed":
        return f"[{tid}] [{mo:02d}/{d:02d}/{y} {hms}.{cs}] {body}"
    if form == "agent-iso":
        return f"[{tid}] {y}-{mo:02d}-{d:02d}T{hms}.{f['ms']}Z {body}"
    if form == "agent-no-thread":
        return f"[{mo:02d}/{d:02d}/{y} {hms}.{cs}] {body}"
    when = f"{y}/{mo:02d}/{d:02d}, {hms}.{f['ms']}"
    if form in ("block", "block-mask"):
        level = f"{f['word']:<5}"
        if form == "block-mask":
            level = MASK_TRACE if body.startswith("<- ") else MASK_MESSAGE
        return f"[{pid}:{tid}, {when}, {level}] {body}"
    prefix = f"{f.get('source', source)} {f.get('type') or _TYPE_OF.get(f['word'], 'Information')}"
    prefix += f": {f.get('id', '0')} : "
    if form == "trace":
        return f"{prefix}[{mo:02d}/{d:02d}/{y[2:]} {hms}.{cs}] {body}"
    return f"{prefix}[{pid}:{tid}, {when}] {body}"


def rewriter(moves: dict[str, str], source: str = "") -> Callable[[str], str]:
    """A line rewriter moving each form named in ``moves`` to the form it maps to (targets:
    the ``FORMS`` names, and ``block-mask``: the block with a hex trace mask, ``00100000``
    for ``<- X=0x..`` traces and ``00040000`` otherwise). ``source`` is the TraceSource
    name written when a line without one becomes a TraceSource line."""

    def rewrite(line: str) -> str:
        for form, target in moves.items():
            if m := _FORMS[form].match(line):
                if form == "block" and target == "block" and m["level"].isdigit():
                    return _emit("block", _fields(form, m), source)  # mask -> word
                if form == "block" and target == "block":
                    return _emit("block-mask", _fields(form, m), source)  # word -> mask
                return _emit(target, _fields(form, m), source)
        return line

    return rewrite


#: a bootstrapper block's level word <-> its hex trace mask
TOGGLE_MASK = {"block": "block"}


@pytest.mark.parametrize(
    ("moves", "line", "expected"),
    [
        (
            {"agent-bracketed": "agent-iso"},
            "[00000012] [03/14/2024 09:26:53.43] [INFO]  WindowsAzureGuestAgent starting.",
            "[00000012] 2024-03-14T09:26:53.430Z [INFO]  WindowsAzureGuestAgent starting.",
        ),
        (
            {"agent-iso": "agent-no-thread"},
            "[00000021] 2024-03-14T09:28:01.787Z [HEART] WindowsAzureGuestAgent Heartbeat.",
            "[03/14/2024 09:28:01.78] [HEART] WindowsAzureGuestAgent Heartbeat.",
        ),
        (
            {"agent-no-thread": "agent-bracketed"},
            "[03/14/2024 09:28:01.78] [WARN]  Waiting for OOBE to Complete ...",
            "[00000001] [03/14/2024 09:28:01.78] [WARN]  Waiting for OOBE to Complete ...",
        ),
        (
            TOGGLE_MASK,
            "[00002140:00003312, 2024/03/14, 09:29:40.118, INFO ] Executing Startup Task type=2",
            "[00002140:00003312, 2024/03/14, 09:29:40.118, 00040000] Executing Startup Task type=2",
        ),
        (
            TOGGLE_MASK,
            "[00002140:00003312, 2024/03/14, 09:29:40.120, ERROR] <- WapGetAppCmdPath=0x1",
            "[00002140:00003312, 2024/03/14, 09:29:40.120, 00100000] <- WapGetAppCmdPath=0x1",
        ),
        (
            TOGGLE_MASK,
            "[00002140:00003312, 2024/03/14, 09:29:40.120, 00040000] Executing Startup Task",
            "[00002140:00003312, 2024/03/14, 09:29:40.120, INFO ] Executing Startup Task",
        ),
        (
            {"trace": "trace-pid-tid"},
            "WaIISHost Information: 0 : [09/01/24 06:00:23.83] Role environment . INITIALIZING",
            "WaIISHost Information: 0 : [00002104:00000001, 2024/09/01, 06:00:23.830] "
            "Role environment . INITIALIZING",
        ),
        (
            {"trace-pid-tid": "block"},
            "WaIISHost Error: 0 : [00002104:00000007, 2024/09/01, 06:00:23.831] Role entrypoint",
            "[00002104:00000007, 2024/09/01, 06:00:23.831, ERROR] Role entrypoint",
        ),
        (
            {"block": "trace"},
            "[00001234:00005678, 2024/03/14, 09:30:01.123, WARN ] Role instance status check",
            "WaIISHost Warning: 0 : [03/14/24 09:30:01.12] Role instance status check",
        ),
        (
            {"trace-pid-tid": "trace"},
            "IISConfigurator Error: 0 : [00004801:00000012, 2024/03/14, 09:29:40.02] boom",
            "IISConfigurator Error: 0 : [03/14/24 09:29:40.02] boom",
        ),
        (
            {"trace-ampm": "trace-pid-tid"},
            "diagnosticspluginlauncher.exe Warning: 0 : [6/3/2024 12:02:36 PM] not initialised",
            "diagnosticspluginlauncher.exe Warning: 0 : [00002104:00000001, 2024/06/03, "
            "12:02:36.000] not initialised",
        ),
        (
            {"trace-ampm": "trace"},
            "diagnosticspluginlauncher.exe Information: 0 : [3/14/2024 12:29:45 AM] starting",
            "diagnosticspluginlauncher.exe Information: 0 : [03/14/24 00:29:45.00] starting",
        ),
        # not a header of a form moved from: unchanged
        ({"agent-bracketed": "agent-iso"}, "   at Foo.Bar()", None),
        (TOGGLE_MASK, "=" * 20, None),
        ({"trace": "block"}, "WaIISHost Information: 0 : Role environment . INITIALIZED", None),
    ],
)
def test_rewriter_keeps_the_record(moves: dict[str, str], line: str, expected: str | None):
    assert rewriter(moves, "WaIISHost")(line) == (line if expected is None else expected)


# ------------------------------------------------------------------------------------------
# Collection transforms: each takes a copy of a fixture (a folder) and changes it in place,
# or returns the path of what replaces it.

_AGENT = ("waappagent", "appagentruntime")
_HOSTS = ("waiishost", "waworkerhost", "wawebhost")
_PLUGINS = ("diagnosticspluginlauncher",)
#: time-form rewrites, per log kind (file name start): each line's form -> another form (one
#: move per line: the first form of the map that reads the line)
TIME_FORMS: dict[str, list[tuple[tuple[str, ...], dict[str, str]]]] = {
    "forward": [
        (
            _AGENT,
            {
                "agent-bracketed": "agent-iso",
                "agent-iso": "agent-no-thread",
                "agent-no-thread": "agent-bracketed",
            },
        ),
        (("wahostbootstrapper",), TOGGLE_MASK),
        (("iisconfigurator",), {"trace": "trace-pid-tid", "trace-pid-tid": "trace"}),
        (_HOSTS, {"trace": "trace-pid-tid", "trace-pid-tid": "block", "block": "trace"}),
        (_PLUGINS, {"trace-ampm": "trace-pid-tid"}),
    ],
    "backward": [
        (
            _AGENT,
            {
                "agent-bracketed": "agent-no-thread",
                "agent-no-thread": "agent-iso",
                "agent-iso": "agent-bracketed",
            },
        ),
        (("wahostbootstrapper",), TOGGLE_MASK),
        (("iisconfigurator",), {"trace": "trace-pid-tid", "trace-pid-tid": "trace"}),
        (_HOSTS, {"trace": "block", "block": "trace-pid-tid", "trace-pid-tid": "trace"}),
        (_PLUGINS, {"trace-ampm": "trace"}),
    ],
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


def rewrite_time_forms(root: Path, direction: str) -> Path:
    """Every log's lines moved to another documented form (``TIME_FORMS[direction]``)."""
    changed = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.name.lower()
        for kinds, moves in TIME_FORMS[direction]:
            if name.startswith(kinds):
                source = path.name.split(".")[0].split("_")[0]
                changed += rewrite_file(path, rewriter(moves, source))
    assert changed, f"{direction} changed no line of {root}"
    return root


_FIRST_TIME = re.compile(r"(\d{4})/(\d+)/(\d+), (\d+):(\d\d):(\d\d)")


def _first_stamp(path: Path) -> str:
    """``YYYYMMDDTHHMMSS`` of the first block time of a bootstrapper log."""
    text, _, _ = _decode(path.read_bytes())
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


def glue_records(root: Path) -> Path:
    """Every third record of each bootstrapper log pasted onto the line before it, as a
    trace copied into a ticket loses its line ends (log-formats.md §7)."""
    glued = 0
    for path in root.rglob("WaHostBootstrapper*"):
        text, codec, bom = _decode(path.read_bytes())
        lines, out = text.split("\r\n"), []
        for i, line in enumerate(lines):
            if (
                out
                and i % 3 == 0
                and _FORMS["block"].match(line)
                and _FORMS["block"].match(out[-1])
            ):
                out[-1] += " " + line
                glued += 1
            else:
                out.append(line)
        path.write_bytes(bom + "\r\n".join(out).encode(codec))
    assert glued, f"nothing to glue under {root}"
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


def _tiny(root: Path) -> Path:
    """A small collection of three bootstrapper generations and a rotated runtime log."""
    store = root / "Resources/Directory/dep.WebRole1.DiagnosticStore"
    store.mkdir(parents=True)
    for name, minute in (
        ("WaHostBootstrapper.log", 30),
        ("WaHostBootstrapper.log.old", 20),
        ("WaHostBootstrapper_20240314T091000.log", 10),
    ):
        (store / name).write_text(
            f"[00000001:00000002, 2024/03/14, 09:{minute}:00.000, INFO ] Bootstrapper starting.\r\n"
            f"[00000001:00000002, 2024/03/14, 09:{minute}:01.000, INFO ] Role model read.\r\n"
            f"[00000001:00000002, 2024/03/14, 09:{minute}:02.000, INFO ] Role model done.\r\n"
            f"[00000001:00000002, 2024/03/14, 09:{minute}:03.000, INFO ] Executing task.\r\n"
        )
    agent = root / "RuntimeAndAgent"
    agent.mkdir()
    for name in ("AppAgentRuntime.log", "AppAgentRuntime.log.old", "WaAppAgent.log"):
        (agent / name).write_text("[00000012] [03/14/2024 09:00:00.00] [INFO]  x\r\n")
    return root


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_layout_transforms_do_what_they_say(tmp_path: Path):
    store = "Resources/Directory/dep.WebRole1.DiagnosticStore"
    root = rename_generations(_tiny(tmp_path / "a"), "numbered")
    assert [f.rsplit("/", 1)[1] for f in _files(root) if "Bootstrapper" in f] == [
        "WaHostBootstrapper.log",
        "WaHostBootstrapper.log.1",
        "WaHostBootstrapper.log.2",
    ]
    assert (root / store / "WaHostBootstrapper.log.2").read_text().count("09:10:0") == 4
    root = rename_generations(_tiny(tmp_path / "b"), "stamped")
    assert "WaHostBootstrapper_20240314T092000.log" in " ".join(_files(root))
    assert "RuntimeAndAgent/AppAgentRuntime_01.log" in _files(root)
    root = glue_records(_tiny(tmp_path / "c"))
    glued = (root / store / "WaHostBootstrapper.log").read_bytes().decode().split("\r\n")
    assert glued[2].endswith(
        "done. [00000001:00000002, 2024/03/14, 09:30:03.000, INFO ] Executing task."
    )
    assert len(glued) == 4
    assert _files(nest(_tiny(tmp_path / "d"), "c-drive"))[0].startswith("C_Resources/")
    moved = _files(nest(_tiny(tmp_path / "e"), "runtime-and-agent"))
    assert all(f.startswith("RuntimeAndAgent/") for f in moved)
    assert all(
        f.startswith("Case 0042/guest logs/") for f in _files(nest(_tiny(tmp_path / "f"), "deeper"))
    )
    with zipfile.ZipFile(zip_folder(_tiny(tmp_path / "g"))) as archive:
        assert sorted(archive.namelist()) == _files(_tiny(tmp_path / "h"))


TRANSFORMS: dict[str, Callable[[Path], Path]] = {
    **{f"time:{form}": (lambda root, f=form: rewrite_time_forms(root, f)) for form in TIME_FORMS},
    "rename:numbered": lambda root: rename_generations(root, "numbered"),
    "rename:stamped": lambda root: rename_generations(root, "stamped"),
    "rename:old": lambda root: rename_generations(root, "old"),
    "glue": glue_records,
    "zip": zip_folder,
    "nest:c-drive": lambda root: nest(root, "c-drive"),
    "nest:runtime-and-agent": lambda root: nest(root, "runtime-and-agent"),
    "nest:deeper": lambda root: nest(root, "deeper"),
}
TIME = [t for t in TRANSFORMS if t.startswith("time:")]
LAYOUT = [t for t in TRANSFORMS if not t.startswith("time:")]
FIXTURES = manifest_names()


def _generations(name: str) -> int:
    """How many bootstrapper logs the fixture has."""
    src = fixture_path(name)
    if src.suffix == ".zip":
        with zipfile.ZipFile(src) as archive:
            return sum("WaHostBootstrapper" in n for n in archive.namelist())
    return len(list(src.rglob("WaHostBootstrapper*")))


def plan() -> list[tuple[str, str]]:
    """(fixture, transform) pairs: each fixture gets one time-form rewrite (in turn) and one
    layout change: of those that apply to it (renaming needs old generations, gluing a
    bootstrapper log), the one used least so far."""
    pairs, used = [], dict.fromkeys(LAYOUT, 0)
    for i, name in enumerate(FIXTURES):
        pairs.append((name, TIME[i % len(TIME)]))
        count = _generations(name)
        fits = [
            t
            for t in LAYOUT
            if (count > 1 or not t.startswith("rename:")) and (count or t != "glue")
        ]
        pick = min(fits, key=lambda t: used[t])
        used[pick] += 1
        pairs.append((name, pick))
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
    """Guard for the test above: dropping every line that names the failing task (S01, in any
    log) changes the verdict, so equal verdicts after a transform are not an accident of a
    blind comparison."""
    root = _copy("S01", tmp_path)
    for path in root.rglob("*"):
        if path.is_file() and b"setup.cmd" in path.read_bytes().replace(b"\x00", b""):
            rewrite_file(path, lambda line: "" if "setup.cmd" in line else line)
    assert verdict(analyze(root))[:2] == (None, None) != baseline("S01")[:2]
