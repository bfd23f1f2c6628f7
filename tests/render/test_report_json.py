"""The JSON report against its contract, docs/report-json.md: keys, types, bytes, exit codes.

The key tables of the doc are parsed (rows whose first cell is a backticked key path such as
``findings[].stage.component``), so the doc and the code cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from typing import Any

import pytest
from click.testing import CliRunner

from azdiag.cli import main
from azdiag.exit_status import ExitStatus
from tests.conftest import FIXTURES, ROOT

DOC = ROOT / "docs" / "report-json.md"
ROW = re.compile(r"^\|\s*`([a-z_][a-z0-9_\[\].]*)`\s*\|\s*([a-z ]+?)\s*\|")
JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object", "null"}

# Fixtures whose reports together show every key and both sides of every "or null".
SAMPLES = (
    "S01",
    "S22",
    "healthy",
    "multi-instance",
    "zips/S01.zip",
    "S15",
    str(ROOT / "tests" / "data" / "inconclusive"),  # frontier disagreement, error templates
)


@cache
def documented() -> dict[str, set[str]]:
    """Key path -> the JSON types the doc allows for it."""
    keys: dict[str, set[str]] = {}
    in_key_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            in_key_table = False
            continue
        if re.match(r"^\|\s*key\s*\|\s*type\s*\|\s*meaning\s*\|", line):
            in_key_table = True
            continue
        match = ROW.match(line) if in_key_table else None
        if not match:
            continue
        path, types = match.group(1), {t.strip() for t in match.group(2).split(" or ")}
        assert types <= JSON_TYPES, f"{path}: unknown type(s) {types - JSON_TYPES}"
        assert path not in keys, f"{path} is documented twice"
        keys[path] = types
    return keys


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@cache
def report(name: str, *, timestamp: bool = False) -> dict[str, Any]:
    args = ["report", str(FIXTURES / name), "--format", "json"]
    result = run(*args, *([] if timestamp else ["--no-timestamp"]))
    assert result.exit_code == ExitStatus.OK, result.output
    return json.loads(result.stdout)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def walk(value: Any, path: str = ""):
    """(key path, value) for every key, lists of objects as ``key[]``."""
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            yield sub, item
            yield from walk(item, sub)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield from walk(item, f"{path}[]")


def observed(*names: str) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for name in names:
        for path, value in walk(report(name, timestamp=name == "S01")):
            seen.setdefault(path, set()).add(json_type(value))
    return seen


def test_the_doc_has_key_tables():
    keys = documented()
    assert {"schema_version", "tool", "collection", "instances", "findings", "verdict"} <= set(keys)
    assert "findings[].evidence[].text" in keys


def test_top_level_keys_are_the_documented_ones_in_order():
    doc_top = [k for k in documented() if "." not in k and "[" not in k]
    with_time = list(report("S01", timestamp=True))
    assert with_time == doc_top
    without = list(report("S01"))
    assert without == [k for k in doc_top if k != "generated_at"]


def test_every_key_of_real_reports_is_documented_and_every_documented_key_occurs():
    seen = observed(*SAMPLES)
    keys = documented()
    assert sorted(set(seen) - set(keys)) == [], "keys missing from docs/report-json.md"
    assert sorted(set(keys) - set(seen)) == [], "documented keys no sample report has"


def test_values_have_the_documented_types():
    keys = documented()
    for path, types in observed(*SAMPLES).items():
        allowed = keys[path] | ({"integer"} if "number" in keys[path] else set())
        assert types <= allowed, f"{path}: saw {sorted(types)}, documented {sorted(keys[path])}"


def test_finding_keys_match_the_doc_exactly():
    finding = report("S01")["findings"][0]
    doc = [k.split(".", 1)[1] for k in documented() if k.startswith("findings[].")]
    assert list(finding) == [k for k in doc if "." not in k]
    assert list(finding["stage"]) == [k[6:] for k in doc if k.startswith("stage.")]
    evidence = finding["evidence"][0]
    assert list(evidence) == [k[11:] for k in doc if k.startswith("evidence[].")]


def test_nothing_found_gives_null_scenario_and_stage():
    verdict = report("healthy")["verdict"]
    assert verdict["scenario"] is None and verdict["stage"] is None and verdict["rule"] is None
    assert verdict["summary"].startswith("No problem found")
    assert report("S01")["verdict"]["scenario"] == "S01"


def test_schema_version_and_timestamp():
    assert report("S01")["schema_version"] == 2
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", report("S01", timestamp=True)["generated_at"]
    )
    assert "generated_at" not in report("S01")


def _cli_bytes(seed: str) -> bytes:
    args = [sys.executable, "-m", "azdiag", "report", str(FIXTURES / "S09"), "--format", "json"]
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run([*args, "--no-timestamp"], capture_output=True, env=env, check=True)
    return done.stdout


def test_identical_input_gives_identical_bytes_without_timestamp():
    first, second = _cli_bytes("1"), _cli_bytes("2")
    assert first == second
    assert json.loads(first)["verdict"]["scenario"] == "S09"


# -- exit codes, one by one -----------------------------------------------------------------


def test_exit_0_when_the_report_is_written():
    result = run("report", str(FIXTURES / "healthy"), "--format", "json", "--no-timestamp")
    assert result.exit_code == 0


def test_exit_1_for_a_missing_input(tmp_path):
    result = run("report", str(tmp_path / "nowhere"), "--format", "json")
    assert result.exit_code == 1
    assert "no such file" in result.stderr


def test_exit_2_for_a_bad_option():
    result = run("report", str(FIXTURES / "healthy"), "--format", "json", "--fail-on", "fatal")
    assert result.exit_code == 2


def test_exit_3_with_fail_on_when_a_finding_reaches_the_level():
    result = run("report", str(FIXTURES / "S01"), "--format", "json", "--fail-on", "error")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["verdict"]["scenario"] == "S01"  # still written in full


def test_no_exit_3_on_a_healthy_collection_with_fail_on_warning():
    args = ("report", str(FIXTURES / "healthy"), "--format", "json", "--fail-on", "warning")
    assert run(*args).exit_code == 0


def test_exit_130_when_interrupted(monkeypatch):
    import azdiag.diagnosis.engine

    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(azdiag.diagnosis.engine, "diagnose", interrupted)
    result = CliRunner().invoke(main, ["report", str(FIXTURES / "healthy"), "--format", "json"])
    assert result.exit_code == 130


@pytest.mark.parametrize("code", [0, 1, 2, 3, 130])
def test_every_exit_code_is_documented(code):
    section = DOC.read_text(encoding="utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^\| {code} \|", section, re.M), code
    assert int(ExitStatus(code)) == code
