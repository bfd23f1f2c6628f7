"""The entry-point failure in its console form, and host logs without any time (issue C11).

log-formats.md §7: the failure may start ``System.TypeLoadException: Unable to load the role
entry point ...`` on a line of its own, without the ``Role entrypoint could not be created:``
prefix, right after a host record (with or without a time). Its start attempts must be counted
from the cycles the timed logs show even when the host log gives no time at all.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from azdiag.diagnosis.engine import diagnose
from azdiag.diagnosis.findings import fill
from azdiag.timeline.analysis import analyze
from tests.diagnosis.test_outcomes import INPUT_F

_STORE = "Resources/Directory/7e1c0b55a2d94f0f9c3e6a1b2d4f8a90.ContosoWeb.DiagnosticStore"

# the console form of test_outcomes (input f) with the fusion bind log under it
_FAILURE = INPUT_F + (
    "=== Pre-bind state information ===\n"
    "LOG: DisplayName = Contoso.Lib, Version=2.0.0.0, Culture=neutral, PublicKeyToken=null\n"
    "WRN: Comparing the assembly name resulted in the mismatch: Major Version\n"
    "ERR: Failed to complete setup of assembly (hr = 0x80131040). Probing terminated.\n"
)

#: minute of each bootstrapper generation (07:00, 07:02, 07:04 on 2024-09-05)
_STARTS = (0, 2, 4)


def _bootstrapper(minute: int, pid: int) -> str:
    block = f"[{pid:08d}:00003312, 2024/09/05, 07:{minute:02d}"
    return (
        f"{block}:30.000, INFO ] Bootstrapper starting. Version 2.7.41491.1010.\n"
        f"{block}:51.000, INFO ] Starting host process E:\\base\\x64\\WaIISHost.exe.\n"
    )


def _host_attempt(minute: int | None, form: str) -> str:
    when = "" if minute is None else f"[09/05/24 07:{minute:02d}:52.00] "
    head = f"WaIISHost Information: 0 : {when}Role environment . INITIALIZING\n"
    head += f"WaIISHost Information: 0 : {when}Role environment . INITIALIZED\n"
    if form == "prefix":
        return (
            head + f"WaIISHost Error: 0 : {when}Role entrypoint could not be created: " + _FAILURE
        )
    return head + _FAILURE


def _collection(tmp_path: Path, *, timed: bool, form: str, generations: int = 3) -> Path:
    store = tmp_path / _STORE
    store.mkdir(parents=True)
    for n, minute in enumerate(_STARTS[-generations:]):
        name = "WaHostBootstrapper.log" + ("" if n == generations - 1 else f".{n + 1}")
        (store / name).write_text(_bootstrapper(minute, 4000 + n), encoding="utf-8")
    host = "".join(_host_attempt(m if timed else None, form) for m in _STARTS)
    (store / "WaIISHost.log").write_text(host, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("timed", "form"),
    [(False, "console"), (True, "console"), (False, "prefix")],
    ids=["console-untimed", "console-timed", "prefix-untimed"],
)
def test_the_entry_point_failure_is_the_version_mismatch_in_every_cycle(tmp_path, timed, form):
    analysis = analyze(_collection(tmp_path, timed=timed, form=form))
    assert analysis.cycles.height == 3
    report = diagnose(analysis)
    rules = [f.rule.id for f in report.findings]
    assert "host-silent-crash-loop" not in rules  # the host did log why it died
    (mismatch,) = [f for f in report.findings if f.rule.scenario == "S07"]
    assert mismatch.values["assembly"] == "Contoso.Lib"
    assert (mismatch.count, mismatch.cycles) == (3, [1, 2, 3])
    summary = fill(mismatch.rule.summary, mismatch.values)
    assert "is recycling: " in summary
    assert "in 3 start attempts since 2024-09-05 07:00 UTC" in summary
    first = "2024-09-05 07:00:52" if timed else "2024-09-05 07:00:30"  # own time, else cycle's
    assert f"{mismatch.first_seen:%Y-%m-%d %H:%M:%S}" == first


def test_the_console_line_starts_a_record_that_keeps_its_inner_exception(tmp_path):
    events = analyze(_collection(tmp_path, timed=False, form="console")).events
    failures = events.filter(pl.col("event") == "entrypoint_failed").sort("line")
    assert failures["line"].to_list() == [3, 11, 19]
    assert failures["lines"].to_list() == [6, 6, 6]  # the inner exception and the fusion log
    ready = events.filter(pl.col("event") == "roleenv_ready")
    assert ready["lines"].to_list() == [1, 1, 1]  # no longer swallows the failure


def test_an_untimed_host_log_with_more_attempts_than_cycles_pairs_the_latest(tmp_path):
    # the timed logs kept only the last two generations: the oldest host attempt has no cycle
    analysis = analyze(_collection(tmp_path, timed=False, form="console", generations=2))
    failures = analysis.events.filter(pl.col("event") == "entrypoint_failed").sort("line")
    assert failures["cycle"].to_list() == [None, 1, 2]
    (mismatch,) = [f for f in diagnose(analysis).findings if f.rule.scenario == "S07"]
    assert (mismatch.count, mismatch.cycles) == (3, [1, 2])
    assert f"{mismatch.first_seen:%H:%M:%S}" == "07:02:30"


def _with_agent_report(root: Path) -> Path:
    """The guest agent's status after the last host start: the role stopped on an error."""
    agent = root / "RuntimeAndAgent" / "WaAppAgent.log"
    agent.parent.mkdir()
    role = "7e1c0b55a2d94f0f9c3e6a1b2d4f8a90.ContosoWeb_IN_0"
    agent.write_text(
        f"[00000012] [09/05/2024 07:04:58.00] [INFO]  Role {role} is reporting state Recycling.\n"
        "[00000012] [09/05/2024 07:04:58.00] [INFO]  Reporting status: Recycling (Role has "
        "encountered an error and has stopped. Sites were deployed.)\n",
        encoding="utf-8",
    )
    return root


def test_without_a_timed_failure_the_last_cycle_is_still_running(tmp_path):
    cycles = analyze(_collection(tmp_path, timed=False, form="console")).cycles
    assert cycles.sort("cycle")["outcome"].to_list() == ["failed", "failed", "running"]


def test_the_agent_s_error_report_fails_the_last_cycle_when_the_host_log_gives_no_time(tmp_path):
    analysis = analyze(_with_agent_report(_collection(tmp_path, timed=False, form="console")))
    assert analysis.cycles.height == 3
    last = analysis.cycles.sort("cycle").row(-1, named=True)
    assert (last["outcome"], last["failure_event"]) == ("failed", "state")


def test_a_cycle_s_own_failure_line_outranks_the_agent_s_report_of_it(tmp_path):
    analysis = analyze(_with_agent_report(_collection(tmp_path, timed=True, form="console")))
    last = analysis.cycles.sort("cycle").row(-1, named=True)
    assert last["outcome"] == "failed"
    assert (last["failure_event"], f"{last['failure_at']:%H:%M:%S}") == (
        "entrypoint_failed",
        "07:04:52",
    )
