"""The ``azdiag`` command line: a thin click layer over the library.

Each command imports what it needs inside its body, so ``azdiag --help`` does not pay for polars
or pandas. Errors the user can fix are one clear line on stderr and an ``ExitStatus`` code.

Longer than 500 lines on purpose: it is the whole command line in one click group, each command
only options, a library call and printing; split, the shared options, the error handling of
``_Group`` and the lazy imports would be spread over modules that import one another.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from azdiag import __version__
from azdiag.exit_status import ExitStatus

if TYPE_CHECKING:  # the CLI imports these lazily, inside the commands
    from datetime import datetime

    from azdiag.knowledge.formats import FormatSet
    from azdiag.knowledge.rulebook import Rule
    from azdiag.parse.ingest import Ingested
    from azdiag.timeline.analysis import Analysis


#: How the allocator of polars (jemalloc) gives freed memory back, unless the user set it: polars
#: keeps freed pages for 0.5-1.5 s, so each pass of a large analysis allocated anew what the
#: last one had freed, and a month-long collection (251 MB) peaked at 555-615 MB. A background
#: thread returning them after 0.1 s brought that to 435-460 MB for 0-5 % more CPU time
#: (returning them at once: 415 MB for 15-25 % more). Read by polars when it is first imported,
#: which the commands do after this; processes of ``triage`` inherit it.
_ALLOCATOR = "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0"
os.environ.setdefault("_RJEM_MALLOC_CONF", _ALLOCATOR)

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
                # the help line of a command not imported yet, shortened as click shortens it
                # (click.utils.make_default_short_help is deprecated in click 8.5)
                stand_in = click.Command(name, help=_LAZY_COMMANDS[name][2])
                rows.append((name, stand_in.get_short_help_str(limit)))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:  # reading the command line (click would say "Aborted!" and exit with 1)
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            _echo("azdiag: interrupted", err=True)
            sys.exit(ExitStatus.INTERRUPTED)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _echo("azdiag: interrupted", err=True)
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
    the step is the innermost function of azdiag's own code that the error passed through, named
    by its module within the package (``diagnosis.engine.diagnose``)."""
    import traceback

    step = "azdiag"
    for frame in traceback.extract_tb(exc.__traceback__):
        module = Path(frame.filename)
        if "azdiag" in module.parts and module.name != "cli.py":
            inside = module.with_suffix("").parts
            inside = inside[len(inside) - inside[::-1].index("azdiag") :]
            step = ".".join([*inside, frame.name])
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"internal error in {step}: {message} (run again with --debug for the traceback)"


def _echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """The one way the CLI prints: names and log text come from strangers' machines, so every
    control character and escape sequence is shown escaped (azdiag.render.sanitise)."""
    from azdiag.render.sanitise import for_terminal

    click.echo(for_terminal(text), err=err, nl=nl)


def fail(message: str, status: ExitStatus = ExitStatus.INPUT_ERROR) -> NoReturn:
    """Print ``azdiag: message`` on stderr and exit with ``status``."""
    _echo(f"azdiag: {message}", err=True)
    sys.exit(status)


def _check_output(target: Path, inputs: list[str | Path]) -> None:
    """Refuse, before any work, an output that would destroy an input or cannot be written."""
    from azdiag.render.outputs import OutputRefused, check_target

    try:
        check_target(target, inputs)
    except OutputRefused as exc:
        fail(str(exc), ExitStatus.USAGE)


def _write_output(target: Path, data: str | Callable[[Path], None]) -> None:
    from azdiag.render.outputs import OutputError, write_atomic

    try:
        write_atomic(target, data)
    except OutputError as exc:
        fail(str(exc), ExitStatus.OUTPUT_ERROR)


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _byte_size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (text[:-1], text[-1]) if text[-1:] in _SIZE_UNITS else (text, "")
    try:
        size = int(float(number) * _SIZE_UNITS[unit])
    except (ValueError, KeyError):
        size = 0
    if size <= 0:
        raise click.BadParameter(f"{value!r} is not a size such as 500M or 4G")
    return size


