"""discover(): finding logs in folders, zips and gz files safely, and grouping them by instance.

Every input is built in tmp_path by the test itself; nothing binary is committed.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import pickle
import random
import re
import tracemalloc
import zipfile
from pathlib import Path
from typing import IO

import pytest

import azdiag.collect.archive
from azdiag.collect.discover import (
    KEEP_FILE_BYTES,
    CollectError,
    Collection,
    Limits,
    LogSource,
    discover,
)
from azdiag.knowledge.formats import load_formats

AGENT = (
    b"[00000012] [03/14/2024 09:26:53.43] [INFO]  WindowsAzureGuestAgent starting. Version 2.7\r\n"
    b"[00000021] [03/14/2024 09:28:01.78] [HEART] WindowsAzureGuestAgent Heartbeat.\r\n"
)
BOOT = (
    b"[00002140:00003312, 2024/03/14, 09:29:40.118, INFO ] Executing Startup Task type=0 "
    b'rolemodule=(null) cmd="E:\\approot\\bin\\setup.cmd"\r\n'
)
IISC = (
    b"IISConfigurator Information: 0 : [03/14/24 09:29:38.41] Started iisconfigurator\r\n"
    b"IISConfigurator Information: 0 : [03/14/24 09:29:39.81] Found site:WebRole1_IN_0_Web\r\n"
)


class FakeFormats:
    """The two FormatSet methods discovery uses, with fixed rules (independent of parsers/)."""

    def __init__(self, rules: list[tuple[str, str, str, str | None]]) -> None:
        self.rules = [(fid, stem, re.compile(rx), hint) for fid, stem, rx, hint in rules]

    def kind_for_name(self, name: str) -> str | None:
        lower = name.lower()
        for fmt_id, stem, _, _ in self.rules:
            globs = (f"{stem}.log", f"{stem}.log.*", f"{stem}_*.log", f"{stem}.*.log")
            if any(fnmatch.fnmatchcase(lower, g) for g in globs):
                return fmt_id
        return None

    def sniff(self, lines: list[str]) -> str | None:
        sample = [line for line in lines if line.strip()][:50]
        head = "\n".join(sample)
        for fmt_id, _, regex, hint in self.rules:
            if hint and not re.search(hint, head, re.MULTILINE):
                continue
            if sample and sum(bool(regex.match(x)) for x in sample) >= 0.3 * len(sample):
                return fmt_id
        return None


AGENT_RE = r"^\[\d{8}\] \[[^\]]+\] \[[A-Z]+\]\s+(?P<message>.*)$"
TRACE_RE = r"^\S+ \w+: \d+ : \[[^\]]+\] (?P<message>.*)$"


@pytest.fixture(scope="module")
def formats() -> FakeFormats:
    return FakeFormats(
        [
            ("waappagent", "waappagent", AGENT_RE, "WindowsAzureGuestAgent|Heartbeat"),
            ("appagentruntime", "appagentruntime", AGENT_RE, "Container"),
            ("wahostbootstrapper", "wahostbootstrapper", r"^\[\d{8}:\d{8}, ", None),
            ("iisconfigurator", "iisconfigurator", TRACE_RE, "^IISConfigurator "),
            ("waiishost", "waiishost", TRACE_RE, "^WaIISHost "),
            ("waworkerhost", "waworkerhost", TRACE_RE, "^WaWorkerHost "),
        ]
    )


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2024, 3, 14, 9, 0, 0)), data, compression)
    return buffer.getvalue()


def by_display(collection: Collection) -> dict[str, LogSource]:
    return {s.display: s for s in collection.sources}


def skipped(collection: Collection) -> dict[str, tuple[str, str]]:
    return {s.display: (s.category, s.reason) for s in collection.skipped}


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every path below ``folder`` with its content hash and mtime."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path)] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                path.stat().st_mtime_ns,
            )
        else:
            out[str(path)] = ("", 0)
    return out


# -- the input itself ------------------------------------------------------------------------


def test_missing_input_is_a_collect_error(tmp_path: Path, formats: FakeFormats) -> None:
    with pytest.raises(CollectError, match="no such file or folder"):
        discover(tmp_path / "nope", formats)


def test_folder_without_logs_gives_an_empty_collection(
    tmp_path: Path, formats: FakeFormats
) -> None:
    write(tmp_path / "readme.txt", b"nothing to see here\n")
    collection = discover(tmp_path, formats)
    assert collection.sources == []
    assert skipped(collection)["readme.txt"][0] == "unrecognised-text"


def test_single_log_file(tmp_path: Path, formats: FakeFormats) -> None:
    path = write(tmp_path / "WaAppAgent.log", AGENT)
    collection = discover(path, formats)
    [source] = collection.sources
    assert (source.display, source.format_id, source.instance) == (
        "WaAppAgent.log",
        "waappagent",
        "(unnamed instance)",
    )
    assert source.load().data == AGENT


def test_corrupt_top_level_zip_is_a_clear_error(tmp_path: Path, formats: FakeFormats) -> None:
    path = write(tmp_path / "logs.zip", b"this is not a zip archive at all" * 10)
    with pytest.raises(CollectError, match=r"logs\.zip: not a readable zip archive"):
        discover(path, formats)


def test_truncated_top_level_gz_is_a_clear_error(tmp_path: Path, formats: FakeFormats) -> None:
    path = write(tmp_path / "WaAppAgent.log.gz", gzip.compress(AGENT * 100)[:-30])
    with pytest.raises(CollectError, match="truncated compressed data"):
        discover(path, formats)


# -- names and generations -------------------------------------------------------------------


def test_generations_and_case_insensitive_names(tmp_path: Path, formats: FakeFormats) -> None:
    logs = tmp_path / "Logs"
    write(logs / "waappagent.LOG", AGENT)
    write(logs / "WaAppAgent.log.old", AGENT + b"old")  # identical content would be read once
    write(logs / "WaAppAgent.log.1", AGENT + b"x")
    write(logs / "WaAppAgent.log.old2", AGENT + b"xx")
    write(logs / "AppAgentRuntime.log.gz", gzip.compress(AGENT + b"gz"))
    write(logs / "WaHostBootstrapper.log", BOOT)
    write(logs / "WaHostBootstrapper_20240314T092940.log", BOOT + b"a")
    write(logs / "WaHostBootstrapper_20240315T101010.log", BOOT + b"b")
    collection = discover(tmp_path, formats)
    found = {s.display: (s.name, s.format_id, s.generation) for s in collection.sources}
    assert found == {
        "Logs/waappagent.LOG": ("waappagent.LOG", "waappagent", 0),
        "Logs/WaAppAgent.log.old": ("WaAppAgent.log.old", "waappagent", 1),
        "Logs/WaAppAgent.log.1": ("WaAppAgent.log.1", "waappagent", 1),
        "Logs/WaAppAgent.log.old2": ("WaAppAgent.log.old2", "waappagent", 2),
        "Logs/AppAgentRuntime.log.gz": ("AppAgentRuntime.log", "appagentruntime", 0),
        "Logs/WaHostBootstrapper.log": ("WaHostBootstrapper.log", "wahostbootstrapper", 0),
        "Logs/WaHostBootstrapper_20240315T101010.log": (
            "WaHostBootstrapper_20240315T101010.log",
            "wahostbootstrapper",
            1,
        ),
        "Logs/WaHostBootstrapper_20240314T092940.log": (
            "WaHostBootstrapper_20240314T092940.log",
            "wahostbootstrapper",
            2,
        ),
    }
    assert all(s.detected_by == "name" for s in collection.sources)
    gz = by_display(collection)["Logs/AppAgentRuntime.log.gz"]
    assert gz.size == len(AGENT) + 2
    assert gz.read_bytes() == AGENT + b"gz"


def test_stamped_files_without_a_current_one(tmp_path: Path, formats: FakeFormats) -> None:
    write(tmp_path / "WaHostBootstrapper_20240314T092940.log", BOOT)
    write(tmp_path / "WaHostBootstrapper_20240315T101010.log", BOOT + b"b")
    gens = {s.display: s.generation for s in discover(tmp_path, formats).sources}
    assert gens == {
        "WaHostBootstrapper_20240315T101010.log": 0,
        "WaHostBootstrapper_20240314T092940.log": 1,
    }


def test_sniffing_when_the_name_says_nothing(tmp_path: Path, formats: FakeFormats) -> None:
    write(tmp_path / "agent-copy.txt", AGENT)
    write(tmp_path / "noext", IISC)
    write(tmp_path / "notes.txt", b"Customer says the role keeps recycling since Monday.\r\n")
    collection = discover(tmp_path, formats)
    found = {s.display: (s.format_id, s.detected_by) for s in collection.sources}
    assert found == {
        "agent-copy.txt": ("waappagent", "sniff"),
        "noext": ("iisconfigurator", "sniff"),
    }
    assert skipped(collection)["notes.txt"][0] == "unrecognised-text"


def test_a_long_first_line_does_not_hide_what_a_log_is(
    tmp_path: Path, formats: FakeFormats
) -> None:
    # a pasted blob of 80 KB before the bootstrapper's lines fills the sniffed head: the lines
    # after it still say what the file is (found by a newcomer with a customer's .txt copy)
    write(tmp_path / "bootstrapper_from_customer.txt", b"x" * 80_000 + b"\r\n" + BOOT * 20)
    write(tmp_path / "blob.txt", b"y" * 80_000 + b"\r\nCustomer notes, not a log.\r\n")
    collection = discover(tmp_path, formats)
    found = {s.display: (s.format_id, s.detected_by) for s in collection.sources}
    assert found == {"bootstrapper_from_customer.txt": ("wahostbootstrapper", "sniff")}
    assert skipped(collection)["blob.txt"][0] == "unrecognised-text"


def test_other_files_are_listed_with_their_category(tmp_path: Path, formats: FakeFormats) -> None:
    write(tmp_path / "Logs/WaAppAgent.log", AGENT)
    write(tmp_path / "EventLogs/Windows Azure.evtx", b"ElfFile\x00" + bytes(200))
    write(tmp_path / "EventLogs/System.evtx.renamed", b"ElfFile\x00" + bytes(200))
    write(tmp_path / "etw/trace.etl", bytes(64))
    write(tmp_path / "LogFiles/W3SVC1/u_ex240314.log", b"#Software: Microsoft Internet\r\n")
    write(tmp_path / "LogFiles/HTTPERR/httperr1.log", b"#Software: Microsoft HTTP API 2.0\r\n")
    write(tmp_path / "iis/access.txt", b"#Software: Microsoft Internet Information Services 10\r\n")
    write(tmp_path / "Config/abc.abc.WebRole1_IN_0.3.xml", b"<?xml version='1.0'?><Config/>")
    write(tmp_path / "approot/RoleModel.xml", b"<?xml version='1.0'?><RoleModel/>")
    write(tmp_path / "ServiceConfiguration.cscfg", b"<ServiceConfiguration/>")
    write(tmp_path / "dumps/w3wp.dmp", b"MDMP" + bytes(100))
    write(tmp_path / "dumps/crash.bin", b"MDMP\x93\xa7" + bytes(100))
    rng = random.Random(7)
    write(tmp_path / "tool.bin", bytes(rng.randrange(256) for _ in range(5000)))
    write(tmp_path / "empty.txt", b"")
    write(tmp_path / "Logs/WaIISHost.log", b"")
    write(tmp_path / "__MACOSX/._WaAppAgent.log", b"\x00\x05\x16\x07" + bytes(100))
    collection = discover(tmp_path, formats)
    categories = {k: v[0] for k, v in skipped(collection).items()}
    assert categories == {
        "EventLogs/Windows Azure.evtx": "windows-event-log",  # these formats know no names
        "etw/trace.etl": "etw-trace",
        "LogFiles/W3SVC1/u_ex240314.log": "iis-log",
        "LogFiles/HTTPERR/httperr1.log": "iis-log",
        "Config/abc.abc.WebRole1_IN_0.3.xml": "config-xml",
        "approot/RoleModel.xml": "config-xml",
        "ServiceConfiguration.cscfg": "config-xml",
        "dumps/w3wp.dmp": "crash-dump",
        "dumps/crash.bin": "crash-dump",
        "tool.bin": "binary",
        "empty.txt": "empty",  # an empty guest log is listed as one (it was collected)
        "__MACOSX/._WaAppAgent.log": "os-metadata",
    }
    # event and IIS logs are known by their content too (read by azdiag.collect.readers)
    found = {s.display: s.format_id for s in collection.sources}
    assert found == {
        "Logs/WaAppAgent.log": "waappagent",
        "Logs/WaIISHost.log": "waiishost",
        "EventLogs/System.evtx.renamed": "windows-eventlog",
        "iis/access.txt": "iis-w3svc",
    }
    assert collection.skipped == sorted(collection.skipped, key=lambda s: s.display)


# -- instances -------------------------------------------------------------------------------


def test_diagnostic_store_folder_names_the_role(tmp_path: Path, formats: FakeFormats) -> None:
    store = tmp_path / "C/Resources/Directory/0123abcd.WebRole1.DiagnosticStore"
    write(store / "WaHostBootstrapper.log", BOOT)
    write(tmp_path / "C/Logs/WaAppAgent.log", AGENT)
    collection = discover(tmp_path, formats)
    assert {(s.instance, s.role) for s in collection.sources} == {("WebRole1", "WebRole1")}
    assert collection.instances == ["WebRole1"]
    assert collection.warnings == []


def test_instance_in_path(tmp_path: Path, formats: FakeFormats) -> None:
    write(tmp_path / "WebRole1_IN_0/Logs/WaAppAgent.log", AGENT)
    write(tmp_path / "WebRole1_IN_0/Resources/WaHostBootstrapper.log", BOOT)
    collection = discover(tmp_path, formats)
    assert {(s.instance, s.role) for s in collection.sources} == {("WebRole1_IN_0", "WebRole1")}


def test_instance_named_inside_the_text(tmp_path: Path, formats: FakeFormats) -> None:
    text = (
        AGENT + b"[00000012] [03/14/2024 09:29:00.00] [INFO]  Role 1a2b.WorkerRole1_IN_2 is ok\r\n"
    )
    write(tmp_path / "Logs/WaAppAgent.log", text)
    write(tmp_path / "Logs/WaHostBootstrapper.log", BOOT)
    collection = discover(tmp_path, formats)
    assert {s.instance for s in collection.sources} == {"WorkerRole1_IN_2"}
    assert collection.instances == ["WorkerRole1_IN_2"]


def test_two_instances_and_their_neighbours(tmp_path: Path, formats: FakeFormats) -> None:
    for n in (0, 1):
        agent = AGENT + f"[00000012] [03/14/2024 09:29:00.00] [INFO]  WebRole1_IN_{n}\r\n".encode()
        write(tmp_path / f"vm{n}/C/Logs/WaAppAgent.log", agent)
        write(tmp_path / f"vm{n}/C/Resources/WaHostBootstrapper.log", BOOT)
    write(tmp_path / "extra/IISConfigurator.log", IISC.replace(b"WebRole1_IN_0_Web", b"x"))
    collection = discover(tmp_path, formats)
    placed = {s.display: s.instance for s in collection.sources}
    assert placed == {
        "vm0/C/Logs/WaAppAgent.log": "WebRole1_IN_0",
        "vm0/C/Resources/WaHostBootstrapper.log": "WebRole1_IN_0",
        "vm1/C/Logs/WaAppAgent.log": "WebRole1_IN_1",
        "vm1/C/Resources/WaHostBootstrapper.log": "WebRole1_IN_1",
        "extra/IISConfigurator.log": "(unassigned)",
    }
    assert collection.instances == ["(unassigned)", "WebRole1_IN_0", "WebRole1_IN_1"]
    [warning] = collection.warnings
    assert "extra/IISConfigurator.log" in warning and "(unassigned)" in warning


def test_no_marker_at_all_is_one_instance(tmp_path: Path, formats: FakeFormats) -> None:
    write(tmp_path / "Logs/WaAppAgent.log", AGENT)
    write(tmp_path / "Resources/WaHostBootstrapper.log", BOOT)
    collection = discover(tmp_path, formats)
    assert {(s.instance, s.role) for s in collection.sources} == {("(unnamed instance)", None)}
    assert collection.instances == ["(unnamed instance)"]


def test_config_xml_names_give_instance_and_versions(tmp_path: Path, formats: FakeFormats) -> None:
    for version in (5, 3):
        write(tmp_path / f"Config/dep1.dep1.WebRole1_IN_0.{version}.xml", b"<Config/>")
    write(tmp_path / "Logs/WaAppAgent.log", AGENT)
    collection = discover(tmp_path, formats)
    assert collection.config_versions == {"WebRole1_IN_0": [3, 5]}
    assert [s.instance for s in collection.sources] == ["WebRole1_IN_0"]


# -- archives --------------------------------------------------------------------------------


def test_zip_members_and_nested_zips(tmp_path: Path, formats: FakeFormats) -> None:
    inner = make_zip(
        {"x/WaAppAgent.log": AGENT, "x/WaHostBootstrapper.log.gz": gzip.compress(BOOT)}
    )
    # an older generation beside the inner zip's log: the same log twice beside a collection's
    # own folder would be another collection, set aside (tests/triage/test_beside.py)
    outer = make_zip(
        {"RuntimeAndAgent\\WaAppAgent.log.old": AGENT + b"outer", "b.zip": inner},
        zipfile.ZIP_STORED,
    )
    path = write(tmp_path / "logs.zip", outer)
    collection = discover(path, formats)
    sources = by_display(collection)
    assert sorted(sources) == [
        "logs.zip!RuntimeAndAgent/WaAppAgent.log.old",
        "logs.zip!b.zip!x/WaAppAgent.log",
        "logs.zip!b.zip!x/WaHostBootstrapper.log.gz",
    ]
    assert sources["logs.zip!b.zip!x/WaAppAgent.log"].read_bytes() == AGENT
    assert sources["logs.zip!b.zip!x/WaHostBootstrapper.log.gz"].load().data == BOOT
    assert sources["logs.zip!b.zip!x/WaHostBootstrapper.log.gz"].name == "WaHostBootstrapper.log"
    assert sources["logs.zip!RuntimeAndAgent/WaAppAgent.log.old"].size == len(AGENT) + 5


def test_a_zip_beside_an_archives_own_folder_with_the_same_log_is_set_aside(
    tmp_path: Path, formats: FakeFormats
) -> None:
    inner = make_zip({"x/WaAppAgent.log": AGENT, "x/WaHostBootstrapper.log": BOOT})
    outer = make_zip({"RuntimeAndAgent/WaAppAgent.log": AGENT + b"outer", "old.zip": inner})
    collection = discover(write(tmp_path / "logs.zip", outer), formats)
    assert sorted(by_display(collection)) == ["logs.zip!RuntimeAndAgent/WaAppAgent.log"]
    assert collection.beside == ["old.zip"] and collection.collections == []
    aside = {k: v for k, v in skipped(collection).items() if v[0] == "other-collection"}
    assert sorted(aside) == [
        "logs.zip!old.zip!x/WaAppAgent.log",
        "logs.zip!old.zip!x/WaHostBootstrapper.log",
    ]
    assert all(reason.startswith("in old.zip, another collection") for _, reason in aside.values())


def test_nesting_is_bounded(tmp_path: Path, formats: FakeFormats) -> None:
    data = make_zip({"WaAppAgent.log": AGENT})
    for level in range(3):
        boot = BOOT + str(level).encode()  # identical files would be read once
        data = make_zip({f"level{level}.zip": data, f"l{level}/WaHostBootstrapper.log": boot})
    path = write(tmp_path / "top.zip", data)
    collection = discover(path, formats, limits=Limits(max_depth=3))
    category, reason = skipped(collection)["top.zip!level2.zip!level1.zip!level0.zip"]
    assert category == "too-deep" and "nested more than 3 levels" in reason
    assert len(collection.sources) == 3


def test_zip_slip_members_are_refused(
    tmp_path: Path, formats: FakeFormats, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_zip(
        {
            "../../evil.log": AGENT,
            "/abs.log": AGENT,
            "C:\\x.log": AGENT,
            "RuntimeAndAgent/WaAppAgent.log": AGENT,
        }
    )
    path = write(tmp_path / "in" / "logs.zip", data)
    (tmp_path / "in/deep/er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "in/deep/er")  # so "../../evil.log" would land in tmp_path
    before = snapshot(tmp_path.parent)
    collection = discover(path, formats)
    assert snapshot(tmp_path.parent) == before
    problems = skipped(collection)
    assert problems["logs.zip!../../evil.log"][0] == "unsafe-member"
    assert "'..'" in problems["logs.zip!../../evil.log"][1]
    assert problems["logs.zip!/abs.log"] == (
        "unsafe-member",
        "member name '/abs.log' is an absolute path: refused, not read",
    )
    assert "drive letter" in problems["logs.zip!C:/x.log"][1]
    assert [s.display for s in collection.sources] == ["logs.zip!RuntimeAndAgent/WaAppAgent.log"]


def test_zip_bomb_member_is_bounded(tmp_path: Path, formats: FakeFormats) -> None:
    bomb = make_zip({"RuntimeAndAgent/WaAppAgent.log": bytes(50 << 20), "WaIISHost.log": IISC})
    path = write(tmp_path / "bomb.zip", bomb)
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        collection = discover(path, formats, limits=Limits(max_member_bytes=10 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    category, reason = skipped(collection)["bomb.zip!RuntimeAndAgent/WaAppAgent.log"]
    assert category == "too-large"
    assert "more than 10 MiB (max_member_bytes, set from this machine's memory" in reason
    assert peak < 8 << 20  # read in chunks: never held the member, let alone 50 MB
    assert [s.display for s in collection.sources] == ["bomb.zip!WaIISHost.log"]


def test_zip_bomb_by_ratio(tmp_path: Path, formats: FakeFormats) -> None:
    path = write(tmp_path / "bomb.zip", make_zip({"WaAppAgent.log": bytes(5 << 20), "x.log": BOOT}))
    collection = discover(path, formats, limits=Limits(max_ratio=100))
    category, reason = skipped(collection)["bomb.zip!WaAppAgent.log"]
    assert category == "too-large" and "compression ratio over 100:1" in reason
    assert [s.format_id for s in collection.sources] == ["wahostbootstrapper"]


def test_total_decompressed_bytes_are_bounded(tmp_path: Path, formats: FakeFormats) -> None:
    members = {f"vm{i}/WaAppAgent.log": AGENT * 20_000 for i in range(4)}  # ~3.4 MB each
    path = write(tmp_path / "many.zip", make_zip(members))
    collection = discover(path, formats, limits=Limits(max_total_bytes=8 << 20))
    too_large = [s for s in collection.skipped if s.category == "too-large"]
    assert too_large and "max_total_bytes" in too_large[0].reason
    assert len(collection.sources) == 2


def test_corrupt_member_is_reported_and_the_rest_read(tmp_path: Path, formats: FakeFormats) -> None:
    data = bytearray(make_zip({"a/WaAppAgent.log": AGENT, "b/WaHostBootstrapper.log": BOOT}, 0))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("a/WaAppAgent.log")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 20] ^= 0xFF
    path = write(tmp_path / "logs.zip", bytes(data))
    collection = discover(path, formats)
    category, reason = skipped(collection)["logs.zip!a/WaAppAgent.log"]
    assert category == "corrupt-member" and "Bad CRC-32" in reason
    assert [s.display for s in collection.sources] == ["logs.zip!b/WaHostBootstrapper.log"]


def test_corrupt_archives_in_a_folder_do_not_stop_the_rest(
    tmp_path: Path, formats: FakeFormats
) -> None:
    write(tmp_path / "broken.zip", b"PK\x03\x04 garbage " * 50)
    write(tmp_path / "cut/WaAppAgent.log.gz", gzip.compress(AGENT * 200)[:-40])
    write(tmp_path / "bad/WaIISHost.log.gz", b"not gzip at all")
    write(tmp_path / "Logs/WaAppAgent.log", AGENT)
    collection = discover(tmp_path, formats)
    problems = skipped(collection)
    assert problems["broken.zip"][0] == "corrupt-archive"
    assert "not a readable zip archive" in problems["broken.zip"][1]
    assert problems["cut/WaAppAgent.log.gz"][0] == "corrupt-member"
    assert "truncated compressed data" in problems["cut/WaAppAgent.log.gz"][1]
    assert problems["bad/WaIISHost.log.gz"][0] == "corrupt-archive"
    assert [s.display for s in collection.sources] == ["Logs/WaAppAgent.log"]


def test_member_read_later_respects_the_limits(tmp_path: Path, formats: FakeFormats) -> None:
    big = AGENT * (KEEP_FILE_BYTES // len(AGENT) + 1)  # too big to be kept from discovery
    path = write(tmp_path / "logs.zip", make_zip({"WaAppAgent.log": big}))
    [source] = discover(path, formats).sources
    assert source._reader is not None
    source._reader.close()  # the archive kept open since discovery is opened again
    path.write_bytes(b"replaced by garbage")
    with pytest.raises(CollectError, match=r"^logs\.zip!WaAppAgent\.log: not a readable zip"):
        source.read_bytes()


def test_an_archive_is_opened_and_its_directory_read_once(
    tmp_path: Path, formats: FakeFormats, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = {f"WebRole1_IN_0/Logs{n}/WaAppAgent.log": AGENT + b"%d" % n for n in range(40)}
    path = write(tmp_path / "many.zip", make_zip(members))
    opened: list[str] = []
    directories = []
    real_open, real_directory = azdiag.collect.archive._open_file, zipfile.ZipFile._RealGetContents

    def counting_open(name: str) -> IO[bytes]:
        opened.append(name)
        return real_open(name)

    def counting_directory(self: zipfile.ZipFile) -> None:
        directories.append(self)
        real_directory(self)

    monkeypatch.setattr(azdiag.collect.archive, "_open_file", counting_open)
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", counting_directory)
    sources = discover(path, formats).sources
    assert [s.read_bytes() for s in sources] == [members[s.display[9:]] for s in sources]
    assert opened == [str(path)] and len(directories) == 1


def test_input_is_opened_by_its_content(tmp_path: Path, formats: FakeFormats) -> None:
    zipped = write(tmp_path / "collection-upload", make_zip({"Logs/WaAppAgent.log": AGENT}))
    assert [s.display for s in discover(zipped, formats).sources] == [
        "collection-upload!Logs/WaAppAgent.log"
    ]
    gzipped = write(tmp_path / "WaHostBootstrapper.log", gzip.compress(BOOT))
    [source] = discover(gzipped, formats).sources
    assert source.read_bytes() == BOOT


def test_sources_survive_pickling(tmp_path: Path, formats: FakeFormats) -> None:
    inner = make_zip({"WaAppAgent.log": AGENT})
    path = write(tmp_path / "logs.zip", make_zip({"vm/inner.zip": inner}))
    [source] = discover(path, formats).sources
    copy = pickle.loads(pickle.dumps(source))
    assert copy == source
    assert copy.read_bytes() == AGENT


def test_the_same_log_found_twice_is_read_once_and_listed(
    tmp_path: Path, formats: FakeFormats
) -> None:
    write(tmp_path / "Logs/WaAppAgent.log", AGENT)
    write(tmp_path / "logs.zip", make_zip({"Logs/WaAppAgent.log": AGENT}))
    write(tmp_path / "Logs/WaAppAgent.log.1", AGENT[:-3] + b"xyz")  # same size and head
    collection = discover(tmp_path, formats)
    assert [s.display for s in collection.sources] == [
        "Logs/WaAppAgent.log",
        "Logs/WaAppAgent.log.1",
    ]
    category, reason = skipped(collection)["logs.zip!Logs/WaAppAgent.log"]
    assert category == "duplicate" and reason == "same content as Logs/WaAppAgent.log: read once"
    assert collection.warnings == [
        "1 file(s) are copies of others (same content) and were read once"
    ]
    assert collection.collections == []


def test_several_collections_in_one_input_are_named(tmp_path: Path, formats: FakeFormats) -> None:
    for name in ("upload-a", "upload-b"):
        write(tmp_path / name / "WebRole1_IN_0/WaAppAgent.log", AGENT + name.encode())
    write(tmp_path / "upload-c.zip", make_zip({"WebRole1_IN_0/WaAppAgent.log": AGENT + b"c"}))
    assert discover(tmp_path, formats).collections == ["upload-a", "upload-b", "upload-c.zip"]
    zipped = write(
        tmp_path / "both.zip",
        make_zip(
            {
                "a/WebRole1_IN_0/WaAppAgent.log": AGENT + b"a",
                "b/WebRole1_IN_0/WaAppAgent.log": AGENT + b"b",
            }
        ),
    )
    assert discover(zipped, formats).collections == ["a", "b"]
    one = tmp_path / "one"
    for n in (0, 1):  # two instances of one collection are one collection
        write(one / f"WebRole1_IN_{n}/WaAppAgent.log", AGENT + b"%d" % n)
    assert discover(one, formats).collections == []


def test_every_collection_beside_two_that_collide_is_counted_and_named(
    tmp_path: Path, formats: FakeFormats
) -> None:
    # two uploads of WebRole1_IN_0 show the folder holds collections side by side; the uploads
    # of other instances beside them are collections too, not part of either
    for name in ("upload-a", "upload-b"):
        write(tmp_path / name / "WebRole1_IN_0/WaAppAgent.log", AGENT + name.encode())
    for n in range(5):
        write(tmp_path / f"other-{n}" / f"Worker_IN_{n}/WaAppAgent.log", AGENT + b"%d" % n)
    collection = discover(tmp_path, formats)
    assert collection.collections == [
        *(f"other-{n}" for n in range(5)),
        "upload-a",
        "upload-b",
    ]
    assert collection.several() == (
        "7 collections (other-0, other-1, other-2, other-3, other-4 and 2 more)"
    )
    assert collection.warnings == [
        "7 collections (other-0, other-1, other-2, other-3, other-4 and 2 more) in one input: "
        "analyse them with 'azdiag triage', one report each"
    ]


# -- the file system -------------------------------------------------------------------------


def test_unreadable_file_is_skipped(
    tmp_path: Path, formats: FakeFormats, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = write(tmp_path / "Logs/WaAppAgent.log", AGENT)
    write(tmp_path / "Logs/WaHostBootstrapper.log", BOOT)
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads it anyway: make the open fail as it would for a user
        real_open = azdiag.collect.archive._open_file

        def guarded(path: str) -> IO[bytes]:
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", path)
            return real_open(path)

        monkeypatch.setattr(azdiag.collect.archive, "_open_file", guarded)
    try:
        collection = discover(tmp_path, formats)
        with pytest.raises(CollectError, match=r"WaAppAgent\.log: Permission denied"):
            discover(locked, formats)
    finally:
        locked.chmod(0o644)
    assert skipped(collection)["Logs/WaAppAgent.log"] == ("unreadable", "Permission denied")
    assert [s.display for s in collection.sources] == ["Logs/WaHostBootstrapper.log"]


def test_symlinks_out_of_the_input_are_not_followed(tmp_path: Path, formats: FakeFormats) -> None:
    outside = write(tmp_path / "outside/WaAppAgent.log", AGENT)
    root = tmp_path / "input"
    write(root / "Logs/WaHostBootstrapper.log", BOOT)
    (root / "Logs/WaAppAgent.log").symlink_to(outside)
    (root / "alias").symlink_to(root / "Logs", target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    collection = discover(root, formats)
    category, reason = skipped(collection)["Logs/WaAppAgent.log"]
    assert category == "unsafe-link" and "outside the input" in reason
    assert [s.name for s in collection.sources] == ["WaHostBootstrapper.log"]


def test_long_line_and_encodings_survive_discovery(tmp_path: Path, formats: FakeFormats) -> None:
    long_line = b"[00000012] [03/14/2024 09:26:53.43] [INFO]  " + b"y" * 300_000 + b"\r\n"
    write(tmp_path / "a/WaAppAgent.log", AGENT + long_line)
    write(tmp_path / "b/agent.txt", b"\xff\xfe" + (AGENT + long_line).decode().encode("utf-16-le"))
    collection = discover(tmp_path, formats)
    for source in collection.sources:
        decoded = source.load()
        assert decoded.data == AGENT + long_line, source.display
    assert {s.detected_by for s in collection.sources} == {"name", "sniff"}


def test_discovery_is_deterministic_and_read_only(tmp_path: Path, formats: FakeFormats) -> None:
    root = tmp_path / "input"
    write(root / "WebRole1_IN_0/Logs/WaAppAgent.log", AGENT)
    write(root / "WebRole1_IN_0/Logs/WaAppAgent.log.old", AGENT + b"0")
    write(root / "WebRole1_IN_1/logs.zip", make_zip({"Logs/WaAppAgent.log": AGENT + b"1"}))
    write(root / "WebRole1_IN_1/broken.zip", b"garbage")
    write(root / "notes.txt", b"hello\r\n")
    before = snapshot(root)
    first = discover(root, formats)
    second = discover(root, formats)
    assert first == second
    assert snapshot(root) == before
    assert [(s.instance, s.generation) for s in first.sources] == [
        ("WebRole1_IN_0", 0),
        ("WebRole1_IN_0", 1),
        ("WebRole1_IN_1", 0),
    ]


def test_shipped_formats_find_the_core_logs(tmp_path: Path) -> None:
    shipped = load_formats()
    write(tmp_path / "RuntimeAndAgent/WaAppAgent.log", AGENT)
    write(tmp_path / "RuntimeAndAgent/IISConfigurator.log", IISC)
    write(tmp_path / "copy/agent.txt", AGENT * 3)
    collection = discover(tmp_path, shipped)
    assert {s.display: s.detected_by for s in collection.sources} == {
        "RuntimeAndAgent/WaAppAgent.log": "name",
        "RuntimeAndAgent/IISConfigurator.log": "name",
        "copy/agent.txt": "sniff",
    }
    assert os.path.isdir(tmp_path)


def test_a_small_file_is_read_once_and_a_large_one_when_parsed(
    tmp_path: Path, formats: FakeFormats
) -> None:
    write(tmp_path / "WaAppAgent.log", AGENT)
    write(tmp_path / "WaHostBootstrapper.log", BOOT * (KEEP_FILE_BYTES // len(BOOT) + 1))
    small, large = sorted(discover(tmp_path, formats).sources, key=lambda s: s.size)
    for path in tmp_path.iterdir():
        path.unlink()
    assert small.read_bytes() == AGENT  # its bytes came with its head at discovery
    with pytest.raises(CollectError):
        large.read_bytes()  # read from disk when parsed: the head alone is not the file
