"""Safe, read-only access to what the user handed us: folders, zips (nested too) and gzip files.

Collections come from strangers' machines, so nothing here trusts them: archives are read in
place (never extracted, nothing is written anywhere), member names that would escape a folder
are refused, decompression runs in bounded chunks against real byte counts (header sizes lie in
zip bombs), symbolic links out of the input folder are not followed, and every failure becomes
an :class:`ArchiveError` with an inventory category instead of stopping the walk.

Longer than 500 lines on purpose: the limits, the refusals and the walk that applies them are
one safety boundary, read and reviewed together.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

_CHUNK = 1 << 20
_RATIO_FLOOR = 1 << 20  # the ratio is only checked once a member has produced this much
_CACHE_BYTES = 256 << 20  # nested archives kept in memory for later loads
_LIMIT_HINT = "set from this machine's memory; --max-bytes changes it"
_SESSION_HANDLES = 8  # open zip handles kept during a walk

Step = tuple[str, str]  # ("zip", member name as stored) or ("gz", "")


#: Memory the analysis takes per byte of log, at most: parsing a 1 GiB log (its lines, the
#: parsed columns, the sorted copy and the timeline) was measured at 15.9 GB peak RSS.
MEMORY_PER_LOG_BYTE = 16
_FALLBACK_MEMORY = 8 << 30  # when the platform does not say how much memory it has


def machine_memory() -> int:
    """Physical memory of this machine in bytes (8 GiB when the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return _FALLBACK_MEMORY


def default_expanded_bytes() -> int:
    """What archive members may expand to, all together: what this machine can analyse.

    Physical memory / MEMORY_PER_LOG_BYTE (1.5 GiB on a 24 GiB machine): a small zip can no
    longer ask for more memory than the machine has. ``--max-bytes`` changes it.
    """
    return machine_memory() // MEMORY_PER_LOG_BYTE


#: Files and archive members one input may hold. Each costs about 5 KB of bookkeeping and
#: 0.1 ms beyond its lines (its inventory row, its instance and generation; measured with 100,000
#: logs of 10 lines), so a zip of a million tiny members, a few MB compressed, would ask for 5 GB
#: and minutes: refused instead, before its directory is read when it says how many it holds.
#: Real collections hold a few thousand files (7,080 in the largest seen).
MAX_FILES = 50_000


@dataclass(frozen=True)
class Limits:
    """Bounds on decompression, so a hostile archive cannot exhaust memory or disk.

    The byte limits follow the machine (:func:`default_expanded_bytes`) unless given; the file
    count is fixed (:data:`MAX_FILES`).
    """

    max_member_bytes: int = field(default_factory=default_expanded_bytes)  # one member
    max_total_bytes: int = field(default_factory=default_expanded_bytes)  # all members
    max_ratio: float = 1000.0  # decompressed/compressed, checked for members > 1 MiB
    max_depth: int = 4  # nested archive layers (zip or gz)
    max_files: int = MAX_FILES  # files and archive members in one input, all together

    @classmethod
    def with_max_bytes(cls, max_bytes: int | None) -> Limits:
        """The machine's limits, or ``max_bytes`` for both byte limits when given."""
        if max_bytes is None:
            return cls()
        return cls(max_member_bytes=max_bytes, max_total_bytes=max_bytes)


class ArchiveError(Exception):
    """A file, member or archive could not be read; ``category`` names it in the inventory."""

    def __init__(self, category: str, reason: str) -> None:
        super().__init__(reason)
        self.category = category
        self.reason = reason


class Location(NamedTuple):
    """Where a file's bytes are: a file on disk, then archive steps applied outermost first.

    A named tuple, not a dataclass: it keys the reader's budget and caches, once or twice per
    member read, and a tuple hashes and compares in C."""

    path: str
    steps: tuple[Step, ...] = ()

    def then(self, kind: str, member: str = "") -> Location:
        return Location(self.path, (*self.steps, (kind, member)))


@dataclass
class Entry:
    """One file found by :func:`walk`: readable (``location``) or not (``problem``)."""

    display: str
    name: str  # base name; for gzip, the name without ".gz"
    location: Location | None
    size: int | None = None  # on-disk size, or the (untrusted) declared size of a member
    problem: tuple[str, str] | None = None  # (category, reason)


def _open_file(path: str) -> IO[bytes]:
    """The one place input files are opened, read-only (tests replace it to simulate errors)."""
    return open(path, "rb")


def format_size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.4g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class Reader:
    """Reads locations within :class:`Limits`; one per collection, shared by its sources.

    Keeps the running total of decompressed bytes (each member counted once, however often it
    is read) and a small cache of nested archives so loading their members later does not
    decompress the outer archive again. Usable from several threads.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._charged: dict[Location, int] = {}
        self._total = 0
        self._lock = threading.Lock()
        self._cache: OrderedDict[Location, bytes] = OrderedDict()
        self._handles: OrderedDict[Location, _Zip] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the limits and budget only (caches and handles stay in this process)."""
        return {"limits": self.limits, "charged": self._charged, "total": self._total}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["limits"])  # type: ignore[misc]
        self._charged, self._total = dict(state["charged"]), state["total"]

    @contextmanager
    def session(self) -> Iterator[None]:
        """A walk: the archives it opens stay open for the loads that follow (see :meth:`close`)."""
        yield

    def close(self) -> None:
        """Close the archives kept open (also done when the reader is garbage-collected)."""
        with self._lock:
            handles, self._handles = list(self._handles.values()), OrderedDict()
        for zf in handles:
            zf.close()

    def read(self, loc: Location, prefix: int | None = None) -> bytes:
        """All the bytes at ``loc`` (or the first ``prefix``), within the limits."""
        return self._pump(loc, stop_after=prefix, keep=None)[1]

    def verify(self, loc: Location, keep: int) -> tuple[int, bytes]:
        """Read ``loc`` to its end (CRC, truncation and limits checked); (size, first bytes)."""
        return self._pump(loc, stop_after=None, keep=keep)

    def open_zip(self, loc: Location) -> zipfile.ZipFile:
        """The zip archive at ``loc``, opened and its directory read once per reader."""
        return self._zip(loc)

    # -- internals --------------------------------------------------------------------------

    def _pump(
        self, loc: Location, *, stop_after: int | None, keep: int | None
    ) -> tuple[int, bytes]:
        parts: list[bytes] = []
        produced = kept = 0
        with ExitStack() as stack:
            try:
                stream, basis = self._stream(loc, stack)
                if basis is None and stop_after is None and keep is None:
                    # a plain file, read whole: one buffer, not 1 MiB chunks joined into a copy
                    data = stream.read()
                    return len(data), data
                while stop_after is None or produced < stop_after:
                    want = _CHUNK if stop_after is None else min(_CHUNK, stop_after - produced)
                    chunk = stream.read(want)
                    if not chunk:
                        break
                    produced += len(chunk)
                    if basis is not None:
                        self._check(loc, produced, basis)
                    if keep is None:
                        parts.append(chunk)
                    elif kept < keep:
                        parts.append(chunk[: keep - kept])
                        kept += len(parts[-1])
            except Exception as exc:  # hostile input: every failure is reported, none escapes
                raise _as_archive_error(exc) from exc
        return produced, b"".join(parts)

    def _check(self, loc: Location, produced: int, basis: Callable[[], int]) -> None:
        limits = self.limits
        if produced > limits.max_member_bytes:
            raise ArchiveError(
                "too-large",
                f"decompresses to more than {format_size(limits.max_member_bytes)} "
                f"(max_member_bytes, {_LIMIT_HINT}); stopped reading",
            )
        compressed = max(basis(), 1)
        if produced > _RATIO_FLOOR and produced > limits.max_ratio * compressed:
            raise ArchiveError(
                "too-large",
                f"compression ratio over {limits.max_ratio:g}:1 ({format_size(produced)} from "
                f"{format_size(compressed)}), a likely zip bomb; stopped reading",
            )
        with self._lock:
            before = self._charged.get(loc, 0)
            if produced > before:
                self._total += produced - before
                self._charged[loc] = produced
            over = self._total > limits.max_total_bytes
        if over:
            raise ArchiveError(
                "too-large",
                f"archive members together decompress to more than "
                f"{format_size(limits.max_total_bytes)} (max_total_bytes, {_LIMIT_HINT}); "
                "stopped reading",
            )

    def _stream(
        self, loc: Location, stack: ExitStack
    ) -> tuple[IO[bytes], Callable[[], int] | None]:
        """An open stream of the bytes at ``loc`` and how many compressed bytes fed it."""
        if not loc.steps:
            return stack.enter_context(_open_file(loc.path)), None
        kind, member = loc.steps[-1]
        parent = Location(loc.path, loc.steps[:-1])
        if kind == "zip":
            zf = self._zip(parent)
            info = zf.getinfo(member)
            if info.flag_bits & 0x1:
                raise ArchiveError("unreadable", "encrypted member (a password is needed)")
            # zipfile never reads past compress_size, nor can it read more than the archive
            # holds: the smaller of the two is a sound bound even when the header lies.
            compressed = min(info.compress_size, zf.container_size)
            return stack.enter_context(zf.open(info)), lambda: compressed
        inner, _ = self._stream(parent, stack)
        counter = _Counting(inner)
        unzipped = gzip.GzipFile(fileobj=counter, mode="rb")  # type: ignore[call-overload]
        return stack.enter_context(unzipped), counter.consumed

    def _zip(self, loc: Location) -> _Zip:
        """The archive at ``loc``: opened, and its directory read, once per reader.

        Re-opening an archive for each member would read its whole directory again each time
        (N members, N^2 work). The few most recent archives stay open; one pushed out is closed
        when the last read using it ends (it is only dropped here, never closed under a reader).
        """
        with self._lock:
            zf = self._handles.get(loc)
            if zf is not None:
                self._handles.move_to_end(loc)
                return zf
        raw: IO[bytes]
        if loc.steps:
            raw = io.BytesIO(self._materialize(loc))
        else:
            try:
                raw = _open_file(loc.path)
            except OSError as exc:
                raise ArchiveError("unreadable", exc.strerror or str(exc)) from exc
        try:
            size = raw.seek(0, io.SEEK_END)
            raw.seek(0)
            declared = _declared_members(raw)
            if declared > self.limits.max_files:
                raise too_many_files(self.limits.max_files, f"the archive lists {declared:,}")
            zf = _Zip(raw)
            zf.container_size = size
        except ArchiveError:
            raw.close()
            raise
        except Exception as exc:
            raw.close()
            raise ArchiveError("corrupt-archive", f"not a readable zip archive ({exc})") from exc
        with self._lock:
            kept = self._handles.setdefault(loc, zf)
            self._handles.move_to_end(loc)
            while len(self._handles) > _SESSION_HANDLES:
                self._handles.popitem(last=False)
        if kept is not zf:  # another thread opened it meanwhile
            zf.close()
        return kept

    def _materialize(self, loc: Location) -> bytes:
        """A nested archive's bytes (zip needs to seek), from the cache when possible."""
        with self._lock:
            data = self._cache.get(loc)
            if data is not None:
                self._cache.move_to_end(loc)
                return data
        data = self.read(loc)
        if len(data) <= _CACHE_BYTES // 2:
            with self._lock:
                self._cache[loc] = data
                while sum(len(v) for v in self._cache.values()) > _CACHE_BYTES:
                    self._cache.popitem(last=False)
        return data


