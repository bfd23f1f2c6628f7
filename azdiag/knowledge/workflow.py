"""The workflow model: stages, cycle boundaries, failure evidence and cadence, read from data.

``rules/workflow/stages.toml`` and ``rules/workflow/cadence.toml`` hold the knowledge (and
``rules/workflow/counted.toml`` how a count of start attempts is said); this module only loads
and validates it so the timeline code can stay free of domain constants.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azdiag.knowledge.resources import data_dir


class WorkflowError(ValueError):
    """The workflow model files are malformed."""


@dataclass(frozen=True)
class Stage:
    id: str
    order: int
    component: str
    step: int
    name: str
    label: str = ""


@dataclass(frozen=True)
class FailureEvidence:
    """An event (optionally narrowed by a field's value) that ends a cycle in failure."""

    event: str
    field: str | None = None
    not_in: tuple[str, ...] = ()
    in_: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cadence:
    kind: str
    event: str | None = None
    expected_seconds: float = 0.0
    note_after_seconds: float = 0.0
    restart_after_seconds: float | None = None
    per_cycle: bool = False
    never_a_gap: bool = False


@dataclass(frozen=True)
class Counted:
    """A placeholder ``name`` made from the count ``count``: ``zero``, ``one`` or ``other``
    (``{n}`` is the number), so a sentence says "1 start attempt", "4 start attempts"."""

    name: str
    count: str
    one: str
    other: str
    zero: str | None = None

    def say(self, n: int) -> str:
        form = self.one if n == 1 else (self.zero if n == 0 and self.zero else self.other)
        return form.replace("{n}", str(n))


@dataclass
class Workflow:
    stages: dict[str, Stage]
    components: dict[str, str]
    boundaries: dict[str, int]
    hang_after_seconds: float
    merge_within_seconds: float
    failures: list[FailureEvidence]
    cadences: list[Cadence]
    planned_evidence: list[str]
    planned_window_seconds: float
    trust_mtime_within_seconds: float = 7 * 86400
    repeated_reports: tuple[str, ...] = ()
    steps: list[dict[str, Any]] = field(default_factory=list)
    counted: tuple[Counted, ...] = ()

    def counted_values(self, values: dict[str, Any]) -> dict[str, str]:
        """The counted placeholders (``{start_attempts}``...) for ``values``, a finding's
        placeholder values; one whose count is not an integer there is left out."""
        return {
            c.name: c.say(values[c.count])
            for c in self.counted
            if isinstance(values.get(c.count), int)
        }

    def stage(self, stage_id: str | None) -> Stage | None:
        return self.stages.get(stage_id) if stage_id else None

    @property
    def stage_components(self) -> dict[str, str]:
        return {s.id: s.component for s in self.stages.values()}

    @property
    def stage_orders(self) -> dict[str, int]:
        return {s.id: s.order for s in self.stages.values()}

    def stage_dict(self, stage_id: str | None, component: str | None = None) -> dict[str, Any]:
        """``{"id", "component", "step", "name"}`` for reports; all None for no stage."""
        stage = self.stage(stage_id)
        if stage is None:
            return {"id": None, "component": None, "step": None, "name": None}
        return {
            "id": stage.id,
            "component": component or stage.component,
            "step": stage.step,
            "name": stage.name,
        }


def load_workflow(folder: Path | None = None) -> Workflow:
    folder = folder or data_dir("rules") / "workflow"
    stages_raw = _read(folder / "stages.toml")
    cadence_raw = _read(folder / "cadence.toml")
    counted_raw = _read(folder / "counted.toml")
    try:
        stages = {
            s["id"]: Stage(
                s["id"],
                int(s["order"]),
                s["component"],
                int(s["step"]),
                s["name"],
                s.get("label", s["id"]),
            )
            for s in stages_raw["stages"]
        }
        cycles = stages_raw["cycles"]
        failures = [
            FailureEvidence(
                event=f["event"],
                field=f.get("field"),
                not_in=tuple(f.get("not_in", ())),
                in_=tuple(f.get("in", ())),
            )
            for f in cycles.get("failure", [])
        ]
        cadences = [Cadence(**c) for c in cadence_raw.get("sources", [])]
        counted = tuple(Counted(**c) for c in counted_raw.get("counted", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkflowError(f"{folder}: malformed workflow model: {exc!r}") from exc
    return Workflow(
        stages=dict(sorted(stages.items(), key=lambda kv: kv[1].order)),
        components=dict(stages_raw.get("components", {})),
        boundaries={k: int(v) for k, v in cycles["boundaries"].items()},
        hang_after_seconds=float(cycles.get("hang_after_seconds", 600)),
        merge_within_seconds=float(cycles.get("merge_within_seconds", 0)),
        failures=failures,
        cadences=cadences,
        planned_evidence=list(cadence_raw.get("planned_evidence", [])),
        planned_window_seconds=float(cadence_raw.get("planned_window_seconds", 900)),
        trust_mtime_within_seconds=float(cycles.get("trust_mtime_within_seconds", 7 * 86400)),
        repeated_reports=tuple(cycles.get("repeated_reports", ())),
        steps=list(stages_raw.get("steps", [])),
        counted=counted,
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WorkflowError(f"{path}: {exc}") from exc
