"""Batch triage, the run: many collections on a local process pool or a Dask cluster.

Both paths submit the same pure ``triage_one`` (azdiag.triage.batch). Results arrive in completion
order; the summary files are written afterwards in name order, so the outputs do not depend on
which worker finished first. A progress bar shows on a terminal only.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from azdiag.triage.batch import (
    RESULT_FILE,
    Result,
    Task,
    done_before,
    input_bytes,
    load_result,
    triage_one,
)
from azdiag.triage.index import write_summaries

#: Seconds to wait for a Dask scheduler to answer before saying it cannot be reached.
SCHEDULER_TIMEOUT = 10
#: Seconds stopped workers get to exit before they are killed.
_STOP_GRACE = 2


class TriageError(Exception):
    """The batch cannot run at all (no scheduler, no worker processes); ``status`` says how."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Batch:
    results: list[Result] = field(default_factory=list)
    interrupted: bool = False
    total: int = 0  # collections asked for (some are not run when interrupted)

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
    pool: ProcessPoolExecutor | None = None,
) -> Batch:
    """Run every task; write index.html, summary.csv and summary.jsonl into the output folder.

    Ctrl-C (SIGINT) stops the run: workers are stopped within seconds, and every collection
    whose result is complete on disk, including those finished in a worker the moment before,
    is in the summaries (``Batch.interrupted``). A second Ctrl-C while stopping exits at once
    with 130. Raises :class:`TriageError` when no worker can be started or the scheduler is
    unusable. ``pool``: workers from :func:`start_pool` (started early, see there); without
    one, ``jobs`` workers are started here, and stopped at the end either way.
    """
    batch = Batch(total=len(tasks))
    pending = []
    for task in tasks:
        previous = done_before(task) if resume else None
        if previous is not None:
            batch.results.append(previous)
        else:
            pending.append(task)
    if scheduler:
        check_scheduler(scheduler)
    if scheduler or jobs > 1:
        # the largest first: a big collection started last would keep one worker busy while
        # the others wait (the summaries are in name order whatever the order of work)
        pending.sort(key=lambda task: input_bytes(task.path), reverse=True)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _progress(len(tasks), len(batch.results), show)
    started = time.time()
    if pool is None and not scheduler and jobs > 1 and len(pending) > 1:
        pool = start_pool(min(jobs, len(pending)))
    previous = _on_sigint(_first_interrupt)
    try:
        runner = _dask(pending, scheduler) if scheduler else _local(pending, pool)
        try:
            for result in runner:
                batch.results.append(result)
                if stream is not None:
                    stream.write(json.dumps(result.to_dict()) + "\n")
                    stream.flush()
                bar(result)
        except KeyboardInterrupt:
            batch.interrupted = True
        finally:
            # from here the run is ending anyway: an interrupt now only marks the batch (a
            # second one still exits at once), so the summaries below are always written
            if not batch.interrupted:
                _on_sigint(_interrupt_while_ending(batch))
            runner.close()
            if pool is not None:  # when interrupted, running work is not waited for
                stop_pool(pool, now=batch.interrupted)
        bar(None)
        if batch.interrupted:
            batch.results += _finished_on_disk(pending, batch.results, started)
        batch.results.sort(key=lambda r: r.name)
        if tasks:
            write_summaries(Path(tasks[0].out), batch.results)
    finally:
        _on_sigint(previous)
    return batch


def _on_sigint(handler: Any) -> Any:
    """Install a SIGINT handler (main thread only; elsewhere signals are not ours)."""
    if handler is None or not _main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, handler)
    return previous


#: A second SIGINT this soon after the first is the same interrupt delivered twice (`timeout -s
#: INT` signals the command and then its whole process group), not a second Ctrl-C.
SAME_INTERRUPT_SECONDS = 0.25
_first_at: list[float] = []


def _first_interrupt(_signum: int, _frame: FrameType | None) -> None:
    """The first Ctrl-C stops the batch cleanly; from now on a second one exits at once."""
    _first_at[:] = [time.monotonic()]
    signal.signal(signal.SIGINT, exit_now)
    raise KeyboardInterrupt


