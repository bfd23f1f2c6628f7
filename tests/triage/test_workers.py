"""Triage workers: how many polars threads each one runs (behaviour, not timing)."""

from __future__ import annotations

import os

import pytest

from azdiag.triage import run
from azdiag.triage.run import POLARS_THREADS_ENV, start_pool, stop_pool, worker_threads


def _what_a_worker_sees() -> tuple[str | None, int]:
    """Runs in a worker: the variable it was given and the size of polars' pool there."""
    import polars as pl

    return os.environ.get(POLARS_THREADS_ENV), pl.thread_pool_size()


@pytest.mark.parametrize(
    "jobs,cores,threads",
    [(1, 8, 8), (2, 8, 4), (3, 8, 2), (2, 2, 1), (4, 2, 1), (8, 1, 1)],
)
def test_the_cores_are_shared_out_among_the_workers(jobs, cores, threads):
    assert worker_threads(jobs, cores) == threads


def test_the_default_jobs_are_the_usable_cores():
    assert run.default_jobs() == run.usable_cores() >= 1
    if hasattr(os, "sched_getaffinity"):
        assert run.usable_cores() == len(os.sched_getaffinity(0))


def _pool_sees(jobs: int) -> set[tuple[str | None, int]]:
    pool = start_pool(jobs)
    try:
        return {pool.submit(_what_a_worker_sees).result(timeout=120) for _ in range(2 * jobs)}
    finally:
        stop_pool(pool, now=False)


def test_each_worker_runs_polars_with_its_share_of_the_cores(monkeypatch):
    monkeypatch.delenv(POLARS_THREADS_ENV, raising=False)
    monkeypatch.setattr(run, "usable_cores", lambda: 6)
    assert _pool_sees(2) == {("3", 3)}


def test_a_thread_count_the_user_exported_wins(monkeypatch):
    monkeypatch.setenv(POLARS_THREADS_ENV, "5")
    monkeypatch.setattr(run, "usable_cores", lambda: 6)
    assert _pool_sees(2) == {("5", 5)}


def test_triage_without_jobs_runs_the_default_number_of_workers(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from azdiag.cli import main
    from tests.conftest import FIXTURES

    started: list[int] = []

    def counting_pool(jobs: int):
        started.append(jobs)
        return start_pool(jobs)

    monkeypatch.setattr(run, "default_jobs", lambda: 2)
    monkeypatch.setattr(run, "start_pool", counting_pool)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["triage", str(FIXTURES / "S01"), str(FIXTURES / "S09"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert started == [2]
    assert (out / "S09" / "report.json").exists()


def test_workers_get_the_largest_collections_first(monkeypatch, tmp_path):
    from azdiag.triage.run import run_batch, tasks_for

    sizes = {"a-small": 10, "b-large": 3000, "c-medium": 500}
    for name, size in sizes.items():
        (tmp_path / "in" / name).mkdir(parents=True)
        (tmp_path / "in" / name / "WaAppAgent.log").write_bytes(b"x" * size)
    collections = [(name, str(tmp_path / "in" / name)) for name in sorted(sizes)]
    seen: list[list[str]] = []

    def record(tasks, _pool):
        seen.append([task.name for task in tasks])
        yield from ()

    monkeypatch.setattr(run, "_local", record)
    monkeypatch.setattr(run, "start_pool", lambda _jobs: None)
    for jobs in (2, 1):
        run_batch(tasks_for(collections, tmp_path / "out"), jobs=jobs, progress=False)
    # one job works in name order: what it shows as it goes is then in the summaries' order
    assert seen == [["b-large", "c-medium", "a-small"], ["a-small", "b-large", "c-medium"]]
