"""The Markdown report: verdict, findings and cycles, ready to paste into a ticket.

Every text that came from the logs (names, paths, messages, values in a rule's text) is escaped
for where it goes (azdiag.render.markdown_text): a ticket's renderer must show it, not obey it.
"""

from __future__ import annotations

from typing import Any

from azdiag.diagnosis.completeness import status_text
from azdiag.diagnosis.findings import fill as fill_text
from azdiag.render.markdown_text import cell, code_block, code_span, fill, inline


def render_markdown(model: dict[str, Any], *, max_cycles: int = 30) -> str:
    out = [
        f"# azdiag report: {inline(model['input'])}",
        "",
        f"Collection window: {inline(_when(model['window']['start']))} to "
        f"{inline(_when(model['window']['end']))} "
        f"(logs read as {inline(model['time_zone'])}; times in UTC).",
        "",
        _collection_time(model),
        "",
        "## Verdict",
        "",
        f"**{inline(model['overall']['summary'])}**",
        "",
    ]
    for inst in model["instances"]:
        verdict = inst["verdict"]
        confidence = verdict.get("confidence")
        out.append(
            f"- **{inline(inst['id'])}** ({inline(verdict.get('outcome', inst['severity']))}"
            f"{'; ' + inline(confidence) + ' confidence' if confidence else ''}):"
            f" {inline(verdict['summary'])}"
        )
    out += ["", *_completeness(model["instances"])]
    out += _warnings(model)
    out += _coverage(model)
    total = model.get("counts", {}).get("findings", len(model["findings"]))
    out += ["", f"## Findings ({total})", ""]
    if total > len(model["findings"]):
        out += [
            f"The first {len(model['findings'])} in full; all of them are in "
            "`azdiag report PATH --format json`.",
            "",
        ]
    for f in model["findings"]:
        stage = f["stage"]
        out += [
            f"### [{inline(f['severity'])}] {inline(f['title'])} — {inline(f['instance'])}",
            "",
            f"Stage {inline(stage.get('component'))}, step {inline(stage.get('step'))} "
            f"({inline(stage.get('name'))}); {f['count']} time(s) in {len(f['cycles'])} cycle(s); "
            f"first {inline(_when(f['first_seen']))}, last {inline(_when(f['last_seen']))}; "
            f"scenario {inline(f['scenario'] or '-')}; rule {code_span(f['rule'])}.",
            "",
            _rule_text(f, "explanation"),
            "",
            "**What to do**",
            "",
            _rule_text(f, "advice"),
            "",
            *_templates(f.get("templates") or []),
            "Evidence:",
            "",
            *code_block(_evidence_line(e) for e in f["evidence"]),
            "",
        ]
    out += ["## Start-up cycles", ""]
    for inst in model["instances"]:
        cycles, total = inst["cycles"][-max_cycles:], inst["cycle_count"]
        out += [
            f"### {inline(inst['id'])} ({total} cycle(s))",
            "",
            "| # | start | outcome | last stage | seconds |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {c['cycle']} | {cell(_when(c['start']))} | {cell(c['outcome'])} "
            f"| {cell(c['last_stage'] or '-')} "
            f"| {'unknown' if c['seconds'] is None else round(c['seconds'], 1)} |"
            for c in cycles
        ]
        if total > len(cycles):
            out.append(f"\n(the last {len(cycles)} of {total} cycles)")
        out.append("")
    out += _traffic(model.get("traffic") or [])
    out.append(f"_azdiag {inline(model['tool']['version'])}, {model['tool']['rules']} rules._")
    return "\n".join(out) + "\n"


#: Warnings listed in a ticket; the rest are counted (all are in the HTML and JSON reports).
_TICKET_WARNINGS = 10


def _warnings(model: dict[str, Any]) -> list[str]:
    """What was cut, repaired or not read: a verdict's reader must know it."""
    listed = model.get("warnings") or []
    if not listed:
        return []
    total = model.get("counts", {}).get("warnings", len(listed))
    out = ["", f"## Warnings ({total})", ""]
    out += [f"- {inline(w)}" for w in listed[:_TICKET_WARNINGS]]
    if total > _TICKET_WARNINGS:
        out.append(f"- and {total - _TICKET_WARNINGS} more: `azdiag report PATH --format html`")
    return out