def _interrupt_while_ending(batch: Batch) -> Any:
    """The SIGINT handler once every result is in: mark the batch, never raise."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if batch.interrupted:
            exit_now(signum, frame)
            return
        batch.interrupted = True
        _first_at[:] = [time.monotonic()]

    return handler


def exit_now(_signum: int = 2, _frame: FrameType | None = None) -> None:
    if _first_at and time.monotonic() - _first_at[0] < SAME_INTERRUPT_SECONDS:
        return  # the first interrupt again: the clean stop is under way
    os.write(2, b"azdiag: interrupted again: stopped at once\n")
    os._exit(130)


def _finished_on_disk(pending: list[Task], have: list[Result], since: float) -> list[Result]:
    """Results written by workers during this run but not yet received when it was stopped."""
    received = {r.name for r in have}
    found = []
    for task in pending:
        folder = Path(task.out) / task.name
        for leftover in folder.glob(".*.tmp"):  # a worker stopped in the middle of a write
            leftover.unlink(missing_ok=True)
        if task.name in received:
            continue
        try:
            if (folder / RESULT_FILE).stat().st_mtime < since:
                continue  # from an earlier run
        except OSError:
            continue
        result = load_result(task)
        if result is not None:
            found.append(result)
    return found


def start_pool(jobs: int) -> ProcessPoolExecutor:
    """Start ``jobs`` worker processes now; they ignore SIGINT from their first instant, and
    polars in each runs :func:`worker_threads` threads.

    Ctrl-C in a terminal reaches the whole process group: the workers must leave it to this
    process, which stops them (a worker interrupted mid-write, or in its own start-up, would
    print a traceback). For the milliseconds the workers take to fork, SIGINT is ignored here
    so that they inherit that, and blocked so that an interrupt in that moment stays pending
    and is delivered right after, not lost. Call it while this process has one thread (before
    polars is imported): another thread could take the signal while it is ignored. Raises
    :class:`TriageError` when the processes cannot be started.
    """
    # spawn, not fork: polars' thread pools do not survive a fork
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_worker_setup,
        initargs=(worker_threads(jobs),),
    )
    main = _main_thread()
    if main:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for _ in range(2 * jobs):  # each submit starts a worker until all are there
            if len(getattr(pool, "_processes", None) or ()) >= jobs:
                break
            pool.submit(_ready)
    except (OSError, BrokenProcessPool) as exc:
        stop_pool(pool)
        raise TriageError(
            f"cannot start {jobs} worker processes ({_reason(exc)}); try --jobs 1", 1
        ) from exc
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return pool


def _ready() -> None:
    """The first task of each worker: only there to start it."""


def _local(tasks: list[Task], pool: ProcessPoolExecutor | None) -> Generator[Result, None, None]:
    if pool is None:
        for task in tasks:
            yield triage_one(task)
        return
    if not tasks:
        return
    try:
        futures = {pool.submit(triage_one, task): task for task in tasks}
    except (OSError, BrokenProcessPool) as exc:
        raise TriageError(
            f"the worker processes stopped ({_reason(exc)}); try --jobs 1", 1
        ) from exc
    for future in as_completed(futures):
        yield _outcome(future, futures[future])


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def stop_pool(pool: ProcessPoolExecutor, *, now: bool = True) -> None:
    """Stop the pool; ``now``: without waiting for running work (its workers are ended).

    Futures are not cancelled (the pool's manager thread would then fail to mark them and could
    hang); the workers are terminated and the manager thread fails what was pending. Stopping
    a stopped pool does nothing.
    """
    if not now:
        pool.shutdown(wait=True)
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False)
    deadline = time.monotonic() + _STOP_GRACE
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or "no reason given"
    return text.splitlines()[0]


def _outcome(future: Any, task: Task) -> Result:
    """The task's result, or a row saying its worker died (out of memory, crash)."""
    try:
        return future.result()
    except Exception as exc:  # triage_one never raises; this is the worker process dying
        if isinstance(exc, BrokenProcessPool):
            why = "its worker process stopped abruptly (out of memory, or killed)"
        else:
            why = f"its worker failed: {_reason(exc)}"
        return Result(name=task.name, path=task.path, fingerprint="", error=why)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or ``taskset``'s
    share, not every core of the machine), at least one."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def default_jobs() -> int:
    """``--jobs`` when not given: one worker per usable core. Measured by bench/triage.py
    (the 1 -> 2 jobs ratio on a 2-core machine)."""
    return usable_cores()


def worker_threads(jobs: int, cores: int | None = None) -> int:
    """polars threads for each of ``jobs`` workers: the usable cores shared out, at least one.

    A worker analyses one collection at a time; with as many workers as cores each gets one
    thread, so the workers do not take cores from one another (polars would otherwise start a
    thread per core in every worker); with fewer workers the spare cores go to polars.
    """
    return max(1, (cores or usable_cores()) // max(1, jobs))


#: The variable polars reads, once, when it is imported, for the size of its thread pool.
POLARS_THREADS_ENV = "POLARS_MAX_THREADS"


def _worker_setup(threads: int) -> None:
    """Start-up of a worker process: ``threads`` polars threads (set before polars is
    imported; a POLARS_MAX_THREADS the user exported wins). Ctrl-C is the parent's to handle:
    it stops the workers."""
    os.environ.setdefault(POLARS_THREADS_ENV, str(threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss|inproc)://)?[\w.\-]+:\d{1,5}/?$|^inproc://\S+$")


def check_scheduler(address: str) -> None:
    """Raise :class:`TriageError` (status 2) when ``--scheduler`` cannot be used at all."""
    if not _ADDRESS.match(address):
        raise TriageError(
            f"--scheduler {address!r} is not a scheduler address such as tcp://host:8786", 2
        )
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise TriageError(
            "--scheduler needs Dask distributed: pip install 'azdiag[cluster]'", 2
        ) from exc


def _dask(tasks: list[Task], scheduler: str) -> Generator[Result, None, None]:
    """The same work on an existing Dask distributed cluster (``tcp://host:8786``)."""
    if not tasks:
        return
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except Exception as exc:  # OSError, TimeoutError, a comm error: all mean "not reachable"
        raise TriageError(
            f"cannot reach the Dask scheduler at {scheduler} within {SCHEDULER_TIMEOUT} s "
            f"({_reason(exc)})",
            2,
        ) from exc
    with client:
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
