"""``LanguageModel.to_langchain()``: a LangChain chat model (``BaseChatModel``) backed by synaplex.

LangChain's calls (``invoke``, ``ainvoke``, ``stream``, ``astream``, ``batch``, ``bind_tools``,
``with_structured_output``) go through the synaplex model, with its retries, fallbacks, cache,
budgets and accounting. LangChain messages are mapped to synaplex's chat messages
(System/Human/AI with ``tool_calls``/Tool) and the reply back to an ``AIMessage`` with
``tool_calls``, ``usage_metadata`` and ``response_metadata`` (``finish_reason``, ``model_name``).
``with_structured_output`` uses synaplex's native structured output (the ``schema=`` path: the
provider's JSON schema mode, the embedded model's constrained decoding), not a tool call.

This module needs the ``langchain`` extra (``langchain-core``); ``import synaplex`` never loads it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pydantic

from synaplex.backend.errors import InvalidInputError, MissingDependencyError
from synaplex.lm.errors import StructuredOutputError
from synaplex.lm.tools import to_tool_definitions
from synaplex.lm.validation import validator_for

try:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        ChatMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
    )
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
    from langchain_core.utils.function_calling import convert_to_openai_tool
except ImportError as error:  # the optional extra is missing
    raise MissingDependencyError(
        'LanguageModel.to_langchain() needs LangChain (langchain-core): pip install "synaplex[langchain]"'
    ) from error

#: The bound keyword that carries a structured-output schema to ``_generate`` (synaplex's own).
_SCHEMA_KEY = "synaplex_schema"
#: With it, a reply that does not match the schema comes back as a raw message (``include_raw``).
_RAW_ON_ERROR_KEY = "synaplex_raw_on_error"
#: Keywords LangChain itself adds to a call's kwargs; not request parameters.
_LANGCHAIN_KEYS = ("ls_structured_output_format",)
#: langchain-core 1.x marks a stream's last chunk (tool-call arguments are then parsed whole).
_HAS_CHUNK_POSITION = "chunk_position" in AIMessageChunk.model_fields
_ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "ai": "assistant",
          "tool": "tool"}


# --- LangChain messages -> synaplex chat messages --------------------------------------------------

def _part(part: Any) -> dict:
    """A LangChain content block in synaplex's neutral part shape (text, image_url, image)."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, dict):
        raise InvalidInputError(f"A message content block must be a str or a dict, got {type(part).__name__}.")
    kind = part.get("type")
    if kind in ("text", "image_url"):
        return part
    if kind == "image":
        if part.get("url"):
            return {"type": "image", "url": part["url"]}
        data = part.get("base64") or part.get("data")
        if data:
            return {"type": "image", "data": data,
                    "media_type": part.get("mime_type") or part.get("media_type") or "image/png"}
    raise InvalidInputError(f"synaplex takes text and image content blocks; got a {kind!r} block.")


def _content(content: Any, role: str) -> Any:
    if isinstance(content, str):
        return content
    if role in ("assistant", "tool", "system"):  # text only: keep the text blocks
        return "".join(p if isinstance(p, str) else p.get("text", "") for p in content
                       if isinstance(p, str) or (isinstance(p, dict) and p.get("type") == "text"))
    return [_part(p) for p in content]


def to_synaplex_messages(messages: Sequence[Any]) -> list[dict]:
    """synaplex's chat messages (dicts) for LangChain ``BaseMessage`` objects."""
    out = []
    for message in messages:
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, HumanMessage):
            role = "user"
        elif isinstance(message, AIMessage):
            role = "assistant"
        elif isinstance(message, ToolMessage):
            role = "tool"
        elif isinstance(message, ChatMessage) and message.role in _ROLES:
            role = _ROLES[message.role]
        else:
            kind = type(message).__name__
            detail = f" with role {message.role!r}" if isinstance(message, ChatMessage) else ""
            raise InvalidInputError(
                f"synaplex's LangChain model takes SystemMessage, HumanMessage, AIMessage, ToolMessage and "
                f"ChatMessage (roles {sorted(_ROLES)}); got a {kind}{detail}.")
        entry: dict[str, Any] = {"role": role, "content": _content(message.content, role)}
        if role == "assistant" and getattr(message, "tool_calls", None):
            entry["tool_calls"] = [{"id": call.get("id") or "", "name": call["name"], "arguments": call["args"]}
                                   for call in message.tool_calls]
        if role == "tool":
            entry["tool_call_id"] = message.tool_call_id
        out.append(entry)
    return out


