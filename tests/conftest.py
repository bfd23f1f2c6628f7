"""Shared fixtures: the bundled collections and their simulator manifests."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def fixture_path(name: str) -> Path:
    """The collection a manifest describes: a folder, or a zip for the zip-* manifests."""
    if name.startswith("zip-"):
        return FIXTURES / "zips" / f"{name[4:]}.zip"
    return FIXTURES / name


def manifest_names() -> list[str]:
    return sorted(p.stem for p in (FIXTURES / "manifests").glob("*.json"))


def manifest(name: str) -> dict:
    return json.loads((FIXTURES / "manifests" / f"{name}.json").read_text(encoding="utf-8"))


@cache
def analysed(name: str):
    """The analysis of a bundled fixture, computed once per test session."""
    from azdiag.timeline.analysis import analyze

    return analyze(fixture_path(name))


@pytest.fixture(params=manifest_names())
def scenario(request):
    """(name, manifest, analysis) for every bundled fixture."""
    return request.param, manifest(request.param), analysed(request.param)


def unix_extra(when: datetime) -> bytes:
    """A zip extended timestamp extra field (0x5455, "UT"): flags 1, modification time in Unix
    seconds (UTC), as Info-ZIP writes it."""
    return struct.pack("<HHBi", 0x5455, 5, 1, int(when.timestamp()))


def ntfs_extra(when: datetime) -> bytes:
    """A zip NTFS extra field (0x000a): reserved, tag 1 of 24 bytes, modification, access and
    creation FILETIMEs (100 ns ticks since 1601 UTC), as Windows' zip tools and 7-Zip write it."""
    ticks = (when - datetime(1601, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 10
    return struct.pack("<HHIHHQQQ", 0x000A, 32, 0, 1, 24, ticks, ticks, ticks)
