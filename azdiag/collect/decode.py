"""Turn the raw bytes of a guest log into clean UTF-8, whatever Windows wrote.

Guest logs arrive as UTF-8 (with or without a BOM), UTF-16 (with or without a BOM) or cp1252,
sometimes with NUL bytes left by an unclean shutdown. The parser wants one thing: UTF-8 bytes
without a BOM and without NULs, line ends untouched. This runs on gigabytes, so every step is a
C-level operation on the whole buffer or on 1 MiB slices (``isascii``, ``count``, ``replace``,
codec calls); there is no per-line Python, and ASCII slices are never decoded at all.
"""

from __future__ import annotations

import codecs
import re
import sys
from array import array
from dataclasses import dataclass, field

_BOM_UTF8 = codecs.BOM_UTF8
_BOM_UTF16_LE = codecs.BOM_UTF16_LE
_BOM_UTF16_BE = codecs.BOM_UTF16_BE
_UTF16_PROBE = 4096  # bytes looked at to spot BOM-less UTF-16
_CHUNK = 1 << 20  # text is checked and converted in newline-aligned slices of this size
_MIXED_ERROR = "azdiag-utf8-cp1252"

_ASCII = bytes(range(128))
_MAX_PATCHED = 1 << 20  # stray bytes read one run at a time as cp1252; beyond, U+FFFD
# Control bytes that do not occur in text (tab, LF, VT, FF, CR and ESC do).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27))
_BINARY_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"ElfFile\x00", "windows-event-log", "Windows event log (evtx)"),
    (b"ElfChnk\x00", "windows-event-log", "Windows event log chunk (evtx)"),
    (b"MDMP", "crash-dump", "crash dump (minidump)"),
    (b"PAGEDU64", "crash-dump", "crash dump (kernel dump)"),
    (b"PAGEDUMP", "crash-dump", "crash dump (kernel dump)"),
    (b"MZ", "binary", "Windows executable"),
    (b"PK\x03\x04", "binary", "zip data in a file not named .zip (not opened)"),
    (b"\x1f\x8b", "binary", "gzip data in a file not named .gz (not opened)"),
    (b"7z\xbc\xaf\x27\x1c", "unsupported-archive", "7-Zip archive (not read)"),
    (b"Rar!", "unsupported-archive", "RAR archive (not read)"),
    (b"MSCF", "unsupported-archive", "cabinet archive (not read)"),
)


@dataclass
class Decoded:
    """A file's text as UTF-8 bytes, with how it was decoded and what had to be repaired."""

    data: bytes
    encoding: str  # "utf-8" | "utf-8-sig" | "utf-16-le" | "utf-16-be" | "cp1252"
    nul_bytes: int = 0  # NULs removed (bytes, or U+0000 characters in UTF-16 text)
    warnings: list[str] = field(default_factory=list)
    nul_runs: int = 0  # stretches of NULs removed (each is usually one unclean shutdown)
    cr_line_ends: int = 0  # lines that ended in a lone CR (old Mac style, or a mixed file)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def decode(raw: bytes) -> Decoded:
    """Decode ``raw`` (a whole file or a prefix of one) to UTF-8 without BOM or NULs.

    Order: BOM (UTF-8, UTF-16LE, UTF-16BE), BOM-less UTF-16 from the NUL pattern of the head,
    then UTF-8 if valid, else cp1252. A file that is mostly UTF-8 (more valid multi-byte bytes
    than stray ones) keeps its UTF-8 and only the stray bytes are read as cp1252 (Windows logs
    often get cp1252 output of scripts appended), with a warning. Never raises.
    """
    decoded = _split_lone_crs(_decode(bytes(raw)))
    if decoded.nul_bytes:
        decoded.warnings.append(
            f"{decoded.nul_bytes} NUL byte(s) in {decoded.nul_runs} run(s) removed "
            "(padding an unclean shutdown leaves)"
        )
    return decoded


