"""MCP tools: the tools of Model Context Protocol servers as synaplex :class:`Tool` objects.

:class:`MultiServerMCPClient` connects to one or more MCP servers (a local command over stdio,
or a URL over streamable HTTP) with the official ``mcp`` SDK (``pip install "synaplex[mcp]"``)
and turns their tools into :class:`MCPTool` objects that agents, ``Action`` and language
models use like any other :class:`Tool`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import tempfile
import urllib.parse
from typing import Any, Self

from synaplex.backend.errors import InvalidInputError, MissingDependencyError, SynaplexError
from synaplex.modules.tool import Tool
from synaplex.serialization import register_synaplex_serializable, safe_mode

_log = logging.getLogger("synaplex.mcp")

TRANSPORTS = ("stdio", "streamable_http")
_ALIASES = {"stdio": "stdio", "streamable_http": "streamable_http", "streamable-http": "streamable_http",
            "http": "streamable_http"}
_KEYS = {
    "stdio": ("transport", "command", "args", "env", "cwd"),
    "streamable_http": ("transport", "url", "headers", "timeout", "sse_read_timeout"),
}
_INSTALL = 'pip install "synaplex[mcp]"'
_STDERR_TAIL = 2000
_TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Values saved with a program: a whole ``${VAR}``, optionally after an HTTP auth scheme.
_SAVEABLE = re.compile(r"(?:(?:Bearer|Basic|Token) )?\$\{[A-Za-z_][A-Za-z0-9_]*\}")


class MCPConnectionError(SynaplexError, ConnectionError):
    """An MCP server could not be started or reached, or it closed the connection.

    The message names the server, its transport, the command line (stdio) or the URL (HTTP)
    and the underlying error; for stdio it ends with what the server wrote to stderr.

    Attributes:
        server_name: the server's name in the client's connections.
        transport: ``"stdio"`` or ``"streamable_http"``.
        stderr: the end of the server's stderr (stdio), or ``None``.
    """

    def __init__(self, message: str, server_name: str, transport: str, stderr: str | None = None):
        super().__init__(message)
        self.server_name = server_name
        self.transport = transport
        self.stderr = stderr


class MCPToolError(SynaplexError, RuntimeError):
    """An MCP tool answered with an error result (``isError``); the message is the server's."""


def _mcp():
    try:
        import mcp  # noqa: PLC0415 - optional: the mcp extra
    except ImportError:
        raise MissingDependencyError(f"MCP tools need the mcp package. Install it with: {_INSTALL}") from None
    return mcp


# --------------------------------------------------------------------------- connections


