"""azdiag: diagnostics for the guest logs of Azure Cloud Services (classic) role instances.

The package is a library first; ``azdiag.cli`` is a thin layer over it. Heavy modules (polars,
pandas) are imported lazily so that ``azdiag --help`` stays fast.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "analyze"]


def __getattr__(name: str) -> Any:
    """``azdiag.analyze`` without importing polars on ``import azdiag``."""
    if name == "analyze":
        from azdiag.analysis import analyze

        return analyze
    raise AttributeError(f"module 'azdiag' has no attribute {name!r}")