def _decode(raw: bytes) -> Decoded:
    if raw.startswith(_BOM_UTF8):
        return _decode_utf8(raw[len(_BOM_UTF8) :], "utf-8-sig")
    if raw.startswith(_BOM_UTF16_LE):
        return _decode_utf16(raw[2:], "utf-16-le")
    if raw.startswith(_BOM_UTF16_BE):
        return _decode_utf16(raw[2:], "utf-16-be")
    utf16 = _utf16_without_bom(raw)
    if utf16:
        return _decode_utf16(raw, utf16)
    return _decode_utf8(raw, "utf-8")


_LINE_END_CR = re.compile(rb"\r+\n?")
_LONE_CR = re.compile(rb"\r(?!\n)")


def _split_lone_crs(decoded: Decoded) -> Decoded:
    """Lines ended by a lone CR (CR-only files, or CR-only stretches of a mixed file) get LF.

    The parser splits at LF only: without this, a CR-only file is one long record. A CR before
    an LF is a line end already (CRLF, or CR CR LF from a doubled conversion) and stays one.
    One search for a CR without an LF after it decides (half the time of counting both in a
    CRLF file); the rewrite runs only on files that have lone CRs.
    """
    data = decoded.data
    if b"\r" not in data or _LONE_CR.search(data) is None:
        return decoded
    before = data.count(b"\n")
    data = _LINE_END_CR.sub(b"\n", data)
    split = data.count(b"\n") - before
    if split:
        decoded.data, decoded.cr_line_ends = data, split
        decoded.warnings.append(f"{split} line(s) ended by a lone CR (no LF): split there")
    return decoded


def _nul_runs(text: bytes | str) -> int:
    """How many separate stretches of NULs ``text`` holds."""
    return (
        len(_NUL_RUN.findall(text)) if isinstance(text, bytes) else len(_NUL_RUN_STR.findall(text))
    )


_NUL_RUN = re.compile(rb"\x00+")
_NUL_RUN_STR = re.compile("\x00+")


def sniff_head(raw_prefix: bytes, max_lines: int = 50) -> list[str]:
    """The first ``max_lines`` lines of a file prefix, decoded, without line ends.

    For recognising a log kind and spotting instance names; the last line may be cut short when
    the prefix ends mid-line.
    """
    return head_lines(decode(raw_prefix), max_lines)


def head_lines(decoded: Decoded, max_lines: int = 50, max_bytes: int | None = None) -> list[str]:
    """The first ``max_lines`` lines of decoded text (of its first ``max_bytes``), without line
    ends (see sniff_head): for a caller that keeps the decoded text, so that the file is decoded
    once. A character cut by ``max_bytes`` becomes U+FFFD."""
    data = decoded.data if max_bytes is None else decoded.data[:max_bytes]
    text = data.decode("utf-8", "replace")
    lines = text.split("\n", max_lines)[:max_lines]
    return [line.rstrip("\r") for line in lines]


def binary_category(raw_prefix: bytes) -> tuple[str, str] | None:
    """(inventory category, description) when a file's head says it is not text, else None.

    A known magic number decides (evtx, minidump, executables, archives); a BOM or a UTF-16 NUL
    pattern means text; else many NULs (over 10%) or control bytes (over 5% of the rest) mean
    binary. A few NULs (the padding an unclean shutdown leaves in a log) do not.
    """
    for magic, category, what in _BINARY_MAGIC:
        if raw_prefix.startswith(magic):
            return category, what
    if not raw_prefix or raw_prefix.startswith((_BOM_UTF8, _BOM_UTF16_LE, _BOM_UTF16_BE)):
        return None
    if _utf16_without_bom(raw_prefix):
        return None
    nuls = raw_prefix.count(0)
    rest = raw_prefix.replace(b"\x00", b"") if nuls else raw_prefix
    if not rest:
        return "binary", "only NUL bytes"
    if nuls * 10 > len(raw_prefix):
        return "binary", f"binary data ({nuls} NUL bytes in the first {len(raw_prefix)})"
    controls = len(rest) - len(rest.translate(None, _CONTROL_BYTES))
    if controls * 20 > len(rest):
        return "binary", f"binary data ({controls} control bytes in the first {len(raw_prefix)})"
    return None


