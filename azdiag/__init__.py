"""azdiag: diagnostics for the guest logs of Azure Cloud Services (classic) role instances.

The package is a library first; ``azdiag.cli`` is a thin layer over it. Heavy modules (polars,
pandas) are imported lazily so that ``azdiag --help`` stays fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
