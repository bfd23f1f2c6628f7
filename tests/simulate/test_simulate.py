"""The simulator writes deterministic, well-formed collections that match their manifests."""

from __future__ import annotations

import itertools
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.simulate import SCENARIOS, Manifest, simulate, write_large
from azdiag.simulate.cli import simulate_command
from azdiag.simulate.variants import OPTIONS, RECOGNISED, Variants

REPO = Path(__file__).resolve().parents[2]
HEADERS = [
    re.compile(r"^\[\d{8}\] \[\d\d/\d\d/\d{4} \d\d:\d\d:\d\d\.\d\d\] \[[A-Z]+\] "),  # agent
    re.compile(r"^\[\d{8}\] \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z \[[A-Z]+\] "),  # agent ISO
    re.compile(r"^\[\d\d/\d\d/\d{4} \d\d:\d\d:\d\d\.\d\d\] \[[A-Z]+\] "),  # agent, no thread
    # [pid:tid, date, time, LEVEL] block: padded level word or hex trace mask
    re.compile(r"^\[\d{8}:\d{8}, \d{4}/\d\d/\d\d, \d\d:\d\d:\d\d\.\d{3}, ([A-Z ]{5}|[0-9]{8})\] "),
    re.compile(r"^[\w.]+ (Information|Warning|Error|Critical|Verbose): \d+ : "),  # TraceSource
    re.compile(r"^\[(INFO|WARN|ERROR|HEART|TRACE)\] "),  # agent line quoted without thread/time
]
CONTINUATION = re.compile(r"^(\s|---|===|[{}\[\]\"]|Exception( Info)?:|$)")
FUSION = re.compile(r"^(LOG|WRN|ERR): ")  # the fusion bind log of the event-log entry-point form
HEART = re.compile(r"^\[\d{8}\] \[(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d\.\d\d)\] \[HEART\]")
HEART_ISO = re.compile(r"^\[\d{8}\] (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z \[HEART\]")
HEART_NO_THREAD = re.compile(r"^\[(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d\.\d\d)\] \[HEART\]")


def _text(path: Path) -> str:
    raw = path.read_bytes()
    return raw.decode("utf-16") if raw[:2] == b"\xff\xfe" else raw.decode("utf-8-sig")


def _lines(path: Path) -> list[str]:
    text = _text(path)
    assert "\n" not in text.replace("\r\n", ""), f"bare LF in {path}"
    return text.split("\r\n")[:-1]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _heartbeats(path: Path) -> list[float]:
    times = []
    for line in _lines(path):
        if m := HEART.match(line) or HEART_NO_THREAD.match(line):
            dt = datetime.strptime(m.group(1), "%m/%d/%Y %H:%M:%S.%f")
        elif m := HEART_ISO.match(line):
            dt = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
        else:
            continue
        times.append(dt.replace(tzinfo=UTC).timestamp())
    return times


def _gaps(times: list[float], over: float = 20.0) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times) if b - a > over]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Manifest]]:
    """Every scenario once, short windows (minimums still apply), in line shapes drawn among
    all documented ones."""
    base = tmp_path_factory.mktemp("sim")
    return {
        sid: (base / sid, simulate(sid, base / sid, seed=7, hours=0.2, variants="all"))
        for sid in SCENARIOS
    }


def _gen_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("WaHostBootstrapper*") if p.is_file()]


W3C_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} ")


def test_catalogue_names() -> None:
    expected = {"healthy", "healthy-worker", "S01", "S02", "S03", "S06", "S07", "S08", "S09"}
    expected |= {"S10", "S11", "S12", "S13", "S16", "S17", "S18", "S19", "S20", "S20b"}
    expected |= {"S12-applog", "S14", "S15", "S19-user32"}  # with event and IIS logs
    assert set(SCENARIOS) == expected | {"S22", "S23"}


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = simulate("S09", tmp_path / "a", seed=3, hours=0.15)
    simulate("S09", tmp_path / "b", seed=3, hours=0.15)
    simulate("S09", tmp_path / "c", seed=4, hours=0.15)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")
    simulate("S09", tmp_path / "z1.zip", seed=3, hours=0.15, zip=True)
    simulate("S09", tmp_path / "z2.zip", seed=3, hours=0.15, zip=True)
    assert (tmp_path / "z1.zip").read_bytes() == (tmp_path / "z2.zip").read_bytes()
    assert json.loads(json.dumps(a.to_dict()))["seed"] == 3


