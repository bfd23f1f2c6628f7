"""Log format definitions: loaded from TOML data files, never written in Python.

A format says how to recognise a log kind (file-name globs, header sniffing), how to cut each
line into fields (one or more anchored header regexes, each with its timestamp format), what a
continuation line looks like, and which sample lines it must parse. ``parsers/*.toml`` ships the
built-in ones; ``--formats DIR`` adds or overrides definitions without touching the engine.
"""

from __future__ import annotations

import fnmatch
import functools
import itertools
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azdiag.knowledge.cache import cached, content_key, slot_name
from azdiag.knowledge.grammar import Grammar, GrammarError, load_grammar
from azdiag.knowledge.resources import data_dir

#: Fields a header regex may capture; ``message`` is required, the rest optional.
HEADER_FIELDS = ("time", "level", "pid", "tid", "source", "message")


class FormatError(ValueError):
    """A format definition is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Cut:
    """The usual shape of a header at fixed places: a speed-up, never a second grammar.

    A line matching ``shape`` (a regex run without captures) has each field at
    ``fields[name] = (start, length)`` in characters, with ``strip`` characters taken off the
    field's end, and its message from character ``message``; the header's regex gives the same
    fields for such a line (tests/parse/test_cut.py checks it on generated lines).
    """

    shape: str
    fields: dict[str, tuple[int, int]]
    message: int
    strip: str = ""


@dataclass(frozen=True)
class Header:
    """One grammar a record's first line may have."""

    name: str
    regex: str
    time_format: str | None  # polars/chrono strptime format of the ``time`` group
    fields: tuple[str, ...]  # the named groups present, in HEADER_FIELDS order
    utc: bool = False  # the time states its zone (ISO ...Z): --tz does not apply
    composed: bool = False  # made from grammar pieces (see grammar.py), not written whole
    cut: Cut | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Sample:
    """A line that must parse with the given header to the given field values."""

    line: str
    expect: dict[str, Any]


@dataclass(frozen=True)
class LogFormat:
    """Everything the engine needs to know about one log kind."""

    id: str  # the file stem, e.g. "waappagent"
    kind: str  # the display name, e.g. "WaAppAgent"
    component: str | None
    description: str
    file_names: tuple[str, ...]  # case-insensitive globs on the base name
    headers: tuple[Header, ...]
    continuation: tuple[str, ...]  # regexes; a non-header line matching one joins the record
    sniff_hint: str | None  # regex that must occur in the head for sniffing to pick this kind
    sniff_priority: int
    samples: tuple[Sample, ...]
    source_file: str
    levels: dict[str, str]  # raw level -> one of debug/info/warning/error/critical
    first_record_event: str | None = None  # event given to each file's first record
    #: and to the first record of each further process (pid) that writes in the same file
    first_record_per_process: bool = False
    glue: str | None = None  # where a further record starts inside a line (pasted traces)
    #: every match of the grammar's glue holds one of these (a prefilter; empty: none)
    glue_literals: tuple[str, ...] = ()
    #: (literal, n): every match of the format's own glue holds ``literal`` at least n times,
    #: so a line it splits (two matches) holds it 2n times (a prefilter; None: none)
    glue_counted: tuple[str, int] | None = None
    start_regex: str | None = None  # a line matching none of these alternatives has no header
    time_forms: tuple[tuple[str, str, bool], ...] = ()  # (regex, format, utc) for time finding
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def matches_name(self, name: str) -> bool:
        return _name_regex(self.file_names).match(name.lower()) is not None

    @property
    def signatures(self) -> list[dict[str, Any]]:
        """The raw ``[[signatures]]`` tables, inherited ones first (see signatures.py)."""
        return list(self.raw.get("signatures", []))

    @property
    def continuation_regex(self) -> str | None:
        """All continuation rules as one alternation, or None when nothing may continue."""
        if not self.continuation:
            return None
        return "|".join(f"(?:{c})" for c in self.continuation)


