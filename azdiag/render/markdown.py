"""The Markdown report: verdict, findings and cycles, ready to paste into a ticket."""

from __future__ import annotations

from typing import Any

from azdiag.diagnosis.completeness import status_text


def render_markdown(model: dict[str, Any], *, max_cycles: int = 30) -> str:
    out = [
        f"# azdiag report: {model['input']}",
        "",
        f"Collection window: {_when(model['window']['start'])} to {_when(model['window']['end'])} "
        f"(logs read as {model['time_zone']}; times in UTC).",
        "",
        _collection_time(model),
        "",
        "## Verdict",
        "",
        f"**{_escape(model['overall']['summary'])}**",
        "",
    ]
    for inst in model["instances"]:
        verdict = inst["verdict"]
        out.append(
            f"- **{inst['id']}** ({verdict.get('outcome', inst['severity'])}"
            f"{'; ' + verdict['confidence'] + ' confidence' if verdict.get('confidence') else ''}):"
            f" {_escape(verdict['summary'])}"
        )
    out += ["", *_completeness(model["instances"])]
    out += _warnings(model)
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
            f"### [{f['severity']}] {f['title']} — {f['instance']}",
            "",
            f"Stage {stage.get('component')}, step {stage.get('step')} ({stage.get('name')}); "
            f"{f['count']} time(s) in {len(f['cycles'])} cycle(s); first {_when(f['first_seen'])}, "
            f"last {_when(f['last_seen'])}; scenario {f['scenario'] or '-'}; rule `{f['rule']}`.",
            "",
            f["explanation"],
            "",
            "**What to do**",
            "",
            f["advice"],
            "",
            *_templates(f.get("templates") or []),
            "Evidence:",
            "",
            "```",
            *[_evidence_line(e) for e in f["evidence"]],
            "```",
            "",
        ]
    out += ["## Start-up cycles", ""]
    for inst in model["instances"]:
        cycles, total = inst["cycles"][-max_cycles:], inst["cycle_count"]
        out += [
            f"### {inst['id']} ({total} cycle(s))",
            "",
            "| # | start | outcome | last stage | seconds |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {c['cycle']} | {_when(c['start'])} | {c['outcome']} | {c['last_stage'] or '-'} "
            f"| {'unknown' if c['seconds'] is None else round(c['seconds'], 1)} |"
            for c in cycles
        ]
        if total > len(cycles):
            out.append(f"\n(the last {len(cycles)} of {total} cycles)")
        out.append("")
    out += _traffic(model.get("traffic") or [])
    out.append(f"_azdiag {model['tool']['version']}, {model['tool']['rules']} rules._")
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
    out += [f"- {_escape(w)}" for w in listed[:_TICKET_WARNINGS]]
    if total > _TICKET_WARNINGS:
        out.append(f"- and {total - _TICKET_WARNINGS} more: `azdiag report PATH --format html`")
    return out


def _collection_time(model: dict[str, Any]) -> str:
    time = model.get("collection_time") or {}
    return time.get("description") or "Collection time: unknown."


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
        out.append(f"- **{inst['id']}** ({complete['role_type_name']}): {_escape(needed)}")
    return out


def _templates(templates: list[dict[str, Any]]) -> list[str]:
    """Unrecognised error templates as a table."""
    if not templates:
        return []
    rows = [
        f"| `{t['template']}` | {t['records']} | {t['first'] or 'unknown'} | "
        f"{t['last'] or 'unknown'} | {t['stage'] or 'unknown'} | {', '.join(t['lines'])} |"
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
            f"- **{t['instance']}**: {n['requests']} request(s) served, {n['http_5xx']} with 5xx "
            f"({n['http_500']} × 500, {n['http_503']} × 503); {n['refused']} refused by HTTP.sys "
            f"({n['refused_503']} × 503); peak {t['peak']} per {t['bin_minutes']}-minute bin"
        )
    return [*out, ""]


def _evidence_line(item: dict[str, Any]) -> str:
    return f"{item['file'] or '-'}:{item['line'] or '-'}  {_when(item['time'])}  {item['text']}"


def _when(value: str | None) -> str:
    return value if value else "no time"


def _escape(text: str) -> str:
    """Keep a sentence from turning into Markdown markup when pasted."""
    return text.replace("*", "\\*").replace("_", "\\_")
