"""Diagnostic rules, read from ``rules/*.toml`` (and ``--rules DIR``): data, not code.

A rule names a failure scenario, the workflow stage it belongs to, how severe and how sure it
is, Markdown to explain and advise (with ``{placeholders}`` filled from the evidence), the
condition that makes it fire, optional ``unless`` conditions that silence it, and examples that
must (not) fire. Conditions are evaluated by azdiag.diagnosis.conditions; this module only loads and
checks their shape so that a typo fails loudly at load time, not silently at run time.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azdiag.knowledge.cache import cached, content_key, slot_name
from azdiag.knowledge.formats import mark_usable, regex_problem, usable_regexes
from azdiag.knowledge.resources import data_dir

SEVERITIES = ("info", "warning", "error", "critical")
CONFIDENCES = ("low", "medium", "high")
CONDITION_TYPES = (
    "match",
    "sequence",
    "repeat",
    "gap",
    "duration",
    "state",
    "sql",
    "now",
    "unrecognised",
)
SCOPES = ("instance", "cycle", "before")

#: Keys each condition type accepts (besides ``type``), so typos are caught at load time.
_CONDITION_KEYS: dict[str, set[str]] = {
    "match": {"select", "min_count"},
    "sequence": {"first", "then", "within", "scope", "same", "expect", "min_count"},
    "repeat": {"outcome", "last_stage", "min_cycles", "within", "require_no"},
    "gap": {"kind", "min_seconds", "planned", "open", "beyond_restart_threshold"},
    "duration": {"start", "end", "longer_than", "scope", "open_ends_at_now"},
    "state": {"state", "longer_than", "open"},
    "sql": {"query"},
    "now": {"source", "last", "longer_than"},
    "unrecognised": {"levels", "text", "masks"},
}
_SELECTOR_KEYS = {"event", "kind", "stage", "level", "text", "where", "component"}
_FIELD_TESTS = {"in", "not_in", "regex", "not_regex", "present"}
_RULE_KEYS = {
    "id",
    "title",
    "scenario",
    "severity",
    "confidence",
    "stage",
    "explanation",
    "advice",
    "summary",
    "documented",
    "references",
    "when",
    "unless",
    "examples",
}
#: Keys a condition type cannot do without.
_REQUIRED = {
    "sequence": {"first", "then"},
    "duration": {"start", "end", "longer_than"},
    "state": {"state"},
    "sql": {"query"},
    "now": {"source"},
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")


class RuleError(ValueError):
    """A rule file is malformed; the message names the file, the rule and the problem."""


@dataclass(frozen=True)
class Example:
    name: str
    fires: bool
    fixture: str | None = None  # a bundled fixture collection, by name
    files: dict[str, str] = field(default_factory=dict)  # or inline log files, by file name
    now: str | None = None  # the collection time, as --now would give it


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    scenario: str | None
    severity: str
    confidence: str
    stage: str | None  # a stage id of rules/workflow/stages.toml, or None: from the evidence
    explanation: str
    advice: str
    summary: str | None  # one-sentence verdict template
    documented: str  # what the rule rests on: documented facts or inference
    references: tuple[str, ...]
    when: dict[str, Any]
    unless: tuple[dict[str, Any], ...]
    examples: tuple[Example, ...]
    source_file: str

    @property
    def severity_rank(self) -> int:
        return SEVERITIES.index(self.severity)

    @property
    def confidence_rank(self) -> int:
        return CONFIDENCES.index(self.confidence)


def parse_duration(value: Any, where: str) -> float:
    """Seconds from ``90``, ``"90s"``, ``"10m"``, ``"1.5h"``, ``"2d"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise RuleError(f"{where}: {value!r} is not a duration (e.g. 90, '90s', '10m', '2h')")
    number, unit = float(match.group(1)), match.group(2) or "s"
    scale = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}[unit]
    return number * scale


def load_rules(extra_dirs: tuple[Path, ...] | list[Path] = (), *, stages: set[str]) -> list[Rule]:
    """The shipped rules plus those of ``extra_dirs`` (same id replaces), sorted by id.

    Raises RuleError for a malformed rule, naming its file. The checked rules are reused from
    the user's cache while no rule file (nor azdiag, nor polars) changed: see
    azdiag.knowledge.cache.
    """
    folders = [Path(folder) for folder in (data_dir("rules"), *extra_dirs)]
    for folder in folders:
        if not folder.is_dir():
            raise RuleError(f"{folder}: not a folder of rules")
    files = [path for folder in folders for path in sorted(folder.glob("*.toml"))]
    try:
        key = content_key("rules", files, *sorted(stages))
    except OSError:  # an unreadable file: the load says which, in its own words
        return _load_checked(files, stages)[0]
    rules, usable = cached(slot_name("rules", folders), key, lambda: _load_checked(files, stages))
    mark_usable(usable)
    return rules


def _load_checked(
    files: list[Path], stages: set[str]
) -> tuple[list[Rule], dict[str, tuple[str, ...]]]:
    """The rules of ``files`` (a later one replaces the same id), and the regexes found usable."""
    rules: dict[str, Rule] = {}
    for path in files:
        for rule in _read(path, stages):
            rules[rule.id] = rule
    return [rules[key] for key in sorted(rules)], usable_regexes()


