"""Every signature sample classifies to its event and fields; counter-samples do not."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from azdiag.knowledge.formats import FormatError, load_formats
from azdiag.knowledge.workflow import load_workflow
from azdiag.parse.samples import check_signatures
from azdiag.parse.signatures import classify, load_signatures, with_fields

FORMATS = load_formats()
COMPONENTS = load_workflow().stage_components


def test_signature_samples_classify_to_their_events_and_fields():
    count, failures = check_signatures(FORMATS)
    assert count > 100
    assert not failures, "\n".join(str(f) for f in failures)


def test_every_signature_has_a_sample():
    for sig in load_signatures(FORMATS):
        assert sig.samples, f"{sig.format_id}: signature {sig.event} has no sample"


def test_every_signature_stage_exists_in_the_workflow():
    stages = set(load_workflow().stages)
    for sig in load_signatures(FORMATS):
        wanted = {sig.stage} | set(sig.stage_by[1].values() if sig.stage_by else ())
        assert wanted - {None} <= stages, sig


def _classify(kind: str, messages: list[str], levels: list[str] | None = None) -> pl.DataFrame:
    events = pl.DataFrame(
        {
            "kind": [kind] * len(messages),
            "message": messages,
            "level_raw": levels or ["INFO"] * len(messages),
            "file": ["f"] * len(messages),
            "line": list(range(1, len(messages) + 1)),
        }
    )
    classified, details = classify(events, FORMATS, load_signatures(FORMATS), COMPONENTS)
    return with_fields(classified, details)


def test_function_exit_traces_are_traces_never_errors():
    out = _classify(
        "WaHostBootstrapper",
        ["Bootstrapper starting.", "<- WapGetAppCmdPath=0x1", "<- WapGetEnv=0x800700cb"],
        ["INFO", "ERROR", "ERROR"],
    )
    assert out["event"].to_list() == ["bootstrapper_start", "trace", "trace"]
    assert out["hr"].to_list() == [None, "0x1", "0x800700cb"]


def test_host_events_take_the_component_of_their_log():
    message = "Role entrypoint . CALLING   OnStart(): WorkerRole1.WorkerRole"
    for kind, component in (("WaIISHost", "K"), ("WaWorkerHost", "I"), ("WaWebHost", "J")):
        row = _classify(kind, [message]).row(0, named=True)
        assert (row["event"], row["stage"], row["component"]) == (
            "onstart_call",
            "onstart",
            component,
        )


def test_first_record_of_a_bootstrapper_file_is_its_start_whatever_the_wording():
    out = _classify("WaHostBootstrapper", ["Some banner nobody documented", "Reading role model"])
    assert out["event"].to_list() == ["bootstrapper_start", None]


def test_plugin_and_customer_tasks_are_told_apart():
    out = _classify(
        "WaHostBootstrapper",
        [
            "first",
            'Executing Startup Task type=0 rolemodule=(null) cmd="E:\\approot\\setup.cmd"',
            'Executing Startup Task type=2 rolemodule=RemoteAccess cmd="E:\\plugins\\ra.exe"',
        ],
    )
    assert out["component"].to_list()[1:] == ["G", "H"]
    assert out["module"].to_list()[1:] == [None, "RemoteAccess"]


def test_a_signature_without_keyword_or_levels_is_rejected(tmp_path: Path):
    (tmp_path / "custom.toml").write_text(
        """
[[headers]]
regex = '^(?P<message>.*)$'
[[signatures]]
event = "x"
pattern = "y"
""",
        encoding="utf-8",
    )
    with pytest.raises(FormatError, match="keyword"):
        load_signatures(load_formats([tmp_path]))
