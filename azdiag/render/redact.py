"""--redact: take customer identifiers out of every output, by the patterns in reports/."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from typing import Any

from azdiag.knowledge.resources import data_dir


@lru_cache(maxsize=1)
def _rules() -> tuple[list[tuple[re.Pattern[str], str]], frozenset[str]]:
    with (data_dir("reports") / "redact.toml").open("rb") as handle:
        table = tomllib.load(handle)
    rules = [(re.compile(r["pattern"]), r["replacement"]) for r in table["replace"]]
    return rules, frozenset(table.get("keep", ()))


def redact_text(text: str) -> str:
    rules, keep = _rules()
    for pattern, replacement in rules:

        def substitute(match: re.Match[str], template: str = replacement) -> str:
            return match.group(0) if match.group(0) in keep else match.expand(template)

        text = pattern.sub(substitute, text)
    return text


def redact(value: Any) -> Any:
    """``value`` (nested dicts, lists, strings) with every string redacted; keys stay."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