@dataclass
class FormatSet:
    """The formats in force for a run, in priority order (user formats win on equal id)."""

    formats: dict[str, LogFormat]

    def __iter__(self) -> Iterator[LogFormat]:
        return iter(self.formats.values())

    def __getitem__(self, fmt_id: str) -> LogFormat:
        return self.formats[fmt_id]

    def __contains__(self, fmt_id: object) -> bool:
        return fmt_id in self.formats

    def get(self, fmt_id: str | None) -> LogFormat | None:
        return self.formats.get(fmt_id) if fmt_id else None

    def kind_for_name(self, name: str) -> str | None:
        """Format id whose file-name globs match ``name`` (a base name), or None."""
        for fmt in self.formats.values():
            if fmt.file_names and fmt.matches_name(name):
                return fmt.id
        return None

    def sniff(self, lines: list[str]) -> str | None:
        """Format id whose headers match most of the given head lines, or None.

        Sniffing is for files whose name says nothing. A format wins on the share of lines its
        headers match; ``sniff_hint`` must also occur when given (TraceSource logs all share a
        grammar and differ only in their source name); ``sniff_priority`` breaks ties.
        """
        sample = [line for line in lines if line.strip()][:50]
        if not sample:
            return None
        head = "\n".join(sample)
        best: tuple[float, int, str] | None = None
        best_hits = 0
        for fmt in self.formats.values():
            if fmt.sniff_hint and not re.search(fmt.sniff_hint, head, re.MULTILINE):
                continue
            # the declared grammars: composed ones are shared by every format and say nothing
            # of which log a file is (and would cost a hundred matches a line)
            compiled = [_compile(h.regex) for h in fmt.headers if not h.composed]
            hits = sum(1 for line in sample if any(c.match(line) for c in compiled))
            if hits == 0:
                continue
            score = (hits / len(sample), fmt.sniff_priority, fmt.id)
            if best is None or score[:2] > best[:2]:
                best, best_hits = score, hits
        # a share of the head, or enough lines of their own: a log pasted below an e-mail's
        # header and quoted text is that log, whatever share the e-mail takes of a short file
        enough = best is not None and (best[0] >= 0.3 or best_hits >= _SNIFF_LINES_ENOUGH)
        return best[2] if best and enough else None


_compiled_cache: dict[str, re.Pattern[str]] = {}

#: Lines in a format's declared grammars that make a file of that format whatever else it holds.
_SNIFF_LINES_ENOUGH = 5


