"""The wheel carries the knowledge folders and works outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_ships_formats_and_workflow_and_runs_outside_the_repo(tmp_path: Path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("azdiag-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("azdiag/_data/")}
    repo = {p.name for p in (ROOT / "parsers").glob("*.toml")}
    repo |= {p.name for p in (ROOT / "rules").rglob("*.toml")}
    assert repo <= shipped
    assert "azdiag/cli.py" in names and not any(n.startswith("tests/") for n in names)

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import azdiag.knowledge.resources as r; print(r.data_dir('parsers'))",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == str(site / "azdiag" / "_data" / "parsers")
    samples = subprocess.run(
        [sys.executable, "-m", "azdiag", "formats", "test"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert samples.returncode == 0, samples.stdout + samples.stderr
    assert samples.stdout.strip().endswith("passed, 0 failed")
