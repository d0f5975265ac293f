"""A small MCP server written with the official SDK (`mcp`): a calculator with two tools.

    python examples/mcp_math_server.py stdio        # over stdin/stdout
    python examples/mcp_math_server.py http 8183    # streamable HTTP on 127.0.0.1:8183/mcp/

`examples/mcp_tools.py` starts it and lets an agent call it; the tests add more tools to it.
"""

from __future__ import annotations

import sys
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

server = MCPServer("synaplex-math", log_level="WARNING")


@server.tool()
def add(a: Annotated[float, Field(description="The first number.")],
        b: Annotated[float, Field(description="The second number.")]) -> float:
    """Add two numbers."""
    return a + b


@server.tool()
def multiply(a: Annotated[float, Field(description="The first factor.")],
             b: Annotated[float, Field(description="The second factor.")]) -> float:
    """Multiply two numbers."""
    return a * b


def main(argv: list[str], wrap_app=None) -> None:
    """Serve over stdio, or over streamable HTTP (``wrap_app`` may wrap the ASGI app)."""
    if argv == ["stdio"]:
        server.run("stdio")
    elif len(argv) == 2 and argv[0] == "http":
        import uvicorn

        app = server.streamable_http_app()
        uvicorn.run(wrap_app(app) if wrap_app else app, host="127.0.0.1", port=int(argv[1]), log_level="warning")
    else:
        sys.exit("usage: mcp_math_server.py stdio | http PORT")


if __name__ == "__main__":
    main(sys.argv[1:])