@functools.cache
def _name_regex(globs: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for a format's file-name globs, case-insensitive (compiled once: a collection
    of many files asks every format about every name)."""
    if not globs:
        return re.compile("(?!)")
    return re.compile("|".join(f"(?:{fnmatch.translate(glob.lower())})" for glob in globs))


def _compile(regex: str) -> re.Pattern[str]:
    pattern = _compiled_cache.get(regex)
    if pattern is None:
        pattern = _compiled_cache[regex] = re.compile(_to_python_regex(regex))
    return pattern


def _cut(
    table: Any, fields: tuple[str, ...], where: str, fail: Callable[[str], FormatError]
) -> Cut | None:
    """A header's ``[headers.cut]`` table, checked: its fields are the regex's, bar message."""
    if table is None:
        return None
    if not isinstance(table, dict) or not isinstance(table.get("shape"), str):
        raise fail(f"{where} needs a 'shape' regex")
    shape = table["shape"]
    problem = regex_problem(shape)
    if problem or not shape.startswith("^"):
        raise fail(f"{where} shape {problem or 'must be anchored with ^'}")
    cut_fields: dict[str, tuple[int, int]] = {}
    for name in fields:
        if name == "message":
            continue
        place = table.get(name)
        if not (isinstance(place, list) and len(place) == 2 and all(type(v) is int for v in place)):
            raise fail(f"{where} needs {name} = [start, length] (characters)")
        cut_fields[name] = (place[0], place[1])
    extra = set(table) - {"shape", "message", "strip", *cut_fields}
    if extra:
        raise fail(f"{where} has keys the header's regex does not capture: {sorted(extra)}")
    if type(table.get("message")) is not int:
        raise fail(f"{where} needs message = the character where the message starts")
    return Cut(shape, cut_fields, table["message"], str(table.get("strip", "")))


def _to_python_regex(regex: str) -> str:
    """Rust-regex named groups ``(?P<x>`` are also Python's; nothing else needs translating."""
    return regex


def engine_rejects(regex: str) -> str | None:
    """Why polars' regex engine (Rust ``regex``) cannot run ``regex``, or None.

    Python's ``re`` accepts more (look-around, back-references); parsing uses polars, so a
    definition is checked against both at load time, not at parse time.
    """
    import polars as pl

    try:
        pl.Series([""], dtype=pl.String).str.contains(regex)
    except Exception as exc:  # polars raises its own ComputeError for a bad pattern
        return _engine_reason(str(exc))
    return None


def _engine_reason(message: str) -> str:
    """The reason in the Rust regex error polars passes on (``error: look-around ... is not
    supported``), with the part of the regex it points at (the ``^^^`` under it)."""
    lines = message.splitlines()
    reason = next((line[len("error: ") :] for line in lines if line.startswith("error: ")), None)
    if reason is None:
        return lines[0] if lines else "rejected"
    for above, line in itertools.pairwise(lines):
        marks = line.strip()
        if marks and set(marks) == {"^"}:
            start = len(line) - len(line.lstrip())
            return f"{reason} (at {above[start : start + len(marks)]!r})"
    return reason


#: Regexes found usable by ``regex_problem`` in this process, or by the load a cache entry
#: was built from (see ``load_formats``), with their named groups: checking one again would
#: give the same answer, and compiling one in ``re`` only for its group names costs as much.
_usable: dict[str, tuple[str, ...]] = {}


def regex_problem(regex: str) -> str | None:
    """Why ``regex`` cannot be used in a definition, or None: it must compile in Python's ``re``
    (loading, sniffing) and run in polars' engine (parsing, signatures, conditions)."""
    if regex in _usable:
        return None
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        return f"does not compile: {exc}"
    problem = engine_rejects(regex)
    if problem:
        return f"is not supported by the parsing engine: {problem}"
    _usable[regex] = tuple(compiled.groupindex)
    return None


def group_names(regex: str) -> tuple[str, ...]:
    """The named groups of ``regex``, in order (raises re.error when it does not compile).
    Known without compiling for every regex of a loaded definition."""
    names = _usable.get(regex)
    return names if names is not None else tuple(re.compile(regex).groupindex)


def usable_regexes() -> dict[str, tuple[str, ...]]:
    """The regexes ``regex_problem`` passed so far, with their group names: kept with a cached
    load, so that what checks them again (signatures, rules) finds them checked."""
    return dict(_usable)


def mark_usable(regexes: dict[str, tuple[str, ...]]) -> None:
    """Take ``regexes`` as checked (they come from a load cached with the same engines)."""
    _usable.update(regexes)


def load_formats(extra_dirs: list[Path] | tuple[Path, ...] = ()) -> FormatSet:
    """Load the shipped formats, then each ``extra_dirs`` folder (same id replaces, new adds).

    Files named ``_*.toml`` hold grammar pieces (see grammar.py), every other ``*.toml`` one
    format. Raises FormatError for a malformed definition, naming its file. The checked result
    is reused from the user's cache while no file (nor azdiag, nor polars) changed: see
    azdiag.knowledge.cache.
    """
    folders = [Path(f) for f in (data_dir("parsers"), *extra_dirs)]
    for folder in folders:
        if not folder.is_dir():
            raise FormatError(f"{folder}: not a folder of format definitions")
    files = [path for folder in folders for path in sorted(folder.glob("*.toml"))]
    try:
        key = content_key("formats", files)
    except OSError:  # an unreadable file: the load says which, in its own words
        return _load_checked(folders)[0]
    formats, usable = cached(slot_name("formats", folders), key, lambda: _load_checked(folders))
    mark_usable(usable)
    return formats


def _load_checked(folders: list[Path]) -> tuple[FormatSet, dict[str, tuple[str, ...]]]:
    """The formats of ``folders``, every definition checked, and the regexes found usable."""
    raw: dict[str, tuple[dict[str, Any], str]] = {}
    try:
        grammar = load_grammar(p for f in folders for p in sorted(f.glob("_*.toml")))
    except GrammarError as exc:
        raise FormatError(str(exc)) from exc
    _check_grammar(grammar)
    for folder in folders:
        for path in sorted(folder.glob("*.toml")):
            if path.name.startswith("_"):
                continue
            try:
                with path.open("rb") as handle:
                    raw[path.stem] = (tomllib.load(handle), str(path))
            except tomllib.TOMLDecodeError as exc:
                raise FormatError(f"{path}: {exc}") from exc
    formats = {fmt_id: _build(fmt_id, raw, grammar) for fmt_id in raw}
    ordered = sorted(formats.values(), key=lambda f: (-f.sniff_priority, f.id))
    return FormatSet({f.id: f for f in ordered}), usable_regexes()


def _resolved(fmt_id: str, raw: dict[str, tuple[dict[str, Any], str]], seen: tuple[str, ...] = ()):
    """The TOML table of ``fmt_id`` with ``extends`` applied (keys of the child win)."""
    if fmt_id not in raw:
        raise FormatError(f"{seen[-1] if seen else fmt_id}: extends unknown format {fmt_id!r}")
    if fmt_id in seen:
        raise FormatError(f"{fmt_id}: 'extends' loops through {' -> '.join(seen)}")
    table, _ = raw[fmt_id]
    parent = table.get("extends")
    if not parent:
        return dict(table)
    merged = dict(_resolved(parent, raw, (*seen, fmt_id)))
    merged.pop("samples", None)  # samples are the child's own: they test its own names
    merged.pop("file_names", None)
    merged.pop("sniff_hint", None)
    merged.pop("kind", None)  # a variant is its own kind unless it says otherwise
    inherited = merged.get("signatures", [])
    merged.update(table)
    merged["signatures"] = [*inherited, *table.get("signatures", [])]
    return merged


def _check_grammar(grammar: Grammar) -> None:
    """Every grammar piece must run in polars' regex engine (then so does any composition)."""
    for where, regex in grammar.pieces():
        problem = engine_rejects(regex)
        if problem:
            raise FormatError(f"{where}: not supported by the parsing engine: {problem}")


def _composed_headers(grammar: Grammar, declared: list[Header]) -> list[Header]:
    """The grammar's headers not already declared by the format (same regex)."""
    known = {h.regex for h in declared}
    headers = []
    for composed in grammar.compose():
        if composed.regex in known:
            continue
        time = composed.time
        headers.append(
            Header(
                name=composed.name,
                regex=composed.regex,
                time_format=time.format if time else None,
                fields=tuple(
                    f for f in HEADER_FIELDS if f"(?P<{f}>" in composed.regex or f == "message"
                ),
                utc=bool(time and time.utc),
                composed=True,
            )
        )
    return headers


def _try_order(header: Header) -> int:
    """Fixed time formats first (declared, then composed), then times read by python-dateutil,
    then headers without a time: a looser grammar must not claim a line a stricter one reads."""
    if header.time_format is None:
        return 3
    if header.time_format == "auto":
        return 2
    return 1 if header.composed else 0


def _start_regex(headers: list[Header], grammar: Grammar, compose: bool) -> str:
    """One alternation, without captures, that every header's line must match."""
    starts = [h.regex for h in headers if not h.composed]
    if compose:
        starts += grammar.starts()
    return "|".join(f"(?:{re.sub(r'[(][?]P<[A-Za-z_]+>', '(?:', s)})" for s in starts)


def _glue(
    table: dict[str, Any], grammar: Grammar, fail: Callable[[str], FormatError]
) -> dict[str, Any]:
    """The ``glue``, ``glue_literals`` and ``glue_counted`` of a format: the grammar's glue
    (when it composes) and its own ``glue`` (log-formats.md §7), with their prefilters, or no
    prefilter at all when one of them declares none (then every line is searched)."""
    grammar_glue = grammar.glue_regex() if table.get("compose", True) else None
    own = table.get("glue")
    if own is not None:
        problem = regex_problem(own) if isinstance(own, str) and own else "must be a regex"
        if problem is None and re.compile(own).groups:
            problem = "must not capture: write (?:...) for its groups"
        if problem:
            raise fail(f"glue {problem}")
    literal, times = table.get("glue_literal"), table.get("glue_literal_count", 1)
    if literal is not None and not (isinstance(literal, str) and literal):
        raise fail("glue_literal must be a non-empty text")
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise fail("glue_literal_count must be a whole number of at least 1")
    glues = [g for g in (grammar_glue, own) if g]
    literals = grammar.glue_literals() if grammar_glue else ()
    counted = (literal, times) if own and literal else None
    if (grammar_glue and not literals) or (own and not counted):
        literals, counted = (), None
    return {
        "glue": "|".join(f"(?:{g})" for g in glues) if len(glues) > 1 else next(iter(glues), None),
        "glue_literals": literals,
        "glue_counted": counted,
    }


def _build(fmt_id: str, raw: dict[str, tuple[dict[str, Any], str]], grammar: Grammar) -> LogFormat:
    source_file = raw[fmt_id][1]
    table = _resolved(fmt_id, raw)

    def fail(message: str) -> FormatError:
        return FormatError(f"{source_file}: {message}")

    headers = []
    for i, entry in enumerate(table.get("headers", [])):
        regex = entry.get("regex")
        if not isinstance(regex, str):
            raise fail(f"headers[{i}] needs a 'regex' string")
        problem = regex_problem(regex)
        if problem:
            raise fail(f"headers[{i}] regex {problem}")
        groups = set(re.compile(regex).groupindex)
        if not regex.startswith("^"):
            raise fail(f"headers[{i}] regex must be anchored with '^'")
        if "message" not in groups:
            raise fail(f"headers[{i}] regex needs a (?P<message>...) group")
        unknown = groups - set(HEADER_FIELDS)
        if unknown:
            raise fail(f"headers[{i}] has unknown groups {sorted(unknown)}; use {HEADER_FIELDS}")
        time_format = entry.get("time_format")
        if ("time" in groups) != bool(time_format):
            raise fail(f"headers[{i}]: a (?P<time>) group and 'time_format' go together")
        fields = tuple(f for f in HEADER_FIELDS if f in groups)
        headers.append(
            Header(
                name=entry.get("name", f"header{i}"),
                regex=regex,
                time_format=time_format,
                fields=fields,
                utc=bool(entry.get("utc", False)),
                cut=_cut(entry.get("cut"), fields, f"headers[{i}].cut", fail),
            )
        )
    if not headers:
        raise fail("at least one [[headers]] entry is required")
    if table.get("compose", True):
        headers += _composed_headers(grammar, headers)
    headers.sort(key=_try_order)
    continuation = table.get("continuation", {}).get("patterns", [])
    for pattern in continuation:
        problem = regex_problem(pattern)
        if problem:
            raise fail(f"continuation pattern {pattern!r} {problem}")
    for i, signature in enumerate(table.get("signatures", [])):
        # checked here, with the rest of the file, so that a cached load has them checked too
        problem = regex_problem(signature["pattern"]) if signature.get("pattern") else None
        if problem:
            raise fail(f"signatures[{i}] pattern {problem}")
    samples = []
    for i, entry in enumerate(table.get("samples", [])):
        if "line" not in entry:
            raise fail(f"samples[{i}] needs a 'line'")
        expect = {k: v for k, v in entry.items() if k != "line"}
        samples.append(Sample(line=entry["line"], expect=expect))
    return LogFormat(
        id=fmt_id,
        kind=table.get("kind", fmt_id),
        component=table.get("component"),
        description=table.get("description", ""),
        file_names=tuple(table.get("file_names", [])),
        headers=tuple(headers),
        continuation=tuple(continuation),
        sniff_hint=table.get("sniff_hint"),
        sniff_priority=int(table.get("sniff_priority", 0)),
        samples=tuple(samples),
        source_file=source_file,
        levels={**grammar.level_names, **table.get("levels", {})},
        first_record_event=table.get("first_record_event"),
        first_record_per_process=bool(table.get("first_record_per_process", False)),
        **_glue(table, grammar, fail),
        start_regex=_start_regex(headers, grammar, bool(table.get("compose", True))),
        time_forms=tuple((t.regex, t.format, t.utc) for t in grammar.times.values()),
        raw=table,
    )