# --- synaplex replies -> LangChain messages ---------------------------------------------------------

def _usage_metadata(usage: Any) -> dict | None:
    if usage is None:
        return None
    metadata: dict[str, Any] = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                                "total_tokens": usage.input_tokens + usage.output_tokens}
    if usage.cached_tokens:
        metadata["input_token_details"] = {"cache_read": usage.cached_tokens}
    if usage.reasoning_tokens:
        metadata["output_token_details"] = {"reasoning": usage.reasoning_tokens}
    return metadata


def _response_metadata(lm: Any, finish_reason: str | None, request_id: str | None) -> dict:
    return {"finish_reason": finish_reason, "model_name": lm.model, "model_provider": lm.provider,
            "request_id": request_id}


def _tool_calls(calls: list[dict]) -> tuple[list[dict], list[dict]]:
    valid, invalid = [], []
    for call in calls:
        if call.get("arguments_error"):
            invalid.append({"type": "invalid_tool_call", "id": call.get("id"), "name": call.get("name"),
                            "args": call.get("arguments_raw"), "error": call["arguments_error"]})
        else:
            valid.append({"type": "tool_call", "id": call.get("id"), "name": call["name"],
                          "args": call.get("arguments") or {}})
    return valid, invalid


def _ai_message(lm: Any, response: Any) -> AIMessage:
    """An ``AIMessage`` for a synaplex ``ChatResponse``."""
    valid, invalid = _tool_calls(response.tool_calls or [])
    extra = {} if response.parsed is None else {"parsed": response.parsed}
    return AIMessage(content=response.content or "", tool_calls=valid, invalid_tool_calls=invalid,
                     additional_kwargs=extra, usage_metadata=_usage_metadata(response.usage),
                     response_metadata=_response_metadata(lm, response.finish_reason, response.request_id),
                     id=response.request_id)


def _structured_error_message(lm: Any, error: StructuredOutputError) -> AIMessage:
    """The raw reply of a structured call that did not match its schema (for ``include_raw``)."""
    return AIMessage(content=error.raw_text or "", additional_kwargs={"structured_output_error": str(error)},
                     response_metadata=_response_metadata(lm, error.finish_reason, error.request_id))


def _chunk(lm: Any, piece: Any) -> ChatGenerationChunk:
    tool_chunks = [{"type": "tool_call_chunk", "index": d.get("index", 0), "id": d.get("id"), "name": d.get("name"),
                    "args": d.get("arguments_delta") or ""} for d in piece.tool_call_deltas]
    last = piece.usage is not None or piece.finish_reason is not None
    fields: dict[str, Any] = {"chunk_position": "last"} if last and _HAS_CHUNK_POSITION else {}
    message = AIMessageChunk(
        content=piece.text, tool_call_chunks=tool_chunks, usage_metadata=_usage_metadata(piece.usage),
        response_metadata=_response_metadata(lm, piece.finish_reason, piece.request_id) if last else {}, **fields)
    return ChatGenerationChunk(message=message)


def _whole(result: ChatResult) -> ChatGenerationChunk:
    """A whole reply as one stream chunk."""
    message = result.generations[0].message
    fields: dict[str, Any] = {"chunk_position": "last"} if _HAS_CHUNK_POSITION else {}
    return ChatGenerationChunk(message=AIMessageChunk(
        content=message.content, additional_kwargs=message.additional_kwargs, usage_metadata=message.usage_metadata,
        response_metadata=message.response_metadata, id=message.id, **fields))