def _normalize_connection(server_name: Any, connection: Any) -> dict:
    """Check one connection dict and return a copy with the canonical transport name."""
    if not isinstance(server_name, str) or not server_name:
        raise InvalidInputError(f"MCP server names must be non-empty strings, got {server_name!r}.")
    where = f"MCP server {server_name!r}"
    if not isinstance(connection, dict):
        raise InvalidInputError(
            f"{where}: the connection must be a dict such as {{'transport': 'stdio', 'command': 'python', "
            f"'args': ['server.py']}} or {{'transport': 'streamable_http', 'url': 'http://...'}}, "
            f"got {type(connection).__name__}."
        )
    connection = dict(connection)
    transport = connection.get("transport")
    if transport is None:  # inferred when unambiguous
        if "command" in connection and "url" not in connection:
            transport = "stdio"
        elif "url" in connection and "command" not in connection:
            transport = "streamable_http"
        else:
            raise InvalidInputError(
                f"{where}: the connection needs a 'transport' key, one of {', '.join(map(repr, TRANSPORTS))} "
                "('http' is an alias of 'streamable_http')."
            )
    if not isinstance(transport, str) or transport not in _ALIASES:
        raise InvalidInputError(
            f"{where}: unknown transport {transport!r}; valid transports are "
            f"{', '.join(map(repr, TRANSPORTS))} ('http' is an alias of 'streamable_http')."
        )
    transport = _ALIASES[transport]
    connection["transport"] = transport
    unknown = [key for key in connection if key not in _KEYS[transport]]
    if unknown:
        raise InvalidInputError(
            f"{where}: unknown key {unknown[0]!r} for transport {transport!r}; valid keys are "
            f"{', '.join(map(repr, _KEYS[transport]))}."
        )
    if transport == "stdio":
        command = connection.get("command")
        if "command" not in connection:
            raise InvalidInputError(f"{where}: the stdio transport needs a 'command' (e.g. 'python').")
        if not isinstance(command, str) or not command.strip():
            raise InvalidInputError(f"{where}: 'command' must be a non-empty string, got {command!r:.80}.")
        args = connection.setdefault("args", [])
        if isinstance(args, tuple):
            args = connection["args"] = list(args)
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise InvalidInputError(f"{where}: 'args' must be a list of strings, got {args!r:.80}.")
        _check_str_mapping(where, "env", connection.get("env"))
        cwd = connection.get("cwd")
        if cwd is not None:
            if not isinstance(cwd, (str, os.PathLike)):
                raise InvalidInputError(f"{where}: 'cwd' must be a path, got {cwd!r:.80}.")
            connection["cwd"] = os.fspath(cwd)
    else:
        url = connection.get("url")
        if "url" not in connection:
            raise InvalidInputError(
                f"{where}: the streamable_http transport needs a 'url' (e.g. 'http://127.0.0.1:8000/mcp')."
            )
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https") \
                or not urllib.parse.urlsplit(url).netloc:
            shown = _safe_url(url) if isinstance(url, str) else repr(url)
            raise InvalidInputError(f"{where}: 'url' must be an http:// or https:// URL, got {shown:.100}.")
        _check_str_mapping(where, "headers", connection.get("headers"))
        for key in ("timeout", "sse_read_timeout"):
            value = connection.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise InvalidInputError(f"{where}: {key!r} must be a positive number of seconds, got {value!r}.")
    return connection


def _check_str_mapping(where: str, key: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: {key!r} must be a dict of strings, got {type(value).__name__}.")
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            # the value is never shown: it may be a secret
            raise InvalidInputError(f"{where}: {key!r} must map strings to strings; entry {name!r} is not a string "
                                    f"(its value is a {type(item).__name__}).")


def _expand(where: str, key: str, values: dict | None) -> dict | None:
    """Expand ``${VAR}`` templates in header or env values from ``os.environ``."""
    if values is None:
        return None

    def substitute(match: re.Match, name: str) -> str:
        variable = match.group(1)
        if variable not in os.environ:
            raise InvalidInputError(
                f"{where}: {key} entry {name!r} uses ${{{variable}}}, but the environment variable "
                f"{variable} is not set."
            )
        return os.environ[variable]

    return {name: _TEMPLATE.sub(lambda m, n=name: substitute(m, n), value) for name, value in values.items()}


def _safe_url(url: str) -> str:
    """The URL without credentials: no userinfo, query values replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        query = "&".join(f"{pair.partition('=')[0]}=***" if "=" in pair else pair for pair in query.split("&"))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# --------------------------------------------------------------------------- secrets
#
# Secrets never reach a saved file, a log or an error message: header and env values are
# saved only as ``${VAR}`` templates, and arguments and URLs lose what carries a credential
# by rule: a flag or parameter whose name says so (``--api-key x``, ``--token=x``,
# ``API_KEY=x``, ``?access_token=x``), a URL's userinfo, and values shaped like the usual
# tokens. Over-redaction is the safe side.

_MASK = "[REDACTED]"
_SECRET_NAME_PARTS = ("auth", "key", "token", "secret", "cookie", "password", "passwd", "credential",
                      "session", "signature")
_ASSIGNMENT = re.compile(r"(-{0,2})([A-Za-z_][A-Za-z0-9_.-]*)=(.*)", re.DOTALL)
_FLAG = re.compile(r"-{1,2}([A-Za-z][A-Za-z0-9_.-]*)")
_TOKEN_VALUE = re.compile(
    r"(?:sk|rk|pk)[-_][A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[aboprs]-[\w-]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|glpat-[\w-]{20,}|hf_[A-Za-z0-9]{30,}"
    r"|eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+|(?:Bearer|Basic|Token) \S+|-----BEGIN [A-Z ]*PRIVATE KEY-----")
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s'\"<>]+@")
_QUERY_PARAM = re.compile(r"([?&;])([^=&#\s'\"<>?]+)=([^&#\s'\"<>]*)")


def _is_secret_name(name: str) -> bool:
    lowered = urllib.parse.unquote(name).lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS) or lowered == "sig"


def _redact_text(text: str) -> str:
    """``text`` with URL userinfo, secret query values and token-shaped values masked."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{_MASK}@", text)
    text = _QUERY_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}={_MASK}" if _is_secret_name(m.group(2))
                            else m.group(0), text)
    return _TOKEN_VALUE.sub(_MASK, text)


