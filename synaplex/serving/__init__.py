"""Serving a program outside Python: over HTTP (``synaplex.serving.http``, the ``serve`` extra:
Starlette and uvicorn) and as an MCP tool (``synaplex.serving.mcp_server``, the ``mcp``
extra). ``synaplex serve`` (``synaplex.cli``) starts them; the shared part, running a program
on JSON inputs, is :class:`~synaplex.serving.runner.ProgramRunner`, which needs no extra.
"""
