"""Safe loading: a program file is data.

Loading a file (``Program.load``, ``synaplex.saving.load_program``,
``deserialize_synaplex_object``) runs inside a *loading scope* that holds its policy: safe
mode (the default) and what the caller allows. The few places where rebuilding an object
would start a process, import code, read environment variables, send the environment's
credentials to an endpoint the file names, or create files ask :func:`require` first, and
a refusal (:class:`~synaplex.errors.UnsafeLoadError`) names the field as a JSON path in
the file (``program.config.modules[1].config.tools[0].config.connection.command``) and
says how to opt in. As in Keras, the outermost load's policy governs every nested
``deserialize_synaplex_object`` call, and a direct ``from_config`` call outside any load is
code written by the user, hence trusted.

The capabilities that ``allow=`` takes are the keys of :data:`CAPABILITIES`;
``safe_mode=False`` allows them all.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

from synaplex.backend.errors import InvalidInputError, UnsafeLoadError

CAPABILITIES: dict[str, str] = {
    "processes": "start processes (an MCP server run over stdio)",
    "imports": "import code it names (a scripted model's responses callable)",
    "environment": "read environment variables (${VAR} templates in MCP headers and env)",
    "credentials": "have the environment's credentials (API keys, provider headers) sent to an endpoint "
                   "it names (api_base)",
    "files": "create files (a disk cache)",
}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_SEARCH_DEPTH = 8


@dataclasses.dataclass
class _Scope:
    safe_mode: bool
    allow: frozenset
    custom_objects: dict | None
    filepath: str | None
    frames: list  # (JSON path, raw config) of the objects being rebuilt, innermost last

    def permits(self, capability: str) -> bool:
        return not self.safe_mode or capability in self.allow


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("synaplex_loading_scope", default=None)


def check_policy(safe_mode: Any, allow: Any, custom_objects: Any = None) -> frozenset:
    """Validate the arguments of a loader; return ``allow`` as a frozenset."""
    if not isinstance(safe_mode, bool):
        raise InvalidInputError(f"safe_mode must be True or False, got {safe_mode!r:.80}.")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise InvalidInputError(
            f"custom_objects must be a dict {{name: class or function}}, got {type(custom_objects).__name__}.")
    names = ", ".join(map(repr, CAPABILITIES))
    if allow is None:
        return frozenset()
    if isinstance(allow, str) or not isinstance(allow, (list, tuple, set, frozenset)):
        raise InvalidInputError(
            f"allow must be a tuple of capability names such as ('processes',), got {allow!r:.80}. "
            f"The capabilities are {names}.")
    for item in allow:
        if item not in CAPABILITIES:
            raise InvalidInputError(f"allow: unknown capability {item!r:.80}; the capabilities are {names}.")
    return frozenset(allow)


@contextlib.contextmanager
def loading_scope(*, safe_mode: bool = True, allow: Any = (), custom_objects: dict | None = None,
                  filepath: str | None = None, root: Any = None) -> Iterator[_Scope]:
    """Open the scope of one load, or join the scope already open (whose policy governs).

    ``root`` is the raw data being loaded (the whole file), where nested objects are found.
    """
    current = _SCOPE.get()
    if current is not None:
        yield current
        return
    scope = _Scope(safe_mode, check_policy(safe_mode, allow, custom_objects), custom_objects, filepath,
                   [("", root)])
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_scope() -> _Scope | None:
    return _SCOPE.get()


@contextlib.contextmanager
def rebuilding(path: str, raw: Any) -> Iterator[None]:
    """Mark the object at ``path`` (its raw serialized dict) as the one being rebuilt."""
    scope = _SCOPE.get()
    if scope is None:
        yield
        return
    scope.frames.append((path, raw))
    try:
        yield
    finally:
        scope.frames.pop()


def join(path: str, key: str | int) -> str:
    """``path`` extended by a key (``.name`` or ``["odd name"]``) or an index (``[3]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = str(key)
    if not _IDENTIFIER.match(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def locate(value: Any) -> str:
    """The JSON path of ``value`` (a dict or list taken from the file), found by identity in
    the object being rebuilt; that object's path when it cannot be found (a copy)."""
    scope = _SCOPE.get()
    if scope is None:
        return ""
    base, raw = scope.frames[-1]
    queue = collections.deque([(raw, ())])
    while queue:
        node, keys = queue.popleft()
        if node is value:
            path = base
            for key in keys:
                path = join(path, key)
            return path
        if len(keys) >= _SEARCH_DEPTH:
            continue
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            if isinstance(child, (dict, list)):
                queue.append((child, (*keys, key)))
    return base


def field_path(field: str | tuple) -> str:
    """The JSON path of ``field`` (a key, or a tuple of keys) of the object being rebuilt."""
    scope = _SCOPE.get()
    path = join(scope.frames[-1][0] if scope is not None else "", "config")
    for key in (field,) if isinstance(field, (str, int)) else field:
        path = join(path, key)
    return path


def permits(capability: str) -> bool:
    """Whether the current load allows ``capability`` (always outside a load: code is trusted)."""
    scope = _SCOPE.get()
    return scope is None or scope.permits(capability)


def custom_objects() -> dict | None:
    """The current load's ``custom_objects``."""
    scope = _SCOPE.get()
    return None if scope is None else scope.custom_objects


def require(capability: str, field: str | tuple, action: str, hint: str = "") -> None:
    """Refuse, inside a safe load that does not allow ``capability``, what the file asks for.

    ``field`` is where, in the config of the object being rebuilt; ``action`` completes
    "<field> would ..."; ``hint`` is another way out than opting in.
    """
    scope = _SCOPE.get()
    if scope is None or scope.permits(capability):
        return
    where = field_path(field)
    noun = "file" if scope.filepath else "config"
    prefix = (f"Cannot load {scope.filepath!r} in safe mode" if scope.filepath
              else "Cannot rebuild this config in safe mode")
    raise UnsafeLoadError(
        f"{prefix}: {where} would {action}. A {'program ' if scope.filepath else ''}{noun} is data: loading it "
        f"may not {CAPABILITIES[capability]} unless you opt in. {hint + ' ' if hint else ''}If you trust this "
        f"{noun}, load it with allow=({capability!r},) or safe_mode=False.",
        path=scope.filepath, field=where, capability=capability)
