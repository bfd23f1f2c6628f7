"""IIS logs (W3C extended ``u_ex*.log``, HTTP.sys ``httperr*.log``) summarised per minute.

A busy role writes millions of request lines a day; the timeline needs their rate and errors
against the role's states, not each line. So each file is read in one polars pass (only the
columns needed, as text) and summarised per UTC minute (W3C ``date``/``time`` are UTC):

- W3SVC: ``requests``, requests per status class (``http_2xx``... ``http_5xx``), ``http_500``,
  ``http_503``, and ``time-taken`` percentiles ``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``;
- HTTPERR: ``requests``, ``http_4xx``, ``http_5xx``, ``http_503`` and the commonest reasons
  (``s-reason``, e.g. ``AppOffline``, ``QueueFull``, ``Hostname``) as ``reasons=Name:count,...``.

Each minute becomes one line of a small text that the ``iis-w3svc`` / ``iis-httperr`` formats
parse (``parsers/iis-*.toml``), so the minutes are events of the timeline (with the counts as
signature fields) and rules can use them::

    2024-03-14T09:31:00Z Error W3SVC1 requests=120 http_2xx=100 http_3xx=0 http_4xx=10 ...

Lines that are not requests in the declared ``#Fields`` (cut lines, wrong column counts,
unreadable times) are counted and shown as examples, never silently dropped.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import polars as pl

#: Columns read from W3SVC logs, if the ``#Fields`` line declares them.
W3C_COLUMNS = ("date", "time", "s-sitename", "sc-status", "time-taken")
#: Columns read from HTTPERR logs.
HTTPERR_COLUMNS = ("date", "time", "sc-status", "s-reason", "s-queuename")
#: How many reasons an HTTPERR minute names.
TOP_REASONS = 3
_W3C_HEAD = (
    b"#Software: Microsoft Internet Information Services",
    b"#Software: Microsoft HTTP API",
)


@dataclass
class Summary:
    """Per-minute text of one IIS log, and what of the file it covers."""

    kind: str  # "w3svc" | "httperr"
    text: bytes  # one line per minute (see the module doc)
    lines: int  # lines of the file, directives included
    requests: int  # request lines summarised
    unread: int  # lines that are neither directives nor readable requests
    examples: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)


def sniff(head: bytes) -> str | None:
    """``"httperr"`` or ``"w3svc"`` when a file's head is an IIS / HTTP.sys W3C log, else None."""
    start = head.lstrip(b"\xef\xbb\xbf")
    if start.startswith(_W3C_HEAD[1]):
        return "httperr"
    if start.startswith(_W3C_HEAD[0]) or (start.startswith(b"#Fields:") and b"sc-status" in start):
        return "w3svc"
    return None


def summarise(data: bytes, kind: str) -> Summary:
    """Summarise one W3C log (``kind`` ``"w3svc"`` or ``"httperr"``) per minute.

    ``data`` is the file as UTF-8 text. Lines that are not under a ``#Fields`` directive, or
    whose date and time do not read, are counted as unread (with up to 5 examples). Raises
    nothing for bad lines.
    """
    wanted = HTTPERR_COLUMNS if kind == "httperr" else W3C_COLUMNS
    total = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    blocks = _blocks(data)
    preamble = data[: blocks[0][3]] if blocks else data
    unread = _request_like(preamble)
    examples = _bad_examples(preamble, 1, 5) if unread else []
    frames: list[pl.DataFrame] = []
    for names, first_line, block, _ in blocks:
        frame, bad = _read_block(block, names, wanted)
        unread += bad
        if bad and len(examples) < 5:
            examples += _bad_examples(block, first_line, 5 - len(examples))
        if frame is not None:
            frames.append(frame)
    if not frames:
        return Summary(kind, b"", total, 0, unread, examples)
    requests = pl.concat(frames, how="diagonal_relaxed")
    minutes = _per_minute(requests, kind)
    return Summary(kind, minutes, total, requests.height, unread, examples)


def _blocks(data: bytes) -> list[tuple[list[str], int, bytes, int]]:
    """(field names, 1-based line number of the block's first line, the block's lines, the
    directive's offset) for each run of lines under one ``#Fields`` directive (IIS writes them
    again after each restart). Found with ``bytes.find``: no per-line work."""
    starts = [0] if data.startswith(b"#Fields:") else []
    at = data.find(b"\n#Fields:")
    while at >= 0:
        starts.append(at + 1)
        at = data.find(b"\n#Fields:", at + 1)
    blocks = []
    for index, start in enumerate(starts):
        line_end = data.find(b"\n", start)
        line_end = len(data) if line_end < 0 else line_end
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        names = data[start + len(b"#Fields:") : line_end].decode("ascii", "replace").split()
        first_line = data.count(b"\n", 0, line_end) + 2
        blocks.append((names, first_line, data[line_end + 1 : end], start))
    return blocks


def _request_like(text: bytes) -> int:
    """Lines of ``text`` that are neither empty nor directives (counted with ``bytes.count``;
    runs of several empty lines count as one)."""
    lines = text.count(b"\n") + (0 if text.endswith(b"\n") or not text else 1)
    directives = text.count(b"\n#") + text.startswith(b"#")
    empty = text.count(b"\n\n") + text.count(b"\n\r\n") + text.startswith((b"\n", b"\r\n"))
    return max(lines - directives - empty, 0)