def test_start_parameter_moves_everything(tmp_path: Path) -> None:
    start = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
    man = simulate("healthy", tmp_path / "x", hours=0.05, start=start, variants="classic")
    assert man.start.startswith("2023-01-02T03:04:05")
    assert "[01/02/2023 03:04:05.00]" in _text(tmp_path / "x/RuntimeAndAgent/WaAppAgent.log")


def test_refuses_non_empty_output(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        simulate("healthy", tmp_path / "full")
    (tmp_path / "empty").mkdir()
    simulate("healthy", tmp_path / "empty", hours=0.05)  # an empty folder is fine
    simulate("healthy", tmp_path / "z.zip", hours=0.05, zip=True)
    with pytest.raises(FileExistsError):
        simulate("healthy", tmp_path / "z.zip", hours=0.05, zip=True)
    with pytest.raises(ValueError):
        simulate("S99", tmp_path / "nope")


def test_zip_holds_the_same_tree(tmp_path: Path) -> None:
    folder = simulate("S01", tmp_path / "dir", seed=2, hours=0.15)
    zipped = simulate("S01", tmp_path / "col", seed=2, hours=0.15, zip=True)  # ".zip" appended
    assert sorted(p.name for p in tmp_path.iterdir()) == ["col.zip", "dir"]
    with zipfile.ZipFile(tmp_path / "col.zip") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    assert members == _tree(tmp_path / "dir")
    assert zipped.files == folder.files


@pytest.mark.parametrize("sid", sorted(SCENARIOS))
def test_manifest_matches_files_and_lines_are_well_formed(
    sid: str, runs: dict[str, tuple[Path, Manifest]]
) -> None:
    root, man = runs[sid]
    assert sorted(man.files) == sorted(_tree(root))
    assert man.to_dict()["instances"][0]["name"] == man.instances[0].name
    inst = man.instances[0]
    assert inst.cycles or sid in ("S16", "S17")
    assert all(
        c.stage
        in (
            "agent",
            "cleanup",
            "startup_tasks",
            "configure_iis",
            "host_start",
            "onstart",
            "run",
            "ready",
            "serve",
        )
        for c in inst.cycles
    )
    assert len(_gen_files(root)) == inst.bootstrapper_generations
    assert inst.bootstrapper_generations == sum(c.generation is not None for c in inst.cycles)
    for path in root.rglob("*.log*"):
        lines = _lines(path)
        if "LogFiles" in path.parts:  # IIS logs: W3C directives, then one request per line
            assert lines[0].startswith("#Software: Microsoft"), path
            assert all(x.startswith("#") or W3C_LINE.match(x) for x in lines), path
            continue
        good = sum(
            any(h.match(x) for h in HEADERS) or bool(CONTINUATION.match(x) or FUSION.match(x))
            for x in lines
        )
        assert lines and good / len(lines) >= 0.99, path
        assert any(h.match(lines[0]) for h in HEADERS), path
    # The heartbeat gaps in the file are exactly the ones the manifest declares.
    beats = _heartbeats(root / "RuntimeAndAgent" / "WaAppAgent.log")
    assert len(_gaps(beats)) == len(inst.heartbeat_gaps)
    assert all(1 <= b - a <= 4 for a, b in itertools.pairwise(beats) if b - a < 20)


def test_healthy_has_one_ready_cycle_and_no_gaps(runs: dict[str, tuple[Path, Manifest]]) -> None:
    for sid in ("healthy", "healthy-worker"):
        root, man = runs[sid]
        inst = man.instances[0]
        assert [(c.stage, c.outcome) for c in inst.cycles] == [("ready", "ready")]
        assert inst.heartbeat_gaps == [] and inst.final_state == "Ready"
        assert _gaps(_heartbeats(root / "RuntimeAndAgent" / "WaAppAgent.log")) == []
    worker_host = next(runs["healthy-worker"][0].rglob("WaWorkerHost.log"))
    assert worker_host.read_bytes().startswith(b"\xef\xbb\xbf")


def test_s01_loops_on_the_failing_task(runs: dict[str, tuple[Path, Manifest]]) -> None:
    root, man = runs["S01"]
    cycles = man.instances[0].cycles
    assert len(cycles) >= 2
    assert {(c.stage, c.outcome) for c in cycles} == {("startup_tasks", "failed")}
    assert len(_gen_files(root)) == len(cycles)
    names = {p.name for p in _gen_files(root)}
    assert {"WaHostBootstrapper.log", "WaHostBootstrapper.log.old"} <= names
    agent = _text(root / "RuntimeAndAgent" / "WaAppAgent.log")
    assert (
        'Application startup task "E:\\approot\\bin\\setup.cmd" failed with exit code 1.' in agent
    )
    assert "WaIISHost.log" not in {p.name for p in root.rglob("*")}


def test_s02_one_generation_hung_on_the_task(runs: dict[str, tuple[Path, Manifest]]) -> None:
    root, man = runs["S02"]
    (gen,) = _gen_files(root)
    assert re.search(r'Executing "E:\\approot\\bin\\setup.cmd"[^"]*\.$', _lines(gen)[-1])
    (cycle,) = man.instances[0].cycles
    assert (cycle.stage, cycle.outcome) == ("startup_tasks", "hung")
    last = datetime.fromisoformat(man.end).timestamp()
    assert last - datetime.fromisoformat(cycle.start).timestamp() >= 3600
    assert "System startup tasks are running." in _text(root / "RuntimeAndAgent" / "WaAppAgent.log")


def test_restarts_show_as_heartbeat_gaps(runs: dict[str, tuple[Path, Manifest]]) -> None:
    (s18,) = runs["S18"][1].instances[0].heartbeat_gaps
    assert not s18.planned and 600 <= s18.seconds <= 900
    (s19,) = runs["S19"][1].instances[0].heartbeat_gaps
    assert s19.planned and 180 <= s19.seconds <= 480
    s19_agent = runs["S19"][1].instances[0].agent_starts
    assert s19_agent[0]["version"] != s19_agent[1]["version"]
    assert (runs["S19"][0] / "RuntimeAndAgent" / "AppAgentRuntime.log.old").is_file()
    s03 = runs["S03"][1].instances[0]
    assert s03.cycles[0].outcome == "ready"
    assert {c.outcome for c in s03.cycles[1:]} == {"failed"}
    assert "duplicate collection entry" in "".join(_text(p) for p in _gen_files(runs["S03"][0]))


def test_failure_stages(runs: dict[str, tuple[Path, Manifest]]) -> None:
    def stages(sid: str) -> set[tuple[str, str]]:
        return {(c.stage, c.outcome) for c in runs[sid][1].instances[0].cycles}

    for sid in ("S06", "S07", "S08"):
        assert stages(sid) == {("host_start", "failed")}
    for sid in ("S09", "S10", "S12"):
        assert stages(sid) == {("onstart", "failed")}
    assert stages("S11") == {("ready", "failed")}
    assert stages("S13") == {("configure_iis", "hung")}
    assert stages("S20") == {("startup_tasks", "hung")}
    assert stages("S16") == stages("S17") == {("agent", "failed")}
    host = next(runs["S06"][0].rglob("WaIISHost.log"))
    assert host.read_bytes()[:2] == b"\xff\xfe"
    assert "Could not load file or assembly 'Newtonsoft.Json" in _text(host)
    (s20b,) = runs["S20b"][1].instances[0].cycles
    ready = datetime.fromisoformat(s20b.ready_at or "")
    assert (ready - datetime.fromisoformat(s20b.start)).total_seconds() > 1800
    s23 = runs["S23"][1].instances[0]
    assert len(s23.config_versions) == 2 and len(s23.cycles) == 2
    assert len(list((runs["S23"][0] / "Config").glob("*.xml"))) == 2
    assert runs["S22"][1].instances[0].final_state == "Busy"


def test_instances_get_their_own_folders(tmp_path: Path) -> None:
    man = simulate("S09", tmp_path / "multi", hours=0.1, instances=2)
    assert [i.folder for i in man.instances] == ["WebRole1_IN_0", "WebRole1_IN_1"]
    assert {p.name for p in (tmp_path / "multi").iterdir()} == {"WebRole1_IN_0", "WebRole1_IN_1"}
    agent = _text(tmp_path / "multi/WebRole1_IN_1/RuntimeAndAgent/WaAppAgent.log")
    assert f"{man.deployment_id}.WebRole1_IN_1 " in agent


def test_write_large_reaches_the_target(tmp_path: Path) -> None:
    man = write_large(tmp_path / "big", target_bytes=3_000_000, seed=5)
    size = sum(len(b) for b in _tree(tmp_path / "big").values())
    assert size >= 3_000_000 and man.bytes == size
    assert len(man.instances) >= 2
    assert sum(i.bootstrapper_generations for i in man.instances) > len(man.instances)


def test_cli_writes_manifest_beside_the_collection(tmp_path: Path) -> None:
    out = tmp_path / "c"
    res = CliRunner().invoke(
        simulate_command, ["S01", "-o", str(out), "--hours", "0.1", "--manifest"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "c.manifest.json").read_text())
    assert data["scenario"] == "S01" and not (out / "c.manifest.json").exists()
    res = CliRunner().invoke(simulate_command, ["S01", "-o", str(out)])
    assert res.exit_code != 0 and "exists" in res.output


@pytest.mark.parametrize("sid", ["S01", "healthy", "S09", "S13"])
def test_checked_in_fixtures_are_current(sid: str, tmp_path: Path) -> None:
    fixture = REPO / "fixtures" / sid
    assert fixture.is_dir(), "run: python fixtures/make_fixtures.py"
    recorded = json.loads((REPO / "fixtures" / "manifests" / f"{sid}.json").read_text())
    shapes = Variants(**recorded["variants"])  # the manifest records the line shapes
    simulate(sid, tmp_path / sid, seed=1, hours=0.25, variants=shapes)
    assert _tree(tmp_path / sid) == _tree(fixture), "run: python fixtures/make_fixtures.py"


# -- line-shape variants (log-formats.md §1-§7) ------------------------------------------------

_STORE = "Resources/Directory/*.DiagnosticStore/"
#: (dimension, value) -> (file glob, a line only that shape writes)
SHAPES = {
    ("agent_time", "iso"): (
        "RuntimeAndAgent/WaAppAgent.log",
        r"^\[\d{8}\] \S+T[\d:]{8}Z \[HEART\]",
    ),
    ("agent_time", "iso-frac"): (
        "RuntimeAndAgent/WaAppAgent.log",
        r"^\[\d{8}\] \S+T[\d:]{8}\.\d{3}Z \[HEART\]",
    ),
    ("agent_time", "no-thread"): ("RuntimeAndAgent/WaAppAgent.log", r"^\[[\d/]{10} [^\]]+\] \["),
    ("agent_quoted", "level"): ("RuntimeAndAgent/WaAppAgent.log", r"^\[(INFO|WARN|ERROR)\]  \w"),
    ("agent_quoted", "bare"): ("RuntimeAndAgent/WaAppAgent.log", r"^[A-Z][a-z]+ "),
    ("boot_level", "mask"): (
        _STORE + "WaHostBootstrapper*",
        r"^\[\d{8}:\d{8}, [^\]]+, 00040000\] .*\n(?:.*\n)*\[[^\]]+, 00100000\] <- ",
    ),
    ("boot_glued", "some"): (_STORE + "WaHostBootstrapper*", r"\S \[\d{8}:\d{8}, \d{4}/"),
    ("task_line", "redirect"): (
        _STORE + "WaHostBootstrapper*",
        r'Executing Startup Task type=0 cmd="E:\\approot\\bin\\setup\.cmd" > log\.txt 2> err\.txt'
        r'\n.*Executing "E:\\approot\\bin\\setup\.cmd" > log\.txt 2> err\.txt\.$',
    ),
    ("task_exit", "published"): (
        _STORE + "WaHostBootstrapper*",
        r'Program "[^"]+"(?: /\w+)? exited with -?\d+\. Working Directory = E:\\\w',
    ),
    ("iis_header", "tracesource-pid-tid"): (
        _STORE + "IISConfigurator.log",
        r"^IISConfigurator Information: 0 : \[\d{8}:\d{8}, \d{4}/\d\d/\d\d, [\d:]{8}\.\d{3}\] ",
    ),
    ("host_header", "bracketed"): (
        _STORE + "WaIISHost.log",
        r"^WaIISHost Information: 0 : \[\d\d/\d\d/\d\d [\d:]{8}\.\d\d\] ",
    ),
    ("host_header", "tracesource-pid-tid"): (
        _STORE + "WaIISHost.log",
        r"^WaIISHost Information: 0 : \[\d{8}:\d{8}, \d{4}/\d\d/\d\d, [\d:]{8}\.\d{3}\] ",
    ),
    ("host_header", "pid-tid"): (_STORE + "WaIISHost.log", r"^\[\d{8}:\d{8}, [^\]]+, INFO \] "),
    ("host_header", "untimed"): (
        _STORE + "WaIISHost.log",
        r"\A(?:WaIISHost \w+: 0 : [^\[].*\n|[^W].*\n)+\Z",
    ),
    ("host_folder", "directory"): ("Resources/Directory/*.WebRole1/WaIISHost.log", r"\A"),
    ("entrypoint", "event-log"): (
        _STORE + "WaIISHost.log",
        r"^WaIISHost Error: 0 : .*System\.TypeLoadException: Unable to load the role entry point"
        r"(?:.*\n)+ERR: Failed to complete setup of assembly \(hr = 0x80131040\)",
    ),
}


def _matches(root: Path, glob: str, pattern: str) -> bool:
    rx = re.compile(pattern, re.M)
    return any(rx.search(_text(p).replace("\r\n", "\n")) for p in root.glob(glob))


@pytest.fixture(scope="module")
def classic_s07(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    root = tmp_path_factory.mktemp("classic") / "S07"
    return root, simulate("S07", root, seed=3, hours=0.1, variants="classic")


def test_every_documented_variant_has_a_shape_test() -> None:
    assert set(SHAPES) == {(dim, v) for dim, values in OPTIONS.items() for v in values[1:]}


@pytest.mark.parametrize(("dim", "value"), sorted(SHAPES), ids="{0[0]}={0[1]}".format)
def test_each_variant_writes_its_documented_shape(
    dim: str, value: str, tmp_path: Path, classic_s07: tuple[Path, Manifest]
) -> None:
    man = simulate("S07", tmp_path / "v", seed=3, hours=0.1, variants=Variants(**{dim: value}))
    glob, pattern = SHAPES[dim, value]
    assert _matches(tmp_path / "v", glob, pattern), (dim, value)
    classic_root, classic = classic_s07
    if (dim, value) != ("host_header", "bracketed"):  # S07's own host shape
        assert not _matches(classic_root, glob, pattern), (dim, value)
    assert man.variants[dim] == value and classic.variants[dim] != value
    # the shape changes, what happened does not
    for key in ("cycles", "status_changes", "agent_starts", "heartbeat_gaps"):
        assert man.to_dict()["instances"][0][key] == classic.to_dict()["instances"][0][key]


def test_variants_are_chosen_per_collection_from_seed_and_scenario() -> None:
    assert Variants.choose(5, "S01") == Variants.choose(5, "S01")
    drawn = [Variants.choose(seed, sid) for seed in range(1, 30) for sid in ("S01", "S09")]
    assert len(set(drawn)) > 40  # collections differ in shape
    for dim, values in OPTIONS.items():
        assert {getattr(v, dim) for v in drawn} == set(values), dim
    recognised = [Variants.choose(seed, "S07", RECOGNISED) for seed in range(1, 30)]
    for dim, values in RECOGNISED.items():
        assert {getattr(v, dim) for v in recognised} <= set(values), dim


def test_variant_text_and_errors(tmp_path: Path) -> None:
    shapes = Variants.parse("agent_time=iso, boot-level=mask")
    assert shapes.changed() == {"agent_time": "iso", "boot_level": "mask"}
    for bad in ("agent_time=utc", "colour=red"):
        with pytest.raises(ValueError, match=r"agent_time|colour"):
            Variants.parse(bad)
    res = CliRunner().invoke(
        simulate_command, ["S01", "-o", str(tmp_path / "c"), "--variants", "boot_level=hex"]
    )
    assert res.exit_code != 0 and "boot_level" in res.output
    res = CliRunner().invoke(
        simulate_command,
        ["S01", "-o", str(tmp_path / "d"), "--hours", "0.1", "--variants", "task_exit=published"],
    )
    assert res.exit_code == 0, res.output
    assert _matches(tmp_path / "d", SHAPES["task_exit", "published"][0], "Working Directory")
