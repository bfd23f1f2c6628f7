"""Running the examples written inside each rule: they must fire, or not, as they say.

Inline examples are small log files written to a temporary folder; fixture examples name a
bundled collection (fixtures/ in a checkout). Both go through the whole pipeline, so an example
tests the formats, signatures and timeline a rule relies on, not just its condition.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from azdiag.common.times import parse_user_time
from azdiag.diagnosis.engine import facts_of
from azdiag.diagnosis.findings import apply_rule
from azdiag.knowledge.resources import data_dir
from azdiag.knowledge.rulebook import Example, Rule
from azdiag.timeline.analysis import Analysis, analyze


@dataclass(frozen=True)
class ExampleResult:
    rule: str
    example: str
    expected: bool
    fired: bool | None  # None when the example could not run
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return self.problem is None and self.fired == self.expected

    def __str__(self) -> str:
        want = "fire" if self.expected else "stay silent"
        if self.problem:
            return f"{self.rule} / {self.example}: {self.problem}"
        outcome = "fired" if self.fired else "did not"
        return f"{self.rule} / {self.example}: should {want}, {outcome}"


def run_examples(rules: list[Rule]) -> list[ExampleResult]:
    return [run_example(rule, example) for rule in rules for example in rule.examples]


def run_example(rule: Rule, example: Example) -> ExampleResult:
    try:
        now = parse_user_time(example.now) if example.now else None
        analysis = _fixture(example.fixture, now) if example.fixture else _inline(example, now)
    except (OSError, ValueError) as exc:
        return ExampleResult(rule.id, example.name, example.fires, None, str(exc))
    fired = bool(apply_rule(rule, facts_of(analysis)))
    return ExampleResult(rule.id, example.name, example.fires, fired)


@lru_cache(maxsize=64)
def _fixture(name: str, now: datetime | None = None) -> Analysis:
    path = data_dir("fixtures") / name
    if not path.exists():
        zipped = data_dir("fixtures") / "zips" / f"{name}.zip"
        if not zipped.exists():
            raise ValueError(f"fixture {name!r} not found in {data_dir('fixtures')}")
        path = zipped
    return analyze(path, now=now)


def _inline(example: Example, now: datetime | None = None) -> Analysis:
    with tempfile.TemporaryDirectory(prefix="azdiag-example-") as folder:
        for name, text in example.files.items():
            target = Path(folder) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text.lstrip("\n"), encoding="utf-8")
        return analyze(folder, now=now)
