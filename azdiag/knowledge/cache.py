"""Validated knowledge kept between runs, keyed by the content it was built from.

Loading ``parsers/*.toml`` and ``rules/*.toml`` checks every regex against Python's ``re`` and
polars' engine, which costs more than the parse of a small collection. The outcome of a load
depends on nothing but the bytes of those files, the loader's own code and the regex engines,
so it is kept in the user's cache folder and reused while all of them are unchanged:

- the key hashes the path and bytes of every definition file read, the azdiag version, the
  bytes of this package's modules (a checkout changes code without changing the version), the
  Python version and the installed polars (its ``__init__.py`` path, size and time);
- a load that raises is never stored, so a bad definition gives its error on every run;
- a cache entry that cannot be read, does not unpickle, or holds another key is ignored and
  rebuilt; a folder that cannot be written is not an error (the load is just not kept);
- an entry not owned by the current user is never loaded (pickle and bytecode run code).

``AZDIAG_CACHE_DIR`` moves the cache (an empty value turns it off); the default is the
platform's user cache folder (``~/.cache/azdiag`` on Linux, ``XDG_CACHE_HOME`` honoured).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

#: Environment variable naming the cache folder; set and empty: no cache.
CACHE_ENV = "AZDIAG_CACHE_DIR"

T = TypeVar("T")


def cache_dir() -> Path | None:
    """The folder cache entries go in, or None when caching is turned off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured) if configured.strip() else None
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("azdiag", appauthor=False))


def content_key(kind: str, files: Iterable[Path], *extra: str) -> str:
    """A hash of ``kind``, the path and bytes of each of ``files`` (in order), ``extra`` and
    the code and engines a load depends on (see the module docstring). Raises OSError when a
    file cannot be read (the loader would fail on it too)."""
    digest = hashlib.sha256(_code_key().encode())
    digest.update(f"\0{kind}\0".encode())
    for path in files:
        digest.update(f"{path}\0".encode("utf-8", "surrogateescape"))
        content = path.read_bytes()
        digest.update(f"{len(content)}\0".encode())
        digest.update(content)
    for item in extra:
        digest.update(f"\0{item}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


@functools.cache
def _code_key() -> str:
    """What every entry depends on besides its files: azdiag's version and code, Python's
    version and the installed polars (whose regex engine the checks ran in)."""
    from importlib.util import find_spec

    from azdiag import __version__

    digest = hashlib.sha256(f"{__version__}\0{sys.version}\0".encode())
    package = Path(__file__).resolve().parent.parent
    for module in sorted(package.glob("knowledge/*.py")):
        digest.update(module.read_bytes())
    spec = find_spec("polars")
    if spec is not None and spec.origin:
        stat = os.stat(spec.origin)
        digest.update(f"{spec.origin}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def cached(slot: str, key: str, build: Callable[[], T]) -> T:
    """The value ``build()`` returned for ``key`` before, else ``build()`` (kept for next time).

    ``slot`` names the entry (one file per slot: a new key replaces the old one, so the cache
    does not grow with every edit of a definition). Exceptions of ``build`` propagate and
    nothing is stored.
    """
    folder = cache_dir()
    if folder is None:
        return build()
    entry = folder / f"{slot}.pickle"
    found = _read(entry, key)
    if found is not None:
        return cast(T, found[0])  # stored by this very code under this key: the same type
    value = build()
    _write(entry, key, value)
    return value


def _read(entry: Path, key: str) -> tuple[object] | None:
    """``(value,)`` stored under ``key`` in ``entry``, or None (missing, stale, unreadable)."""
    try:
        with entry.open("rb") as handle:
            if not _own(os.fstat(handle.fileno())):
                return None  # someone else's file: unpickling it would run their code
            stored_key, value = pickle.load(handle)
    except Exception:  # missing, truncated, from another version of a class: rebuild
        return None
    return (value,) if stored_key == key else None


def _own(stat: os.stat_result) -> bool:
    """True unless the file is known to belong to another user (POSIX only)."""
    return not hasattr(os, "getuid") or stat.st_uid == os.getuid()


def _write(entry: Path, key: str, value: object) -> None:
    """Store ``(key, value)`` in ``entry`` atomically; give up quietly when it cannot be."""
    temporary: Path | None = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "wb", dir=entry.parent, prefix=f".{entry.name}.", suffix=".tmp", delete=False
        ) as handle:
            temporary = Path(handle.name)
            pickle.dump((key, value), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, entry)
    except Exception:  # read-only or full disk, an unpicklable value: the run goes on uncached
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


def slot_name(kind: str, folders: Iterable[Path]) -> str:
    """The entry name for ``kind`` loaded from ``folders``: one entry per set of folders."""
    where = "\0".join(str(Path(f).resolve()) for f in folders)
    return f"{kind}-{hashlib.sha256(where.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"


def template_cache(configured_in: str) -> Any:
    """A Jinja2 bytecode cache under the cache folder, or None when caching is off.

    Jinja2 keys an entry on the template's name and checks the source's hash and Python's
    bytecode version when loading; the file ``configured_in`` (the module that sets up the
    Environment: its options shape the compiled code) and Jinja2's version go into the entry's
    name as well. A cache that cannot be read or written only costs the compile.
    """
    folder = cache_dir()
    if folder is None:
        return None
    import jinja2
    from jinja2.bccache import Bucket, FileSystemBytecodeCache

    salt = hashlib.sha256(f"{jinja2.__version__}\0{_code_key()}\0".encode())
    salt.update(Path(configured_in).read_bytes())

    class _QuietCache(FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Bucket) -> None:
            try:
                if not _own(os.stat(self._get_cache_filename(bucket))):
                    return  # someone else's file: loading its code would run it
                super().load_bytecode(bucket)
            except Exception:  # truncated or foreign file: compile afresh
                bucket.reset()

        def dump_bytecode(self, bucket: Bucket) -> None:
            try:
                folder = Path(self.directory)
                folder.mkdir(parents=True, exist_ok=True)
                super().dump_bytecode(bucket)
                kept = Path(self._get_cache_filename(bucket)).name
                for stale in folder.glob(f"{bucket.key}-*.jinja"):  # of an older azdiag
                    if stale.name != kept:
                        stale.unlink(missing_ok=True)
            except OSError:  # not writable: the next run compiles again
                pass

    return _QuietCache(str(folder / "templates"), f"%s-{salt.hexdigest()[:16]}.jinja")