def _redact_args(args: list[str]) -> tuple[list[str], list[int]]:
    """The arguments with their secrets masked, and the indices of those changed."""
    shown, changed = [], []
    after_secret_flag = False
    for index, arg in enumerate(args):
        assignment = _ASSIGNMENT.fullmatch(arg)
        if after_secret_flag and not arg.startswith("-"):
            new = _MASK
        elif assignment and _is_secret_name(assignment.group(2)):
            new = f"{assignment.group(1)}{assignment.group(2)}={_MASK}"
        else:
            new = _redact_text(arg)
        flag = _FLAG.fullmatch(arg)
        after_secret_flag = bool(flag and _is_secret_name(flag.group(1)))
        shown.append(new)
        if new != arg:
            changed.append(index)
    return shown, changed


def _saveable_url(url: str) -> tuple[str, list[str]]:
    """The URL without userinfo and secret query parameters, and what was removed."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return _redact_text(url), ["url"]
    removed = ["userinfo"] if "@" in parts.netloc else []
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _is_secret_name(k) and not _TOKEN_VALUE.search(v)]
    removed += [k for k, v in pairs if (k, v) not in kept]
    if not removed:
        return url, []
    query = urllib.parse.urlencode(kept) if len(kept) != len(pairs) else parts.query
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, query,
                                    parts.fragment)), removed


def _secret_values(connection: dict) -> list[str]:
    """Every value of ``connection`` that may be a secret, as given and as expanded."""
    values = []
    for key in ("headers", "env"):
        for value in (connection.get(key) or {}).values():
            values.append(value)
            values.extend(os.environ.get(name, "") for name in _TEMPLATE.findall(value))
    args = connection.get("args") or []
    values.extend(args[i] for i in _redact_args(args)[1])
    return sorted((v for v in values if len(v) >= 5), key=len, reverse=True)


def _redact_output(text: str, connection: dict) -> str:
    """A server's output (stderr) without the connection's secrets."""
    for value in _secret_values(connection):
        text = text.replace(value, _MASK)
    return _redact_text(text)


def _describe(connection: dict) -> str:
    """Transport and target, without secrets: header and env names only."""
    if connection["transport"] == "stdio":
        args = _redact_args(connection.get("args", []))[0]
        text = f"transport stdio, command: {shlex.join([connection['command'], *args])}"
        if connection.get("env"):
            text += f", env: {', '.join(connection['env'])}"
        return text
    text = f"transport streamable_http, url: {_safe_url(connection['url'])}"
    if connection.get("headers"):
        text += f", headers: {', '.join(connection['headers'])}"
    return text


def _saveable_connection(connection: dict) -> dict:
    """The connection as saved with a program, without secrets: literal header and env values
    are dropped, and so are the secrets of the arguments and the URL (``"redacted"`` says
    which)."""
    saved = {key: value for key, value in connection.items() if key not in ("headers", "env")}
    redacted: dict[str, list] = {}
    if connection.get("args"):
        saved["args"], indices = _redact_args(connection["args"])
        if indices:
            redacted["args"] = indices
    if connection.get("url"):
        saved["url"], removed = _saveable_url(connection["url"])
        if removed:
            redacted["url"] = removed
    for key in ("headers", "env"):
        values = connection.get(key)
        if not values:
            continue
        kept = {name: value for name, value in values.items() if _SAVEABLE.fullmatch(value)}
        dropped = [name for name in values if name not in kept]
        if kept:
            saved[key] = kept
        if dropped:
            redacted[key] = dropped
    if redacted:
        saved["redacted"] = redacted
    return saved


def _leaf(error: BaseException) -> BaseException:
    """The first meaningful leaf of nested exception groups."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        leaves = [e for e in error.exceptions if not isinstance(e, asyncio.CancelledError)]
        error = (leaves or list(error.exceptions))[0]
    return error


