"""Ingestion: files of several formats and batches merge into one table, ordered stably."""

from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl
import pytest

from azdiag.parse import ingest as ingest_module
from azdiag.parse.ingest import ingest
from tests.conftest import FIXTURES

AGENT = "[00000021] [03/14/2024 09:28:{s:02d}.00] [INFO]  agent {n}\n"
BOOT = "[00002140:00003312, 2024/03/14, 09:28:{s:02d}.000, INFO ] boot {n}\n"


def _write(folder: Path, name: str, template: str, seconds: list[int]) -> None:
    lines = [template.format(s=s, n=n) for n, s in enumerate(seconds)]
    (folder / name).write_text("".join(lines), encoding="utf-8")


def _assert_time_file_line_order(events: pl.DataFrame) -> None:
    for _, part in events.group_by("instance", maintain_order=True):
        key = part.select(pl.col("time"), pl.col("file").to_physical().alias("f"), pl.col("line"))
        assert key.equals(key.sort("time", "f", "line", nulls_last=True))


@pytest.mark.parametrize("batch_bytes", [1, 1 << 30])
def test_equal_times_keep_file_then_line_order_across_formats_and_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_bytes: int
) -> None:
    monkeypatch.setattr(ingest_module, "BATCH_BYTES", batch_bytes)  # one file per batch, or all
    _write(tmp_path, "WaAppAgent.log", AGENT, [1, 5, 5, 3, 9])
    _write(tmp_path, "WaHostBootstrapper.log", BOOT, [5, 1, 5])
    _write(tmp_path, "WaHostBootstrapper.log.old", BOOT, [5, 0])
    events = ingest(tmp_path).events
    _assert_time_file_line_order(events)
    at_five = events.filter(pl.col("time").dt.second() == 5)
    files = at_five["file"].cast(pl.String).to_list()
    # every file's own lines stay in their order, and a file's rows are not split by another's
    assert [f for i, f in enumerate(files) if i == 0 or files[i - 1] != f] == sorted(
        set(files), key=files.index
    )
    for name in set(files):
        lines = at_five.filter(pl.col("file") == name)["line"].to_list()
        assert lines == sorted(lines)


def test_bundled_multi_instance_collection_is_ordered_per_instance() -> None:
    events = ingest(FIXTURES / "multi-instance").events
    assert events["instance"].n_unique() > 1
    _assert_time_file_line_order(events)


def test_a_guest_log_that_cannot_be_read_is_a_warning_of_the_collection(tmp_path):
    # a corrupt archive member named like a bootstrapper log may hold the newest start: the
    # collection's warnings (shown at the top of every report) name it, not only the inventory
    line = "[00002140:00003312, 2024/03/14, 09:29:40.118, INFO ] Bootstrapper starting.\n"
    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("WaHostBootstrapper.log.1", line * 50)
        zf.writestr("WaHostBootstrapper.log", line * 2000)
        zf.writestr("notes.txt", "not a log\n")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("WaHostBootstrapper.log")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 10, start + 40):  # inside the compressed data
        data[i] ^= 0x5A
    archive.write_bytes(bytes(data))
    warnings = ingest(archive).warnings
    assert any(
        w.startswith("logs.zip!WaHostBootstrapper.log: a WaHostBootstrapper log that could not")
        for w in warnings
    ), warnings
    assert not any("notes.txt" in w for w in warnings)