#: A W3C date and time, as they must be for a line to be a request.
_DATE, _TIME = r"^\d{4}-\d{2}-\d{2}$", r"^\d{2}:\d{2}:\d{2}"


def _read_block(
    block: bytes, names: list[str], wanted: tuple[str, ...]
) -> tuple[pl.DataFrame | None, int]:
    """The block's requests (the wanted columns as text, and ``minute`` ``YYYY-MM-DD HH:MM``)
    and the count of its lines that are not requests."""
    present = [n for n in wanted if n in names]
    if "date" not in present or "time" not in present or not block.strip(b"#\r\n \t"):
        return None, _request_like(block)
    indices = [names.index(n) for n in present]
    frame = pl.read_csv(
        io.BytesIO(block),
        has_header=False,
        separator=" ",
        comment_prefix="#",
        quote_char=None,
        columns=indices,
        infer_schema=False,
        truncate_ragged_lines=True,
    )
    frame = frame.rename(dict(zip(frame.columns, present, strict=True)))
    # the minute as text: the 1440 keys of a day are parsed once, after the group-by
    # every line but directives (the reader skips them) and empty lines (all-null rows)
    rows = frame.height - frame["date"].null_count()
    readable = pl.col("date").str.contains(_DATE) & pl.col("time").str.contains(_TIME)
    frame = frame.filter(readable.fill_null(False)).with_columns(
        minute=pl.concat_str("date", pl.lit(" "), pl.col("time").str.slice(0, 5))
    )
    return frame, rows - frame.height


def _per_minute(requests: pl.DataFrame, kind: str) -> bytes:
    status = (
        pl.col("sc-status").cast(pl.Int32, strict=False)
        if "sc-status" in requests.columns
        else pl.lit(None, pl.Int32)
    )

    def count(condition: pl.Expr, name: str) -> pl.Expr:
        return condition.fill_null(False).sum().alias(name)

    aggregations = [
        pl.len().alias("requests"),
        count(status // 100 == 2, "http_2xx"),
        count(status // 100 == 3, "http_3xx"),
        count(status // 100 == 4, "http_4xx"),
        count(status // 100 == 5, "http_5xx"),
        count(status == 500, "http_500"),
        count(status == 503, "http_503"),
    ]
    if kind == "w3svc" and "time-taken" in requests.columns:
        taken = pl.col("time-taken").cast(pl.Int64, strict=False)
        aggregations += [
            taken.quantile(q, "nearest").cast(pl.Int64).alias(f"p{int(q * 100)}_ms")
            for q in (0.5, 0.95, 0.99)
        ]
        aggregations.append(taken.max().alias("max_ms"))
    site = "HTTPERR" if kind == "httperr" else None
    if site is None and "s-sitename" in requests.columns:
        aggregations.append(pl.col("s-sitename").drop_nulls().first().alias("_site"))
    minutes = requests.lazy().group_by("minute").agg(aggregations).sort("minute").collect()
    if kind == "httperr" and "s-reason" in requests.columns:
        minutes = minutes.join(_top_reasons(requests), on="minute", how="left")
    lines = []
    counters = [c for c in minutes.columns if c not in ("minute", "_reasons", "_site")]
    for row in minutes.iter_rows(named=True):  # one step per minute, not per request
        level = "Error" if row["http_5xx"] else "Information"
        name = site or row.get("_site") or "W3SVC"
        parts = [f"{c}={'-' if row[c] is None else row[c]}" for c in counters]
        if "_reasons" in row:
            parts.append(f"reasons={row['_reasons'] or '-'}")
        stamp = row["minute"].replace(" ", "T")
        lines.append(f"{stamp}:00Z {level} {name} {' '.join(parts)}\n")
    return "".join(lines).encode("utf-8")


def _top_reasons(requests: pl.DataFrame) -> pl.DataFrame:
    """Per minute, its TOP_REASONS commonest ``s-reason`` values as ``Name:count,...``."""
    return (
        requests.lazy()
        .filter(pl.col("s-reason").is_not_null() & (pl.col("s-reason") != "-"))
        .group_by("minute", "s-reason")
        .len()
        .sort(["minute", "len", "s-reason"], descending=[False, True, False])
        .group_by("minute", maintain_order=True)
        .head(TOP_REASONS)
        .group_by("minute", maintain_order=True)
        .agg(pl.format("{}:{}", "s-reason", "len").str.join(",").alias("_reasons"))
        .collect()
    )


def _bad_examples(block: bytes, first_line: int, limit: int) -> list[tuple[int, str]]:
    """Up to ``limit`` lines of ``block`` that are not requests (only called when some are)."""
    found = []
    stamp = re.compile(rb"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
    for offset, line in enumerate(block.splitlines()):
        if not line.strip() or line.startswith(b"#") or stamp.match(line):
            continue
        found.append((first_line + offset, line.decode("utf-8", "replace")[:200]))
        if len(found) >= limit:
            break
    return found
