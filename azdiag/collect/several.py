"""Several collections in one input: which top-level entries hold a collection each.

One collection holds each log of an instance once. When two top-level folders or archives of
an input both hold, say, WebRole1_IN_0's WaAppAgent.log (and not as copies: discovery drops
those first), the input holds several collections side by side, e.g. a customer folder of
incidents months apart. A collection's *own* folders (``RuntimeAndAgent/``, ``Resources/``,
``<Role>_IN_<n>/``: what CollectGuestLogs writes, or C:\\Logs copied by hand) are one collection
together, however the logs spread over them; so a folder with its own folders and, beside them,
a zip or folder holding the same instance's logs again is that one collection, with another one
beside it (a customer's ``old-logs.zip``), not several to refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["LAYOUT_FOLDERS", "OWN_FOLDERS", "Sides", "is_own_folder", "sides"]

#: Folder names (lower case) of a collection's own layout (CollectGuestLogs, or C:\Logs copied
#: by hand): one of them right inside a folder makes it look like a collection.
LAYOUT_FOLDERS = frozenset(
    {"runtimeandagent", "resources", "config", "logs", "windowsazure", "plugins"}
)
#: Folders a collection has of its own: its layout's, and event and IIS log folders.
OWN_FOLDERS = LAYOUT_FOLDERS | {"eventlogs", "logfiles"}

#: (instance, format id, file name in lower case): a log one collection holds once.
LogKey = tuple[str, str, str]


def is_own_folder(name: str) -> bool:
    """True for a folder name of a collection's own layout, or a ``<Role>_IN_<n>`` folder."""
    lower = name.lower()
    return lower in OWN_FOLDERS or "_in_" in lower


@dataclass(frozen=True)
class Sides:
    """How the top-level entries of an input divide into collections (paths relative to the
    input, folders joined by "/", below the folders that wrap everything)."""

    #: entries that each hold a collection, none of them the input's own: not one collection
    several: list[str]
    #: entries beside the input's own folders that hold another collection: set aside
    beside: list[str]


def _shared_folders(folders: list[list[str]]) -> int:
    """How many leading folder names every one of ``folders`` has in common."""
    shared = 0
    for names in zip(*folders, strict=False):  # to the shortest: a log in a shared folder stops it
        if len(set(names)) != 1:
            break
        shared += 1
    return shared


def sides(logs: Iterable[tuple[list[str], LogKey]], skip: int) -> Sides:
    """Which top-level entries of an input hold a collection of their own.

    ``logs``: each log's path split at folders and archives, and its key. ``skip``: 1 when the
    input is an archive (its own name is the first part of every path). Folders that wrap
    everything (a ticket folder around a customer folder) are looked through.

    An entry is *beside* when it holds a log that exactly one of the input's own folders holds
    too; the entries that still share a log then (two own folders, or two entries with no own
    folder among them) are *several*, and then nothing is set aside: which is the input's own
    collection cannot be told, so the input is refused whole, as it always was.
    """
    logs = list(logs)
    depth = skip + _shared_folders([parts[skip:-1] for parts, _ in logs])
    tops_of: dict[LogKey, set[str]] = {}
    own: set[str] = set()
    for parts, key in logs:
        if len(parts) < depth + 2:
            continue  # a log right in the input folder belongs to no sub-collection
        top = "/".join(parts[skip : depth + 1])
        if is_own_folder(parts[depth]):
            own.add(top)
        tops_of.setdefault(key, set()).add(top)
    shared = [tops for tops in tops_of.values() if len(tops) > 1]
    beside = {top for tops in shared if len(tops & own) == 1 for top in tops - own}
    if any(len(tops - beside) > 1 for tops in shared):
        colliding = {top for tops in shared for top in tops}
        if colliding <= own:  # one collection's own folders holding a log twice: name those
            return Sides(sorted(colliding), [])
        # one log in two of them shows the input is collections side by side: then every entry
        # holding a log is one, those of other instances too (as triage splits it), not only
        # the entries that collide
        return Sides(sorted({top for tops in tops_of.values() for top in tops}), [])
    return Sides([], sorted(beside))