def _is_protocol_error(error: BaseException) -> bool:
    try:
        from mcp.shared.exceptions import MCPError  # noqa: PLC0415 - optional: the mcp extra
    except ImportError:
        return False
    return isinstance(error, MCPError)


def _is_connection_lost(error: BaseException) -> bool:
    error = _leaf(error)
    if _is_protocol_error(error):
        return error.code == -32000  # CONNECTION_CLOSED
    return type(error).__name__ in ("ClosedResourceError", "BrokenResourceError", "EndOfStream")


def _error_text(error: BaseException) -> str:
    error = _leaf(error)
    if _is_protocol_error(error):
        return f"MCPError {error.code}: {getattr(error, 'message', '')}"
    text = str(error).strip()
    if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in text:
        text = f"{text}: {error.filename!r}"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# --------------------------------------------------------------------------- sessions


class _Session:
    """One open MCP session: the ``mcp.Client`` lives in ``task``, which entered and will exit it."""

    def __init__(self, loop, errlog):
        self.loop = loop
        self.errlog = errlog
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.client = None
        self.error: BaseException | None = None

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    def stderr(self) -> str | None:
        """The end of what the server wrote to stderr (read without moving the file position)."""
        if self.errlog is None or self.errlog.closed:
            return None
        try:
            self.errlog.flush()
            descriptor = self.errlog.fileno()
            size = os.fstat(descriptor).st_size
            start = max(0, size - 4 * _STDERR_TAIL)
            data = os.pread(descriptor, size - start, start)
        except (OSError, ValueError, AttributeError):
            return None
        return data.decode("utf-8", errors="replace")[-_STDERR_TAIL:].strip()

    def close_errlog(self) -> None:
        if self.errlog is not None:
            with contextlib.suppress(OSError):
                self.errlog.close()


