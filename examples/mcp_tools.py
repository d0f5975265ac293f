"""The seed's MCP Tools: an agent calls the tools of a real MCP server over streamable HTTP.

    python examples/mcp_tools.py                 # the embedded model
    python examples/mcp_tools.py --model scripted

It starts `examples/mcp_math_server.py` on a free port of 127.0.0.1, connects with
`synaplex.MultiServerMCPClient`, and gives the server's tools to a FunctionCallingAgent.
"""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time

from _models import language_model, parse_model, print_trajectory

import synaplex

HERE = os.path.dirname(os.path.abspath(__file__))


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class FinalAnswer(synaplex.DataModel):
    answer: float = synaplex.Field(description="The correct numerical answer")


@contextlib.contextmanager
def math_server():
    """Run the example MCP server over streamable HTTP; yield its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, os.path.join(HERE, "mcp_math_server.py"), "http", str(port)],
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the MCP server exited: {process.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the MCP server did not start within 30 s") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp/"
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()


def scripted_agent(messages, schema, tools):
    """What the scripted model does: (12 + 8) * 3 with the server's tools, then answer."""
    results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
    if not results:
        return {"tool_calls": [{"id": "c1", "name": "add", "arguments": {"a": 12, "b": 8}}]}
    if len(results) == 1:
        return {"tool_calls": [{"id": "c2", "name": "multiply", "arguments": {"a": results[0]["result"], "b": 3}}]}
    return {"tool_calls": [{"id": "c3", "name": "final_answer", "arguments": {"answer": results[-1]["result"]}}]}


async def main(model: str = "local", url: str | None = None):
    lm = language_model(model, responses=scripted_agent if model == "scripted" else None)
    with contextlib.ExitStack() as stack:
        url = url or stack.enter_context(math_server())
        async with synaplex.MultiServerMCPClient({
            "math": {"url": url, "transport": "streamable_http"},
        }) as mcp_client:
            tools = await mcp_client.get_tools()
            print("tools:", ", ".join(f"{t.name}{list(t.parameters['properties'])}" for t in tools))

            inputs = synaplex.Input(data_model=Query)
            outputs = await synaplex.FunctionCallingAgent(
                data_model=FinalAnswer, tools=tools, language_model=lm, max_iterations=5, autonomous=True,
            )(inputs)
            program = synaplex.Program(inputs=inputs, outputs=outputs, name="mcp_agent")
            result = await program(Query(query="What is (12 + 8) * 3?"))
    print_trajectory(result)
    return result


if __name__ == "__main__":
    asyncio.run(main(parse_model(__doc__)))
