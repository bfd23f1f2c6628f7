"""The timeline of every simulated scenario matches what the simulator generated."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import polars as pl
import pytest

from azdiag.timeline.analysis import FRAMES, analyze
from tests.conftest import FIXTURES, analysed, manifest


def _instance_rows(frame: pl.DataFrame, instance: str) -> list[dict]:
    return frame.filter(pl.col("instance") == instance).to_dicts()


def test_cycles_stages_and_outcomes_match_the_simulation(scenario):
    name, truth, analysis = scenario
    for inst in truth["instances"]:
        got = _instance_rows(analysis.cycles, inst["name"])
        expected = [(c["stage"], c["outcome"]) for c in inst["cycles"]]
        assert [(c["last_stage"], c["outcome"]) for c in got] == expected, name


def test_heartbeat_gaps_match_and_carry_their_stage(scenario):
    name, truth, analysis = scenario
    for inst in truth["instances"]:
        gaps = analysis.gaps.filter(
            (pl.col("instance") == inst["name"]) & (pl.col("kind") == "WaAppAgent")
        )
        expected = inst["heartbeat_gaps"]
        assert gaps["planned"].to_list() == [g["planned"] for g in expected], name
        for gap, want in zip(gaps.iter_rows(named=True), expected, strict=True):
            start = datetime.fromisoformat(want["start"])
            assert abs((gap["start"] - start).total_seconds()) < 0.1
            assert gap["beyond_restart_threshold"] == (want["seconds"] >= 600)
            assert gap["stage"] is not None


def test_agent_runtime_silences_are_never_gaps(scenario):
    _, _, analysis = scenario
    assert analysis.gaps.filter(pl.col("kind") == "AppAgentRuntime").height == 0


def test_lost_heartbeats_are_unplanned_and_planned_restarts_are_explained():
    lost = analysed("S18").gaps.filter(pl.col("kind") == "WaAppAgent").row(0, named=True)
    assert not lost["planned"] and lost["beyond_restart_threshold"]
    assert lost["stage"] == "ready"  # the role was Ready when the heartbeats stopped
    planned = analysed("S19").gaps.filter(pl.col("kind") == "WaAppAgent").row(0, named=True)
    assert planned["planned"] and planned["planned_by"] == "agent_stop"


def test_healthy_instances_have_no_gap_and_end_ready():
    for name in ("healthy", "healthy-worker", "zip-healthy"):
        analysis = analysed(name)
        assert analysis.gaps.height == 0
        last_state = analysis.states.row(-1, named=True)
        assert last_state["state"] == "Ready" and last_state["open"]


def test_hung_startup_task_is_hung_at_startup_tasks_not_a_loop():
    cycles = analysed("S02").cycles
    assert cycles.height == 1
    cycle = cycles.row(0, named=True)
    assert (cycle["last_stage"], cycle["outcome"]) == ("startup_tasks", "hung")
    assert analysed("S02").states.row(-1, named=True)["state"] == "Busy"


def test_stage_times_cover_each_cycle():
    analysis = analysed("healthy")
    times = analysis.stage_times.filter(pl.col("cycle") == 1)
    assert times["stage"].to_list() == [
        "agent",
        "cleanup",
        "startup_tasks",
        "configure_iis",
        "host_start",
        "onstart",
        "run",
        "ready",
    ]
    cycle = analysis.cycles.row(0, named=True)
    total = times["seconds"].sum()
    assert total == pytest.approx((cycle["end"] - times["entered"][0]).total_seconds(), abs=1e-3)


def test_events_carry_event_stage_component_and_cycle():
    analysis = analysed("S01")
    events = analysis.with_fields()
    task_exit = events.filter(pl.col("event") == "task_exit").row(-1, named=True)
    assert task_exit["stage"] == "startup_tasks" and task_exit["component"] == "G"
    assert task_exit["code"] == "1" and task_exit["cmd"].endswith("setup.cmd")
    assert task_exit["cycle"] == analysis.cycles["cycle"].max()
    traces = events.filter(pl.col("event") == "trace")
    assert traces.height > 0 and traces["stage"].null_count() == traces.height


def test_a_file_written_in_local_time_is_reported(tmp_path):
    copy = tmp_path / "healthy"
    shutil.copytree(FIXTURES / "healthy", copy)
    host = next(copy.rglob("WaIISHost.log"))
    text = host.read_text(encoding="utf-8")
    shifted = []
    for line in text.splitlines(keepends=True):
        if "[03/14/24 " in line:
            stamp = line.split("[", 1)[1].split("]", 1)[0]
            moved = datetime.strptime(stamp, "%m/%d/%y %H:%M:%S.%f") + timedelta(hours=2)
            line = line.replace(stamp, moved.strftime("%m/%d/%y %H:%M:%S.%f")[:-4])
        shifted.append(line)
    host.write_text("".join(shifted), encoding="utf-8")
    warnings = analyze(copy).timeline.warnings
    assert any("WaIISHost.log" in w and "-2 h" in w for w in warnings), warnings
    assert not any("WaIISHost.log" in w for w in analysed("healthy").timeline.warnings)


def test_frames_convert_to_pandas():
    analysis = analysed("S09")
    for name in FRAMES:
        frame = analysis.to_pandas(name)
        assert len(frame) == getattr(analysis, name).height
    with pytest.raises(ValueError, match="unknown frame"):
        analysis.to_pandas("nope")


def test_multi_instance_collections_are_told_apart():
    truth = manifest("multi-instance")
    analysis = analysed("multi-instance")
    assert sorted(analysis.cycles["instance"].unique()) == [i["name"] for i in truth["instances"]]


def test_cycles_do_not_depend_on_instances_being_kept_together():
    """assign_cycles numbers runs of one instance directly, and falls back to a per-instance
    window when the table interleaves instances: both give every row the same cycle."""
    from azdiag.knowledge.workflow import load_workflow
    from azdiag.timeline.cycles import assign_cycles

    events = analysed("multi-instance").events.with_row_index("_id")
    mixed = events.sort("time", "_id").drop("cycle")
    assert mixed["instance"].rle().len() > mixed["instance"].n_unique()  # really interleaved
    again = assign_cycles(mixed, load_workflow()).sort("_id")
    assert again["cycle"].to_list() == events["cycle"].to_list()


def test_cycle_spans_and_ends_do_not_depend_on_instances_being_kept_together():
    """cycle_spans and the diagnosis' instance ends group by runs of rows and merge the runs:
    on a table that interleaves instances they still give one row per key, as a group_by does."""
    from azdiag.diagnosis.conditions import Facts
    from azdiag.knowledge.workflow import load_workflow
    from azdiag.timeline.cycles import cycle_spans

    events = analysed("multi-instance").events.filter(pl.col("time").is_not_null())
    mixed = events.with_row_index("_id").sort("time", "_id").drop("_id")
    assert mixed["instance"].rle().len() > mixed["instance"].n_unique()  # really interleaved
    expected = (
        events.group_by("instance", "cycle")
        .agg(
            pl.col("time").min().alias("start"),
            pl.col("time").max().alias("last"),
            pl.len().cast(pl.UInt32).alias("events"),
        )
        .sort("instance", "cycle")
    )
    newest = dict(events.group_by("instance").agg(pl.col("time").max()).iter_rows())
    for table in (events, mixed):
        assert cycle_spans(table).sort("instance", "cycle").equals(expected)
        facts = Facts(table, pl.DataFrame(), table, table, table, load_workflow())
        assert facts.instance_ends == {str(i): t for i, t in newest.items()}


def test_starts_appended_to_one_bootstrapper_file_are_cycles_of_their_own(tmp_path):
    """Metamorphic: S01's bootstrapper generations joined into one file give the same start
    attempts as the generations apart, their start lines reworded (no signature knows them) and
    the agents' launch lines gone in both: each new pid in the file is a new bootstrapper
    process (a newcomer's hand-written collection of 9 starts in one file came out as 1)."""
    apart, joined = tmp_path / "apart", tmp_path / "joined"
    shutil.copytree(FIXTURES / "S01", apart)
    for agent in [*apart.rglob("WaAppAgent.log"), *apart.rglob("AppAgentRuntime.log")]:
        lines = agent.read_bytes().splitlines(keepends=True)
        agent.write_bytes(b"".join(x for x in lines if b"Starting WaHostBootstrapper" not in x))
    generations = list(apart.rglob("WaHostBootstrapper*"))
    for path in generations:
        path.write_bytes(path.read_bytes().replace(b"Bootstrapper starting.", b"--- a new run."))
    shutil.copytree(apart, joined)
    # in time order: the first line's date and time follow "[pid:tid, "
    generations = sorted(joined.rglob("WaHostBootstrapper*"), key=lambda p: p.read_bytes()[19:45])
    text = b"".join(p.read_bytes() for p in generations)
    for path in generations:
        path.unlink()
    (generations[0].parent / "WaHostBootstrapper.log").write_bytes(text)
    one_file, files = analyze(joined).cycles, analyze(apart).cycles
    assert one_file.height == files.height >= len(generations)
    assert one_file["outcome"].to_list() == files["outcome"].to_list()
