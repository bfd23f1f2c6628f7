"""Checking a format's sample lines: every sample must parse to the fields it states.

Used by the test-suite and by ``azdiag formats test`` so that whoever adds a format variant can
check it without writing Python. A sample names the ``header`` grammar it must match (or
``continuation`` / ``unparsed``) and any of the record fields; the string ``"null"`` means the
field must be empty (in a signature sample too: the field is not captured). ``records``
(default 1) is how many records the line gives: more than one for records pasted onto one line;
the fields stated are then the first record's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azdiag.knowledge.formats import FormatSet, LogFormat, Sample
from azdiag.parse.engine import parse_text

_CHECKED_FIELDS = ("level", "level_raw", "pid", "tid", "source", "message")


@dataclass(frozen=True)
class SampleFailure:
    format: str
    line: str
    problem: str

    def __str__(self) -> str:
        return f"{self.format}: {self.line[:100]!r}: {self.problem}"


def check_format(fmt: LogFormat) -> list[SampleFailure]:
    """Every failing sample of ``fmt`` (an empty list when all pass)."""
    failures = [SampleFailure(fmt.id, "", "the format has no samples")] if not fmt.samples else []
    anchor = next(
        (s.line for s in fmt.samples if s.expect.get("header") not in ("continuation", "unparsed")),
        None,
    )
    for sample in fmt.samples:
        problem = _check_sample(fmt, sample, anchor)
        if problem:
            failures.append(SampleFailure(fmt.id, sample.line, problem))
    return failures


_SAMPLE_KEYS = {"header", "time", "records", *_CHECKED_FIELDS}


def _check_sample(fmt: LogFormat, sample: Sample, anchor: str | None) -> str | None:
    unknown = set(sample.expect) - _SAMPLE_KEYS
    if unknown:
        return f"unknown sample key(s) {sorted(unknown)}; use {sorted(_SAMPLE_KEYS)}"
    expected_header = sample.expect.get("header")
    if expected_header == "continuation":
        if anchor is None:
            return "a continuation sample needs a header sample in the same format"
        records = parse_text(f"{anchor}\n{sample.line}\n".encode(), fmt).records
        if records.height != 1 or records["lines"][0] != 2:
            return "was not joined to the record above as a continuation line"
        return None
    # a pasted line of several records (log-formats.md §7) states how many it holds: the
    # fields stated are the first record's
    records = parse_text(sample.line.encode() + b"\n", fmt).records
    expected_records = sample.expect.get("records", 1)
    if records.height != expected_records:
        return f"gave {records.height} records instead of {expected_records}"
    row = records.row(0, named=True)
    if expected_header == "unparsed":
        return "parsed, but the sample says it must not" if row["parsed"] else None
    if row["header"] < 0:
        return "matched no header grammar"
    got_header = fmt.headers[row["header"]].name
    if expected_header and got_header != expected_header:
        return f"matched header {got_header!r}, expected {expected_header!r}"
    problems = []
    if "time" in sample.expect:
        got_time = None if row["time_filled"] else row["time"]
        if not _same(got_time, sample.expect["time"]):
            problems.append(f"time {_show(got_time)} != {sample.expect['time']}")
    for name in _CHECKED_FIELDS:
        if name in sample.expect and not _same(row[name], sample.expect[name]):
            problems.append(f"{name} {row[name]!r} != {sample.expect[name]!r}")
    return "; ".join(problems) or None


def _same(got: Any, expected: Any) -> bool:
    if expected == "null":
        return got is None
    if isinstance(got, datetime):
        return _show(got) == expected
    return bool(got == expected)


def _show(value: datetime | None) -> str:
    if value is None:
        return "null"
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_signatures(formats: FormatSet) -> tuple[int, list[SampleFailure]]:
    """Run every signature sample (and counter-sample) of every format; (count, failures)."""
    import polars as pl

    from azdiag.knowledge.workflow import load_workflow
    from azdiag.parse.signatures import classify, load_signatures, with_fields

    signatures = load_signatures(formats)
    components = load_workflow().stage_components
    failures: list[SampleFailure] = []
    count = 0
    for fmt in formats:
        for sig in signatures.by_format.get(fmt.id, []):
            cases = [(s, True) for s in sig.samples] + [(s, False) for s in sig.counter_samples]
            for sample, positive in cases:
                count += 1
                message = sample.get("message", "")
                events = pl.DataFrame(
                    {
                        "kind": [fmt.kind],
                        "message": [message],
                        "level_raw": [sample.get("level", "INFO")],
                    }
                )
                classified, details = classify(
                    events, formats, signatures, components, first_records=False
                )
                row = with_fields(classified, details).row(0, named=True)
                problem = _signature_problem(sig.event, sample, row, positive)
                if problem:
                    failures.append(
                        SampleFailure(f"{fmt.id} signature {sig.event}", message, problem)
                    )
    return count, failures


def _signature_problem(
    event: str, sample: dict[str, Any], row: dict[str, Any], positive: bool
) -> str | None:
    if not positive:
        return f"must not be {event}, but was" if row["event"] == event else None
    if row["event"] != event:
        return f"classified as {row['event']!r}, expected {event!r}"
    wrong = [
        f"{name} {row.get(name)!r} != {value!r}"
        for name, value in sample.items()
        if name not in ("message", "level") and not _same(row.get(name), value)
    ]
    return "; ".join(wrong) or None
