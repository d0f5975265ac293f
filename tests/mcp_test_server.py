"""The MCP server of the MCP tests: the example's calculator (examples/mcp_math_server.py) plus
tools that fail, wait, exit or report their process id.

Run it with ``python tests/mcp_test_server.py stdio`` (stdin/stdout) or
``python tests/mcp_test_server.py http PORT`` (streamable HTTP on 127.0.0.1:PORT, path ``/mcp``).
Set ``MCP_TEST_REQUIRED_HEADER=Name:value`` to make the HTTP server reject requests without
that header (to test that configured headers are sent).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
from mcp_math_server import main as serve  # noqa: E402  (the example's add and multiply)
from mcp_math_server import server


@server.tool()
def fail(x: Annotated[int, Field(description="Any integer; the tool always fails.")]) -> int:
    """Always fail, with a message that names the argument.

    Args:
        x: Any integer; the tool always fails.
    """
    raise ToolError(f"fail refuses to handle {x}")


@server.tool()
def pid() -> int:
    """The server's process id (to check that one process serves several calls)."""
    return os.getpid()


@server.tool(structured_output=False)
def describe(word: Annotated[str, Field(description="A word to describe.")]) -> dict:
    """Describe a word: its length and its upper-case form (unstructured JSON text).

    Args:
        word: A word to describe.
    """
    return {"word": word, "length": len(word), "upper": word.upper()}


@server.tool()
async def slow(seconds: Annotated[float, Field(description="How long to wait, in seconds.")]) -> str:
    """Wait, then answer "done" (to test timeouts and cancellation).

    Args:
        seconds: How long to wait, in seconds.
    """
    await anyio.sleep(seconds)
    return "done"


@server.tool()
def exit_now() -> str:
    """Write a line to stderr and end the server process at once (to test a lost connection)."""
    sys.stderr.write("exiting on request\n")
    sys.stderr.flush()
    os._exit(5)


def _header_guard(app, name: str, value: str):
    """ASGI middleware: answer 401 unless the request carries header ``name: value``."""
    expected = (name.lower().encode(), value.encode())

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and expected not in [(k.lower(), v) for k, v in scope["headers"]]:
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"missing or wrong header"})
            return
        await app(scope, receive, send)

    return guarded


def main(argv: list[str]) -> None:
    required = os.environ.get("MCP_TEST_REQUIRED_HEADER")
    name, _, value = (required or "").partition(":")
    serve(argv, wrap_app=(lambda app: _header_guard(app, name, value)) if required else None)


if __name__ == "__main__":
    main(sys.argv[1:])
