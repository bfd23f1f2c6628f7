"""Simulated guest-log collections of Azure Cloud Services (classic) role instances.

Deterministic for a seed (no wall clock, no global random state): used for test fixtures,
docs, the demo and benchmark collections. See docs/simulator.md.
"""

from azdiag.simulate.api import simulate, write_large
from azdiag.simulate.model import STAGES, Cycle, Gap, InstanceManifest, Manifest, Scenario
from azdiag.simulate.scenarios import SCENARIOS

__all__ = [
    "SCENARIOS",
    "STAGES",
    "Cycle",
    "Gap",
    "InstanceManifest",
    "Manifest",
    "Scenario",
    "simulate",
    "write_large",
]
