"""The worked example of docs/rules.md is a real rule: it loads, its examples pass, and
``azdiag rules test`` accepts it."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from azdiag.cli import main
from azdiag.diagnosis.rule_examples import run_examples
from azdiag.knowledge.rulebook import load_rules
from azdiag.knowledge.workflow import load_workflow
from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "rules.md"
BLOCK = re.compile(r"<!-- example-rule -->\s*```toml\n(.*?)```", re.S)


def example_rule_text() -> str:
    blocks = BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) == 1, (
        "docs/rules.md needs exactly one ```toml block after <!-- example-rule -->"
    )
    return blocks[0]


def write_example(folder: Path) -> Path:
    path = folder / "example.toml"
    path.write_text(example_rule_text(), encoding="utf-8")
    return path


def test_the_example_rule_loads_and_its_examples_pass(tmp_path):
    source = write_example(tmp_path)
    rules = load_rules([tmp_path], stages=set(load_workflow().stages))
    mine = [r for r in rules if r.source_file == str(source)]
    assert mine, "the example block defines no rule"
    for rule in mine:
        kinds = {e.fires for e in rule.examples}
        assert kinds == {True, False}, f"{rule.id}: needs a positive and a negative example"
        assert rule.scenario and rule.stage and rule.summary and rule.documented, rule.id
    results = run_examples(mine)
    assert results and all(r.passed for r in results), [str(r) for r in results if not r.passed]


def test_the_example_rule_is_new():
    shipped = {r.id for r in load_rules(stages=set(load_workflow().stages))}
    ids = re.findall(r'^id = "([^"]+)"', example_rule_text(), re.M)
    assert ids and not set(ids) & shipped, "the worked example should not redefine a shipped rule"


def test_azdiag_rules_test_accepts_the_example(tmp_path):
    write_example(tmp_path)
    result = CliRunner().invoke(main, ["rules", "test", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert re.search(r"^[1-9]\d* passed, 0 failed$", result.output, re.M), result.output


def test_the_example_rule_is_listed_with_rules_dir(tmp_path):
    write_example(tmp_path)
    result = CliRunner().invoke(main, ["rules", "list", "--rules", str(tmp_path)])
    assert result.exit_code == 0
    for rule_id in re.findall(r'^id = "([^"]+)"', example_rule_text(), re.M):
        assert rule_id in result.output
