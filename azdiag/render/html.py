"""The HTML troubleshooting report: one offline file, templates from reports/.

Jinja2 with autoescape renders the page; the CSS and script in reports/ are inlined, and a
Content-Security-Policy built from their hashes forbids anything else (no network, no other
script). Verdict, workflow, cycles, findings and inventory are plain HTML and SVG, readable
without JavaScript; the script only draws the timeline and filters the events table.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import textwrap
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from azdiag.diagnosis.completeness import status_text
from azdiag.knowledge.cache import template_cache
from azdiag.knowledge.resources import data_dir

#: The page's size limit: past it the events table gives up rows, the latest first (every
#: other section is capped in the model; the events table is the part that can give way).
MAX_HTML_BYTES = 5_000_000


def render_html(model: dict[str, Any], *, max_bytes: int = MAX_HTML_BYTES) -> str:
    """The report page of ``model`` (see :func:`azdiag.render.model.build_model`), at most
    ``max_bytes`` of UTF-8 as long as dropping events rows can get it there (unless the model
    was built with more events rows than the default: then the caller asked for the size)."""
    html = _render_report(model)
    excess = len(html.encode("utf-8")) - max_bytes
    events = model["events"]
    if excess <= 0 or not events["rows"] or not events.get("bounded", True):
        return html
    rows = list(events["rows"])
    freed = 0
    while rows and freed < excess + 4096:  # 4 KiB for the note that counts them
        freed += len(_script_safe_json(rows.pop()).encode("utf-8")) + 1
    shown = len(rows)
    trimmed = {**events, "rows": rows, "shown": shown, "omitted": events["total"] - shown}
    return _render_report({**model, "events": trimmed})


def _render_report(model: dict[str, Any]) -> str:
    # the script draws the timeline and filters the events: it gets only those
    script_data = {"timeline": model["timeline"], "events": model["events"]}
    return render_page("report.html.j2", model, script="report.js", script_data=script_data)


def render_page(
    template: str,
    model: dict[str, Any],
    *,
    script: str,
    script_data: dict[str, Any] | None = None,
) -> str:
    """Render ``template`` with the shared stylesheet and ``script`` inlined under a strict CSP;
    ``script_data`` is embedded as JSON for the script (the page's HTML shows the rest)."""
    env = _environment()
    css = (data_dir("reports") / "report.css").read_text(encoding="utf-8")
    js = (data_dir("reports") / script).read_text(encoding="utf-8")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"style-src '{_sha256(css)}'",
            f"script-src '{_sha256(js)}'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    return env.get_template(template).render(
        model=model,
        css=Markup(css),
        js=Markup(js),
        csp=csp,
        data_json=Markup(_script_safe_json(script_data or {})),
    )


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _script_safe_json(value: Any) -> str:
    """JSON that cannot close its <script> element or open a comment inside it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(data_dir("reports"))),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=template_cache(__file__),  # compiling the templates costs ~0.1 s a run
    )
    env.filters["markdown"] = _markdown
    env.filters["short_time"] = _short_time
    env.filters["seconds"] = _seconds
    env.filters["wrap_lines"] = _wrap_lines
    env.filters["slug"] = _slug
    env.filters["log_status"] = status_text
    return env


@lru_cache(maxsize=1)
def _markdown_renderer() -> Any:
    from markdown_it import MarkdownIt

    # commonmark without raw HTML, links or images: text from rules and logs is escaped, never
    # interpreted, and the page points nowhere outside itself
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).disable(
        ["link", "image", "autolink"]
    )


def _markdown(text: str | None) -> Markup:
    if not text:
        return Markup("")
    return Markup(_markdown_renderer().render(text))


def _short_time(value: str | None) -> str:
    if not value:
        return "no time"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown duration"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _wrap_lines(text: str | None, width: int) -> list[str]:
    """``text`` cut at spaces into lines of at most ``width`` characters (SVG does not wrap)."""
    return textwrap.wrap(text or "", width, break_long_words=True) or [""]


def _slug(value: str | None) -> str:
    """A fragment id made of letters, digits, ``-`` and ``_`` (``unknown`` for no name)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", value or "") or "unknown"


#: Instances listed in a notebook's view of an analysis (the ones needing a look first).
NOTEBOOK_ROWS = 50


def notebook_html(analysis: Any, diagnosis: Any) -> str:
    """The HTML a notebook shows for an :class:`~azdiag.timeline.analysis.Analysis`: the
    overall verdict and a table of instances (outcome, severity, verdict, stage, cycles), failing
    ones first, at most :data:`NOTEBOOK_ROWS` rows."""
    from azdiag.render.cycles import latest_cycles, ordered_cycles
    from azdiag.render.model import OUTCOMES

    cycles = latest_cycles(ordered_cycles(analysis.cycles), {}, 0)
    rows = []
    for verdict in diagnosis.verdicts:
        mine = cycles.get(verdict.instance or "", {"count": 0})
        stage = verdict.to_dict().get("stage")
        rows.append(
            {
                "instance": verdict.instance,
                "outcome": verdict.outcome,
                "severity": verdict.finding.rule.severity if verdict.finding else None,
                "summary": verdict.summary,
                "stage": f"{stage['component']}/{stage['step']} {stage['name']}" if stage else None,
                "cycles": mine["count"],
            }
        )
    rank = {name: i for i, name in enumerate(OUTCOMES)}
    rows.sort(key=lambda r: rank.get(r["outcome"], len(OUTCOMES)))
    ingested = analysis.ingested
    start, end = ingested.window
    return (
        _environment()
        .get_template("notebook.html.j2")
        .render(
            input=ingested.input,
            files=len(ingested.files),
            lines=sum(f.lines for f in ingested.files),
            start=_short_time(start.isoformat() if start else None),
            end=_short_time(end.isoformat() if end else None),
            overall=diagnosis.overall.summary,
            rows=rows[:NOTEBOOK_ROWS],
            omitted=max(0, len(rows) - NOTEBOOK_ROWS),
        )
    )
