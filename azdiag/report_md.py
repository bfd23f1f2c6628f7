"""The Markdown report: verdict, findings and cycles, ready to paste into a ticket."""

from __future__ import annotations

from typing import Any


def render_markdown(model: dict[str, Any], *, max_cycles: int = 30) -> str:
    out = [
        f"# azdiag report: {model['input']}",
        "",
        f"Collection window: {model['window']['start']} to {model['window']['end']} "
        f"(logs read as {model['time_zone']}; times in UTC).",
        "",
        "## Verdict",
        "",
        f"**{_escape(model['overall']['summary'])}**",
        "",
    ]
    for inst in model["instances"]:
        out.append(
            f"- **{inst['id']}** ({inst['severity']}): {_escape(inst['verdict']['summary'])}"
        )
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
            f"{f['count']} time(s) in {len(f['cycles'])} cycle(s); first {f['first_seen']}, "
            f"last {f['last_seen']}; scenario {f['scenario'] or '-'}; rule `{f['rule']}`.",
            "",
            f["explanation"],
            "",
            "**What to do**",
            "",
            f["advice"],
            "",
            "Evidence:",
            "",
            "```",
            *[
                f"{e['file'] or '-'}:{e['line'] or '-'}  {e['time']}  {e['text']}"
                for e in f["evidence"]
            ],
            "```",
            "",
        ]
    out += ["## Start-up cycles", ""]
    for inst in model["instances"]:
        cycles = inst["cycles"]
        out += [
            f"### {inst['id']} ({len(cycles)} cycle(s))",
            "",
            "| # | start | outcome | last stage | seconds |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {c['cycle']} | {c['start']} | {c['outcome']} | {c['last_stage'] or '-'} "
            f"| {c['seconds'] if c['seconds'] is None else round(c['seconds'], 1)} |"
            for c in cycles[-max_cycles:]
        ]
        if len(cycles) > max_cycles:
            out.append(f"\n(the last {max_cycles} of {len(cycles)} cycles)")
        out.append("")
    out.append(f"_azdiag {model['tool']['version']}, {model['tool']['rules']} rules._")
    return "\n".join(out) + "\n"


def _evidence_line(item: dict[str, Any]) -> str:
    return f"{item['file'] or '-'}:{item['line'] or '-'}  {item['time']}  {item['text']}"


def _escape(text: str) -> str:
    """Keep a sentence from turning into Markdown markup when pasted."""
    return text.replace("*", "\\*").replace("_", "\\_")
