"""Which documented line shapes a simulated collection is written in (log-formats.md §1-§7).

Real collections differ by agent and bootstrapper version, by where the host log lands and by
how the logs were copied. A ``Variants`` value fixes one choice per dimension for a whole
collection (every instance of it): ``classic`` is the shape the simulator always wrote,
``choose`` draws each dimension from a seeded generator of its own, so that the same
(seed, scenario) always gives the same shapes and the rest of the output (events, times,
process ids) is the same as the classic collection of that seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from random import Random
from typing import Any

#: Every dimension and its documented values; the first value of each is the classic shape.
OPTIONS: dict[str, tuple[str, ...]] = {
    # §1 guest agent: [tid] [MM/DD/YYYY ...], [tid] ISO-8601 Z, ISO with a fraction, no thread
    "agent_time": ("bracketed", "iso", "iso-frac", "no-thread"),
    # §7 a few agent lines quoted without thread and time: "[WARN]  ...", or a bare message
    "agent_quoted": ("none", "level", "bare"),
    # §2/§7 bootstrapper level: the padded word ("INFO ") or the hex trace mask (00040000)
    "boot_level": ("word", "mask"),
    # §7 several bootstrapper records pasted onto one physical line
    "boot_glued": ("none", "some"),
    # §2/§7 task start: rolemodule=<m> cmd="..." / no rolemodule, redirections on the command
    "task_line": ("rolemodule", "redirect"),
    # §2/§7 task exit: three seeded wordings / the published "Program ... Working Directory ="
    "task_exit": ("mixed", "published"),
    # §3/§4 IISConfigurator: TraceSource + [MM/DD/YY time] / TraceSource + [pid:tid, date, time]
    "iis_header": ("bracketed", "tracesource-pid-tid"),
    # §4/§7 host log: scenario's own / TraceSource + [MM/DD/YY] / TraceSource + [pid:tid, ...] /
    # bare [pid:tid, date, time, LEVEL] block / TraceSource without any time
    "host_header": ("scenario", "bracketed", "tracesource-pid-tid", "pid-tid", "untimed"),
    # §7 host log folder: <dep>.<Role>.DiagnosticStore / <dep>.<Role> (no .DiagnosticStore)
    "host_folder": ("store", "directory"),
    # §4/§7 entry-point failure: "Role entrypoint could not be created: ..." / event-log form
    "entrypoint": ("prefixed", "event-log"),
}

#: Values the analysis reads as well as the classic shape (the default of ``simulate``):
#: each value alone, on every scenario (seed 1, 0.25 h), gave the classic verdict, stage and
#: cycles per instance. The bundled fixtures draw from these (fixtures/make_fixtures.py).
#: Left out: agent_time iso (whole seconds: the manifest's instants, e.g. a heartbeat gap's
#: start, are read up to 1 s off, beyond what tests/timeline/test_timeline.py allows), agent_quoted
#: bare (the verdicts hold, but its lines are unparsed), host_header untimed (S22's host log
#: then says nothing of when: the verdict is inconclusive, rightly, not S22).
RECOGNISED: dict[str, tuple[str, ...]] = {
    "agent_time": ("bracketed", "iso-frac", "no-thread"),
    "agent_quoted": ("none", "level"),
    "boot_level": ("word", "mask"),
    "boot_glued": ("none", "some"),
    "task_line": ("rolemodule", "redirect"),
    "task_exit": ("mixed", "published"),
    "iis_header": ("bracketed", "tracesource-pid-tid"),
    "host_header": ("scenario", "bracketed", "tracesource-pid-tid", "pid-tid"),
    "host_folder": ("store", "directory"),
    "entrypoint": ("prefixed", "event-log"),
}


@dataclass(frozen=True)
class Variants:
    """The shapes of one collection; each field takes a value of ``OPTIONS[field]``."""

    agent_time: str = "bracketed"
    agent_quoted: str = "none"
    boot_level: str = "word"
    boot_glued: str = "none"
    task_line: str = "rolemodule"
    task_exit: str = "mixed"
    iis_header: str = "bracketed"
    host_header: str = "scenario"
    host_folder: str = "store"
    entrypoint: str = "prefixed"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in OPTIONS[f.name]:
                known = ", ".join(OPTIONS[f.name])
                raise ValueError(f"variant {f.name}={value!r} is not one of: {known}")

    @classmethod
    def choose(
        cls, seed: int, scenario: str, pool: dict[str, tuple[str, ...]] | None = None
    ) -> Variants:
        """One value per dimension from ``pool`` (default: every documented value), each drawn
        by a generator seeded with (seed, scenario, dimension) only: the same pair gives the
        same shapes, and narrowing one dimension's pool leaves the others' draws alone."""
        pool = pool or OPTIONS
        return cls(
            # str seeds are stable across runs and platforms (hashed with sha512)
            **{
                f.name: Random(f"azdiag-variants:{seed}:{scenario}:{f.name}").choice(pool[f.name])
                for f in fields(cls)
            }
        )

    @classmethod
    def parse(cls, text: str) -> Variants:
        """``"agent_time=iso,boot_level=mask"`` -> those values, the others classic.

        Raises ``ValueError`` for an unknown dimension or value."""
        kw: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            name = name.strip().replace("-", "_")
            if name not in OPTIONS:
                raise ValueError(f"unknown variant {name!r}; known: {', '.join(OPTIONS)}")
            kw[name] = value.strip()
        return cls(**kw)

    def changed(self) -> dict[str, str]:
        """The dimensions that differ from the classic shape (the manifest's ``variants``)."""
        classic = Variants()
        return {k: v for k, v in asdict(self).items() if getattr(classic, k) != v}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CLASSIC = Variants()


def resolve(variants: Variants | str | None, seed: int, scenario: str) -> Variants:
    """``None``/"classic" -> classic; "all" -> drawn from every value; "recognised" -> drawn
    from ``RECOGNISED``; a ``Variants`` as given; other text as ``Variants.parse``."""
    if isinstance(variants, Variants):
        return variants
    if variants in (None, "", "classic"):
        return CLASSIC
    if variants == "all":
        return Variants.choose(seed, scenario)
    if variants == "recognised":
        return Variants.choose(seed, scenario, RECOGNISED)
    return Variants.parse(variants)
