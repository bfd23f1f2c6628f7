"""A guest agent log that stops well before the logs were taken is no "No problem found"
(rule agent-log-ends-before-collection): only when the collection time is measured."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from azdiag.cli import main
from tests.conftest import FIXTURES
from tests.diagnosis.test_outcomes import age_files

RULE = "agent-log-ends-before-collection"


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "healthy", tmp_path / "healthy"))


def report(path: Path, *args: str) -> dict:
    result = CliRunner().invoke(
        main, ["report", str(path), "--format", "json", "--no-timestamp", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_now_long_after_the_last_heartbeat_is_not_healthy(healthy):
    data = report(healthy, "--now", "2024-03-14 12:00")
    verdict = data["verdict"]
    assert verdict["outcome"] == "degraded"
    assert verdict["rule"] == RULE
    assert "stops 163 minute(s) before the logs were taken" in verdict["summary"]
    # the instance's name leads the verdict once, not again before the finding's own words
    assert verdict["summary"].startswith("WebRole1_IN_0 is degraded: the guest agent's log stops")
    (finding,) = [f for f in data["findings"] if f["rule"] == RULE]
    assert finding["severity"] == "warning"


def test_now_shortly_after_the_last_heartbeat_stays_healthy(healthy):
    data = report(healthy, "--now", "2024-03-14 09:25")
    assert data["verdict"]["outcome"] == "healthy"
    assert RULE not in {f["rule"] for f in data["findings"]}


def test_file_times_long_after_the_last_heartbeat_are_not_healthy(healthy):
    # the healthy fixture's last line is a heartbeat at 09:16:14.75: 14 min 45 s before
    age_files(healthy, datetime(2024, 3, 14, 9, 31, tzinfo=UTC))
    data = report(healthy)
    assert data["collection"]["time"]["source"] == "files"
    assert data["verdict"]["rule"] == RULE
    assert "stops 14 minute(s)" in data["verdict"]["summary"]