def too_many_files(limit: int, found: str) -> ArchiveError:
    """The refusal of an input holding more than ``limit`` files (see :data:`MAX_FILES`)."""
    return ArchiveError(
        "too-many-files",
        f"more than {limit:,} files and archive members in one input ({found}; max_files): "
        "refused, as each costs time and memory beyond its lines and countless tiny members "
        "are a known zip bomb; analyse the collection in parts (one folder or archive per "
        "instance)",
    )


def _declared_members(raw: IO[bytes]) -> int:
    """How many members a zip's end record says it holds (0 when it cannot be read: opening
    the archive then says why), without reading its directory."""
    try:
        end = zipfile._EndRecData(raw)  # type: ignore[attr-defined]
    except Exception:
        end = None
    finally:
        raw.seek(0)
    return int(end[4]) if end else 0  # _ECD_ENTRIES_TOTAL


class _Zip(zipfile.ZipFile):
    """A zip archive that knows how many bytes the whole archive holds and owns its file."""

    container_size: int = 0

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw  # before the directory is read: close() may run if that fails
        super().__init__(raw)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


class _Counting:
    """A read-only stream wrapper counting the compressed bytes gzip has consumed."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self.count += len(data)
        return data

    def consumed(self) -> int:
        return self.count


def _as_archive_error(exc: Exception) -> ArchiveError:
    """The inventory category and a plain-words reason for a read failure."""
    if isinstance(exc, ArchiveError):
        return exc
    text = str(exc)
    if isinstance(exc, gzip.BadGzipFile):
        if text.startswith("Not a gzipped file"):
            return ArchiveError("corrupt-archive", f"not gzip data ({text})")
        return ArchiveError("corrupt-member", f"corrupt gzip data ({text})")
    if isinstance(exc, EOFError):
        return ArchiveError("corrupt-member", f"truncated compressed data ({text})")
    if isinstance(exc, zipfile.BadZipFile):
        return ArchiveError("corrupt-member", f"corrupt member data ({text})")
    if isinstance(exc, NotImplementedError):
        return ArchiveError(
            "unreadable", f"{text} (e.g. Deflate64 from Windows Explorer); re-pack it with Deflate"
        )
    if isinstance(exc, RuntimeError) and "encrypted" in text:
        return ArchiveError("unreadable", "encrypted member (a password is needed)")
    if isinstance(exc, KeyError):
        return ArchiveError("unreadable", f"member {text} is no longer in the archive")
    if isinstance(exc, PermissionError | FileNotFoundError | IsADirectoryError):
        return ArchiveError("unreadable", exc.strerror or text)
    return ArchiveError("corrupt-member", f"corrupt data ({type(exc).__name__}: {text})")


# -- walking ----------------------------------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_member_name(name: str) -> str | None:
    """Why a zip member name could escape an extraction folder, or None when it is safe."""
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        return "an absolute path"
    if norm[1:2] == ":" and _DRIVE.match(norm):
        return "a path with a drive letter"
    if ".." in norm and ".." in norm.split("/"):
        return "a path climbing out of the archive ('..')"
    if "\x00" in norm:
        return "a name containing a NUL byte"
    return None


def walk(root: str, reader: Reader) -> Iterator[Entry]:
    """Every file in ``root`` (a folder, zip, gz or plain file), archives opened in place.

    Run inside ``reader.session()``. Raises :class:`ArchiveError` only when ``root`` itself
    cannot be opened (a folder that cannot be listed, a corrupt zip) or holds more than
    ``reader.limits.max_files`` entries ("too-many-files"); everything below it becomes an
    :class:`Entry`.
    """
    limit = reader.limits.max_files
    for count, entry in enumerate(_walk(root, reader), 1):
        if count > limit:
            raise too_many_files(limit, "counted while reading it")
        yield entry


def _walk(root: str, reader: Reader) -> Iterator[Entry]:
    st = os.stat(root)
    if stat.S_ISDIR(st.st_mode):
        seen = {(st.st_dev, st.st_ino)}
        yield from _walk_dir(reader, root, (), os.path.realpath(root), seen)
    else:
        name = os.path.basename(os.path.normpath(root))
        as_name = name  # a file given by the user is opened by its content, whatever its name
        if not name.lower().endswith((".zip", ".gz")):
            magic = _magic(root)
            as_name += (
                ".zip" if magic[:4] in _ZIP_MAGIC else ".gz" if magic[:2] == b"\x1f\x8b" else ""
            )
        yield from _dispatch(reader, Location(root), name, as_name, 0, st.st_size, strict=True)


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _magic(path: str) -> bytes:
    try:
        with _open_file(path) as handle:
            return handle.read(4)
    except OSError:
        return b""  # the read that follows reports it


def _shown(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (a surrogate-escaped name) as ``\\xff``.

    Only for display and matching; the file is still opened by its real name.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return name


def _walk_dir(
    reader: Reader, folder: str, parts: tuple[str, ...], real_root: str, seen: set[tuple[int, int]]
) -> Iterator[Entry]:
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        reason = f"cannot list the folder: {exc.strerror or exc}"
        if not parts:
            raise ArchiveError("unreadable", reason) from exc
        yield Entry("/".join(parts), parts[-1], None, problem=("unreadable", reason))
        return
    for entry in entries:
        name = _shown(entry.name)
        sub = (*parts, name)
        display = "/".join(sub)
        try:
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if os.path.commonpath([target, real_root]) != real_root:
                    reason = f"symbolic link to {target}, outside the input: not followed"
                    yield Entry(display, name, None, problem=("unsafe-link", reason))
                    continue
            st = os.stat(entry.path)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            if entry.is_symlink():
                reason = f"broken symbolic link ({reason})"
            yield Entry(display, name, None, problem=("unreadable", reason))
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue  # reached a second time through a link
        seen.add((st.st_dev, st.st_ino))
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(reader, entry.path, sub, real_root, seen)
        elif stat.S_ISREG(st.st_mode):
            yield from _dispatch(reader, Location(entry.path), display, name, 0, st.st_size)
        else:
            reason = "not a regular file (device, pipe or socket): not opened"
            yield Entry(display, name, None, problem=("unreadable", reason))


def _dispatch(
    reader: Reader,
    loc: Location,
    display: str,
    name: str,
    depth: int,
    size: int | None,
    strict: bool = False,
) -> Iterator[Entry]:
    """Open containers by name (.zip, .gz); anything else is a file entry."""
    lower = name.lower()
    is_zip, is_gz = lower.endswith(".zip"), lower.endswith(".gz") and len(name) > 3
    if (is_zip or is_gz) and depth >= reader.limits.max_depth:
        reason = f"archive nested more than {reader.limits.max_depth} levels deep: not opened"
        yield Entry(display, name, None, problem=("too-deep", reason))
    elif is_zip:
        yield from _walk_zip(reader, loc, display, depth + 1, strict)
    elif is_gz:
        yield from _dispatch(reader, loc.then("gz"), display, name[:-3], depth + 1, None, strict)
    else:
        yield Entry(display, name, loc, size)


def _walk_zip(
    reader: Reader, loc: Location, display: str, depth: int, strict: bool
) -> Iterator[Entry]:
    try:
        zf = reader.open_zip(loc)
        infos = zf.infolist()
    except ArchiveError as exc:
        if strict:
            raise
        name = display.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
        yield Entry(display, name, None, problem=(exc.category, exc.reason))
        return
    last = {info.filename: i for i, info in enumerate(infos)}
    for i, info in enumerate(infos):
        stored = info.filename
        norm = stored.replace("\\", "/")
        if norm.endswith("/"):
            continue  # a folder entry
        member_display = f"{display}!{norm}"
        name = norm.rsplit("/", 1)[-1]
        why = unsafe_member_name(stored)
        if why:
            reason = f"member name {stored!r} is {why}: refused, not read"
            yield Entry(member_display, name, None, problem=("unsafe-member", reason))
        elif info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
            reason = "symbolic link member: not followed"
            yield Entry(member_display, name, None, problem=("unsafe-member", reason))
        elif last[stored] != i:
            reason = "a later member has the same name (that one is read, as unzip would)"
            yield Entry(member_display, name, None, problem=("duplicate-member", reason))
        else:
            member = loc.then("zip", stored)
            yield from _dispatch(reader, member, member_display, name, depth, info.file_size)
