"""Ctrl-C during triage: exit 130 within seconds, every finished collection in the summary.

Linux only (the worker pool is seen in /proc).

Twenty real interruptions of a real ``azdiag triage`` (a local pool of two workers), at different
moments: SIGINT to the whole process group as a terminal sends it, and ``timeout -s INT`` which
signals the command alone. Runs go four at a time on tiny collections, so this takes well under
a minute even on a busy two-core machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT
from tests.test_hostile import tree_hash

RUNS = 20
AT_ONCE = 4
EXIT_WITHIN = 10.0  # seconds from the interrupt to the exit


@pytest.fixture(scope="module")
def small_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("interrupt-in")
    for n in range(6):
        shutil.copytree(FIXTURES / "healthy", source / f"c{n}")
    return source


def _command(source: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "azdiag", "triage", str(source), "--out", str(out), "-j", "2"]


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class _Run:
    """One triage run, interrupted ``delay`` seconds after it started."""

    def __init__(self, source: Path, out: Path, delay: float, via_timeout: bool) -> None:
        self.out, self.delay, self.via_timeout = out, delay, via_timeout
        command = _command(source, out)
        if via_timeout:
            # --preserve-status: timeout's exit status is the command's, not its own 124
            command = ["timeout", "--preserve-status", "-s", "INT", f"{delay:.2f}", *command]
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, as a shell job has
            env=_environment(),
        )
        self.interrupted_at: float | None = None

        self.pool_seen: float | None = None

    def poke(self, now: float) -> None:
        if self.interrupted_at is not None:
            return
        if self.via_timeout:  # timeout sends it ``delay`` seconds after the start
            if now >= self.started + self.delay:
                self.interrupted_at = self.started + self.delay
            return
        # counted from the moment the worker pool exists: Python's own start-up (seconds on a
        # busy machine) is over by then, and the interrupt lands in azdiag's code
        if self.pool_seen is None and _has_children(self.process.pid):
            self.pool_seen = now
        if self.pool_seen is not None and now >= self.pool_seen + self.delay:
            self.interrupted_at = now
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGINT)


def _has_children(pid: int) -> bool:
    try:
        return bool(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        return False


def _check(run: _Run) -> None:
    assert run.process.stderr is not None
    stderr = run.process.stderr.read().decode(errors="replace")
    rc = run.process.returncode
    label = f"{'timeout' if run.via_timeout else 'killpg'} after {run.delay:.2f}s"
    if rc == 0:  # finished before the interrupt: nothing to check but the summary
        assert "0 failed" in stderr, (label, stderr)
    else:
        assert rc == 130, (label, rc, stderr)
        assert "Traceback" not in stderr, (label, stderr)
    done = {p.parent.name for p in run.out.glob("*/result.json")}
    summary = run.out / "summary.jsonl"
    rows = (
        {json.loads(line)["name"] for line in summary.read_text().splitlines()}
        if summary.exists()
        else set()
    )
    assert rows == done, (label, rows, done, stderr)
    assert not list(run.out.glob("**/.*.tmp")), label
    _no_process_left(run.process.pid, label)


def _no_process_left(group: int, label: str) -> None:
    """The workers (same process group) are gone soon after the run ends."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"{label}: processes of the run are still alive")


def test_interrupted_triage_exits_130_quickly_and_keeps_what_finished(
    small_batch: Path, tmp_path: Path
) -> None:
    # killpg: 0 to 2.7 s after the pool started; timeout: 3 to 5.7 s after the start (earlier,
    # on a busy machine, Ctrl-C can land in Python's own start-up, before any azdiag code runs)
    plans = [(0.3 * (n % 10) + (3.0 if n % 2 else 0.0), n % 2 == 1) for n in range(RUNS)]
    before = tree_hash(small_batch)
    interrupted = 0
    for first in range(0, RUNS, AT_ONCE):
        runs = [
            _Run(small_batch, tmp_path / f"out{first + i}", delay, via_timeout)
            for i, (delay, via_timeout) in enumerate(plans[first : first + AT_ONCE])
        ]
        while any(r.process.poll() is None for r in runs):
            now = time.monotonic()
            for r in runs:
                r.poke(now)
                if r.interrupted_at is not None and r.process.poll() is None:
                    assert now - r.interrupted_at < EXIT_WITHIN, f"hung after {r.delay:.2f}s"
            time.sleep(0.05)
        for r in runs:
            _check(r)
            interrupted += r.process.returncode == 130
    assert interrupted >= RUNS // 2  # most runs were really cut short, not finished first
    assert tree_hash(small_batch) == before


def _triage_under_way(small_batch: Path, out: Path) -> subprocess.Popen[bytes]:
    """A triage run in its own session, once its first collection is done (the pool runs)."""
    process = subprocess.Popen(
        _command(small_batch, out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=_environment(),
    )
    deadline = time.monotonic() + 60
    while not list(out.glob("*/result.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return process


def test_a_second_interrupt_exits_at_once(small_batch: Path, tmp_path: Path) -> None:
    process = _triage_under_way(small_batch, tmp_path / "out")
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(0.5)  # two presses, not one signal delivered twice (see the next test)
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=EXIT_WITHIN) == 130
    assert process.stderr is not None
    stderr = process.stderr.read().decode(errors="replace")
    assert "Traceback" not in stderr


def test_one_interrupt_delivered_twice_still_stops_cleanly(
    small_batch: Path, tmp_path: Path
) -> None:
    # `timeout -s INT` signals the command, then its whole process group: one interrupt, twice
    out = tmp_path / "out"
    process = _triage_under_way(small_batch, out)
    os.kill(process.pid, signal.SIGINT)
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=EXIT_WITHIN) == 130
    assert process.stderr is not None
    stderr = process.stderr.read().decode(errors="replace")
    assert "interrupted again" not in stderr
    assert (out / "summary.csv").exists()