max_bytes_option = click.option(
    "--max-bytes",
    callback=_byte_size,
    metavar="SIZE",
    help="Most bytes archive members may expand to, e.g. 2G [physical memory / 16].",
)


def _zone(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from azdiag.common.times import check_zone

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
    from azdiag.knowledge.formats import FormatError, load_formats

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
        _echo(json.dumps(rows, indent=2))
        return
    for f in format_set:
        names = ", ".join(f.file_names) or "(sniffed only)"
        _echo(f"{f.id:<20} {f.kind:<18} component {f.component or '-'}")
        _echo(f"    {f.description}")
        _echo(f"    files:   {names}")
        headers = ", ".join(h.name for h in f.headers)
        _echo(f"    headers: {headers}  ({len(f.samples)} samples)")


@formats.command("test")
@formats_option
def formats_test(format_dirs: tuple[Path, ...]) -> None:
    """Check every sample line and signature sample of every format."""
    from azdiag.parse.samples import check_format, check_signatures

    format_set = _load_formats(format_dirs)
    failures = [failure for fmt in format_set for failure in check_format(fmt)]
    count = sum(len(fmt.samples) for fmt in format_set)
    signature_count, signature_failures = check_signatures(format_set)
    count += signature_count
    failures += signature_failures
    for failure in failures:
        _echo(f"FAIL {failure}")
    _echo(f"{count - len(failures)} passed, {len(failures)} failed")
    if failures:
        sys.exit(ExitStatus.INPUT_ERROR)


@formats.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@formats_option
@tz_option
@max_bytes_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def formats_check(
    path: Path, format_dirs: tuple[Path, ...], tz: str, max_bytes: int | None, as_json: bool
) -> None:
    """Show, per file of PATH, its kind, instance, encoding, lines and how much was parsed."""
    from azdiag.render.inventory import inventory_dict, inventory_text

    ingested = _ingest(path, _load_formats(format_dirs), tz, max_bytes)
    if as_json:
        _echo(json.dumps(inventory_dict(ingested), indent=2))
    else:
        _echo(inventory_text(ingested))
    if not ingested.readable:
        sys.exit(ExitStatus.INPUT_ERROR)


def _ingest(path: Path, format_set: FormatSet, tz: str, max_bytes: int | None = None) -> Ingested:
    """Ingest PATH or exit with a clear input error."""
    from azdiag.collect.discover import CollectError, Limits
    from azdiag.parse.ingest import ingest

    try:
        ingested = ingest(path, formats=format_set, tz=tz, limits=Limits.with_max_bytes(max_bytes))
    except CollectError as exc:
        fail(str(exc))
    if not ingested.has_guest_log:
        from azdiag.timeline.analysis import no_guest_log_message

        fail(no_guest_log_message(path, ingested))
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
@max_bytes_option
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
    max_bytes: int | None,
) -> None:
    """The merged timeline of PATH: events, start-up cycles, reported states or gaps."""
    from azdiag.common.times import parse_user_time
    from azdiag.timeline.view import TimelineFilter, render_timeline

    try:
        window = (
            parse_user_time(since, tz) if since else None,
            parse_user_time(until, tz) if until else None,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if output_format == "parquet" and output is None:
        raise click.UsageError("--format parquet needs -o FILE")
    if output is not None:
        _check_output(output, [path])
    analysis = _analyze(path, format_dirs, tz, max_bytes)
    wanted = TimelineFilter(instances, kinds, event_kinds, *window)
    unmatched = wanted.unmatched(analysis)
    if unmatched:
        _echo(f"azdiag: no row matches {unmatched}", err=True)
    if output is None:
        _echo(render_timeline(analysis, show, wanted, output_format) or "", nl=False)
        return

    def write(file: Path) -> None:
        render_timeline(analysis, show, wanted, output_format, file)

    _write_output(output, write)


def _analyze(
    path: Path,
    format_dirs: tuple[Path, ...],
    tz: str,
    max_bytes: int | None,
    now: datetime | None = None,
) -> Analysis:
    from azdiag.timeline.analysis import from_ingested

    formats = _load_formats(format_dirs)
    return from_ingested(_ingest(path, formats, tz, max_bytes), formats, now=now)


rules_option = click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of extra rules (*.toml); same id replaces a shipped rule.",
)
#: --fail-on levels of report and triage: "inconclusive" (an instance whose outcome could not
#: be told) is a level of its own, between warning and error (see diagnosis.FAIL_LEVELS)
_FAIL_LEVELS = ("info", "warning", "inconclusive", "error", "critical")


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
    type=click.Choice(_FAIL_LEVELS),
    help="Exit with 3 when a finding reaches this severity, or an instance is inconclusive "
    "at 'inconclusive' or below; exit 5 when a higher level is asked and not reached but an "
    "instance is inconclusive (for scripts).",
)
@click.option(
    "--now",
    "now_text",
    help="When the logs were taken (e.g. '2024-03-14 10:30'; zone-less times are in --tz). "
    "Default: the archive's or files' modification time, else the newest line.",
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
@max_bytes_option
def report(
    path: Path,
    output_format: str,
    output: str | None,
    open_browser: bool,
    fail_on: str | None,
    no_timestamp: bool,
    redact: bool,
    max_events: int,
    now_text: str | None,
    rule_dirs: tuple[Path, ...],
    format_dirs: tuple[Path, ...],
    tz: str,
    max_bytes: int | None,
) -> None:
    """Diagnose PATH: what failed, at which stage, since when, how often, and what to do."""
    from azdiag.diagnosis.engine import diagnose
    from azdiag.render.writer import render_report

    target = output or ("azdiag-report.html" if output_format == "html" else "-")
    if target != "-":
        _check_output(Path(target), [path])
    from azdiag.common.times import parse_user_time

    try:
        now = parse_user_time(now_text, tz) if now_text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from exc
    rules = _load_rules(rule_dirs)
    from azdiag.timeline.analysis import from_ingested

    formats = _load_formats(format_dirs)
    ingested = _ingest(path, formats, tz, max_bytes)
    if ingested.collection.collections:
        # triage splits folders, not archives: an archive must be unpacked first
        how = (
            f"run 'azdiag triage {path}' for one report each"
            if Path(path).is_dir()
            else "unpack it and run 'azdiag triage' on the folder for one report each"
        )
        fail(f"{path} holds {ingested.collection.several()}: {how}", ExitStatus.USAGE)
    analysis = from_ingested(ingested, formats, now=now)
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
        _echo(text, nl=False)
    else:
        _write_output(Path(target), text)
        _echo(f"{target}: {diagnosis.overall.summary}", err=True)
        if open_browser:
            _open_in_browser(Path(target), output_format)
    if fail_on and diagnosis.reached(fail_on):
        sys.exit(ExitStatus.FINDINGS)
    if fail_on and "inconclusive" in diagnosis.levels():
        sys.exit(ExitStatus.INCONCLUSIVE)


def _open_in_browser(target: Path, output_format: str) -> None:
    """--open: the page in the default browser, or one line saying why not."""
    import webbrowser

    uri = target.resolve().as_uri()
    if output_format != "html":
        _echo(f"azdiag: --open shows HTML reports only; {target} is {output_format}", err=True)
    elif not webbrowser.open(uri):
        _echo(f"azdiag: no web browser found to open the report; open {uri} yourself", err=True)


def _load_rules(rule_dirs: tuple[Path, ...]) -> list[Rule]:
    from azdiag.knowledge.rulebook import RuleError, load_rules
    from azdiag.knowledge.workflow import load_workflow

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
        _echo(json.dumps(rows, indent=2))
        return
    table = [(r.id, r.scenario or "-", r.severity, r.stage or "(evidence)", r.title) for r in found]
    widths = [max((len(row[i]) for row in table), default=0) for i in range(4)]
    for row in table:  # columns as wide as their longest cell: long ids keep them in line
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        _echo(" ".join([*cells, row[4]]))


@rules.command("show")
@click.argument("rule_id")
@rules_option
def rules_show(rule_id: str, rule_dirs: tuple[Path, ...]) -> None:
    """Everything about one rule: condition, explanation, advice, examples."""
    found = {r.id: r for r in _load_rules(rule_dirs)}
    if rule_id not in found:
        fail(f"no rule {rule_id!r}; see 'azdiag rules list'", ExitStatus.USAGE)
    r = found[rule_id]
    _echo(f"{r.id}: {r.title}")
    _echo(
        f"scenario {r.scenario or '-'}, severity {r.severity}, confidence {r.confidence}, "
        f"stage {r.stage or 'from the evidence'}  ({r.source_file})"
    )
    _echo(f"\nwhen: {json.dumps(r.when)}")
    for condition in r.unless:
        _echo(f"unless: {json.dumps(condition)}")
    _echo(f"\n{r.explanation}\n\nAdvice:\n{r.advice}")
    if r.documented:
        _echo(f"\nBasis: {r.documented}")
    for ref in r.references:
        _echo(f"see: {ref}")
    for example in r.examples:
        _echo(f"example ({'fires' if example.fires else 'silent'}): {example.name}")


@rules.command("test")
@click.argument(
    "folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
def rules_test(folder: Path | None) -> None:
    """Run the examples of every rule (the shipped ones and those of FOLDER)."""
    from azdiag.diagnosis.rule_examples import ExampleResult, run_example

    found = _load_rules((folder,) if folder else ())
    if folder:  # only the rules that FOLDER defines (or redefines)
        own = {str(p) for p in folder.glob("*.toml")}
        found = [r for r in found if r.source_file in own]
    results: list[ExampleResult] = []
    progress = _progress_bar(sum(len(r.examples) for r in found), "example")
    for rule in found:  # progress as it goes: all the examples take half a minute
        for example in rule.examples:
            results.append(run_example(rule, example))
            if not results[-1].passed:
                _echo(f"FAIL {results[-1]}")
        progress(rule.id, len(rule.examples))
    progress(None, 0)
    failed = sum(not r.passed for r in results)
    _echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        sys.exit(ExitStatus.INPUT_ERROR)


def _progress_bar(total: int, unit: str) -> Callable[[str | None, int], None]:
    """A tqdm bar on a terminal; elsewhere one line per step on stderr. (None, 0) closes it."""
    from azdiag.render.sanitise import for_terminal

    if not sys.stderr.isatty():

        def line(name: str | None, count: int) -> None:
            if name is not None:
                _echo(f"{name}: {count} {unit}(s) run", err=True)

        return line
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(name: str | None, count: int) -> None:
        if name is None:
            bar.close()
        else:
            bar.set_postfix_str(for_terminal(name)[-30:], refresh=False)
            bar.update(count)

    return update


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--out",
    default="azdiag-triage",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: index.html, summary.csv, summary.jsonl and one folder per collection.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    help="Local worker processes, one collection each at a time; polars in each gets "
    "cores/N threads [default: the cores this process may use].",
)
@click.option("--scheduler", help="Run on an existing Dask cluster, e.g. tcp://host:8786.")
@click.option(
    "--fail-on",
    type=click.Choice(_FAIL_LEVELS),
    help="Exit with 3 when a finding in any collection reaches this severity (or an instance "
    "is inconclusive, at 'inconclusive' or below); 5 when only inconclusive ones remain.",
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
@max_bytes_option
def triage(
    paths: tuple[str, ...],
    out: Path,
    jobs: int | None,
    scheduler: str | None,
    fail_on: str | None,
    resume: bool,
    report_formats: str,
    jsonl: str | None,
    **rest: Any,
) -> None:
    """Triage many collections: PATHs are folders of collections, archives or globs."""
    from azdiag.triage.run import TriageError, default_jobs, start_pool, stop_pool

    jobs = jobs or default_jobs()
    try:  # now, while this process has one thread: see start_pool
        pool = start_pool(jobs) if jobs > 1 and not scheduler else None
    except TriageError as exc:
        fail(str(exc), ExitStatus(exc.status))
    try:
        _triage(paths, out, jobs, scheduler, fail_on, resume, report_formats, jsonl, pool, **rest)
    except KeyboardInterrupt:  # before or after the batch ran (run_batch handles its own)
        _on_interrupt_leave(pool)
    finally:
        if pool is not None:
            stop_pool(pool, now=False)


def _on_interrupt_leave(pool: Any) -> NoReturn:
    """Stop the workers and exit 130; a second Ctrl-C meanwhile exits at once."""
    import signal

    from azdiag.triage.run import exit_now, stop_pool

    signal.signal(signal.SIGINT, exit_now)
    if pool is not None:
        stop_pool(pool)
    _echo("azdiag: interrupted", err=True)
    _leave(ExitStatus.INTERRUPTED)


def _leave(status: ExitStatus) -> NoReturn:
    """Exit now, flushing output: stopped workers can leave the pool's threads in a state the
    interpreter's exit handlers trip over."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _triage(
    paths: tuple[str, ...],
    out: Path,
    jobs: int,
    scheduler: str | None,
    fail_on: str | None,
    resume: bool,
    report_formats: str,
    jsonl: str | None,
    pool: Any,
    *,
    rule_dirs: tuple[Path, ...],
    format_dirs: tuple[Path, ...],
    tz: str,
    max_bytes: int | None,
) -> None:

    from azdiag.render.outputs import OutputError, OutputRefused, check_folder
    from azdiag.triage.batch import expand
    from azdiag.triage.run import TriageError, run_batch, severity_reached, tasks_for

    formats = tuple(f.strip() for f in report_formats.split(",") if f.strip())
    unknown = set(formats) - {"html", "json", "md"}
    if unknown:
        raise click.BadParameter(f"unknown format(s) {sorted(unknown)}", param_hint="--format")
    refused: list[str] = []
    collections = expand(
        list(paths),
        refused,
        format_dirs=tuple(str(d) for d in format_dirs),
        max_bytes=max_bytes,
    )
    for line in refused:
        _echo(f"azdiag: {line}", err=True)
    if not collections:
        fail("no collection found in " + " ".join(paths))
    sources = [source for _, source in collections]
    try:  # neither the folder nor any collection's folder in it may be (inside) an input
        check_folder(out, [*paths, *sources])
        for name, _ in collections:
            check_folder(out / name, sources)
    except OutputRefused as exc:
        fail(str(exc), ExitStatus.USAGE)
    _load_rules(rule_dirs)  # a bad rule is a usage error now, not a row per collection
    tasks = tasks_for(
        collections,
        out,
        formats=formats,
        fail_on=fail_on,
        tz=tz,
        rule_dirs=tuple(str(d) for d in rule_dirs),
        format_dirs=tuple(str(d) for d in format_dirs),
        max_bytes=max_bytes,
    )
    try:
        batch = run_batch(
            tasks,
            jobs=jobs,
            scheduler=scheduler,
            resume=resume,
            stream=sys.stdout if jsonl else None,
            pool=pool,
        )
    except TriageError as exc:
        fail(str(exc), ExitStatus(exc.status))
    except OutputError as exc:
        fail(str(exc), ExitStatus.OUTPUT_ERROR)
    analysed, failed = len(batch.analysed), len(batch.failed)
    not_run = batch.total - len(batch.results)
    reused = sum(result.skipped for result in batch.results)
    _echo(
        f"{analysed} of {batch.total} collection(s) analysed"
        + (f" ({reused} unchanged since the last run, reports kept)" if reused else "")
        + f", {failed} failed"
        + (f", {not_run} not run (interrupted)" if batch.interrupted else "")
        + f"; see {out / 'index.html'}",
        err=True,
    )
    if batch.interrupted:
        _leave(ExitStatus.INTERRUPTED)  # the outputs are written
    if analysed == 0:
        sys.exit(ExitStatus.INPUT_ERROR)
    if fail_on and severity_reached(batch.analysed, fail_on):
        sys.exit(ExitStatus.FINDINGS)
    if fail_on and severity_reached(batch.analysed, "inconclusive", exactly=True):
        sys.exit(ExitStatus.INCONCLUSIVE)
    if failed:
        sys.exit(ExitStatus.PARTIAL)
