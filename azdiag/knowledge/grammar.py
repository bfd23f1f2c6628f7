"""Composed line grammars: a header is ``[prefix] time-block [level-block] message``.

The pieces are data (``parsers/_grammar.toml``, and any ``_*.toml`` of a ``--formats`` folder):
time forms with their strptime format, prefixes (a thread id, the .NET TraceSource
``<Source> <EventType>: <id> :``), time blocks (``[time]``, a bare time, the bootstrapper's
``[pid:tid, date, time, level]``) and level blocks (``[LEVEL]``). Every combination becomes one
anchored header regex with one time format, so the parsing engine runs it in the same one-pass
polars work as a hand-written header. Sources of the shapes: log-formats.md §1-§4 and §7.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_GROUP = re.compile(r"\(\?P<(\w+)>")
_TIME = "{time}"


class GrammarError(ValueError):
    """A grammar piece is malformed; the message names the file and the piece."""


@dataclass(frozen=True)
class TimeForm:
    """One way a time is written: its regex, the strptime format of what it matches."""

    name: str
    regex: str
    format: str
    suffix: str = ""
    utc: bool = False
    sample: str | None = None  # a time in this form, and what it reads as (ISO, UTC)
    sample_time: str | None = None
    origin: str = ""  # the file it was read from


@dataclass(frozen=True)
class Piece:
    """A prefix, time block or level block: a regex fragment with named groups."""

    name: str
    regex: str
    untimed_regex: str | None = None  # level blocks: the stricter form used without a time
    glue: str | None = None  # time blocks: where a header of this block starts inside a line
    glue_literal: str | None = None  # a text every glue match contains (a cheap prefilter)
    alone: bool = True  # prefixes: without a time block, makes a header with no level block too
    sample: str | None = None  # the piece as written; a block's has {time} in it
    origin: str = ""  # the file it was read from


@dataclass(frozen=True)
class Composed:
    """One composed header: its name, anchored regex and time form (None: no time)."""

    name: str
    regex: str
    time: TimeForm | None
    sample: str | None = None  # a line of this shape made from the pieces' samples


@dataclass
class Grammar:
    """All pieces in force, in the order they are tried."""

    times: dict[str, TimeForm] = field(default_factory=dict)
    prefixes: dict[str, Piece] = field(default_factory=dict)
    blocks: dict[str, Piece] = field(default_factory=dict)
    levels: dict[str, Piece] = field(default_factory=dict)
    level_names: dict[str, str] = field(default_factory=dict)

    def compose(self) -> list[Composed]:
        """Every header the pieces make, most specific first.

        A time block is tried with every time form; a header without a time needs a prefix or
        a level block, else every line would be a record; a prefix marked ``alone = false``
        needs the level block.
        """
        composed: list[Composed] = []
        prefixes: list[Piece | None] = [*self.prefixes.values(), None]
        levels: list[Piece | None] = [*self.levels.values(), None]
        timed = [(b, t) for b in self.blocks.values() for t in self.times.values()]
        for prefix, (block, time), level in itertools.product(prefixes, timed, levels):
            body = block.regex.replace(_TIME, f"(?P<time>{time.regex}){time.suffix}")
            name = _name(prefix, f"{block.name}:{time.name}", level)
            pieces = [prefix.regex if prefix else "", body, level.regex if level else ""]
            samples = [
                prefix.sample if prefix else "",
                (block.sample or "").replace(_TIME, time.sample or ""),
                level.sample if level else "",
            ]
            composed.append(Composed(name, _anchored(pieces), time, _sample(samples)))
        for prefix, level in itertools.product(prefixes, levels):
            if level is None and (prefix is None or not prefix.alone):
                continue
            untimed = (level.untimed_regex or level.regex) if level else ""
            regex = _anchored([prefix.regex if prefix else "", untimed])
            samples = [prefix.sample if prefix else "", level.sample if level else ""]
            composed.append(
                Composed(_name(prefix, "untimed", level), regex, None, _sample(samples))
            )
        return composed

    def starts(self) -> list[str]:
        """Anchored regexes of what a composed header can begin with (its first piece): a line
        matching none of them cannot match any composed header."""
        firsts = [f"^{p.regex}" for p in self.prefixes.values()]
        for block in self.blocks.values():
            firsts += [
                "^" + block.regex.replace(_TIME, f"(?:{t.regex}){t.suffix}")
                for t in self.times.values()
            ]
        firsts += [f"^{level.untimed_regex or level.regex}" for level in self.levels.values()]
        return firsts

    def pieces(self) -> list[tuple[str, str]]:
        """(where, regex) of every piece, a block with each time form in it: what the parsing
        engine must accept for every composition of them to run."""
        pieces = [(f"{t.origin}: times.{t.name}", t.regex + t.suffix) for t in self.times.values()]
        pieces += [(f"{p.origin}: prefixes.{p.name}", p.regex) for p in self.prefixes.values()]
        pieces += [
            (f"{p.origin}: levels.{p.name}", regex)
            for p in self.levels.values()
            for regex in (p.regex, p.untimed_regex)
            if regex
        ]
        for block in self.blocks.values():
            where = f"{block.origin}: blocks.{block.name}"
            pieces.append((where, block.regex.replace(_TIME, "(?P<time>x)")))
            if block.glue:
                pieces.append((f"{where}.glue", block.glue))
        return pieces

    def glue_regex(self) -> str | None:
        """Where a further header starts inside a line (pasted traces), or None."""
        glues = [b.glue for b in self.blocks.values() if b.glue]
        return "|".join(f"(?:{g})" for g in glues) if glues else None

    def glue_literals(self) -> tuple[str, ...]:
        """Texts of which every glue match contains one; empty when a glue declares none (then
        every line is searched for glue)."""
        glued = [b for b in self.blocks.values() if b.glue]
        if not glued or any(not b.glue_literal for b in glued):
            return ()
        return tuple(dict.fromkeys(b.glue_literal for b in glued if b.glue_literal))


#: The message of every composed sample line.
SAMPLE_MESSAGE = "Role environment . INITIALIZING"


def _sample(pieces: list[str | None]) -> str | None:
    if any(not p and p != "" for p in pieces):
        return None
    return "".join(p or "" for p in pieces) + SAMPLE_MESSAGE


def _name(prefix: Piece | None, middle: str, level: Piece | None) -> str:
    """``thread+bracketed:mdy4+level``: the pieces of a composed header, in line order."""
    return "+".join([*([prefix.name] if prefix else []), middle, *([level.name] if level else [])])


def _anchored(pieces: Iterable[str]) -> str:
    """``^pieces... *(?P<message>.*)$`` with each group name captured once (first wins)."""
    seen: set[str] = set()
    out = []
    for piece in pieces:

        def rename(match: re.Match[str]) -> str:
            if match.group(1) in seen:
                return "(?:"
            seen.add(match.group(1))
            return match.group(0)

        out.append(_GROUP.sub(rename, piece))
    return "^" + "".join(out) + " *(?P<message>.*)$"


def load_grammar(files: Iterable[Path]) -> Grammar:
    """Read grammar pieces from ``files`` in order (a later piece of the same name replaces)."""
    grammar = Grammar()
    for path in files:
        try:
            with path.open("rb") as handle:
                table = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise GrammarError(f"{path}: {exc}") from exc
        _merge(grammar, table, path)
    return grammar


def _merge(grammar: Grammar, table: dict[str, Any], path: Path) -> None:
    for name, entry in table.get("times", {}).items():
        regex, fmt = entry.get("regex"), entry.get("format")
        if not isinstance(regex, str) or not isinstance(fmt, str):
            raise GrammarError(f"{path}: times.{name} needs a 'regex' and a 'format'")
        _check(path, f"times.{name}", regex, allowed=set())
        grammar.times[name] = TimeForm(
            name,
            regex,
            fmt,
            suffix=entry.get("suffix", ""),
            utc=bool(entry.get("utc", False)),
            sample=entry.get("sample"),
            sample_time=entry.get("sample_time"),
            origin=str(path),
        )
    for kind, target, allowed in (
        ("prefixes", grammar.prefixes, {"tid", "source", "level", "pid"}),
        ("blocks", grammar.blocks, {"pid", "tid", "level"}),
        ("levels", grammar.levels, {"level"}),
    ):
        for name, entry in table.get(kind, {}).items():
            regex = entry.get("regex")
            if not isinstance(regex, str):
                raise GrammarError(f"{path}: {kind}.{name} needs a 'regex'")
            if kind == "blocks" and _TIME not in regex:
                raise GrammarError(f"{path}: blocks.{name} must contain {_TIME}")
            _check(path, f"{kind}.{name}", regex.replace(_TIME, ""), allowed)
            target[name] = Piece(
                name,
                regex,
                untimed_regex=entry.get("untimed_regex"),
                glue=entry.get("glue"),
                glue_literal=entry.get("glue_literal"),
                alone=bool(entry.get("alone", True)),
                sample=entry.get("sample"),
                origin=str(path),
            )
    grammar.level_names.update({str(k): str(v) for k, v in table.get("level_names", {}).items()})


def _check(path: Path, where: str, regex: str, allowed: set[str]) -> None:
    try:
        groups = set(re.compile(regex).groupindex)
    except re.error as exc:
        raise GrammarError(f"{path}: {where} does not compile: {exc}") from exc
    if groups - allowed:
        raise GrammarError(
            f"{path}: {where} captures {sorted(groups - allowed)}; use {sorted(allowed)}"
        )
