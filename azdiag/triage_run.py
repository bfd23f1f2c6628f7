"""Batch triage, the run: many collections on a local process pool or a Dask cluster.

Both paths submit the same pure ``triage_one`` (azdiag.triage). Results arrive in completion
order; the summary files are written afterwards in name order, so the outputs do not depend on
which worker finished first. A progress bar shows on a terminal only.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from azdiag.triage import Result, Task, done_before, triage_one
from azdiag.triage_index import write_summaries


@dataclass
class Batch:
    results: list[Result] = field(default_factory=list)
    interrupted: bool = False

    @property
    def analysed(self) -> list[Result]:
        return [r for r in self.results if r.error is None]

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.error is not None]


def run_batch(
    tasks: list[Task],
    *,
    jobs: int,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
    stream: TextIO | None = None,
) -> Batch:
    """Run every task; write index.html, summary.csv and summary.jsonl into the output folder."""
    batch = Batch()
    pending = []
    for task in tasks:
        previous = done_before(task) if resume else None
        if previous is not None:
            batch.results.append(previous)
        else:
            pending.append(task)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _progress(len(tasks), len(batch.results), show)
    try:
        runner = _dask if scheduler else _local
        for result in runner(pending, jobs, scheduler):
            batch.results.append(result)
            if stream is not None:
                stream.write(json.dumps(result.to_dict()) + "\n")
                stream.flush()
            bar(result)
    except KeyboardInterrupt:
        batch.interrupted = True
    finally:
        bar(None)
    batch.results.sort(key=lambda r: r.name)
    if tasks:
        write_summaries(Path(tasks[0].out), batch.results)
    return batch


def _local(tasks: list[Task], jobs: int, _scheduler: str | None) -> Iterator[Result]:
    if not tasks:
        return
    if jobs <= 1:
        for task in tasks:
            yield triage_one(task)
        return
    # spawn, not fork: polars' thread pools do not survive a fork
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_one_thread_per_worker
    ) as pool:
        futures = {pool.submit(triage_one, task): task for task in tasks}
        try:
            for future in as_completed(futures):
                yield _outcome(future, futures[future])
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise


def _outcome(future: Any, task: Task) -> Result:
    """The task's result, or a row saying its worker died (out of memory, crash)."""
    try:
        return future.result()
    except Exception as exc:  # triage_one never raises; this is the worker process dying
        return Result(
            name=task.name,
            path=task.path,
            fingerprint="",
            error=f"worker failed: {type(exc).__name__}: {exc}",
        )


def _one_thread_per_worker() -> None:
    """Processes, not threads, share the cores: polars stays single-threaded in a worker, so
    N workers use N cores without fighting over them (set before polars is imported)."""
    import os

    os.environ.setdefault("POLARS_MAX_THREADS", "1")


def _dask(tasks: list[Task], _jobs: int, scheduler: str | None) -> Iterator[Result]:
    """The same work on an existing Dask distributed cluster (``tcp://host:8786``)."""
    if not tasks:
        return
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(scheduler) as client:
        futures = client.map(triage_one, tasks, pure=False, key=[f"azdiag-{t.name}" for t in tasks])
        try:
            tasks_by_key = {future.key: task for future, task in zip(futures, tasks, strict=True)}
            for future in dask_completed(futures):
                yield _outcome(future, tasks_by_key[future.key])
        except KeyboardInterrupt:
            client.cancel(futures)
            raise


def _progress(total: int, done: int, show: bool) -> Callable[[Result | None], None]:
    """A tqdm bar (done/total, rate, ETA) on a terminal; nothing otherwise."""
    if not show or total == 0:
        return lambda _result: None
    from tqdm import tqdm

    bar = tqdm(total=total, initial=done, unit="collection", file=sys.stderr, dynamic_ncols=True)

    def update(result: Result | None) -> None:
        if result is None:
            bar.close()
        else:
            bar.set_postfix_str(result.name[-30:], refresh=False)
            bar.update(1)

    return update


def severity_reached(results: Iterable[Result], level: str, *, exactly: bool = False) -> bool:
    """True when a collection reached ``level``: a finding's severity, or "inconclusive" (an
    instance whose outcome could not be told; a level of its own between warning and error).
    ``exactly``: that very level, not a higher one."""
    order = ("info", "warning", "inconclusive", "error", "critical")
    wanted = order.index(level)
    for result in results:
        reached = [result.severity] if result.severity else []
        if result.outcomes.get("inconclusive"):
            reached.append("inconclusive")
        levels = [order.index(x) for x in reached]
        if any(x == wanted if exactly else x >= wanted for x in levels):
            return True
    return False


def tasks_for(collections: list[tuple[str, str]], out: Path, **options: Any) -> list[Task]:
    return [Task(name=name, path=path, out=str(out), **options) for name, path in collections]
