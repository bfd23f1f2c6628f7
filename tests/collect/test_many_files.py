"""Collections of many small files: each read and decoded once, every line parsed, and inputs
holding more files than ``max_files`` refused with a clear input error.

Every input is built in tmp_path by the test itself; nothing binary is committed.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

import azdiag.collect.decode
import azdiag.collect.discover
from azdiag.cli import main
from azdiag.collect.archive import MAX_FILES
from azdiag.collect.discover import KEEP_FILE_BYTES, CollectError, Limits, discover
from azdiag.collect.instances import instance_in_text
from azdiag.exit_status import ExitStatus
from azdiag.knowledge.formats import FormatSet, load_formats
from azdiag.parse.ingest import ingest


def agent_lines(first: int, count: int, instance: str | None = None) -> bytes:
    """``count`` guest agent lines a second apart from second ``first``; the first names
    ``instance`` when given."""
    lines = []
    for n in range(first, first + count):
        minute, second = divmod(n % 3600, 60)
        text = "WindowsAzureGuestAgent Heartbeat."
        if instance and n == first:
            text = f"Role 0123abcd.{instance} has current state Started"
        lines.append(f"[00000014] 2024-03-14T{9 + n // 3600:02d}:{minute:02d}:{second:02d}.000Z ")
        lines[-1] += f"[INFO]  {text}\r\n"
    return "".join(lines).encode()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, (2024, 3, 14, 9, 0, 0))
            zf.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def formats() -> FormatSet:
    return load_formats()


# -- read and decoded once -------------------------------------------------------------------


def test_each_member_of_a_zip_is_decompressed_and_decoded_once(
    tmp_path: Path, formats: FormatSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # paths that name no instance: the text is searched, so discovery decodes every file
    members = {
        f"logs/WaAppAgent_{n:03d}.log": agent_lines(10 * n, 10, "WebRole1_IN_3" if n == 0 else None)
        for n in range(60)
    }
    path = tmp_path / "upload.zip"
    path.write_bytes(zipped(members))
    inflated: list[int] = []
    decoded: list[int] = []
    real_inflate, real_decode = zlib.decompressobj, azdiag.collect.decode.decode

    def counting_inflate(*args: int) -> zlib._Decompress:
        inflated.append(1)
        return real_inflate(*args)

    def counting_decode(raw: bytes) -> azdiag.collect.decode.Decoded:
        decoded.append(len(raw))
        return real_decode(raw)

    monkeypatch.setattr(zlib, "decompressobj", counting_inflate)  # zipfile's and ours
    monkeypatch.setattr(azdiag.collect.discover, "decode", counting_decode)
    result = ingest(path, formats=formats)
    assert len(inflated) == len(members)
    assert sorted(decoded) == sorted(len(data) for data in members.values())
    assert [f.lines for f in result.files] == [10] * len(members)
    assert {f.instance for f in result.files} == {"WebRole1_IN_3"}  # its neighbours' instance
    assert result.events.height == 10 * len(members)


def test_a_member_up_to_1_mib_comes_with_discovery_a_larger_one_is_read_when_parsed(
    tmp_path: Path, formats: FormatSet
) -> None:
    medium = agent_lines(0, 3000)  # over the 64 KiB head, under 1 MiB
    big = agent_lines(5000, 15_000)
    assert len(medium) < KEEP_FILE_BYTES < len(big)
    path = tmp_path / "upload.zip"
    path.write_bytes(zipped({"WebRole1_IN_0/WaAppAgent.log": big, "WaAppAgent.log.1": medium}))
    collection = discover(path, formats)
    by_size = {s.size: s for s in collection.sources}
    assert by_size[len(big)]._reader is not None
    by_size[len(big)]._reader.close()  # the archive is opened again for what was not kept
    path.write_bytes(b"replaced by garbage")
    assert by_size[len(medium)].load().data == medium
    with pytest.raises(CollectError, match="not a readable zip"):
        by_size[len(big)].read_bytes()


def test_instance_from_the_path_when_it_names_one_else_from_the_text(
    tmp_path: Path, formats: FormatSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = {
        "WebRole1_IN_0/WaAppAgent.log": agent_lines(0, 5, "WebRole1_IN_7"),
        "other/WaAppAgent.log": agent_lines(100, 5, "WorkerRole1_IN_2"),
    }
    for name, data in write.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    searched: list[list[str]] = []

    def recording(lines: list[str]) -> tuple[str, int] | None:
        searched.append(lines)
        return instance_in_text(lines)

    monkeypatch.setattr(azdiag.collect.discover, "instance_in_text", recording)
    collection = discover(tmp_path, formats)
    assert {s.display: s.instance for s in collection.sources} == {
        "WebRole1_IN_0/WaAppAgent.log": "WebRole1_IN_0",  # the path wins over WebRole1_IN_7
        "other/WaAppAgent.log": "WorkerRole1_IN_2",
    }
    assert len(searched) == 1 and "WorkerRole1_IN_2" in searched[0][0]


def test_instance_names_are_found_next_to_punctuation_and_not_inside_words() -> None:
    lines = [
        "Role deadbeef.WebRole1_IN_0, state Started (WebRole1_IN_0)",
        "IISConfigurator Found site:WorkerRole2_IN_11_Web\tand sign_in_2 or X_IN_",
        "no name here",
        "9Role_IN_4 and -Role_IN_5 are not names; Role_IN_42 is",
    ]
    assert instance_in_text(lines) == ("WebRole1", 0)
    assert instance_in_text(lines[1:]) == ("WorkerRole2", 11)
    assert instance_in_text(lines[3:]) == ("Role", 42)
    assert instance_in_text(["sign_in_2 X_IN_ 9Role_IN_4", "_IN_5 -Role_IN_6"]) is None


# -- many members ----------------------------------------------------------------------------


def test_every_line_of_a_zip_of_thousands_of_small_logs_is_parsed(
    tmp_path: Path, formats: FormatSet
) -> None:
    count = 3000
    members = {
        f"logs/d{n // 1000}/WaAppAgent_{n:05d}.log": agent_lines(10 * n, 10, None)
        for n in range(count)
    }
    path = tmp_path / "many.zip"
    path.write_bytes(zipped(members))
    result = ingest(path, formats=formats)
    assert len(result.files) == count and not [f.error for f in result.files if f.error]
    assert all(f.lines == 10 and f.unparsed_lines == 0 for f in result.files)
    assert result.events.height == 10 * count
    times = result.events["time"]
    assert times.is_sorted() and times.n_unique() == 10 * count  # each line once, in order


# -- the file-count limit --------------------------------------------------------------------


def test_a_zip_with_more_members_than_the_limit_is_refused_before_its_directory_is_read(
    tmp_path: Path, formats: FormatSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "many.zip"
    path.write_bytes(zipped({f"WaAppAgent_{n}.log": agent_lines(n, 1) for n in range(30)}))
    directories: list[zipfile.ZipFile] = []
    real_directory = zipfile.ZipFile._RealGetContents  # type: ignore[attr-defined]

    def counting_directory(self: zipfile.ZipFile) -> None:
        directories.append(self)
        real_directory(self)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", counting_directory)
    with pytest.raises(CollectError) as refused:
        discover(path, formats, limits=Limits(max_files=20))
    assert str(refused.value).startswith(
        f"{path}: more than 20 files and archive members in one input (the archive lists 30;"
    )
    assert directories == []
    assert len(discover(path, formats, limits=Limits(max_files=30)).sources) == 30


def test_an_input_counted_over_the_limit_is_refused_and_a_nested_archive_over_it_skipped(
    tmp_path: Path, formats: FormatSet
) -> None:
    for n in range(12):
        (tmp_path / "logs").mkdir(exist_ok=True)
        (tmp_path / f"logs/WaAppAgent_{n}.log").write_bytes(agent_lines(n, 1))
    with pytest.raises(CollectError, match=r"more than 10 files .*counted while reading it"):
        discover(tmp_path, formats, limits=Limits(max_files=10))
    inner = zipped({f"WaAppAgent_{n}.log": agent_lines(100 + n, 1) for n in range(40)})
    (tmp_path / "inner.zip").write_bytes(inner)
    collection = discover(tmp_path, formats, limits=Limits(max_files=20))
    [skipped] = collection.skipped
    assert (skipped.display, skipped.category) == ("inner.zip", "too-many-files")
    assert len(collection.sources) == 12  # the rest of the input is read


def test_the_cli_refuses_an_archive_declaring_too_many_members_as_an_input_error(
    tmp_path: Path,
) -> None:
    data = bytearray(zipped({"WaAppAgent.log": agent_lines(0, 3)}))
    end = data.rfind(b"PK\x05\x06")  # the end record: members on this disk, then in all
    declared = MAX_FILES + 1
    assert declared < 1 << 16
    struct.pack_into("<HH", data, end + 8, declared, declared)
    path = tmp_path / "upload.zip"
    path.write_bytes(bytes(data))
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["report", str(path), "-o", str(tmp_path / "r.json")])
    assert result.exit_code == ExitStatus.INPUT_ERROR
    assert f"more than {MAX_FILES:,} files and archive members" in result.output
    assert f"the archive lists {declared:,}" in result.output
    assert not (tmp_path / "r.json").exists()
