"""Collection completeness: which logs an instance needs to be judged, and which are missing.

The model is data (rules/workflow/completeness.toml): per role type (web role with full IIS,
worker, hosted-web-core web role, unknown) the stages its start-up goes through, and per stage
the log kinds that show it. A verdict is judged up to a stage (the whole start-up for a role that
got Ready; the stage where it stopped and the next one otherwise); a needed log that is absent,
empty, unreadable or without any time is listed and weighed in the outcome
(azdiag.diagnosis.verdict): none of them is evidence of its stages.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from azdiag.knowledge.resources import data_dir
from azdiag.knowledge.workflow import Workflow, WorkflowError
from azdiag.parse.ingest import FileReport

PRESENT = "present"
MISSING = "missing"
UNREADABLE = "unreadable"
#: A log that gave events but no time at all: nothing in it says when a stage happened.
UNTIMED = "untimed"
#: A log that is there but holds nothing (0 bytes, or only white space): collected, yet no
#: evidence; other advice than a log never collected (see FileReport.empty).
EMPTY = "empty"
#: ``needs`` entry standing for the role type's own host log.
HOST = "host"


@dataclass(frozen=True)
class RoleType:
    id: str
    name: str
    kinds: tuple[str, ...]
    events: tuple[str, ...]
    host: tuple[str, ...]
    stages: tuple[str, ...]


@dataclass(frozen=True)
class CompletenessModel:
    role_types: tuple[RoleType, ...]
    needs: dict[str, tuple[str, ...]]
    files: dict[str, str]

    def role_type(self, kinds: set[str], events: set[str]) -> RoleType:
        """The first role type the instance's log kinds or events show; the last (unknown)
        otherwise."""
        for role_type in self.role_types:
            if kinds & set(role_type.kinds) or events & set(role_type.events):
                return role_type
        return self.role_types[-1]


@dataclass
class NeededLog:
    """One log an instance needs: any of ``kinds``; ``status`` present, untimed, empty,
    unreadable or missing."""

    kinds: tuple[str, ...]
    stages: list[str]
    status: str
    files: list[str] = field(default_factory=list)
    names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return " or ".join(self.names or self.kinds)

    @property
    def said(self) -> str:
        """The status in words: ``present but empty (path, ...)``, ``without any time``..."""
        return status_text(self.status, self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "log": self.label,
            "kinds": list(self.kinds),
            "stages": self.stages,
            "status": self.status,
            "files": self.files,
        }


@dataclass
class Completeness:
    """What an instance's logs allow to judge: role type, stages judged, logs needed."""

    instance: str
    role_type: str
    role_type_name: str
    judged_up_to: str | None  # a stage id
    needed: list[NeededLog]

    @property
    def lacking(self) -> list[NeededLog]:
        """The needed logs that are not present with times: no evidence of when (or whether)
        their stages happened."""
        return [n for n in self.needed if n.status != PRESENT]

    @property
    def complete(self) -> bool:
        return not self.lacking

    def lacking_text(self, labels: dict[str, str]) -> str:
        """``WaHostBootstrapper.log (Startup tasks) missing; ...``, or "" when complete."""
        parts = []
        for need in self.lacking:
            stages = ", ".join(labels.get(s, s) for s in need.stages)
            parts.append(f"{need.label} ({stages}) {need.said}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "role_type": self.role_type,
            "role_type_name": self.role_type_name,
            "judged_up_to": self.judged_up_to,
            "complete": self.complete,
            "needed": [n.to_dict() for n in self.needed],
            "missing": [n.label for n in self.lacking if n.status == MISSING],
            "unreadable": [n.label for n in self.lacking if n.status == UNREADABLE],
            "untimed": [n.label for n in self.lacking if n.status == UNTIMED],
            "empty": [n.label for n in self.lacking if n.status == EMPTY],
        }


def status_text(status: str, files: list[str]) -> str:
    """A needed log's ``status`` in the words the reports use; an empty log names its files
    (they were collected: which copy is empty matters)."""
    if status == EMPTY:
        return f"present but empty ({', '.join(files)})"
    return "without any time" if status == UNTIMED else status


@lru_cache(maxsize=1)
def load_model() -> CompletenessModel:
    """rules/workflow/completeness.toml; raises WorkflowError when malformed."""
    path = data_dir("rules") / "workflow" / "completeness.toml"
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
        role_types = tuple(
            RoleType(
                id=r["id"],
                name=r["name"],
                kinds=tuple(r.get("kinds", ())),
                events=tuple(r.get("events", ())),
                host=tuple(r["host"]),
                stages=tuple(r["stages"]),
            )
            for r in raw["role_types"]
        )
        needs = {stage: tuple(kinds) for stage, kinds in raw["needs"].items()}
        files = dict(raw.get("files", {}))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise WorkflowError(f"{path}: malformed completeness model: {exc!r}") from exc
    if not role_types:
        raise WorkflowError(f"{path}: no role types")
    return CompletenessModel(role_types, needs, files)


def assess(
    instance: str,
    files: list[FileReport],
    events_seen: set[str],
    kinds_read: set[str],
    reached: str | None,
    workflow: Workflow,
    *,
    whole: bool = False,
    model: CompletenessModel | None = None,
) -> Completeness:
    """The completeness of ``instance``'s logs for judging its start-up: the whole of it when
    ``whole`` (a role that got Ready), else up to the stage after ``reached`` (where it stopped:
    the log of the step that did not happen shows why). ``events_seen``: the event names found
    in its logs; ``kinds_read``: the log kinds that gave it events (a listed file of another
    kind is unreadable)."""
    model = model or load_model()
    mine = [f for f in files if f.instance == instance]
    readable = set(kinds_read)
    listed = {f.kind for f in mine}
    role_type = model.role_type(readable, events_seen)
    orders = workflow.stage_orders
    sequence = list(role_type.stages)
    if whole or not sequence:
        stages = sequence
    else:
        after = orders.get(reached or "", -1)
        following = [s for s in sequence if orders.get(s, 0) > after]
        limit = orders.get(following[0], 0) if following else orders.get(sequence[-1], 0)
        stages = [s for s in sequence if orders.get(s, 0) <= limit]
    by_kinds: dict[tuple[str, ...], list[str]] = {}
    for stage in stages:
        wanted: list[str] = []
        for kind in model.needs.get(stage, ()):
            wanted += list(role_type.host) if kind == HOST else [kind]
        if wanted:
            by_kinds.setdefault(tuple(wanted), []).append(stage)
    timed = {f.kind for f in mine if f.timed_records or f.inherited_time_records}
    with_text = {f.kind for f in mine if not f.empty}
    needed = []
    for kinds, judged in by_kinds.items():
        paths = [f.path for f in mine if f.kind in kinds]
        if readable & timed & set(kinds):
            status = PRESENT
        elif readable & set(kinds):
            status = UNTIMED
        elif with_text & set(kinds):
            status = UNREADABLE
        elif listed & set(kinds):
            status = EMPTY
        else:
            status = MISSING
        names = tuple(model.files.get(k, f"{k}.log") for k in kinds)
        needed.append(NeededLog(kinds, judged, status, paths, names))
    up_to = stages[-1] if stages else None
    return Completeness(instance, role_type.id, role_type.name, up_to, needed)
