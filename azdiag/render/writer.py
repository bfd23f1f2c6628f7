"""One entry point for every report format, with --redact applied to all of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from azdiag.diagnosis.engine import Diagnosis
from azdiag.timeline.analysis import Analysis

FORMATS = ("html", "json", "md")


def render_report(
    analysis: Analysis,
    diagnosis: Diagnosis,
    fmt: str,
    *,
    timestamp: bool = True,
    redact: bool = False,
    max_events: int = 20_000,
) -> str:
    """The report as text in ``fmt`` (html, json or md)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {FORMATS}")
    if fmt == "json":
        from azdiag.render.json import report_dict

        payload = report_dict(analysis, diagnosis, timestamp=timestamp)
        return json.dumps(_redacted(payload, redact), indent=2) + "\n"
    from azdiag.render.model import build_model

    moment = datetime.now(UTC) if timestamp else None
    model = _redacted(
        build_model(analysis, diagnosis, max_events=max_events, generated_at=moment), redact
    )
    if fmt == "md":
        from azdiag.render.markdown import render_markdown
        from azdiag.render.sanitise import for_terminal

        # Markdown is read in terminals and pasted into tickets: no raw escape sequences
        return for_terminal(render_markdown(model))
    from azdiag.render.html import render_html

    return render_html(model)


def _redacted(value: Any, on: bool) -> Any:
    if not on:
        return value
    from azdiag.render.redact import redact

    return redact(value)
