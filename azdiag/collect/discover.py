"""The collect stage: what an upload holds, which role instance each log belongs to, in what order.

Uploads are whatever support engineers had at hand: a CollectGuestLogs zip, hand-copied folders
with drive letters as names, zips in zips, single gzipped files. So logs are found by name
anywhere (then by sniffing their first lines), everything else is listed with a category so the
report can say what the collection holds, and each log is put into a role instance from the
best evidence available (``<Role>_IN_<n>`` in its path or text, a DiagnosticStore folder, its
neighbours: weighed in :mod:`azdiag.collect.instances`) and numbered among its rotated copies
(:mod:`azdiag.collect.generations`). Reading is delegated to
:mod:`azdiag.collect.archive`, which never trusts the input.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import stat
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from azdiag.collect.archive import ArchiveError, Entry, Limits, Location, Reader, walk
from azdiag.collect.decode import Decoded, binary_category, decode, head_lines
from azdiag.collect.generations import generations
from azdiag.collect.instances import (
    Instance,
    RoleNames,
    instance_in_path,
    instance_in_text,
    place,
    role_in_path,
    role_in_text,
)
from azdiag.collect.readers import sniff as sniff_reader
from azdiag.collect.several import LogKey, sides
from azdiag.common.text import first_few

__all__ = ["CollectError", "Collection", "Limits", "LogSource", "SkippedItem", "discover"]

HEAD_BYTES = 64 << 10  # what is read of a file to sniff its kind and find instance names
#: Read to sniff a file whose head holds fewer than _SNIFF_MIN_LINES lines (a long first line).
LONG_HEAD_BYTES = 1 << 20
_SNIFF_MIN_LINES = 3
_SNIFF_LINE_CHARS = 4096  # a longer line is a blob, not a header to recognise a format by
#: A log up to KEEP_FILE_BYTES is read whole at discovery (an archive member is read to its end
#: anyway, to catch corruption and bombs): its bytes, and its decoded text when discovery
#: decoded it, are kept for the parse, so that each such file is read and decoded once, up to
#: KEEP_BYTES for the whole collection. Larger files, and small ones beyond that budget, are
#: read again when parsed (only their head now): memory stays bounded whatever the input holds.
KEEP_FILE_BYTES = 1 << 20
KEEP_BYTES = 64 << 20
SNIFF_LINES = 200  # lines of a head searched for an instance name
_DEFAULT_LIMITS = Limits()


class CollectError(Exception):
    """The input cannot be used at all (missing, unreadable, a corrupt archive)."""


class FormatLookup(Protocol):
    """What discovery needs of a FormatSet (tests may pass a small fake)."""

    def kind_for_name(self, name: str) -> str | None: ...

    def sniff(self, lines: list[str]) -> str | None: ...


@dataclass
class LogSource:
    """One log file of the collection, read on demand (archives are not unpacked up front)."""

    display: str  # path relative to the input; archive members as "a.zip!b.zip!x/y.log"
    name: str  # base name ("WaAppAgent.log" for a "WaAppAgent.log.gz")
    format_id: str
    detected_by: str  # "name" | "sniff"
    instance: str
    role: str | None
    generation: int  # 0 = current file, bigger = older
    size: int  # bytes, decompressed
    _location: Location | None = field(default=None, repr=False, compare=False)
    _reader: Reader | None = field(default=None, repr=False, compare=False)
    _kept: bytes | None = field(default=None, repr=False, compare=False)  # read at discovery
    _decoded: Decoded | None = field(default=None, repr=False, compare=False)  # of _kept

    def read_bytes(self) -> bytes:
        """The file's raw bytes, decompressed within the collection's limits.

        A small file's bytes read during discovery are handed over once (then let go), so a
        collection of many small files is read once, not twice."""
        if self._kept is not None:
            data, self._kept, self._decoded = self._kept, None, None
            return data
        return self._read()

    def load(self) -> Decoded:
        """The file's text (see :func:`azdiag.collect.decode.decode`); a small file decoded at
        discovery is handed over as it was decoded then, not decoded again."""
        if self._decoded is not None:
            decoded, self._kept, self._decoded = self._decoded, None, None
            return decoded
        return decode(self.read_bytes())

    def _peek(self) -> bytes:
        """The raw bytes without handing over what discovery kept (it is still to be parsed)."""
        return self._kept if self._kept is not None else self._read()

    def _read(self) -> bytes:
        if self._location is None or self._reader is None:
            raise CollectError(f"{self.display}: this source has no location to read from")
        try:
            return self._reader.read(self._location)
        except ArchiveError as exc:
            raise CollectError(f"{self.display}: {exc.reason}") from exc

    def disk_path(self) -> str | None:
        """The file's path when it is a plain file on disk (not inside an archive), else None:
        such a file can be read in pieces."""
        if self._location is None or self._location.steps:
            return None
        return self._location.path


@dataclass
class SkippedItem:
    """A file that is listed but not parsed, and why."""

    display: str
    category: str
    reason: str


@dataclass
class Collection:
    """The inventory of one input: its logs by instance, and everything else it holds."""

    input: str
    sources: list[LogSource]
    skipped: list[SkippedItem]
    warnings: list[str]
    instances: list[str]
    config_versions: dict[str, list[int]]
    #: top-level folders or archives of the input that each hold a collection of their own
    #: (the same instance's same log in each): several collections, not one; see ``triage``
    collections: list[str] = field(default_factory=list)
    #: top-level folders or archives beside the input's own folders (``RuntimeAndAgent/``, ...)
    #: that hold another collection (the same instance's same log): their logs are not read
    #: with it but listed as skipped "other-collection"; see ``azdiag.collect.several``
    beside: list[str] = field(default_factory=list)

    def several(self) -> str:
        """'N collections (a, b, c, d, e and 3 more)', as reports and triage name what they
        will not mix."""
        return f"{len(self.collections)} collections ({first_few(self.collections)})"


def discover(
    path: str | Path, formats: FormatLookup, *, limits: Limits = _DEFAULT_LIMITS
) -> Collection:
    """Inventory a folder, zip, gz or single log file without writing or extracting anything.

    Raises :class:`CollectError` only when the input itself is missing or unusable; problems
    with single files or members are listed in ``Collection.skipped``.
    """
    root = str(path)
    try:
        st = os.stat(root)
    except FileNotFoundError as exc:
        raise CollectError(f"{root}: no such file or folder") from exc
    except OSError as exc:
        raise CollectError(f"{root}: cannot access it ({exc.strerror or exc})") from exc
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise CollectError(f"{root}: not a folder, .zip, .gz or regular file")
    reader = Reader(limits)
    builder = _Builder(formats, reader)
    with reader.session(), _without_cycle_collection():
        try:
            for entry in walk(root, reader):
                builder.add(entry)
        except ArchiveError as exc:
            raise CollectError(f"{root}: {exc.reason}") from exc
        if stat.S_ISREG(st.st_mode):
            top = os.path.basename(os.path.normpath(root))
            for item in builder.skipped:
                if item.display == top and item.category in _FATAL_FOR_ROOT:
                    raise CollectError(f"{root}: {item.reason}")
        return builder.finish(root)


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while the inventory is built, as it was left after.

    Discovery makes a few objects per file and no reference cycles; with 100,000 files the
    collector's passes over everything alive cost 15-20 % of discovery for nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_FATAL_FOR_ROOT = {
    "unreadable",
    "corrupt-archive",
    "corrupt-member",
    "too-large",
    "too-deep",
    "unsupported-archive",
}

# -- what a file is, by name and by content -------------------------------------------------

_IIS_NAME = re.compile(r"^(?:u_)?(?:ex|in|nc)\d{4,}.*\.log$|^httperr\d*\.log$")
_IIS_FOLDER = re.compile(r"^(?:w3svc\d*|httperr|failedreqlogfiles)$")
_CONFIG_NAME = re.compile(
    r"^.+\.(?P<role>[A-Za-z][A-Za-z0-9_-]*?)_IN_(?P<n>\d+)\.(?P<version>\d+)\.xml$", re.IGNORECASE
)
_EXT_CATEGORY = {
    ".evtx": ("windows-event-log", "Windows event log: listed, not parsed yet"),
    ".etl": ("etw-trace", "ETW trace: listed, not parsed yet"),
    ".dmp": ("crash-dump", "crash dump: listed, not analysed"),
    ".mdmp": ("crash-dump", "crash dump: listed, not analysed"),
    ".hdmp": ("crash-dump", "crash dump: listed, not analysed"),
    ".cscfg": ("config-xml", "service configuration: listed, not parsed yet"),
    ".csdef": ("config-xml", "service definition: listed, not parsed yet"),
    ".config": ("config-xml", ".NET configuration: listed, not parsed yet"),
}
_ARCHIVE_EXTS = (".7z", ".rar", ".tar", ".tgz", ".cab", ".bz2", ".xz")
_PROGRAM_EXTS = (".exe", ".dll", ".pdb", ".sys", ".msi", ".cat")
_OS_METADATA = {".ds_store", "thumbs.db", "desktop.ini"}


def _category_by_name(parts: list[str], name: str) -> tuple[str, str] | None:
    """The inventory category a file's name (or folder) gives, for files that are not logs."""
    lower = name.lower()
    folders = [p.lower() for p in parts[:-1]]
    ext = os.path.splitext(lower)[1]
    if "__macosx" in folders or lower.startswith("._") or lower in _OS_METADATA:
        return "os-metadata", "operating-system metadata, not a log"
    if ext in _EXT_CATEGORY:
        return _EXT_CATEGORY[ext]
    if _IIS_NAME.match(lower) or any(_IIS_FOLDER.match(f) for f in folders):
        return "iis-log", "IIS log: listed, not parsed yet"
    if (
        _CONFIG_NAME.match(name)
        or lower == "rolemodel.xml"
        or (ext == ".xml" and "config" in folders)
    ):
        return "config-xml", "role configuration: listed, not parsed yet (its version is noted)"
    if ext in _ARCHIVE_EXTS:
        return "unsupported-archive", f"{ext} archives are not read: unpack it or re-pack as .zip"
    if ext in _PROGRAM_EXTS:
        return "binary", "program file"
    return None


