"""decode(): whatever Windows wrote comes out as clean UTF-8, line ends untouched."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import azdiag.collect.decode
from azdiag.collect.decode import binary_category, decode, sniff_head

AGENT = (
    "[00000012] [03/14/2024 09:26:53.43] [INFO]  WindowsAzureGuestAgent starting. Version 2.7\r\n"
    "[00000021] [03/14/2024 09:28:01.78] [HEART] WindowsAzureGuestAgent Heartbeat.\r\n"
)


def test_plain_ascii_is_passed_through_untouched() -> None:
    raw = AGENT.encode()
    out = decode(raw)
    assert out.data is raw or out.data == raw
    assert out.encoding == "utf-8"
    assert out.nul_bytes == 0
    assert out.warnings == []


def test_utf8_bom_is_removed() -> None:
    out = decode(codecs.BOM_UTF8 + "Grüße\r\n".encode())
    assert out.encoding == "utf-8-sig"
    assert out.data == "Grüße\r\n".encode()
    assert not out.data.startswith(codecs.BOM_UTF8)


def test_utf16le_with_bom() -> None:
    out = decode(codecs.BOM_UTF16_LE + AGENT.encode("utf-16-le"))
    assert out.encoding == "utf-16-le"
    assert out.data == AGENT.encode()
    assert out.nul_bytes == 0
    assert "\ufeff" not in out.text


def test_utf16le_without_bom_is_detected_from_the_nul_pattern() -> None:
    out = decode(("Ünïcode " + AGENT).encode("utf-16-le"))
    assert out.encoding == "utf-16-le"
    assert out.text == "Ünïcode " + AGENT


def test_utf16be_with_bom() -> None:
    out = decode(codecs.BOM_UTF16_BE + AGENT.encode("utf-16-be"))
    assert out.encoding == "utf-16-be"
    assert out.data == AGENT.encode()


def test_utf16be_without_bom() -> None:
    out = decode(AGENT.encode("utf-16-be"))
    assert out.encoding == "utf-16-be"
    assert out.data == AGENT.encode()


def test_utf16_odd_length_and_nul_characters() -> None:
    raw = codecs.BOM_UTF16_LE + "ab\x00c\r\n".encode("utf-16-le") + b"x"
    out = decode(raw)
    assert out.data == b"abc\r\n"
    assert out.nul_bytes == 2  # one NUL character of UTF-16: two bytes of the file
    assert any("odd number of bytes" in w for w in out.warnings)


def test_cp1252_bytes_are_decoded_with_a_warning() -> None:
    raw = "Zugriff verweigert für Benutzer „Müller“ – 5 €\r\n".encode("cp1252")
    out = decode(raw)
    assert out.encoding == "cp1252"
    assert out.text == "Zugriff verweigert für Benutzer „Müller“ – 5 €\r\n"
    assert out.warnings and "cp1252" in out.warnings[0]


def test_utf8_file_with_a_stray_cp1252_line_keeps_its_utf8() -> None:
    raw = "Grüße aus UTF-8\r\n".encode() + "script output: é\r\n".encode("cp1252")
    out = decode(raw)
    assert out.encoding == "utf-8"
    assert out.text == "Grüße aus UTF-8\r\nscript output: é\r\n"
    assert any("cp1252" in w for w in out.warnings)


def test_utf8_cut_in_the_middle_of_a_character_stays_utf8() -> None:
    raw = "Grüße €".encode()[:-1]
    out = decode(raw)
    assert out.encoding == "utf-8"
    assert out.text == "Grüße \ufffd"


def test_crlf_and_lf_line_ends_are_kept() -> None:
    raw = b"one\r\ntwo\nthree\r\n"
    out = decode(raw)
    assert out.data == raw and out.cr_line_ends == 0 and out.warnings == []


def test_lone_cr_line_ends_are_split_in_mixed_and_cr_only_text() -> None:
    mixed = decode(b"one\r\ntwo\nthree\rfour\r\nfive\r\r\n")
    assert mixed.text.split("\n") == ["one", "two", "three", "four", "five", ""]
    assert mixed.cr_line_ends == 1 and "lone CR" in mixed.warnings[0]
    cr_only = decode("\r".join(f"line {n}" for n in range(50)).encode("utf-16-le"))
    assert cr_only.text.count("\n") == 49 and cr_only.cr_line_ends == 49


def test_nul_runs_are_counted() -> None:
    out = decode(b"a\n" + b"\x00" * 10 + b"b\n" + b"\x00" * 3 + b"c\n")
    assert (out.nul_bytes, out.nul_runs, out.text) == (13, 2, "a\nb\nc\n")
    assert any("13 NUL byte(s) in 2 run(s)" in w for w in out.warnings)


def test_nul_bytes_are_removed_and_counted() -> None:
    raw = b"line one\r\n" + b"\x00" * 4096 + b"line two\r\n"
    out = decode(raw)
    assert out.data == b"line one\r\nline two\r\n"
    assert out.nul_bytes == 4096
    assert out.encoding == "utf-8"


def test_long_single_line_is_kept_whole() -> None:
    line = b"[00000012] [03/14/2024 09:26:53.43] [INFO]  " + b"x" * 300_000 + b"\r\n"
    out = decode(line)
    assert out.data == line
    assert len(out.data.split(b"\n")[0]) > 300_000


def test_bom_inside_utf8_text_is_removed() -> None:
    raw = "first é\r\n".encode() + codecs.BOM_UTF8 + b"second\r\n"
    out = decode(raw)
    assert out.text == "first é\r\nsecond\r\n"


def test_sniff_head_gives_decoded_lines_without_line_ends() -> None:
    raw = codecs.BOM_UTF16_LE + "".join(f"line {i}\r\n" for i in range(80)).encode("utf-16-le")
    lines = sniff_head(raw)
    assert len(lines) == 50
    assert lines[0] == "line 0"
    assert lines[49] == "line 49"
    assert sniff_head(b"") == [""]


def test_binary_category() -> None:
    assert binary_category(AGENT.encode()) is None
    assert binary_category(AGENT.encode("utf-16-le")) is None
    assert binary_category(b"ElfFile\x00" + bytes(100))[0] == "windows-event-log"
    assert binary_category(b"MDMP\x93\xa7" + bytes(100))[0] == "crash-dump"
    assert binary_category(bytes(range(256)) * 8)[0] == "binary"
    assert binary_category(bytes(4096))[0] == "binary"
    # A little NUL padding from an unclean shutdown does not make a log binary.
    assert binary_category(AGENT.encode() * 40 + bytes(64) + AGENT.encode()) is None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=3000))
def test_decode_never_raises_and_gives_valid_utf8(raw: bytes) -> None:
    out = decode(raw)
    out.data.decode("utf-8")  # strict: raises on anything invalid
    assert b"\x00" not in out.data
    assert not out.data.startswith(codecs.BOM_UTF8)
    assert out.encoding in {"utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "cp1252"}
    sniff_head(raw)
    binary_category(raw)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_decode_round_trips_text(text: str, encoding: str) -> None:
    # NULs, inner BOMs and lone CRs are repaired on purpose (tested above), not round-tripped
    text = text.replace("\x00", "").replace("\ufeff", "").replace("\r", "")
    out = decode(text.encode(encoding, errors="surrogatepass"))
    if not any("\ud800" <= c <= "\udfff" for c in text):
        assert out.text == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"\n", b"\r\n", "é".encode(), b"\xe9", b"\x00", b"\x93"])))
def test_slicing_does_not_change_the_result(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    whole = decode(raw)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(azdiag.collect.decode, "_CHUNK", 3)
        sliced = decode(raw)
    assert sliced == whole


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf8_appended_to_utf16_text_is_read_as_utf8(encoding):
    # a script's UTF-8 output appended to a UTF-16 log: the tail is not read as UTF-16 (which
    # turned it into one line of CJK characters and lost the task's exit line)
    first = "[00002140:00003312, 2024/03/14, 09:00:34.100, INFO ] Executing task.\r\n"
    appended = "[00002140:00003312, 2024/03/14, 09:00:35.100, ERROR] Task exited with 1.\r\n"
    bom = "\ufeff".encode(encoding)
    decoded = decode(bom + first.encode(encoding) + appended.encode("utf-8"))
    assert decoded.text == first + appended
    assert any("UTF-8 text appended" in w for w in decoded.warnings)


def test_utf16_text_ending_in_cjk_is_not_cut():
    # no NUL in the last characters, but no line end in UTF-8 either: all of it is UTF-16
    text = "[00000012] [03/14/2024 09:00:00.00] [INFO]  start\r\n" + "日本語のメッセージです" * 4
    decoded = decode(b"\xff\xfe" + text.encode("utf-16-le"))
    assert decoded.text == text
    assert not any("appended" in w for w in decoded.warnings)
