"""The ``azdiag`` command line: a thin click layer over the library.

Each command imports what it needs inside its body, so ``azdiag --help`` does not pay for polars
or pandas. Errors the user can fix are one clear line on stderr and an ``ExitStatus`` code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.utils import make_default_short_help

from azdiag import __version__
from azdiag.exit_status import ExitStatus

if TYPE_CHECKING:  # the CLI imports these lazily, inside the commands
    from azdiag.analysis import Analysis
    from azdiag.formats import FormatSet
    from azdiag.ingest import Ingested
    from azdiag.rulebook import Rule


#: Commands imported only when run: (module, attribute, the one line ``azdiag --help`` shows).
#: The simulator's scenario tables cost more to import than the rest of ``azdiag --help``.
_LAZY_COMMANDS = {
    "simulate": (
        "azdiag.simulate.cli",
        "simulate_command",
        'Write a simulated guest-log collection for SCENARIO (or "all": one per scenario).',
    ),
}


class _Group(click.Group):
    """Maps Ctrl-C to exit code 130 for every command (click would exit with 1), and any
    unexpected error to one line and exit code 70 (``--debug`` shows the traceback).

    Commands of ``_LAZY_COMMANDS`` are imported when they run, not for ``--help``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, attribute, _ = _LAZY_COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            limit = formatter.width - 6 - len(name)
            if name in _LAZY_COMMANDS and name not in self.commands:
                rows.append((name, make_default_short_help(_LAZY_COMMANDS[name][2], limit)))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("azdiag: interrupted", err=True)
            ctx.exit(ExitStatus.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"azdiag: {internal_error_line(exc)}", err=True)
            ctx.exit(ExitStatus.INTERNAL_ERROR)


def internal_error_line(exc: BaseException) -> str:
    """``internal error in <step>: <message> (run again with --debug for the traceback)``;
    the step is the innermost function of azdiag's own code that the error passed through."""
    import traceback

    step = "azdiag"
    for frame in traceback.extract_tb(exc.__traceback__):
        module = Path(frame.filename)
        if "azdiag" in module.parts and module.name != "cli.py":
            step = f"{module.stem}.{frame.name}"
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"internal error in {step}: {message} (run again with --debug for the traceback)"


def fail(message: str, status: ExitStatus = ExitStatus.INPUT_ERROR) -> NoReturn:
    """Print ``azdiag: message`` on stderr and exit with ``status``."""
    click.echo(f"azdiag: {message}", err=True)
    sys.exit(status)


