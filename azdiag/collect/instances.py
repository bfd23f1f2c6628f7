"""Which role instance each log belongs to, from the best evidence the collection offers.

Hand-made collections rarely say it plainly: the instance may be named in a folder
(``<Role>_IN_<n>``), in the file's own text, only as a role (a ``<Role>.DiagnosticStore``
folder), or not at all, when the neighbouring files have to tell. This module reads those clues
and weighs them; :mod:`azdiag.collect.discover` gathers them while it walks the input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

from azdiag.common.text import first_few

__all__ = [
    "DEFAULT_INSTANCE",
    "UNASSIGNED",
    "Clues",
    "Instance",
    "RoleNames",
    "instance_in_path",
    "instance_in_text",
    "place",
    "role_in_path",
    "role_in_text",
    "role_of_instance",
]

UNASSIGNED = "(unassigned)"
#: The one instance of a collection in which nothing names an instance or a role (a lone
#: WaHostBootstrapper.log, say): said plainly, in the same form as UNASSIGNED. A fixed string:
#: JSON readers may compare with it (docs/report-json.md).
DEFAULT_INSTANCE = "(unnamed instance)"

# "_IN_" is matched as written (upper case) so that words like "sign_in_2" are not taken.
_INSTANCE = re.compile(r"(?<![A-Za-z0-9_-])([A-Za-z][A-Za-z0-9_-]*?)_IN_(\d+)(?!\d)")
_DIAGNOSTIC_STORE = re.compile(r"^(?:.*\.)?([A-Za-z][A-Za-z0-9_-]*)\.DiagnosticStore$", re.I)
# C:\Resources\Directory\<deployment>.<Role>\ (and temp\<deployment>.<Role>\RoleTemp): the
# deployment id is 32 hex digits, which keeps ordinary dotted folder names out
_DEPLOYMENT_ROLE = re.compile(r"^[0-9A-Fa-f]{32}\.([A-Za-z][A-Za-z0-9_-]*)$")
_INSTANCE_NAME = re.compile(r"^(.+)_IN_\d+$")
# the same folders written in a log's text: "Set ACLs on C:\Resources\Directory\<32 hex>.
# WebRole1.DiagnosticStore for the role account."
_ROLE_FOLDER_IN_TEXT = re.compile(
    rb"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32}\.([A-Za-z][A-Za-z0-9_-]*)(?:\.DiagnosticStore)?(?![A-Za-z0-9_.-])"
)

Instance = tuple[str, int]  # (role as written, instance number)


class Clues(Protocol):
    """What :func:`place` needs to know of one log."""

    @property
    def display(self) -> str: ...  # its path as shown to the user

    @property
    def parts(self) -> list[str]: ...  # that path, split at folders and archives

    @property
    def explicit(self) -> Instance | None: ...  # named in the path, else in the text

    @property
    def role_hint(self) -> str | None: ...  # from a DiagnosticStore folder

    @property
    def text_role(self) -> str | None: ...  # a role folder its text names (role_in_text)


def instance_in_path(parts: list[str]) -> Instance | None:
    """The nearest ``<Role>_IN_<n>`` in a path (the file name included)."""
    for part in reversed(parts):
        found = _INSTANCE.findall(part) if "_IN_" in part else None
        if found:
            role, n = found[-1]
            return role, int(n)
    return None


def instance_in_text(lines: list[str]) -> Instance | None:
    """The ``<Role>_IN_<n>`` named most often in a file's head (first seen wins ties)."""
    counts: dict[tuple[str, int], int] = {}
    spelled: dict[tuple[str, int], str] = {}
    # one search of the words that can hold one (a name never spans a space): the pattern is
    # tried at every position of what it is given, a plain substring test is not
    text = "\n".join(
        word for line in lines if "_IN_" in line for word in line.split() if "_IN_" in word
    )
    for role, n in _INSTANCE.findall(text):
        key = (role.lower(), int(n))
        counts[key] = counts.get(key, 0) + 1
        spelled.setdefault(key, role)
    if not counts:
        return None
    key = max(counts, key=lambda k: counts[k])  # max keeps the first of equal counts
    return spelled[key], key[1]


def role_in_path(parts: list[str]) -> str | None:
    """The role a ``<Role>.DiagnosticStore`` or ``<deployment>.<Role>`` folder of the path names."""
    for part in reversed(parts[:-1]):
        if "." not in part:  # both name the role after a dot
            continue
        match = _DIAGNOSTIC_STORE.match(part) or _DEPLOYMENT_ROLE.match(part)
        if match:
            return match.group(1)
    return None


def role_in_text(text: bytes, end: int) -> str | None:
    """The role a ``<deployment>.<Role>[.DiagnosticStore]`` folder under ``C:\\Resources``
    named in a log's UTF-8 ``text`` (up to ``end``) gives: the guest agent sets ACLs on it, a
    role's own logs write under it. The first one named; None when none is."""
    # those folders are under C:\Resources: a plain search spares the pattern most files
    if text.find(b"esources", 0, end) < 0:
        return None
    match = _ROLE_FOLDER_IN_TEXT.search(text, 0, end)
    return match.group(1).decode("ascii") if match else None