def _category_by_content(head: bytes, lines: list[str]) -> tuple[str, str] | None:
    if head[257:262] == b"ustar":  # a tar file's magic, whatever its name
        return "unsupported-archive", "tar archive: not read; unpack it or re-pack it as .zip"
    binary = binary_category(head)
    if binary:
        category, what = binary
        return category, what if category == "binary" else f"{what}: listed, not parsed"
    first = next((line for line in lines if line.strip()), "")
    if first.startswith(("#Software: Microsoft Internet Information", "#Software: Microsoft HTTP")):
        return "iis-log", "IIS log: listed, not parsed yet"
    return None


def _split_display(display: str) -> list[str]:
    return [p for p in display.replace("!", "/").split("/") if p]


# -- building the collection ---------------------------------------------------------------


@dataclass
class _Found:
    """A log being collected, and the evidence that places it in an instance."""

    source: LogSource  # instance, role and generation are filled in by _Builder.finish
    parts: list[str]  # its display path, split at folders and archives
    explicit: Instance | None  # from the path, else the text
    role_hint: str | None  # from a DiagnosticStore folder
    # a checksum of its head, to spot the same file found twice: files that share it (and
    # instance, format and size) are then compared whole, so a cheap one is enough
    fingerprint: int
    text_role: str | None = None  # a role folder its text names, when nothing else places it

    @property
    def display(self) -> str:
        return self.source.display


