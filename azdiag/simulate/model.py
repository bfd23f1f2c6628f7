"""What the simulator promises: the scenario catalogue entry and the manifest of a run.

The manifest is the ground truth tests and docs compare an analysis against, so it records
what was *generated* (cycles, stages, heartbeat gaps, files), not what a parser would find.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azdiag.simulate.instance import InstanceSim

#: Workflow stages a start-up cycle can reach, in order (see workflow.md steps 5-9).
STAGES = (
    "agent",
    "cleanup",
    "startup_tasks",
    "configure_iis",
    "host_start",
    "onstart",
    "run",
    "ready",
    "serve",  # after Ready: w3wp serving (WAS and w3wp events)
)
#: How a cycle ended: reached Ready, failed (recycled), hung, or still running at collection end.
OUTCOMES = ("ready", "failed", "hung", "running")


@dataclass(frozen=True)
class Scenario:
    """A catalogue entry: what to simulate and how the files should look."""

    id: str
    title: str
    role_type: str  # "web" or "worker"
    script: Callable[[InstanceSim, int], None]  # drives one instance; int = hours in ms
    min_hours: float = 0.0  # windows shorter than this cannot show the failure
    failures: tuple[str, ...] = ()  # catalogue ids (failures.md) the collection exhibits
    host_style: str = "trace"  # "trace" (TraceSource) or "block" (bootstrapper-like header)
    host_encoding: str = "utf-8"  # "utf-8", "utf-8-sig" or "utf-16"
    iis_encoding: str = "utf-8"
    iso_share: float = 0.0  # share of guest-agent lines written in the ISO-8601 variant
    no_thread_lines: int = 0  # how many guest-agent lines drop the thread field


@dataclass
class Cycle:
    """One start-up attempt: a bootstrapper generation (or a container start for ``agent``)."""

    start: str
    stage: str
    outcome: str
    ready_at: str | None = None
    end: str | None = None
    generation: str | None = None  # file name of its bootstrapper log, if any


@dataclass
class Gap:
    """A silence of more than 20 s between WaAppAgent.log heartbeats."""

    start: str
    end: str
    seconds: float
    planned: bool


@dataclass
class StatusChange:
    """The reported role state changed (WaAppAgent.log)."""

    time: str
    state: str
    detail: str


@dataclass
class InstanceManifest:
    """Ground truth for one role instance."""

    name: str
    folder: str  # relative to the collection root; "" with a single instance
    cycles: list[Cycle] = field(default_factory=list)
    heartbeat_gaps: list[Gap] = field(default_factory=list)
    agent_starts: list[dict[str, str]] = field(default_factory=list)
    config_versions: list[int] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)
    final_state: str = ""
    bootstrapper_generations: int = 0
    files: list[str] = field(default_factory=list)
    lines: int = 0


@dataclass
class Manifest:
    """Ground truth for one simulated collection."""

    scenario: str
    title: str
    seed: int
    role: str
    role_type: str
    deployment_id: str
    start: str
    end: str
    failures: list[str] = field(default_factory=list)
    instances: list[InstanceManifest] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    zip: bool = False
    bytes: int = 0
    lines: int = 0
    #: the line shapes of the collection (variants.Variants; classic values included)
    variants: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data."""
        return asdict(self)