def _zone(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from azdiag.times import check_zone

    try:
        return check_zone(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


formats_option = click.option(
    "--formats",
    "format_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of extra format definitions (*.toml); same id replaces a shipped one.",
)
tz_option = click.option(
    "--tz",
    default="UTC",
    show_default=True,
    callback=_zone,
    help="Time zone of the times written in the logs (they carry none).",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="azdiag")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an internal error.")
def main(debug: bool) -> None:
    """Diagnose Azure Cloud Services (classic) role instances from their guest logs."""


@main.group()
def formats() -> None:
    """Inspect the log format definitions and how well they read a collection."""


def _load_formats(format_dirs: tuple[Path, ...]) -> FormatSet:
    from azdiag.formats import FormatError, load_formats

    try:
        return load_formats(format_dirs)
    except FormatError as exc:
        fail(f"bad format definition: {exc}", ExitStatus.USAGE)


@formats.command("list")
@formats_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def formats_list(format_dirs: tuple[Path, ...], as_json: bool) -> None:
    """List the known log formats, their file names and header grammars."""
    format_set = _load_formats(format_dirs)
    rows = [
        {
            "id": f.id,
            "kind": f.kind,
            "component": f.component,
            "file_names": list(f.file_names),
            "headers": [h.name for h in f.headers],
            "samples": len(f.samples),
            "definition": f.source_file,
            "description": f.description,
        }
        for f in format_set
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for f in format_set:
        names = ", ".join(f.file_names) or "(sniffed only)"
        click.echo(f"{f.id:<20} {f.kind:<18} component {f.component or '-'}")
        click.echo(f"    {f.description}")
        click.echo(f"    files:   {names}")
        headers = ", ".join(h.name for h in f.headers)
        click.echo(f"    headers: {headers}  ({len(f.samples)} samples)")


@formats.command("test")
@formats_option
def formats_test(format_dirs: tuple[Path, ...]) -> None:
    """Check every sample line and signature sample of every format."""
    from azdiag.samples import check_format, check_signatures

    format_set = _load_formats(format_dirs)
    failures = [failure for fmt in format_set for failure in check_format(fmt)]
    count = sum(len(fmt.samples) for fmt in format_set)
    signature_count, signature_failures = check_signatures(format_set)
    count += signature_count
    failures += signature_failures
    for failure in failures:
        click.echo(f"FAIL {failure}")
    click.echo(f"{count - len(failures)} passed, {len(failures)} failed")
    if failures:
        sys.exit(ExitStatus.INPUT_ERROR)


@formats.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@formats_option
@tz_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def formats_check(path: Path, format_dirs: tuple[Path, ...], tz: str, as_json: bool) -> None:
    """Show, per file of PATH, its kind, instance, encoding, lines and how much was parsed."""
    from azdiag.inventory import inventory_dict, inventory_text

    ingested = _ingest(path, _load_formats(format_dirs), tz)
    if as_json:
        click.echo(json.dumps(inventory_dict(ingested), indent=2))
    else:
        click.echo(inventory_text(ingested))
    if not ingested.readable:
        sys.exit(ExitStatus.INPUT_ERROR)


def _ingest(path: Path, format_set: FormatSet, tz: str) -> Ingested:
    """Ingest PATH or exit with a clear input error."""
    from azdiag.collect import CollectError
    from azdiag.ingest import ingest

    try:
        ingested = ingest(path, formats=format_set, tz=tz)
    except CollectError as exc:
        fail(str(exc))
    if not ingested.files:
        skipped = len(ingested.collection.skipped)
        fail(f"{path}: no guest log found ({skipped} other file(s) listed and skipped)")
    return ingested


_TIMELINE_FORMATS = ("table", "csv", "jsonl", "parquet")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--show",
    type=click.Choice(["events", "cycles", "states", "gaps"]),
    default="events",
    show_default=True,
    help="Which table of the timeline to print.",
)
@click.option("--instance", "instances", multiple=True, help="Only this instance (repeatable).")
@click.option("--kind", "kinds", multiple=True, help="Only this log kind, e.g. WaAppAgent.")
@click.option("--event", "event_kinds", multiple=True, help="Only this event, e.g. task_exit.")
@click.option("--since", help="Only from this time on (e.g. '2024-03-14 09:30').")
@click.option("--until", help="Only up to this time.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(_TIMELINE_FORMATS),
    default="table",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@formats_option
@tz_option
def timeline(
    path: Path,
    show: str,
    instances: tuple[str, ...],
    kinds: tuple[str, ...],
    event_kinds: tuple[str, ...],
    since: str | None,
    until: str | None,
    output_format: str,
    output: Path | None,
    format_dirs: tuple[Path, ...],
    tz: str,
) -> None:
    """The merged timeline of PATH: events, start-up cycles, reported states or gaps."""
    from azdiag.timeline_view import TimelineFilter, render_timeline
    from azdiag.times import parse_user_time

    try:
        window = (
            parse_user_time(since, tz) if since else None,
            parse_user_time(until, tz) if until else None,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if output_format == "parquet" and output is None:
        raise click.UsageError("--format parquet needs -o FILE")
    if output is not None and _inside(output, path):
        fail(f"{output}: will not write inside the input {path}", ExitStatus.USAGE)
    analysis = _analyze(path, format_dirs, tz)
    wanted = TimelineFilter(instances, kinds, event_kinds, *window)
    text = render_timeline(analysis, show, wanted, output_format, output)
    if text is not None:
        click.echo(text, nl=False)


def _analyze(path: Path, format_dirs: tuple[Path, ...], tz: str) -> Analysis:
    from azdiag.analysis import from_ingested

    formats = _load_formats(format_dirs)
    return from_ingested(_ingest(path, formats, tz), formats)


rules_option = click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of extra rules (*.toml); same id replaces a shipped rule.",
)
_LEVELS = ("info", "warning", "error", "critical")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["html", "json", "md"]),
    default="html",
    show_default=True,
    help="html: the troubleshooting page; json: the versioned contract; md: for a ticket.",
)
@click.option(
    "-o",
    "--output",
    help="Write the report here ('-': stdout). Default: azdiag-report.html for html, stdout else.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the HTML report in a browser.")
@click.option(
    "--fail-on",
    type=click.Choice(_LEVELS),
    help="Exit with 3 when a finding reaches this severity (for scripts).",
)
@click.option("--no-timestamp", is_flag=True, help="Leave out generated_at: byte-stable output.")
@click.option("--redact", is_flag=True, help="Replace ids, addresses, thumbprints, users, tokens.")
@click.option(
    "--max-events",
    default=20_000,
    show_default=True,
    help="Rows of the events table embedded in the HTML page.",
)
@rules_option
@formats_option
@tz_option
def report(
    path: Path,
    output_format: str,
    output: str | None,
    open_browser: bool,
    fail_on: str | None,
    no_timestamp: bool,
    redact: bool,
    max_events: int,
    rule_dirs: tuple[Path, ...],
    format_dirs: tuple[Path, ...],
    tz: str,
) -> None:
    """Diagnose PATH: what failed, at which stage, since when, how often, and what to do."""
    from azdiag.diagnosis import diagnose
    from azdiag.report_writer import render_report

    target = output or ("azdiag-report.html" if output_format == "html" else "-")
    if target != "-" and _inside(Path(target), path):
        fail(f"{target}: will not write inside the input {path}", ExitStatus.USAGE)
    rules = _load_rules(rule_dirs)
    analysis = _analyze(path, format_dirs, tz)
    diagnosis = diagnose(analysis, rules)
    text = render_report(
        analysis,
        diagnosis,
        output_format,
        timestamp=not no_timestamp,
        redact=redact,
        max_events=max_events,
    )
    if target == "-":
        click.echo(text, nl=False)
    else:
        Path(target).write_text(text, encoding="utf-8")
        click.echo(f"{target}: {diagnosis.overall.summary}", err=True)
        if open_browser and output_format == "html":
            import webbrowser

            webbrowser.open(Path(target).resolve().as_uri())
    worst = diagnosis.worst_severity()
    if fail_on and worst and _LEVELS.index(worst) >= _LEVELS.index(fail_on):
        sys.exit(ExitStatus.FINDINGS)


def _inside(target: Path, source: Path) -> bool:
    """True when ``target`` would land inside the input folder (never written to)."""
    try:
        target.resolve().relative_to(source.resolve())
    except (ValueError, OSError):
        return False
    return source.is_dir()


def _load_rules(rule_dirs: tuple[Path, ...]) -> list[Rule]:
    from azdiag.rulebook import RuleError, load_rules
    from azdiag.workflow import load_workflow

    try:
        return load_rules(rule_dirs, stages=set(load_workflow().stages))
    except RuleError as exc:
        fail(f"bad rule: {exc}", ExitStatus.USAGE)


@main.group()
def rules() -> None:
    """List, show and test the diagnostic rules."""


@rules.command("list")
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rules_list(rule_dirs: tuple[Path, ...], as_json: bool) -> None:
    """One line per rule: id, scenario, severity, stage, title."""
    found = _load_rules(rule_dirs)
    if as_json:
        rows = [
            {
                "id": r.id,
                "scenario": r.scenario,
                "severity": r.severity,
                "confidence": r.confidence,
                "stage": r.stage,
                "title": r.title,
                "condition": r.when["type"],
                "examples": len(r.examples),
            }
            for r in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for r in found:
        scenario = r.scenario or "-"
        click.echo(
            f"{r.id:<34} {scenario:<5} {r.severity:<8} {r.stage or '(evidence)':<14} {r.title}"
        )


@rules.command("show")
@click.argument("rule_id")
@rules_option
def rules_show(rule_id: str, rule_dirs: tuple[Path, ...]) -> None:
    """Everything about one rule: condition, explanation, advice, examples."""
    found = {r.id: r for r in _load_rules(rule_dirs)}
    if rule_id not in found:
        fail(f"no rule {rule_id!r}; see 'azdiag rules list'", ExitStatus.USAGE)
    r = found[rule_id]
    click.echo(f"{r.id}: {r.title}")
    click.echo(
        f"scenario {r.scenario or '-'}, severity {r.severity}, confidence {r.confidence}, "
        f"stage {r.stage or 'from the evidence'}  ({r.source_file})"
    )
    click.echo(f"\nwhen: {json.dumps(r.when)}")
    for condition in r.unless:
        click.echo(f"unless: {json.dumps(condition)}")
    click.echo(f"\n{r.explanation}\n\nAdvice:\n{r.advice}")
    if r.documented:
        click.echo(f"\nBasis: {r.documented}")
    for ref in r.references:
        click.echo(f"see: {ref}")
    for example in r.examples:
        click.echo(f"example ({'fires' if example.fires else 'silent'}): {example.name}")


@rules.command("test")
@click.argument(
    "folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
def rules_test(folder: Path | None) -> None:
    """Run the examples of every rule (the shipped ones and those of FOLDER)."""
    from azdiag.rule_examples import run_examples

    found = _load_rules((folder,) if folder else ())
    if folder:  # only the rules that FOLDER defines (or redefines)
        own = {str(p) for p in folder.glob("*.toml")}
        found = [r for r in found if r.source_file in own]
    results = run_examples(found)
    for result in results:
        if not result.passed:
            click.echo(f"FAIL {result}")
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        sys.exit(ExitStatus.INPUT_ERROR)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--out",
    default="azdiag-triage",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: index.html, summary.csv, summary.jsonl and one folder per collection.",
)
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Local worker processes [cores].")
@click.option("--scheduler", help="Run on an existing Dask cluster, e.g. tcp://host:8786.")
@click.option(
    "--fail-on",
    type=click.Choice(_LEVELS),
    help="Exit with 3 when a finding in any collection reaches this severity.",
)
@click.option("--resume", is_flag=True, help="Skip collections already done and unchanged.")
@click.option(
    "--format",
    "report_formats",
    default="html,json",
    show_default=True,
    help="Per-collection report formats, comma separated (html, json, md).",
)
@click.option("--jsonl", "jsonl", type=click.Choice(["-"]), help="Stream one result per line.")
@rules_option
@formats_option
@tz_option
def triage(
    paths: tuple[str, ...],
    out: Path,
    jobs: int | None,
    scheduler: str | None,
    fail_on: str | None,
    resume: bool,
    report_formats: str,
    jsonl: str | None,
    rule_dirs: tuple[Path, ...],
    format_dirs: tuple[Path, ...],
    tz: str,
) -> None:
    """Triage many collections: PATHs are folders of collections, archives or globs."""
    import os

    from azdiag.triage import expand
    from azdiag.triage_run import run_batch, severity_reached, tasks_for

    formats = tuple(f.strip() for f in report_formats.split(",") if f.strip())
    unknown = set(formats) - {"html", "json", "md"}
    if unknown:
        raise click.BadParameter(f"unknown format(s) {sorted(unknown)}", param_hint="--format")
    collections = expand(list(paths))
    if not collections:
        fail("no collection found in " + " ".join(paths))
    for _, source in collections:
        if _inside(out, Path(source)):
            fail(f"{out}: will not write inside the input {source}", ExitStatus.USAGE)
    _load_rules(rule_dirs)  # a bad rule is a usage error now, not a row per collection
    tasks = tasks_for(
        collections,
        out,
        formats=formats,
        fail_on=fail_on,
        tz=tz,
        rule_dirs=tuple(str(d) for d in rule_dirs),
        format_dirs=tuple(str(d) for d in format_dirs),
    )
    batch = run_batch(
        tasks,
        jobs=jobs or os.cpu_count() or 1,
        scheduler=scheduler,
        resume=resume,
        stream=sys.stdout if jsonl else None,
    )
    analysed, failed = len(batch.analysed), len(batch.failed)
    click.echo(
        f"{analysed} of {len(batch.results)} collection(s) analysed, {failed} failed; "
        f"see {out / 'index.html'}",
        err=True,
    )
    if batch.interrupted:
        sys.exit(ExitStatus.INTERRUPTED)
    if analysed == 0:
        sys.exit(ExitStatus.INPUT_ERROR)
    if fail_on and severity_reached(batch.analysed, fail_on):
        sys.exit(ExitStatus.FINDINGS)
    if failed:
        sys.exit(ExitStatus.PARTIAL)