# --- tools and schemas ------------------------------------------------------------------------------

def tool_definitions(tools: Sequence[Any]) -> list[dict]:
    """synaplex tool definitions for LangChain tools, pydantic models, functions or dicts."""
    out = []
    for tool in tools:
        if isinstance(tool, dict) and {"name", "parameters"} <= set(tool):
            out.append(tool)
            continue
        try:
            out.append(convert_to_openai_tool(tool))
        except Exception as error:  # LangChain raises ValueError, TypeError, pydantic errors...
            raise InvalidInputError(f"bind_tools: {tool!r:.80} is not a tool LangChain can describe: {error}") \
                from error
    return to_tool_definitions(out)


def _tool_choice(choice: Any, names: list[str]) -> Any:
    """synaplex's ``tool_choice`` for LangChain's (``"auto"``, ``"any"``, a tool's name, a dict...)."""
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if choice is True or choice == "any":
        return "required"
    name = None
    if isinstance(choice, str):
        name = choice
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
    if name not in names:
        raise InvalidInputError(f"tool_choice must be 'auto', 'none', 'any'/'required', True or the name of a bound "
                                f"tool {names}; got {choice!r:.80}.")
    return {"name": name}


def _is_model_class(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)


def json_schema(schema: Any) -> dict:
    """The JSON schema of a pydantic model class (a synaplex DataModel too) or a JSON schema dict."""
    if _is_model_class(schema):
        value = schema.get_schema() if hasattr(schema, "get_schema") else schema.model_json_schema()
    elif isinstance(schema, dict):
        value = schema.get("schema") if isinstance(schema.get("schema"), dict) and "name" in schema else schema
    else:
        raise InvalidInputError(f"with_structured_output takes a pydantic model class or a JSON schema dict, got "
                                f"{type(schema).__name__}: {schema!r:.80}.")
    validator_for(value)  # not a JSON schema: InvalidInputError now, before any call
    if value.get("type") not in (None, "object") or not value.get("properties"):
        raise InvalidInputError("with_structured_output needs an object schema with properties, got "
                                f"{json.dumps(value)[:120]}.")
    return value


def _parser(lm: Any, schema: Any):
    def parse(message: AIMessage) -> Any:
        if "structured_output_error" in message.additional_kwargs:
            raise StructuredOutputError(message.additional_kwargs["structured_output_error"],
                                        raw_text=message.content, provider=lm.provider, model=lm.model,
                                        finish_reason=message.response_metadata.get("finish_reason"),
                                        request_id=message.response_metadata.get("request_id"))
        value = message.additional_kwargs["parsed"]
        return schema.model_validate(value) if _is_model_class(schema) else value
    return parse


# --- the chat model ---------------------------------------------------------------------------------

