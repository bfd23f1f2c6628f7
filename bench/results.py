"""bench/RESULTS.md: each benchmark owns one '## ' section and replaces only that section."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(lines: list[str]) -> None:
    """Replace (or append) the section whose heading is ``lines[0]``."""
    heading = lines[0]
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = "\n".join(lines).rstrip("\n")
    start = text.find(f"\n{heading}")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        rest = text[end + 1 :] if end >= 0 else ""
        text = text[: start + 1] + section + ("\n\n" + rest if rest else "")
    RESULTS.write_text(text.rstrip("\n") + "\n")
