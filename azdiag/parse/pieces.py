"""Large log files parsed in line-aligned pieces, in parallel, with memory bounded by the pieces.

A file on disk of at least ``MIN_PIECES`` times ``PIECE_BYTES`` is cut into pieces of about
that size. Piece ``k``
runs from the first *cut line* at or after byte ``k * PIECE_BYTES`` to the first cut line at or
after byte ``(k + 1) * PIECE_BYTES``: each piece finds its own two ends, so pieces are read and
parsed independently (no pass over the whole file first) and never overlap or leave a gap. A
cut line is one that matches a header grammar with a time: a record starts there, so no
continuation line is separated from the record above it, and the piece's first record has its
own time.

What a piece cannot know is put right when the pieces of a file are merged in order
(``merge_pieces``): its line numbers are shifted by the lines of the pieces before it, records
before its first time (a time that did not parse on the cut line) take the last time of the
pieces before, and the per-file counts are added up. A file parsed in pieces gives the same
records and counts as parsed whole. (One case cannot be: a piece none of whose times can be
read, in a file with times elsewhere, has its lines searched for a time anywhere, as the parse
does for a file without any time; the file read whole would not search them.)

Pieces are read as they are only when they are plain UTF-8 (no NUL bytes, no byte-order mark
inside): anything that needs ``decode``'s repairs (UTF-16, cp1252, NUL padding) raises
``NotPlain`` and the file is parsed whole instead.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, BinaryIO

import polars as pl

from azdiag.knowledge.formats import _compile
from azdiag.parse.engine import UNPARSED_EXAMPLES, FileStats

if TYPE_CHECKING:
    from azdiag.knowledge.formats import LogFormat

#: Bytes per piece: big enough that the per-batch cost is paid rarely, small enough that a few
#: pieces in flight stay far below the size of a large file.
PIECE_BYTES = 8 << 20
#: A file is cut only when it is at least this many pieces long (else one batch is cheaper).
MIN_PIECES = 2
#: Bytes read at a time while skipping a long line.
_SCAN_BYTES = 64 << 10
#: Longest line looked at as a cut candidate (a longer one is never a cut).
_CUT_LINE_BYTES = 4096
_BOM = b"\xef\xbb\xbf"


class NotPlain(Exception):
    """A piece needs decoding repairs: the file must be decoded and parsed whole."""


@dataclass(frozen=True)
class Piece:
    """Piece ``index`` of ``count`` of the file at ``path`` (``size`` bytes)."""

    path: str
    index: int
    count: int
    size: int
    piece_bytes: int = PIECE_BYTES


def pieces_of(path: str, size: int, piece_bytes: int = PIECE_BYTES) -> list[Piece]:
    """The pieces of a file of ``size`` bytes; one piece (the whole file) when it is small."""
    count = max(1, size // piece_bytes)
    if count < MIN_PIECES:
        count = 1
    return [Piece(path, k, count, size, piece_bytes) for k in range(count)]


def cut_patterns(fmt: LogFormat) -> list[str]:
    """The header grammars a cut line must match one of: those with a time.

    Their regexes, compiled as they are tried: nearly every cut line matches the first, and
    compiling the hundred composed grammars of a format for nothing took 0.18 s.
    """
    return [h.regex for h in fmt.headers if h.time_format is not None]


def read_piece(piece: Piece, cuts: list[str]) -> bytes:
    """The bytes of ``piece``: from its first cut line to the next piece's first cut line.

    Raises NotPlain when the bytes are not plain UTF-8, OSError when the file cannot be read.
    """
    with open(piece.path, "rb") as handle:
        start = 0 if piece.index == 0 else _cut(handle, piece.index * piece.piece_bytes, cuts)
        last = piece.index == piece.count - 1
        end = piece.size if last else _cut(handle, (piece.index + 1) * piece.piece_bytes, cuts)
        if end <= start:
            return b""
        handle.seek(start)
        data = handle.read(end - start)
    if piece.index == 0:
        data = data.removeprefix(_BOM)
    if b"\x00" in data:
        raise NotPlain(f"{piece.path}: NUL bytes inside")
    if data.isascii():  # no byte-order mark either (its bytes are not ASCII): 10x cheaper
        return data
    if _BOM in data:
        raise NotPlain(f"{piece.path}: a byte-order mark inside")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotPlain(f"{piece.path}: not valid UTF-8") from exc
    return data


def _cut(handle: BinaryIO, offset: int, cuts: list[str]) -> int:
    """Byte position of the first line starting at or after ``offset`` that matches a cut
    pattern; the end of the file when there is none."""
    handle.seek(offset - 1)
    _skip_line(handle)  # the rest of the line that holds byte offset - 1, newline included
    while True:
        position = handle.tell()
        line = handle.readline(_CUT_LINE_BYTES)
        if not line:
            return position
        text = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
        if len(line) < _CUT_LINE_BYTES and any(_compile(cut).match(text) for cut in cuts):
            return position
        if not line.endswith(b"\n"):
            _skip_line(handle)


def _skip_line(handle: BinaryIO) -> None:
    """Move past the next newline (reading a long line in slices, never whole)."""
    while True:
        part = handle.readline(_SCAN_BYTES)
        if not part or part.endswith(b"\n"):
            return


def encoding_of(path: str) -> str:
    """How ``decode`` names the encoding of a file whose pieces were all plain UTF-8."""
    with open(path, "rb") as handle:
        return "utf-8-sig" if handle.read(len(_BOM)) == _BOM else "utf-8"


def merge_pieces(parts: list[tuple[pl.DataFrame, FileStats]]) -> tuple[pl.DataFrame, FileStats]:
    """One file's records and counts from its pieces' (records, counts), in piece order.

    Line numbers are shifted by the lines of the pieces before; records before a piece's first
    time take the last time of the pieces before it (as a file parsed whole gives them).
    """
    frames = []
    total = FileStats()
    offset = 0
    last_time = None
    for records, stats in parts:
        if offset:
            records = records.with_columns(pl.col("line") + offset)
        if last_time is not None and stats.untimed_records:
            # after the piece's own forward fill, only its leading records can lack a time
            records = records.with_columns(pl.col("time").fill_null(last_time))
            stats.inherited_time_records += stats.untimed_records
            stats.untimed_records = 0
        times = records["time"].drop_nulls()
        if times.len():
            last_time = times[-1]
        _add(total, stats, offset)
        offset += stats.lines
        frames.append(records)
    return pl.concat(frames) if frames else pl.DataFrame(), total


def _add(total: FileStats, stats: FileStats, offset: int) -> None:
    for item in fields(FileStats):
        value = getattr(stats, item.name)
        if isinstance(value, int):
            setattr(total, item.name, getattr(total, item.name) + value)
    for name, count in stats.header_counts.items():
        total.header_counts[name] = total.header_counts.get(name, 0) + count
    room = UNPARSED_EXAMPLES - len(total.unparsed_examples)
    total.unparsed_examples += [(line + offset, text) for line, text in stats.unparsed_examples][
        : max(room, 0)
    ]
    if stats.first is not None:
        total.first = stats.first if total.first is None else min(total.first, stats.first)
    if stats.last is not None:
        total.last = stats.last if total.last is None else max(total.last, stats.last)
