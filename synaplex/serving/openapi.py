"""The OpenAPI 3.1 document of a served program: its request and response bodies are the
program's own input and output DataModel schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12,
so they are used as they are, their ``$defs`` moved to ``components/schemas``)."""

from __future__ import annotations

import copy
from typing import Any

from synaplex.version import __version__

_REF = "#/$defs/"
_COMPONENTS = "#/components/schemas/"


def _hoist(schema: dict, components: dict) -> dict:
    """``schema`` with its ``$defs`` moved into ``components`` and its refs pointed there."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            for name, definition in (node.pop("$defs", None) or {}).items():
                components.setdefault(name, walk(definition))
            return {k: (_COMPONENTS + v[len(_REF):] if k == "$ref" and isinstance(v, str) and v.startswith(_REF)
                        else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": _COMPONENTS + "Error"}}}}


def openapi_document(program_name: str, description: str | None, input_schema: dict, output_schema: dict,
                     auth: bool, max_batch: int) -> dict:
    """The OpenAPI document of the HTTP API that serves one program."""
    components: dict = {}
    components["Input"] = _hoist(input_schema, components)
    components["Output"] = _hoist(output_schema, components)
    ref = {"input": {"$ref": _COMPONENTS + "Input"}, "output": {"$ref": _COMPONENTS + "Output"}}
    nullable_output = {"anyOf": [ref["output"], {"type": "null"}]}
    components.update({
        "ErrorDetail": {"type": "object", "required": ["type", "message"],
                        "properties": {"type": {"type": "string"}, "message": {"type": "string"}}},
        "Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"$ref": _COMPONENTS + "ErrorDetail"}}},
        "ValidationError": {"type": "object", "required": ["detail"], "properties": {
            "error": {"type": "object"},
            "detail": {"type": "array", "items": {"type": "object", "required": ["loc", "msg", "type"], "properties": {
                "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                "msg": {"type": "string"}, "type": {"type": "string"}}}}}},
        "Trace": {"type": "object", "description": "What the call did: modules, their LM calls, tokens, time."},
        "TracedOutput": {"type": "object", "required": ["output", "trace"], "properties": {
            "output": nullable_output, "trace": {"$ref": _COMPONENTS + "Trace"}}},
        "BatchRequest": {"type": "object", "required": ["inputs"], "additionalProperties": False, "properties": {
            "inputs": {"type": "array", "items": ref["input"], "maxItems": max_batch}}},
        "BatchResponse": {"type": "object", "required": ["outputs", "errors"], "properties": {
            "outputs": {"type": "array", "items": nullable_output},
            "errors": {"type": "array", "items": {"anyOf": [{"type": "null"},
                                                             {"$ref": _COMPONENTS + "ErrorDetail"}]}}}},
    })
    errors = {
        "400": _error("The body is not JSON."),
        "413": _error("The body is larger than the server's limit."),
        "422": {"description": "The input does not match the program's input DataModel.",
                "content": {"application/json": {"schema": {"$ref": _COMPONENTS + "ValidationError"}}}},
        "502": _error("The language model failed."),
        "503": _error("The server is busy (its concurrency limit), or shutting down."),
    }
    if auth:
        errors["401"] = _error("Missing or wrong bearer token.")
    security = [{"bearer": []}] if auth else []
    run = {
        "summary": f"Run {program_name} on one input",
        "description": "The body is the program's input DataModel; the answer is its output DataModel (null for a "
                       "branch not taken). With `trace=true` the answer is `{output, trace}`. A streaming program "
                       "answers Server-Sent Events when the request accepts `text/event-stream`: `chunk` events "
                       "(`{text}`), then one `result` event (`{output, trace}`), or an `error` event.",
        "operationId": "run",
        "parameters": [{"name": "trace", "in": "query", "required": False, "schema": {"type": "boolean"},
                        "description": "Also return the trace of the call (modules, LM calls, tokens, time)."}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref["input"]}}},
        "responses": {"200": {"description": "The program's output.", "content": {
            "application/json": {"schema": {"anyOf": [nullable_output, {"$ref": _COMPONENTS + "TracedOutput"}]}},
            "text/event-stream": {"schema": {"type": "string"}}}}, **errors},
        "security": security,
    }
    batch = {
        "summary": f"Run {program_name} on a list of inputs",
        "description": "Outputs come back in input order; a failed example has `null` as its output and its "
                       "error at the same index of `errors`.",
        "operationId": "batch",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "$ref": _COMPONENTS + "BatchRequest"}}}},
        "responses": {"200": {"description": "One output per input.", "content": {"application/json": {
            "schema": {"$ref": _COMPONENTS + "BatchResponse"}}}}, **errors},
        "security": security,
    }
    document = {
        "openapi": "3.1.0",
        "info": {"title": program_name, "version": __version__,
                 "description": description or f"The synaplex program {program_name!r}, served over HTTP."},
        "paths": {
            "/run": {"post": run},
            "/batch": {"post": batch},
            "/health": {"get": {"summary": "Liveness: the program is loaded", "operationId": "health",
                                "security": [], "responses": {"200": {"description": "OK"}}}},
        },
        "components": {"schemas": components},
    }
    if auth:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document
