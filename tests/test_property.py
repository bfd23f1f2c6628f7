"""Property-based tests over the whole path: analyze -> diagnose -> render (JSON, HTML, Markdown).

Random collections mix every documented line shape of every log kind (log-formats.md §1-§7, and
every composition of the grammar pieces), untimed lines, bare messages, binary noise, empty
files, one file alone and instances with a single log kind. Whatever comes in: no exception, and
for every file the line accounting holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azdiag.collect.decode import decode
from azdiag.diagnosis.engine import diagnose
from azdiag.knowledge.grammar import load_grammar
from azdiag.knowledge.resources import data_dir
from azdiag.render.writer import render_report
from azdiag.timeline.analysis import NoGuestLog, analyze

GRAMMAR = load_grammar(sorted(data_dir("parsers").glob("_*.toml")))

#: Where each log kind lands in a hand-copied or CollectGuestLogs folder.
PLACES = {
    "agent": "Logs/WaAppAgent.log",
    "runtime": "RuntimeAndAgent/AppAgentRuntime.log",
    "boot": "C/Resources/WaHostBootstrapper.log",
    "boot_old": "C/Resources/WaHostBootstrapper.log.1",
    "iiscfg": "C/Resources/Directory/d1.WebRole1.DiagnosticStore/IISConfigurator.log",
    "iishost": "C/Resources/Directory/d1.WebRole1.DiagnosticStore/WaIISHost.log",
    "worker": "C/Resources/Directory/d1.WorkerRole1/WaWorkerHost.log",
}

MESSAGES = [
    "WindowsAzureGuestAgent starting. Version 2.7.1198.802",
    "WindowsAzureGuestAgent Heartbeat.",
    "Role WebRole1_IN_0 is reporting state Ready.",
    "Recycling (Waiting for role to start... System startup tasks are running. "
    "[2024-03-14T09:00:00Z])",
    r'Executing Startup Task type=0 rolemodule=(null) cmd="E:\approot\bin\setup.cmd"',
    r'Executing Startup Task type=0 cmd="E:\approot\bin\setup.cmd" > log.txt 2> err.txt',
    r'Executing "E:\approot\bin\setup.cmd" .',
    r'Program "E:\approot\bin\setup.cmd" exited with 1. Working Directory = E:\approot\bin',
    "<- WapGetAppCmdPath=0x1",
    "Role environment . INITIALIZING",
    "Role entrypoint . CALLING   OnStart(): WebRole1.WebRole",
    "Role entrypoint . COMPLETED Run() ==> ROLE RECYCLING INITIATED: WebRole1.WebRole",
    "Role entrypoint could not be created: System.IO.FileNotFoundException: Could not load file "
    "or assembly 'Contoso.Lib, Version=1.0.0.0' or one of its dependencies.",
    "Started iisconfigurator with args /start",
    "Enable command of Contoso.Ext has exited with Exit code: -2",
    "",
]
CONTINUATIONS = [
    "   at WebRole1.WebRole.OnStart() in C:\\src\\WebRole.cs:line 42",
    "--- End of inner exception stack trace ---",
    "{",
    '  "state": "enabled"',
    "==========================================",
]


def _formatted(moment: datetime, time_format: str) -> str:
    """``moment`` written in a chrono time format (``%.f`` = a dot and hundredths)."""
    text = time_format.replace("%.f", ".%f")
    written = moment.strftime(text)
    if ".%f" in text:  # hundredths, as the guest agent writes; the fraction is then cut
        fraction = f".{moment.microsecond:06d}"
        written = written.replace(fraction, fraction[:3])
    return written


@st.composite
def header_lines(draw: st.DrawFn, moment: datetime) -> str:
    composed = draw(st.sampled_from(GRAMMAR.compose()))
    sample = composed.sample or ""
    if composed.time is not None and composed.time.sample:
        sample = sample.replace(composed.time.sample, _formatted(moment, composed.time.format))
    message = draw(st.sampled_from(MESSAGES) | st.text(max_size=60))
    return sample.replace("Role environment . INITIALIZING", message.replace("\n", " "))


@st.composite
def log_texts(draw: st.DrawFn) -> bytes:
    """One file's bytes: header lines, continuations, bare and untimed lines, noise."""
    start = draw(st.datetimes(datetime(2012, 1, 1), datetime(2030, 1, 1)))
    lines: list[bytes] = []
    for i in range(draw(st.integers(0, 25))):
        moment = start + timedelta(seconds=i * draw(st.integers(0, 400)))
        kind = draw(st.sampled_from(["header", "header", "header", "cont", "bare", "noise"]))
        if kind == "header":
            lines.append(draw(header_lines(moment)).encode())
        elif kind == "cont":
            lines.append(draw(st.sampled_from(CONTINUATIONS)).encode())
        elif kind == "bare":
            lines.append(draw(st.sampled_from(MESSAGES)).encode())
        else:
            lines.append(draw(st.binary(max_size=40)))
    if draw(st.booleans()) and len(lines) > 1:  # a trace pasted with its line ends lost
        lines = [b" ".join(lines[:3]), *lines[3:]]
    ending = draw(st.sampled_from([b"\r\n", b"\n"]))
    return ending.join(lines) + (ending if draw(st.booleans()) else b"")


collections = st.dictionaries(
    st.sampled_from(sorted(PLACES)), log_texts(), min_size=1, max_size=4
).map(lambda files: {PLACES[k]: v for k, v in files.items()})


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(files=collections, instance=st.sampled_from(["", "WebRole1_IN_0/"]))
def test_any_collection_reads_diagnoses_and_renders(tmp_path_factory, files, instance):
    root: Path = tmp_path_factory.mktemp("collection")
    for relative, data in files.items():
        target = root / instance / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    try:
        analysis = analyze(root)
    except NoGuestLog:  # only when every file is empty (or blank): such a file is no guest log
        assert all(not decode(data).data.strip() for data in files.values())
        return
    for f in analysis.ingested.files:
        assert f.error is None, f
        assert f.lines + f.glued_records == f.records + f.continuation_lines + f.unparsed_lines
        assert f.timed_records + f.inherited_time_records + f.untimed_records == (
            f.records + f.unparsed_records
        )
    diagnosis = diagnose(analysis)
    for fmt in ("json", "html", "md"):
        text = render_report(analysis, diagnosis, fmt, timestamp=False)
        assert text
        assert "Traceback" not in text
    assert diagnosis.overall.summary
    assert "None" not in diagnosis.overall.summary