def _read(path: Path, stages: set[str]) -> list[Rule]:
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleError(f"{path}: {exc}") from exc
    entries = table.get("rules")
    if not isinstance(entries, list) or not entries:
        raise RuleError(f"{path}: expected one or more [[rules]] tables")
    return [
        _build(entry, f"{path}: rules[{i}]", str(path), stages) for i, entry in enumerate(entries)
    ]


def _build(raw: dict[str, Any], where: str, source: str, stages: set[str]) -> Rule:
    def need(key: str) -> Any:
        if key not in raw:
            raise RuleError(f"{where} needs '{key}'")
        return raw[key]

    rule_id = need("id")
    where = f"{source}: rule {rule_id}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {sorted(unknown)}")
    severity = need("severity")
    if severity not in SEVERITIES:
        raise RuleError(f"{where}: severity {severity!r} is not one of {SEVERITIES}")
    confidence = raw.get("confidence", "medium")
    if confidence not in CONFIDENCES:
        raise RuleError(f"{where}: confidence {confidence!r} is not one of {CONFIDENCES}")
    stage = raw.get("stage")
    if stage is not None and stage not in stages:
        raise RuleError(f"{where}: stage {stage!r} is not a workflow stage {sorted(stages)}")
    when = need("when")
    check_condition(when, f"{where}: when")
    unless = tuple(raw.get("unless", ()))
    for i, condition in enumerate(unless):
        check_condition(condition, f"{where}: unless[{i}]", allow_scope=True)
    examples = tuple(
        _example(e, f"{where}: examples[{i}]") for i, e in enumerate(raw.get("examples", ()))
    )
    return Rule(
        id=rule_id,
        title=need("title"),
        scenario=raw.get("scenario"),
        severity=severity,
        confidence=confidence,
        stage=stage,
        explanation=need("explanation").strip(),
        advice=need("advice").strip(),
        summary=raw.get("summary"),
        documented=raw.get("documented", "").strip(),
        references=tuple(raw.get("references", ())),
        when=when,
        unless=unless,
        examples=examples,
        source_file=source,
    )


def check_condition(condition: Any, where: str, *, allow_scope: bool = False) -> None:
    """Raise RuleError unless ``condition`` is a well-formed condition table."""
    if not isinstance(condition, dict):
        raise RuleError(f"{where}: a condition is a table with a 'type'")
    kind = condition.get("type")
    if kind not in CONDITION_TYPES:
        raise RuleError(f"{where}: type {kind!r} is not one of {CONDITION_TYPES}")
    allowed = _CONDITION_KEYS[kind] | {"type"} | ({"scope", "window"} if allow_scope else set())
    unknown = set(condition) - allowed
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {sorted(unknown)} for a {kind} condition")
    missing = _REQUIRED.get(kind, set()) - set(condition)
    if missing:
        raise RuleError(f"{where}: a {kind} condition needs {sorted(missing)}")
    for key in ("select", "first", "then", "start", "end", "require_no", "last"):
        if key in condition:
            _check_selector(condition[key], f"{where}.{key}")
    for key in ("within", "longer_than", "min_seconds", "window"):
        if key in condition:
            parse_duration(condition[key], f"{where}.{key}")
    if allow_scope and condition.get("scope", "instance") not in SCOPES:
        raise RuleError(f"{where}: scope must be one of {SCOPES}")
    if kind == "now" and ("last" in condition) != ("longer_than" in condition):
        raise RuleError(f"{where}: a now condition takes 'last' and 'longer_than' together")
    if kind == "sql" and not isinstance(condition.get("query"), str):
        raise RuleError(f"{where}: an sql condition needs a 'query' string")


def _check_selector(selector: Any, where: str) -> None:
    if not isinstance(selector, dict):
        raise RuleError(f"{where}: a selector is a table (event, kind, stage, level, text, where)")
    unknown = set(selector) - _SELECTOR_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown selector key(s) {sorted(unknown)}")
    patterns = [("text", selector["text"])] if "text" in selector else []
    for name, test in selector.get("where", {}).items():
        if isinstance(test, dict) and set(test) - _FIELD_TESTS:
            raise RuleError(
                f"{where}.where.{name}: unknown test(s) {sorted(set(test) - _FIELD_TESTS)}; "
                f"use a value or {sorted(_FIELD_TESTS)}"
            )
        if isinstance(test, dict):
            patterns += [
                (f"where.{name}.{k}", test[k]) for k in ("regex", "not_regex") if k in test
            ]
    for name, pattern in patterns:
        problem = regex_problem(pattern)
        if problem:
            raise RuleError(f"{where}.{name} {problem}")


def _example(raw: dict[str, Any], where: str) -> Example:
    if "fires" not in raw:
        raise RuleError(f"{where} needs 'fires' (true or false)")
    if not raw.get("fixture") and not raw.get("files"):
        raise RuleError(f"{where} needs a 'fixture' name or inline 'files'")
    return Example(
        name=raw.get("name", where.rsplit(": ", 1)[-1]),
        fires=bool(raw["fires"]),
        fixture=raw.get("fixture"),
        files=dict(raw.get("files", {})),
        now=str(raw["now"]) if raw.get("now") else None,
    )