class SynaplexChatModel(BaseChatModel):
    """A LangChain chat model whose calls go through a synaplex ``LanguageModel``.

    Made by ``lm.to_langchain()``. ``model_name`` is the synaplex model (``"provider/model"``);
    the API key stays in the LanguageModel and is never in this object's repr or parameters.
    """

    lm: Any = pydantic.Field(repr=False, exclude=True)
    model_name: str = ""

    @property
    def _llm_type(self) -> str:
        return "synaplex"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.lm.model, "provider": self.lm.provider}

    # --- calls -----------------------------------------------------------------------------

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict) -> tuple[list, dict]:
        kwargs = {k: v for k, v in kwargs.items() if k not in _LANGCHAIN_KEYS}
        if stop is not None:
            kwargs["stop"] = list(stop)
        return to_synaplex_messages(messages), kwargs

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        chat_messages, params = self._request(messages, stop, kwargs)
        schema, raw_on_error = params.pop(_SCHEMA_KEY, None), params.pop(_RAW_ON_ERROR_KEY, False)
        try:
            response = self.lm.chat_complete(chat_messages, stream=False, schema=schema, **params)
        except StructuredOutputError as error:
            if not raw_on_error:
                raise
            return ChatResult(generations=[ChatGeneration(message=_structured_error_message(self.lm, error))])
        return ChatResult(generations=[ChatGeneration(message=_ai_message(self.lm, response))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        chat_messages, params = self._request(messages, stop, kwargs)
        schema, raw_on_error = params.pop(_SCHEMA_KEY, None), params.pop(_RAW_ON_ERROR_KEY, False)
        try:
            response = await self.lm.achat_complete(chat_messages, stream=False, schema=schema, **params)
        except StructuredOutputError as error:
            if not raw_on_error:
                raise
            return ChatResult(generations=[ChatGeneration(message=_structured_error_message(self.lm, error))])
        return ChatResult(generations=[ChatGeneration(message=_ai_message(self.lm, response))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        if _SCHEMA_KEY in kwargs:  # a structured reply is validated whole: one chunk
            yield _whole(self._generate(messages, stop, run_manager, **kwargs))
            return
        chat_messages, params = self._request(messages, stop, kwargs)
        for piece in self.lm.chat_complete(chat_messages, stream=True, **params):
            chunk = _chunk(self.lm, piece)
            if run_manager is not None and piece.text:
                run_manager.on_llm_new_token(piece.text, chunk=chunk)
            yield chunk

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        if _SCHEMA_KEY in kwargs:  # a structured reply is validated whole: one chunk
            yield _whole(await self._agenerate(messages, stop, run_manager, **kwargs))
            return
        chat_messages, params = self._request(messages, stop, kwargs)
        async for piece in self.lm.stream(chat_messages, **params):
            chunk = _chunk(self.lm, piece)
            if run_manager is not None and piece.text:
                await run_manager.on_llm_new_token(piece.text, chunk=chunk)
            yield chunk

    # --- tools and structured output ----------------------------------------------------------

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Runnable:
        """Bind LangChain tools, pydantic models, functions or tool dicts (synaplex's or OpenAI's
        shape); ``tool_choice``: ``"auto"``, ``"none"``, ``"any"``/``"required"``/``True``, or a tool's name."""
        definitions = tool_definitions(tools)
        choice = _tool_choice(tool_choice, [d["name"] for d in definitions])
        if choice is not None:
            kwargs["tool_choice"] = choice
        return self.bind(tools=definitions, **kwargs)

    def with_structured_output(self, schema: Any, *, include_raw: bool = False, **kwargs: Any) -> Runnable:
        """A runnable answering an instance of ``schema`` (a pydantic model class) or a dict (a JSON
        schema), through synaplex's native structured output. ``include_raw=True`` answers
        ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}`` as LangChain defines it."""
        method = kwargs.pop("method", None)
        if method not in (None, "json_schema"):
            raise InvalidInputError(f"synaplex's structured output is its native JSON schema path; method="
                                    f"{method!r} is not offered (leave it out, or pass 'json_schema').")
        kwargs.pop("strict", None)  # synaplex picks the provider's strictest mode itself
        if kwargs:
            raise InvalidInputError(f"with_structured_output got unknown arguments {sorted(kwargs)}.")
        bound = self.bind(**{_SCHEMA_KEY: json_schema(schema), _RAW_ON_ERROR_KEY: include_raw})
        parser = RunnableLambda(_parser(self.lm, schema))
        if not include_raw:
            return bound | parser
        with_parsed = RunnablePassthrough.assign(parsed=(lambda d: d["raw"]) | parser, parsing_error=lambda _: None)
        without = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=bound) | with_parsed.with_fallbacks([without], exception_key="parsing_error")


def chat_model(lm: Any) -> SynaplexChatModel:
    """The LangChain chat model of ``lm`` (what ``lm.to_langchain()`` returns)."""
    return SynaplexChatModel(lm=lm, model_name=lm.model)
