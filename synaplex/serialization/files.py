"""JSON files on disk: atomic, durable writes and checked reads.

A write goes to a temporary file in the target's folder, named
``.<target name>.<pid>.<random>.synaplex-tmp``; the file is flushed and fsynced, renamed over
the target with ``os.replace``, and the folder is fsynced, so that a crash leaves the old
file or the new one, never a part of one. A failed write removes its temporary file. A
killed one cannot, so every write first removes the *stale* temporaries of its folder:
those whose process is gone, or that are older than :data:`STALE_AFTER` seconds (no
write takes that long).

A read turns every way a file can be bad (missing, unreadable, not JSON, truncated, nested
deeper than :data:`MAX_NESTING`) into a :class:`~synaplex.errors.SavingError` that names
the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from typing import Any

from synaplex.backend.errors import SavingError

TEMP_SUFFIX = ".synaplex-tmp"
STALE_AFTER = 3600.0
# Deeper than any program, schema or variable value; shallow enough that rebuilding what
# a file holds never comes near Python's recursion limit.
MAX_NESTING = 100

_TEMPORARY = re.compile(r"\..*\.(\d+)\.[A-Za-z0-9_]+" + re.escape(TEMP_SUFFIX) + r"\Z", re.DOTALL)
# What saves and backups of earlier versions named their temporaries (no pid: removed by age).
_LEGACY_TEMPORARY = re.compile(r"\.(?:synaplex-[a-z0-9_]+\.json|backup\.[a-z0-9_]+)\.tmp\Z")


def write_json_atomically(filepath: str | os.PathLike, data: Any, indent: int | None = 2) -> None:
    """Write ``data`` as JSON to ``filepath``, atomically and durably."""
    filepath = os.fspath(filepath)
    try:
        text = json.dumps(data, indent=indent, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise SavingError(f"Cannot save {filepath!r}: the data is not JSON-serializable ({error}).",
                          path=filepath) from None
    write_text_atomically(filepath, text)


def write_text_atomically(filepath: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``filepath``: a temporary file, fsync, rename, fsync of the folder."""
    filepath = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(filepath))
    try:
        os.makedirs(directory, exist_ok=True)
        remove_stale_temporaries(directory)
        prefix = f".{os.path.basename(filepath)[:100]}.{os.getpid()}."
        descriptor, temporary = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=directory)
    except OSError as error:
        raise SavingError(f"Cannot save {filepath!r}: {error}.", path=filepath) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, filepath)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise SavingError(f"Cannot save {filepath!r}: {error}. The previous file, if any, is unchanged.",
                              path=filepath) from None
        raise
    fsync_directory(directory)


def fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (where the platform can: not on Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        descriptor = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a folder; the file itself was synced
    finally:
        os.close(descriptor)


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`write_text_atomically`."""
    return _TEMPORARY.match(name) is not None


def remove_stale_temporaries(directory: str) -> list[str]:
    """Remove the temporaries of killed writes in ``directory``; return their names."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        match = _TEMPORARY.match(name)
        if match is None and not _LEGACY_TEMPORARY.match(name):
            continue
        path = os.path.join(directory, name)
        try:
            age = now - os.lstat(path).st_mtime
        except OSError:
            continue
        pid = int(match.group(1)) if match else os.getpid()
        # A temporary of this process may be another thread's write in progress.
        if age > STALE_AFTER or (pid != os.getpid() and not _process_exists(pid)):
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(name)
    return removed


def _process_exists(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate it; rely on the age alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True  # another user's process, or a pid we cannot ask about
    return True


def read_text(filepath: str | os.PathLike, what: str = "file") -> str:
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise SavingError(f"Cannot load {filepath!r}: the file does not exist.", path=filepath)
    try:
        with open(filepath, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise SavingError(f"Cannot load {filepath!r}: the {what} cannot be read ({error}).", path=filepath) from None


def parse_json(text: str, filepath: str) -> Any:
    """``json.loads`` whose every failure is a SavingError naming the file."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        # An unterminated string runs to the end of the file; other errors at the very end
        # ("Expecting ',' delimiter", "Expecting value") also mean the text stops too early.
        truncated = error.msg.startswith("Unterminated") or error.pos >= len(text.rstrip())
        hint = " The file looks truncated." if truncated else ""
        raise SavingError(
            f"Cannot load {filepath!r}: it is not valid JSON ({error.msg} at line {error.lineno}, "
            f"column {error.colno}).{hint}",
            path=filepath,
        ) from None
    except RecursionError:  # the parser's own limit, far below a 10,000-deep file
        raise _too_deep_error(filepath) from None
    except ValueError as error:  # a number past Python's int conversion limit
        raise SavingError(f"Cannot load {filepath!r}: it is not valid JSON ({error}).", path=filepath) from None
    if too_deep(data):
        raise _too_deep_error(filepath)
    return data


def _too_deep_error(filepath: str) -> SavingError:
    return SavingError(f"Cannot load {filepath!r}: its JSON is nested more than {MAX_NESTING} levels deep, "
                       "deeper than any synaplex file.", path=filepath)


def too_deep(data: Any) -> bool:
    """Whether ``data`` (parsed JSON) nests more than :data:`MAX_NESTING` levels."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_NESTING:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