class RoleNames:
    """One spelling per role name, whatever case each piece of evidence used."""

    def __init__(self, spellings: list[str]) -> None:
        self._canon: dict[str, str] = {}
        for spelling in sorted(set(spellings)):
            self._canon.setdefault(spelling.lower(), spelling)

    def role(self, spelling: str) -> str:
        return self._canon.get(spelling.lower(), spelling)

    def instance(self, inst: Instance) -> str:
        return f"{self.role(inst[0])}_IN_{inst[1]}"


def place(
    found: Sequence[Clues],
    configs: list[tuple[list[str], Instance, int]],
    roles: RoleNames,
    warnings: list[str],
) -> list[tuple[str, str | None]]:
    """(instance, role) for each found log, from its own evidence, else its neighbours'.

    Explicit names first; then DiagnosticStore files join the one instance of their role (or a
    role-named instance when none is known); then files with no marker join the instance of the
    nearest folder whose files name exactly one, or the only instance; else "(unassigned)".
    When nothing names an instance or a role folder, the files are one instance, named after the
    one role their texts name (``role_in_text``), else DEFAULT_INSTANCE, "(unnamed instance)".
    """
    evidence: list[tuple[list[str], str]] = [(p, roles.instance(i)) for p, i, _ in configs]
    placed: dict[int, tuple[str, str | None]] = {}
    for i, f in enumerate(found):
        if f.explicit:
            placed[i] = (roles.instance(f.explicit), roles.role(f.explicit[0]))
            evidence.append((f.parts, placed[i][0]))
    index = _index(evidence)
    known_roles = {_role_of(n) for _, n in evidence}  # once, not once per file
    nearest = _memo(_nearest)
    hinted: list[tuple[list[str], str]] = []
    for i, f in enumerate(found):
        if i not in placed and f.role_hint:
            role = roles.role(f.role_hint)
            known = role.lower() in known_roles
            name = nearest(f.parts, index, role.lower()) if known else role
            placed[i] = (name or UNASSIGNED, role)
            if name:
                hinted.append((f.parts, name))
    evidence += hinted
    index = _index(evidence)
    nearest = _memo(_nearest)
    alone = None if evidence else _only_role_in_text(found, placed, roles)
    for i, f in enumerate(found):
        if i not in placed:
            name = nearest(f.parts, index, None) if evidence else (alone or DEFAULT_INSTANCE)
            placed[i] = (name or UNASSIGNED, role_of_instance(name) if name else None)
    lost = [f.display for i, f in enumerate(found) if placed[i][0] == UNASSIGNED]
    if lost:
        known_names = sorted({n for _, n in evidence})
        warnings.append(
            f"{len(lost)} log file(s) could not be tied to one of the instances "
            f"({', '.join(known_names)}) and are grouped as {UNASSIGNED}: {first_few(lost)}"
        )
    return [placed[i] for i in range(len(found))]


def _only_role_in_text(
    found: Sequence[Clues], placed: dict[int, tuple[str, str | None]], roles: RoleNames
) -> str | None:
    """The one role the unplaced logs' texts name, when they name exactly one: the name of a
    collection's only instance when nothing else names it."""
    named = {
        roles.role(f.text_role).lower(): roles.role(f.text_role)
        for i, f in enumerate(found)
        if i not in placed and f.text_role
    }
    return next(iter(named.values())) if len(named) == 1 else None


def _role_of(instance: str) -> str:
    return (role_of_instance(instance) or instance).lower()


def role_of_instance(instance: str) -> str | None:
    """The role of an instance id: before ``_IN_``, else the whole id; None for the names that
    stand for no instance named in the logs (DEFAULT_INSTANCE, UNASSIGNED)."""
    if instance in (DEFAULT_INSTANCE, UNASSIGNED):
        return None
    match = _INSTANCE_NAME.match(instance)
    return match.group(1) if match else instance


def _index(evidence: list[tuple[list[str], str]]) -> dict[tuple[str, ...], set[str]]:
    """For every folder, the instances its files name (the folder itself included)."""
    by_folder: dict[tuple[str, ...], set[str]] = {}  # files of a folder share its ancestors
    for parts, name in evidence:
        by_folder.setdefault(tuple(parts[:-1]), set()).add(name)
    index: dict[tuple[str, ...], set[str]] = {}
    for folder, names in by_folder.items():
        for depth in range(len(folder) + 1):
            index.setdefault(folder[:depth], set()).update(names)
    return index


_Nearest = Callable[[list[str], dict[tuple[str, ...], set[str]], str | None], str | None]


def _memo(find: _Nearest) -> _Nearest:
    """``find`` answered once per folder and role: it reads only the folders of a path, and
    the files of one folder (thousands, in a zip of many small logs) all get the same answer."""
    answers: dict[tuple[tuple[str, ...], str | None], str | None] = {}

    def cached(
        parts: list[str], index: dict[tuple[str, ...], set[str]], role: str | None
    ) -> str | None:
        key = (tuple(parts[:-1]), role)
        if key not in answers:
            answers[key] = find(parts, index, role)
        return answers[key]

    return cached


def _nearest(
    parts: list[str], index: dict[tuple[str, ...], set[str]], role: str | None
) -> str | None:
    """The one instance named under the nearest enclosing folder; None when ambiguous."""
    for depth in range(len(parts) - 1, -1, -1):
        names = index.get(tuple(parts[:depth]), set())
        if role is not None:
            names = {n for n in names if _role_of(n) == role}
        if len(names) == 1:
            return next(iter(names))
        if len(names) > 1:
            return None
    return None