class _Builder:
    """Accumulates entries from the walk, then groups and orders them."""

    def __init__(self, formats: FormatLookup, reader: Reader) -> None:
        self.formats = formats
        self.reader = reader
        self.found: list[_Found] = []
        self.skipped: list[SkippedItem] = []
        self.configs: list[tuple[list[str], Instance, int]] = []
        self.kept = 0  # bytes of small files kept for the parse (see KEEP_BYTES)

    def skip(self, display: str, category: str, reason: str) -> None:
        self.skipped.append(SkippedItem(display, category, reason))

    def add(self, entry: Entry) -> None:
        if entry.problem or entry.location is None:
            category, reason = entry.problem or ("unreadable", "no location")
            self.skip(entry.display, category, reason)
            return
        parts = _split_display(entry.display)
        fmt = self.formats.kind_for_name(entry.name)
        if fmt:
            self._accept(entry, parts, fmt, "name", None)
            return
        by_name = _category_by_name(parts, entry.name)
        if by_name:
            config = _CONFIG_NAME.match(entry.name)
            if config:
                instance = (config.group("role"), int(config.group("n")))
                self.configs.append((parts, instance, int(config.group("version"))))
            self.skip(entry.display, *by_name)
            return
        try:
            head = self.reader.read(entry.location, HEAD_BYTES)
        except ArchiveError as exc:
            self.skip(entry.display, exc.category, exc.reason)
            return
        if not head:
            self.skip(entry.display, "empty", "empty file: nothing to parse")
            return
        by_reader = sniff_reader(head)  # event and IIS logs: read by azdiag.collect.readers
        if by_reader:
            self._accept(entry, parts, by_reader, "sniff", head)
            return
        decoded = decode(head)
        lines = head_lines(decoded, SNIFF_LINES)
        by_content = _category_by_content(head, lines)
        if by_content:
            self.skip(entry.display, *by_content)
            return
        if len(head) == HEAD_BYTES and head.count(b"\n") < _SNIFF_MIN_LINES:
            # an overlong first line (a pasted blob) filled the head: sniff on the lines after it
            longer = self._longer_head(entry)
            if longer is not None:
                fmt = self.formats.sniff(longer[:50])
                if fmt:
                    self._accept(entry, parts, fmt, "sniff", None)
                    return
        fmt = self.formats.sniff(lines[:50])
        if not fmt:
            self.skip(entry.display, "unrecognised-text", "text in no known log format")
            return
        self._accept(entry, parts, fmt, "sniff", head, decoded, lines)

    def _longer_head(self, entry: Entry) -> list[str] | None:
        """The lines of the first LONG_HEAD_BYTES of a file, lines too long to be a header left
        out; None when they cannot be read."""
        if entry.location is None:
            return None
        try:
            head = self.reader.read(entry.location, LONG_HEAD_BYTES)
        except ArchiveError:
            return None
        lines = head_lines(decode(head), SNIFF_LINES)
        return [line for line in lines if len(line) <= _SNIFF_LINE_CHARS] or None

    def _accept(
        self,
        entry: Entry,
        parts: list[str],
        fmt: str,
        detected_by: str,
        head: bytes | None,
        decoded: Decoded | None = None,
        lines: list[str] | None = None,
    ) -> None:
        """Add a log: its size, head, instance evidence and, when small, its bytes for the parse.

        ``head``/``decoded``/``lines``: what sniffing already read of it, used as they are.
        """
        loc = entry.location
        assert loc is not None
        try:
            size, data = self._size_and_bytes(entry, loc, head)
        except ArchiveError as exc:
            self.skip(entry.display, exc.category, exc.reason)
            return
        if not data and (size or detected_by != "name"):
            self.skip(entry.display, "empty", "empty file: nothing to parse")
            return
        # a guest log known by its name is kept when empty: it was collected, and a needed
        # log that is there but empty is other advice than one never collected
        whole = len(data) == size
        head = data if len(data) <= HEAD_BYTES else data[:HEAD_BYTES]
        if decoded is not None and not (whole and len(data) == len(head)):
            decoded = None  # sniffing decoded a head only: not the text to parse
        # the text is searched only when the path names no instance; the file is decoded once,
        # for sniffing and this search, and a whole file's decoded text goes on to the parse
        explicit = instance_in_path(parts)
        role_hint = role_in_path(parts)
        text_role = None
        if explicit is None:
            if decoded is None:
                decoded = decode(data if whole else head)
            # in the head only, as for a file too large to keep; most heads name no instance
            if decoded.data.find(b"_IN_", 0, HEAD_BYTES) >= 0:
                text = lines or head_lines(decoded, SNIFF_LINES, HEAD_BYTES)
                explicit = instance_in_text(text)
            if explicit is None and role_hint is None:
                text_role = role_in_text(decoded.data, HEAD_BYTES)
        fingerprint = zlib.crc32(head)
        source = LogSource(entry.display, entry.name, fmt, detected_by, "", None, 0, size)
        source._location, source._reader = loc, self.reader
        kept = size + (len(decoded.data) if decoded and decoded.data is not data else 0)
        if whole and self.kept + kept <= KEEP_BYTES:  # the whole file: keep it for the parse
            source._kept, source._decoded = data, decoded
            self.kept += kept
        self.found.append(_Found(source, parts, explicit, role_hint, fingerprint, text_role))

    def _size_and_bytes(self, entry: Entry, loc: Location, head: bytes | None) -> tuple[int, bytes]:
        """The file's size and its bytes: all of them up to KEEP_FILE_BYTES while the budget
        lasts, else at least its first HEAD_BYTES (``head`` when sniffing read them already).

        An archive member is read to its end here, so that corruption and bombs show at
        discovery; a head shorter than HEAD_BYTES was such a read already (to the member's end,
        its checksum checked), so a small member is decompressed once.
        """
        keep = KEEP_FILE_BYTES if self.kept + KEEP_FILE_BYTES <= KEEP_BYTES else HEAD_BYTES
        if head is not None and len(head) < HEAD_BYTES:
            return (len(head) if loc.steps else entry.size or 0), head
        if loc.steps:
            return self.reader.verify(loc, keep)
        size = entry.size or 0
        if head is None and size:
            head = self.reader.read(loc) if size <= keep else self.reader.read(loc, HEAD_BYTES)
        return size, head or b""

    def finish(self, root: str) -> Collection:
        placing: list[str] = []  # the placement's warnings: placed again when some are set aside
        roles = self._place(placing)
        warnings: list[str] = []
        self.found = self._without_copies(warnings)
        skip = 0 if os.path.isdir(root) else 1
        split = sides(((f.parts, _log_key(f)) for f in self.found), skip)
        if split.beside:
            # their evidence must not place this collection's logs: placed again without them
            warnings.append(self._set_aside(split.beside, skip))
            placing = []
            roles = self._place(placing)
        warnings = placing + warnings
        by_group: dict[tuple[str, str], list[LogSource]] = {}
        for found in self.found:
            key = (found.source.instance, found.source.format_id)
            by_group.setdefault(key, []).append(found.source)
        for members in by_group.values():
            numbers = generations([s.name for s in members])
            for source, number in zip(members, numbers, strict=True):
                source.generation = number
        sources = sorted(
            (f.source for f in self.found),
            key=lambda s: (s.instance, s.format_id, s.generation, s.display),
        )
        versions: dict[str, set[int]] = {}
        for _, inst, version in self.configs:
            versions.setdefault(roles.instance(inst), set()).add(version)
        config_versions = {k: sorted(v) for k, v in sorted(versions.items())}
        instances = sorted({s.instance for s in sources} | set(config_versions))
        skipped = sorted(self.skipped, key=lambda s: (s.display, s.category))
        several = split.several
        collection = Collection(root, sources, skipped, warnings, instances, config_versions)
        collection.collections, collection.beside = several, split.beside
        if several:
            warnings.append(
                f"{collection.several()} in one input: "
                "analyse them with 'azdiag triage', one report each"
            )
        return collection

    def _place(self, warnings: list[str]) -> RoleNames:
        """Put each log found into its instance (see :func:`place`); the role names known."""
        roles = RoleNames(
            [f.explicit[0] for f in self.found if f.explicit]
            + [f.role_hint for f in self.found if f.role_hint]
            + [inst[0] for _, inst, _ in self.configs]
        )
        placed = place(self.found, self.configs, roles, warnings)
        for found, (instance, role) in zip(self.found, placed, strict=True):
            found.source.instance, found.source.role = instance, role
        return roles

    def _set_aside(self, beside: list[str], skip: int) -> str:
        """Leave out the logs and configurations in ``beside`` (entries of the input that hold
        another collection, see :func:`sides`), each log listed as skipped "other-collection";
        the warning that says so."""
        tops = set(beside)
        depth = 1 + max(top.count("/") for top in beside)  # all lie at one depth

        def aside(parts: list[str]) -> bool:
            return "/".join(parts[skip : skip + depth]) in tops

        kept = []
        for found in self.found:
            if not aside(found.parts):
                kept.append(found)
                continue
            top = "/".join(found.parts[skip : skip + depth])
            reason = (
                f"in {top}, another collection beside this one's own folders (the same "
                "instance's same logs): not mixed into it; analyse it on its own"
            )
            self.skip(found.display, "other-collection", reason)
        self.found = kept
        self.configs = [config for config in self.configs if not aside(config[0])]
        return (
            f"{len(beside)} other collection(s) beside this collection's own folders, holding "
            f"the same instance's same logs again, not read with it: {first_few(beside)}; "
            "'azdiag triage' on this folder gives each its own row and report"
        )

    def _without_copies(self, warnings: list[str]) -> list[_Found]:
        """The logs found, each content once: a folder beside its own zip is read once.

        Files that could be copies (same instance, format, size and checksum of the first
        64 KiB) are compared whole; the copies are listed as skipped "duplicate", pointing at
        the file that is read (a file on disk before an archive member, then by path).
        """
        candidates: dict[tuple[str, str, int, int], list[_Found]] = {}
        for f in self.found:
            key = (f.source.instance, f.source.format_id, f.source.size, f.fingerprint)
            candidates.setdefault(key, []).append(f)
        copies: set[int] = set()
        for group in candidates.values():
            if len(group) < 2:
                continue
            by_content: dict[bytes, _Found] = {}
            for f in sorted(group, key=_preference):
                try:
                    digest = hashlib.blake2b(f.source._peek(), digest_size=16).digest()
                except CollectError:
                    continue  # read later and reported then
                first = by_content.setdefault(digest, f)
                if first is not f:
                    copies.add(id(f))
                    reason = f"same content as {first.display}: read once"
                    self.skip(f.display, "duplicate", reason)
        if copies:
            warnings.append(
                f"{len(copies)} file(s) are copies of others (same content) and were read once"
            )
        return [f for f in self.found if id(f) not in copies]


def _log_key(found: _Found) -> LogKey:
    """What one collection holds once: an instance's log of one format and name."""
    return (found.source.instance, found.source.format_id, found.source.name.lower())


def _preference(found: _Found) -> tuple[int, str]:
    """Which of identical files is read: fewest archive layers, then by path."""
    location = found.source._location
    return (len(location.steps) if location else 0, found.display)