class MultiServerMCPClient:
    """Connect to MCP servers and use their tools as synaplex tools.

    ``connections`` maps a server name to its connection:

    - stdio (a local process): ``{"transport": "stdio", "command": "python", "args": ["server.py"],
      "env": {...}, "cwd": "..."}``; ``env`` is added to a minimal inherited environment
      (``PATH``, ``HOME``, ...), as the MCP SDK does.
    - streamable HTTP: ``{"transport": "streamable_http", "url": "http://127.0.0.1:8000/mcp",
      "headers": {...}, "timeout": 30, "sse_read_timeout": 300}`` (``"http"`` is an alias).

    ``transport`` may be left out when the dict has only ``command`` or only ``url``. Header and
    env values may contain ``${VAR}`` templates, expanded from ``os.environ`` at connect time;
    they are never shown in errors or reprs (names only), and only whole ``${VAR}`` templates
    (optionally after ``Bearer``/``Basic``/``Token``) are saved with a program (see :class:`MCPTool`).

    Each server gets one persistent session, opened on first use in the running event loop
    (one stdio process serves every call) and reopened if the loop changed (a new
    ``asyncio.run``) or the session ended. ``await client.aclose()``, or ``async with``, closes
    them all and stops stdio processes; the client can be used again afterwards. A server that
    cannot start, cannot be reached, or takes longer than ``startup_timeout`` seconds raises
    :class:`MCPConnectionError`.

    Tool names must be unique across servers: if two servers expose the same name,
    :meth:`get_tools` raises ``InvalidInputError`` naming both servers, unless
    ``tool_name_prefix=True``, which names every tool ``"<server>_<tool>"``.

    Example:
        >>> client = synaplex.MultiServerMCPClient({
        ...     "math": {"url": "http://127.0.0.1:8183/mcp/", "transport": "streamable_http"},
        ...     "files": {"command": "python", "args": ["server.py"], "transport": "stdio"},
        ... })
        >>> tools = await client.get_tools()
        >>> agent = synaplex.FunctionCallingAgent(tools=tools, language_model=lm)
    """

    def __init__(self, connections: dict[str, dict], startup_timeout: float = 30.0, *,
                 tool_name_prefix: bool = False):
        if not isinstance(connections, dict):
            raise InvalidInputError(
                "MultiServerMCPClient takes a dict {server_name: connection}, got "
                f"{type(connections).__name__}."
            )
        if isinstance(startup_timeout, bool) or not isinstance(startup_timeout, (int, float)) or startup_timeout <= 0:
            raise InvalidInputError(f"startup_timeout must be a positive number of seconds, got {startup_timeout!r}.")
        self.connections = {name: _normalize_connection(name, c) for name, c in connections.items()}
        self.startup_timeout = float(startup_timeout)
        self.tool_name_prefix = bool(tool_name_prefix)
        self._sessions: dict[str, _Session] = {}
        self._starting: dict[str, asyncio.Task] = {}

    # ------------------------------------------------------------------ public API

    async def get_tools(self, server_name: str | None = None, *, timeout: float | None = None) -> list[MCPTool]:
        """The tools of one server, or of every server, as :class:`MCPTool` objects.

        ``timeout`` (seconds) bounds each call of each tool (see :class:`Tool`).
        """
        names = [self._check_server(server_name)] if server_name is not None else list(self.connections)
        listings = await asyncio.gather(*(self.list_tools(name) for name in names))
        tools: list[MCPTool] = []
        owners: dict[str, str] = {}
        for name, listing in zip(names, listings):
            for mcp_tool in listing:
                tool_name = f"{name}_{mcp_tool.name}" if self.tool_name_prefix else mcp_tool.name
                if tool_name in owners:
                    raise InvalidInputError(
                        f"MCP servers {owners[tool_name]!r} and {name!r} both have a tool named {tool_name!r}. "
                        "Take the tools of one server at a time (get_tools(server_name=...)) or create the "
                        "client with tool_name_prefix=True to name tools '<server>_<tool>'."
                    )
                owners[tool_name] = name
                tools.append(MCPTool(self, name, mcp_tool.name, description=mcp_tool.description,
                                     parameters=dict(mcp_tool.input_schema), name=tool_name,
                                     timeout=timeout))
        return tools

    async def list_tools(self, server_name: str) -> list:
        """The server's tools as the MCP SDK's ``Tool`` objects (every page)."""
        self._check_server(server_name)
        tools, cursor = [], None
        for _ in range(1000):
            page = await self._request(server_name, "list_tools",
                                       lambda client, c=cursor: client.list_tools(cursor=c, cache_mode="refresh"))
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def call_tool(self, server_name: str, tool_name: str, arguments: dict | None = None) -> Any:
        """Call a tool of a server and convert its result.

        Returns the structured content (``x`` for ``{"result": x}``), else the text content
        (JSON-decoded when it parses), else a list of content dicts (images, resources, ...).
        Raises :class:`MCPToolError` with the server's message when the tool reports an error.
        """
        self._check_server(server_name)
        result = await self._request(server_name, f"tool {tool_name!r}",
                                     lambda client: client.call_tool(tool_name, arguments or {}))
        return _convert_result(result, server_name, tool_name)

    async def aclose(self) -> None:
        """Close every session (stdio processes are stopped). The client can be used again."""
        for task in list(self._starting.values()):
            if not task.done() and task.get_loop() is _running_loop():
                await _cancel(task)
        self._starting.clear()
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(self._close_session(s) for s in sessions))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        servers = ", ".join(f"{name!r}: {_describe(c)}" for name, c in self.connections.items())
        return f"<MultiServerMCPClient {{{servers}}}>"

    # ------------------------------------------------------------------ sessions

    def _check_server(self, server_name: Any) -> str:
        if server_name not in self.connections:
            raise InvalidInputError(
                f"Unknown MCP server {server_name!r}; this client's servers are "
                f"{', '.join(map(repr, self.connections)) or '(none)'}."
            )
        return server_name

    async def _request(self, server_name: str, what: str, send):
        session = await self._session(server_name)
        try:
            return await send(session.client)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if session.alive and not _is_connection_lost(error):
                if _is_protocol_error(error):  # unknown tool, invalid arguments, ...: the session goes on
                    raise MCPToolError(f"MCP server {server_name!r} rejected {what}: {_error_text(error)}") from error
                raise
            # The server went away: forget the session (the next call opens a new one) and say why.
            if self._sessions.get(server_name) is session:
                del self._sessions[server_name]
            session.stop.set()
            if session.task is not None:
                await asyncio.wait({session.task}, timeout=5)
            stderr = session.stderr()
            await self._close_session(session)
            raise self._connection_error(
                server_name, f"the connection was lost during {what}", session.error or error, stderr
            ) from error

    async def _session(self, server_name: str) -> _Session:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(server_name)
        if session is not None:
            if session.loop is loop and session.alive:
                return session
            del self._sessions[server_name]  # its loop ended, or the server went away
            if session.loop is loop or session.loop.is_closed():
                session.close_errlog()
        starting = self._starting.get(server_name)
        if starting is None or starting.get_loop() is not loop or starting.done():
            starting = loop.create_task(self._open(server_name), name=f"synaplex-mcp-open-{server_name}")
            starting.add_done_callback(_retrieve)
            self._starting[server_name] = starting
        return await asyncio.shield(starting)

    async def _open(self, server_name: str) -> _Session:
        try:
            return await self._open_session(server_name)
        finally:
            if self._starting.get(server_name) is asyncio.current_task():
                del self._starting[server_name]

    async def _open_session(self, server_name: str) -> _Session:
        mcp = _mcp()
        connection = self.connections[server_name]
        where = f"MCP server {server_name!r}"
        loop = asyncio.get_running_loop()
        if connection["transport"] == "stdio":
            env = _expand(where, "env", connection.get("env"))
            parameters = mcp.StdioServerParameters(command=connection["command"], args=connection.get("args", []),
                                                   env=env, cwd=connection.get("cwd"))
            session = _Session(loop, tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace"))

            def transport(stack):
                from mcp.client.stdio import stdio_client  # noqa: PLC0415 - optional: the mcp extra

                return stdio_client(parameters, errlog=session.errlog)
        else:
            headers = _expand(where, "headers", connection.get("headers"))
            session = _Session(loop, None)

            async def transport(stack):
                import httpx2  # noqa: PLC0415 - heavy: only for an HTTP server
                from mcp.client.streamable_http import streamable_http_client  # noqa: PLC0415 - optional: the mcp extra

                timeout = connection.get("timeout", 30.0)
                http = await stack.enter_async_context(httpx2.AsyncClient(
                    headers=headers,
                    timeout=httpx2.Timeout(timeout, read=connection.get("sse_read_timeout", max(timeout, 300.0)))))
                return streamable_http_client(connection["url"], http_client=http)

        ready = loop.create_future()
        session.task = loop.create_task(self._own(mcp, session, transport, ready),
                                        name=f"synaplex-mcp-session-{server_name}")
        try:
            session.client = await asyncio.wait_for(asyncio.shield(ready), self.startup_timeout)
        except TimeoutError:
            await _cancel(session.task)
            stderr = session.stderr()
            session.close_errlog()
            raise self._connection_error(
                server_name, f"the server did not finish starting within {self.startup_timeout:g} s", None, stderr
            ) from None
        except asyncio.CancelledError:
            await _cancel(session.task)
            session.close_errlog()
            raise
        except Exception as error:
            await asyncio.wait({session.task})
            stderr = session.stderr()
            session.close_errlog()
            raise self._connection_error(server_name, "could not connect", error, stderr) from error
        self._sessions[server_name] = session
        return session

    @staticmethod
    async def _own(mcp, session: _Session, transport, ready: asyncio.Future) -> None:
        """The session's owner task: enters the ``mcp.Client``, waits for ``stop``, exits it."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                made = transport(stack)
                if asyncio.iscoroutine(made):
                    made = await made
                client = await stack.enter_async_context(mcp.Client(made))
                if ready.done():  # the opener gave up (timeout or cancellation)
                    return
                ready.set_result(client)
                await session.stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except Exception as error:
            session.error = error
            if not ready.done():
                ready.set_exception(error)
            else:
                _log.debug("MCP session ended: %s", _error_text(error))

    async def _close_session(self, session: _Session) -> None:
        try:
            if session.task is None or session.task.done():
                return
            if session.loop is _running_loop():
                session.stop.set()
                await asyncio.wait({session.task}, timeout=10)
                if not session.task.done():
                    await _cancel(session.task)
            elif not session.loop.is_closed():
                session.loop.call_soon_threadsafe(session.stop.set)
        finally:
            session.close_errlog()

    def _connection_error(self, server_name: str, what: str, error: BaseException | None,
                          stderr: str | None) -> MCPConnectionError:
        connection = self.connections[server_name]
        message = f"MCP server {server_name!r} ({_describe(connection)}): {what}"
        if error is not None:
            message += f": {_redact_output(_error_text(error), connection)}"
        message += "."
        leaf = _leaf(error) if error is not None else None
        if isinstance(leaf, OSError) and connection["transport"] == "stdio":
            if connection.get("cwd") and leaf.filename is not None and os.fspath(leaf.filename) == connection["cwd"]:
                message += " Check that the working directory (cwd) exists."
            elif isinstance(leaf, (FileNotFoundError, PermissionError)):
                message += " Check that the command exists and is on PATH (or give its full path)."
        elif connection["transport"] == "streamable_http" and "connect" in type(leaf).__name__.lower():
            message += " Check that the server is running and listening at that URL."
        if stderr:
            stderr = _redact_output(stderr, connection)
            message += f"\nThe server's stderr ends with:\n{stderr}"
        elif connection["transport"] == "stdio":
            message += " The server wrote nothing to stderr."
        return MCPConnectionError(message, server_name, connection["transport"], stderr)


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _retrieve(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()


async def _cancel(task: asyncio.Task) -> None:
    """Cancel ``task`` and wait for it to end (a cancellation of the caller still propagates)."""
    task.cancel()
    await asyncio.wait({task})


# --------------------------------------------------------------------------- results


def _convert_result(result, server_name: str, tool_name: str) -> Any:
    content = list(getattr(result, "content", None) or [])
    texts = [item.text for item in content if getattr(item, "type", None) == "text"]
    if getattr(result, "is_error", False):
        message = "\n".join(texts).strip() or f"MCP tool {tool_name!r} of server {server_name!r} reported an error."
        raise MCPToolError(message)
    structured = getattr(result, "structured_content", None)
    if structured is not None:
        if isinstance(structured, dict) and list(structured) == ["result"]:
            return structured["result"]
        return structured
    if not content:
        return None
    if len(texts) == len(content):
        text = "\n".join(texts)
        try:
            return json.loads(text)
        except ValueError:
            return text
    return [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in content]


# --------------------------------------------------------------------------- tools

_SHARED_CLIENTS: dict[str, MultiServerMCPClient] = {}


def _check_loading(server_name: str, connection: dict) -> None:
    """Safe loading: a stdio server is a process, a ``${VAR}`` template reads the environment."""
    where = f"MCP server {server_name!r}"
    if connection["transport"] == "stdio":
        command = shlex.join([connection["command"], *_redact_args(connection.get("args", []))[0]])
        safe_mode.require("processes", ("connection", "command"),
                          f"start the process {command[:300]!r} ({where}, over stdio) when the tool is called")
    for key in ("headers", "env"):
        for name, value in (connection.get(key) or {}).items():
            variables = _TEMPLATE.findall(value)
            if variables:
                sent = "the server's environment" if key == "env" else f"the header {name!r}"
                safe_mode.require("environment", ("connection", key, name),
                                  f"read the environment variable {variables[0]} and send it to {where} "
                                  f"(in {sent})")


def _shared_client(server_name: str, connection: dict) -> MultiServerMCPClient:
    """One client per saved connection, shared by every tool loaded with it."""
    key = json.dumps({"server": server_name, "connection": connection}, sort_keys=True)
    client = _SHARED_CLIENTS.get(key)
    if client is None:
        client = _SHARED_CLIENTS[key] = MultiServerMCPClient({server_name: connection})
    return client


@register_synaplex_serializable(package="synaplex")
class MCPTool(Tool):
    """A tool of an MCP server, called through a :class:`MultiServerMCPClient` session.

    Its schema is the server's ``inputSchema`` as listed; a call that the server answers with
    an error raises :class:`MCPToolError` (``run`` reports it to the model as ``{"error": ...}``).

    Saved with a program, it keeps the server name, the connection, the tool's name,
    description and schema. Literal header and env values are never saved: only values that
    are a whole ``${VAR}`` template (optionally after ``Bearer``/``Basic``/``Token``), expanded
    from the environment when the loaded tool connects; the names of dropped ones are listed
    under the connection's ``"redacted"`` key and a warning is logged on loading. Loaded tools
    with the same connection share one client, hence one session.
    """

    def __init__(self, client: MultiServerMCPClient, server_name: str, tool_name: str,
                 description: str | None = None, parameters: dict | None = None, name: str | None = None,
                 timeout: float | None = None):
        if not isinstance(client, MultiServerMCPClient):
            raise InvalidInputError(f"MCPTool needs a MultiServerMCPClient, got {type(client).__name__}.")
        client._check_server(server_name)

        async def call(**arguments):
            try:
                return await client.call_tool(server_name, tool_name, arguments)
            except MCPConnectionError as error:
                # The command line and the server's stderr are for the logs (redacted), not
                # for the model: it only learns that the tool failed.
                _log.warning("MCP tool %r could not run: %s", tool_name, error)
                raise MCPConnectionError(
                    f"MCP server {server_name!r} is unavailable: tool {tool_name!r} could not run.",
                    server_name, error.transport) from error

        call.__name__ = call.__qualname__ = tool_name
        super().__init__(call, name=name or tool_name, description=description, timeout=timeout,
                         parameters=parameters if parameters is not None else {"type": "object", "properties": {}})
        self.client = client
        self.server_name = server_name
        self.tool_name = tool_name

    def get_config(self) -> dict:
        return {
            "server_name": self.server_name,
            "connection": _saveable_connection(self.client.connections[self.server_name]),
            "tool_name": self.tool_name,
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "timeout": self.timeout,
        }

    @classmethod
    def from_config(cls, config: dict) -> MCPTool:
        config = dict(config)
        server_name = config.pop("server_name", None)
        connection = config.pop("connection", None)
        connection = dict(connection) if isinstance(connection, dict) else connection  # the file's data stays as is
        redacted = connection.pop("redacted", None) if isinstance(connection, dict) else None
        connection = _normalize_connection(server_name, connection)
        _check_loading(server_name, connection)
        if redacted:
            names = "; ".join(f"{key}: {', '.join(map(str, names))}" if isinstance(names, list) else str(key)
                              for key, names in redacted.items()) if isinstance(redacted, dict) else str(redacted)
            _log.warning(
                "MCP tool %r of server %r was saved without the values of %s (secrets are never saved: give "
                "them as '${VAR}' templates in headers or env, read from the environment when it connects).",
                config.get("name"), server_name, names,
            )
        client = _shared_client(server_name, connection)
        return cls(client, server_name, config.pop("tool_name"), **config)

    def __repr__(self) -> str:
        return f"<MCPTool name={self.name!r} server={self.server_name!r}>"