#: Files in the ticket's coverage table (the least understood first); all are in the HTML report.
_TICKET_FILES = 20


def _coverage(model: dict[str, Any]) -> list[str]:
    """How much of each file was understood: a verdict over logs azdiag could not read is weak,
    and the ticket's reader must see it (the HTML report's inventory, in short)."""
    inv = model.get("inventory") or {}
    files = sorted(
        inv.get("files") or [], key=lambda f: (f["error"] is None, f["parsed_ratio"], f["path"])
    )
    if not files:
        return []
    lines, unread = inv.get("lines_total", 0), inv.get("unparsed_total", 0)
    share = f"{(lines - unread) / lines:.1%}" if lines else "nothing"
    out = [
        "",
        "## Parse coverage",
        "",
        f"{inv.get('files_total', len(files))} file(s) read, {lines} line(s), {unread} not "
        f"understood ({share} understood).",
        "",
        "| file | kind | instance | lines | not understood | understood | note |",
        "|---|---|---|---|---|---|---|",
    ]
    out += [
        f"| {cell(f['path'])} | {cell(f['kind'])} | {cell(f['instance'] or '-')} | {f['lines']} "
        f"| {f.get('unparsed_lines', '-')} | {f['parsed_ratio']:.1%} | {cell(f['error'] or '')} |"
        for f in files[:_TICKET_FILES]
    ]
    total = inv.get("files_total", len(files))
    if total > _TICKET_FILES:
        out += [
            "",
            f"The {_TICKET_FILES} least understood of {total} files; all of them: "
            "`azdiag formats check PATH`.",
        ]
    return out


def _collection_time(model: dict[str, Any]) -> str:
    time = model.get("collection_time") or {}
    return inline(time.get("description") or "Collection time: unknown.")


def _completeness(instances: list[dict[str, Any]]) -> list[str]:
    """The logs each instance needs to be judged, and their status."""
    out = ["## Logs needed to judge", ""]
    for inst in instances:
        complete = inst.get("completeness")
        if not complete:
            continue
        needed = "; ".join(
            f"{n['log']} ({', '.join(n['stages'])}): {status_text(n['status'], n['files'])}"
            for n in complete["needed"]
        )
        out.append(
            f"- **{inline(inst['id'])}** ({inline(complete['role_type_name'])}): {inline(needed)}"
        )
    return out


def _templates(templates: list[dict[str, Any]]) -> list[str]:
    """Unrecognised error templates as a table."""
    if not templates:
        return []
    # the template as escaped text, not a code span: entities do not work inside code, and a
    # cell must hold no raw "<"
    rows = [
        f"| {cell(t['template'])} | {t['records']} | {cell(t['first'] or 'unknown')} | "
        f"{cell(t['last'] or 'unknown')} | {cell(t['stage'] or 'unknown')} | "
        f"{cell(', '.join(t['lines']))} |"
        for t in templates
    ]
    head = ["| template | lines | first | last | stage | where |", "|---|---|---|---|---|---|"]
    return [*head, *rows, ""]


def _traffic(charts: list[dict[str, Any]]) -> list[str]:
    """Totals of the IIS logs per instance (the HTML report draws them against the states)."""
    if not charts:
        return []
    out = ["## Requests (IIS logs)", ""]
    for t in charts:
        n = t["totals"]
        out.append(
            f"- **{inline(t['instance'])}**: {n['requests']} request(s) served, "
            f"{n['http_5xx']} with 5xx "
            f"({n['http_500']} × 500, {n['http_503']} × 503); {n['refused']} refused by HTTP.sys "
            f"({n['refused_503']} × 503); peak {t['peak']} per {t['bin_minutes']}-minute bin"
        )
    return [*out, ""]


def _evidence_line(item: dict[str, Any]) -> str:
    return f"{item['file'] or '-'}:{item['line'] or '-'}  {_when(item['time'])}  {item['text']}"


def _when(value: str | None) -> str:
    return value if value else "no time"


def _rule_text(finding: dict[str, Any], key: str) -> str:
    """A finding's explanation or advice: the rule's Markdown, each value from the logs escaped
    for its place (the filled text as is when the model holds no parts, e.g. an older model)."""
    parts = finding.get("fill")
    if not parts:
        return inline(finding[key])
    return fill(parts[key], parts["values"], fill_text)
