"""Shared fixtures: the bundled collections and their simulator manifests."""

from __future__ import annotations

import json
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
