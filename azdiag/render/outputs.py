"""Writing outputs so that no input is ever destroyed and no reader sees half a file.

Every report, timeline and triage file goes through :func:`write_atomic`: the bytes go to a
temporary file beside the target (same folder, so the same file system), which is then renamed
over it. A full disk or a crash leaves the old file whole and no partial one behind; a symbolic
link at the target is replaced, never written through. :func:`check_target` refuses, before any
work is done, a target that is (or lies inside) an input, after resolving links on both sides.
Files get the mode the umask gives (0644 by default), like any file the user creates.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["OutputError", "OutputRefused", "check_folder", "check_target", "write_atomic"]


class OutputError(Exception):
    """The output could not be written (disk full, no permission); nothing was replaced."""


class OutputRefused(OutputError):
    """The output path is not allowed: an input, inside one, a folder, or no parent folder."""


def _clash(target: Path, inputs: Iterable[str | Path]) -> str | None:
    """Why ``target`` would overwrite or land inside one of ``inputs``, or None."""
    real = Path(os.path.realpath(target))
    for given in inputs:
        source = Path(os.path.realpath(given))
        if real == source:
            return f"is the input {given}"
        if source.is_dir() and real.is_relative_to(source):
            return f"is inside the input {given}"
    return None


def check_target(target: Path, inputs: Iterable[str | Path]) -> None:
    """Refuse a report/timeline file path that could destroy an input or cannot be written.

    Raises :class:`OutputRefused` with a one-line reason: the path is an input or inside one
    (links resolved), an existing folder, something other than a regular file (a device, a
    pipe), or its parent folder does not exist.
    """
    why = _clash(target, inputs)
    if why:
        raise OutputRefused(f"{target}: {why}; choose another output")
    if target.is_dir():
        raise OutputRefused(f"{target}: is a folder; give a file name")
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None  # absent, or a dangling link: the rename replaces the link itself
    except OSError as exc:
        raise OutputRefused(f"{target}: cannot use it ({exc.strerror or exc})") from exc
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputRefused(f"{target}: not a regular file (a device or pipe); give a file name")
    parent = target.parent
    if not parent.is_dir():
        raise OutputRefused(f"{target}: the folder {parent} does not exist; create it first")


def check_folder(folder: Path, inputs: Iterable[str | Path]) -> None:
    """Refuse an output folder that is an input, inside one, or an existing file."""
    why = _clash(folder, inputs)
    if why:
        raise OutputRefused(f"{folder}: {why}; choose another output folder")
    if folder.exists() and not folder.is_dir():
        raise OutputRefused(f"{folder}: exists and is not a folder")


_umask_lock = threading.Lock()


def _file_mode() -> int:
    """0666 less the process umask: the mode ``open()`` would give a new file."""
    with _umask_lock:  # reading the umask means setting it; no other thread in between
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def write_atomic(target: Path, data: str | bytes | Callable[[Path], None]) -> None:
    """Write ``data`` (text as UTF-8, bytes, or a function writing a path) to ``target``.

    Text that cannot be encoded (file names with undecodable bytes) is written with backslash
    escapes instead of failing. Raises :class:`OutputError` when the write fails; the target is
    then untouched and the temporary file removed.
    """
    target = Path(target)
    parent = target.parent
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write there ({exc.strerror or exc})") from exc
    try:
        os.fchmod(handle, _file_mode())
        if callable(data):
            os.close(handle)
            data(Path(temporary))
        else:
            raw = data.encode("utf-8", errors="backslashreplace") if isinstance(data, str) else data
            with os.fdopen(handle, "wb") as out:
                out.write(raw)
        os.replace(temporary, target)
    except Exception as exc:  # the disk, not the data: ENOSPC, EIO, a writer's own I/O error
        Path(temporary).unlink(missing_ok=True)
        if not isinstance(exc, OSError) and not callable(data):
            raise
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise OutputError(f"{target}: could not be written ({reason})") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
