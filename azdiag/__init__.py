"""azdiag: diagnostics for the guest logs of Azure Cloud Services (classic) role instances.

The package is a library first; ``azdiag.cli`` is a thin layer over it. The public names are
imported on first use, not on ``import azdiag``, so that ``azdiag --help`` does not pay for polars
or pandas:

- ``analyze(path)`` -> ``Analysis``: collect, parse and reconstruct the timeline;
- ``diagnose(analysis)`` -> ``Diagnosis``: findings and the verdict per instance;
- ``CollectError`` and its subclass ``NoGuestLog``: the input cannot be used, or holds no guest
  log (what the CLI reports with exit code 1).
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported lazily by ``__getattr__``).
_LAZY = {
    "analyze": "azdiag.timeline.analysis",
    "Analysis": "azdiag.timeline.analysis",
    "NoGuestLog": "azdiag.timeline.analysis",
    "diagnose": "azdiag.diagnosis.engine",
    "Diagnosis": "azdiag.diagnosis.engine",
    "CollectError": "azdiag.collect.discover",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """``azdiag.analyze`` and the other public names without importing polars on import."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'azdiag' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