def _utf16_without_bom(raw: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when the head's NULs sit in alternate bytes, else None.

    Text in UTF-16 that is mostly ASCII has a zero high byte in almost every code unit. Pairs that
    are all zero (NUL padding) are ignored so a padded UTF-8 file is not mistaken for UTF-16.
    """
    head = raw[:_UTF16_PROBE]
    head = head[: len(head) & ~1]
    if len(head) < 4 or not head.count(0):
        return None
    # Map every byte to 0 (NUL) or 1 (anything else), then read the pairs as 16-bit units.
    units = array("H", head.translate(_ZERO_ONE))
    if sys.byteorder == "big":
        units.byteswap()
    low_only = units.count(0x0001)  # first byte set, second NUL: little-endian ASCII
    high_only = units.count(0x0100)  # first byte NUL, second set: big-endian ASCII
    both = units.count(0x0101)
    informative = low_only + high_only + both
    if informative < 2:
        return None
    if low_only >= 0.6 * informative and high_only <= 0.1 * informative:
        return "utf-16-le"
    if high_only >= 0.6 * informative and low_only <= 0.1 * informative:
        return "utf-16-be"
    return None


_ZERO_ONE = bytes([0] + [1] * 255)


#: A stretch at the end of UTF-16 text without a NUL byte, at least this long, holding a line
#: end and valid UTF-8, is UTF-8 text appended to the file (a script's output added to a log).
_UTF8_TAIL_BYTES = 32


def _utf8_tail(body: bytes, encoding: str) -> int | None:
    """Where UTF-8 text appended to mostly-ASCII UTF-16 text starts, or None.

    Every ASCII character in UTF-16 has a NUL byte, so the text after the last NUL has none; a
    long such stretch with a line-end byte that is valid UTF-8 was not written in UTF-16. (A
    last line of UTF-16 without ASCII, such as CJK text, has no NUL either, but its bytes are
    next to never valid UTF-8 holding a 0x0A.)
    """
    last = body.rfind(b"\x00")
    if last < 0:
        return None
    start = last + 2 - last % 2  # the end of the code unit that holds the last NUL
    tail = body[start:]
    if len(tail) < _UTF8_TAIL_BYTES or b"\n" not in tail:
        return None
    try:
        tail.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return start


def _decode_utf16(body: bytes, encoding: str) -> Decoded:
    warnings: list[str] = []
    tail_at = _utf8_tail(body, encoding)
    if tail_at is not None:
        head = _decode_utf16(body[:tail_at], encoding)
        tail = _decode_utf8(body[tail_at:], "utf-8")
        head.warnings += tail.warnings
        head.warnings.append(
            f"UTF-8 text appended after byte {tail_at} of the UTF-16 text: read as UTF-8"
        )
        joined = head.data if head.data.endswith(b"\n") or not head.data else head.data + b"\n"
        return Decoded(joined + tail.data, encoding, head.nul_bytes, head.warnings, head.nul_runs)
    if len(body) % 2:
        warnings.append("odd number of bytes in UTF-16 text: the last byte was dropped")
        body = body[:-1]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        text = body.decode(encoding, errors="replace")
        warnings.append("invalid UTF-16 sequences (lone surrogates) replaced with U+FFFD")
    nuls = text.count("\x00")
    runs = _nul_runs(text) if nuls else 0
    if nuls:
        text = text.replace("\x00", "")
    text, boms = _strip_inner_boms(text)
    if boms:
        warnings.append(f"{boms} byte-order marks inside the text removed")
    # a NUL character of UTF-16 is two NUL bytes of the file: the count is of bytes, as for UTF-8
    return Decoded(text.encode("utf-8"), encoding, 2 * nuls, warnings, runs)


def _strip_inner_boms(text: str) -> tuple[str, int]:
    count = text.count("\ufeff")
    return (text.replace("\ufeff", ""), count) if count else (text, 0)


def _decode_utf8(body: bytes, encoding: str) -> Decoded:
    """UTF-8 if it is, else stray bytes as cp1252 in mostly-UTF-8 text, else all cp1252.

    Works on newline-aligned slices of about 1 MiB: ASCII slices (nearly all of a log) are
    kept as they are, so only slices with other bytes are ever decoded.
    """
    warnings: list[str] = []
    nuls = body.count(0) if b"\x00" in body else 0  # ``in`` is a memchr, ``count`` is not
    runs = _nul_runs(body) if nuls else 0
    if nuls:
        body = body.replace(b"\x00", b"")
    decoded = _decode_utf8_text(body, encoding, warnings)
    decoded.nul_bytes, decoded.nul_runs = nuls, runs
    return decoded


def _decode_utf8_text(body: bytes, encoding: str, warnings: list[str]) -> Decoded:
    nuls = 0  # counted by the caller
    if body.isascii():
        return Decoded(body, encoding, nuls, warnings)
    chunks = _chunks(body)
    error_at = _first_utf8_error(chunks)
    if error_at is None:
        return Decoded(_drop_boms(body, warnings), encoding, nuls, warnings)
    if error_at >= len(body) - 3 and _is_cut_sequence(body[error_at:]):
        # A prefix or a file copied while being written ends in the middle of a character.
        warnings.append("text ends in the middle of a UTF-8 character: replaced with U+FFFD")
        data = body[:error_at] + "\ufffd".encode()
        return Decoded(_drop_boms(data, warnings), encoding, nuls, warnings)
    # Mostly UTF-8 with stray bytes (script output appended in cp1252), or cp1252 throughout?
    stray = multibyte = 0
    for chunk in chunks:
        if not chunk.isascii():
            bad = len(chunk) - len(chunk.decode("utf-8", errors="ignore").encode("utf-8"))
            stray += bad
            multibyte += len(chunk.translate(None, _ASCII)) - bad
    if multibyte >= stray:
        how = "read as cp1252" if stray <= _MAX_PATCHED else "replaced with U+FFFD"
        warnings.append(f"not valid UTF-8 from byte {error_at}: {stray} stray bytes {how}")
        convert, encoding = (_patch_stray if stray <= _MAX_PATCHED else _utf8_replace), encoding
    else:
        warnings.append(f"not valid UTF-8 (first bad byte at {error_at}): decoded as cp1252")
        convert, encoding = _cp1252, "cp1252"
    data = b"".join(chunk if chunk.isascii() else convert(chunk) for chunk in chunks)
    return Decoded(_drop_boms(data, warnings), encoding, nuls, warnings)


def _drop_boms(data: bytes, warnings: list[str]) -> bytes:
    """Remove byte-order marks inside UTF-8 text (files concatenated from several writers)."""
    if _BOM_UTF8 not in data:
        return data
    warnings.append(f"{data.count(_BOM_UTF8)} byte-order marks inside the text removed")
    return data.replace(_BOM_UTF8, b"")


def _chunks(body: bytes) -> list[bytes]:
    """Slices of about _CHUNK bytes, cut after a newline (never inside a character)."""
    out, pos = [], 0
    while pos < len(body):
        cut = body.find(b"\n", pos + _CHUNK)
        end = len(body) if cut < 0 else cut + 1
        out.append(body[pos:end])
        pos = end
    return out


def _first_utf8_error(chunks: list[bytes]) -> int | None:
    """Offset of the first byte that is not valid UTF-8, or None."""
    pos = 0
    for chunk in chunks:
        if not chunk.isascii():
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                return pos + exc.start
        pos += len(chunk)
    return None


def _patch_stray(chunk: bytes) -> bytes:
    return chunk.decode("utf-8", errors="surrogateescape").encode("utf-8", errors=_MIXED_ERROR)


def _utf8_replace(chunk: bytes) -> bytes:
    return chunk.decode("utf-8", errors="replace").encode("utf-8")


def _cp1252(chunk: bytes) -> bytes:
    return chunk.decode("cp1252", errors="replace").encode("utf-8")


def _is_cut_sequence(tail: bytes) -> bool:
    """True when ``tail`` is the start of a valid multi-byte UTF-8 sequence, cut short."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(tail, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _stray_as_cp1252(exc: UnicodeError) -> tuple[bytes, int]:
    """Encode error handler: surrogate-escaped stray bytes come back as cp1252 text in UTF-8."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    run = exc.object[exc.start : exc.end]
    raw = bytes(ord(c) - 0xDC00 for c in run)
    return raw.decode("cp1252", errors="replace").encode("utf-8"), exc.end


codecs.register_error(_MIXED_ERROR, _stray_as_cp1252)
