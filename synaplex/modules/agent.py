"""FunctionCallingAgent: a language model that calls tools in a loop until it can answer."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from synaplex.backend.errors import DataModelTypeError, InvalidInputError, SynaplexError
from synaplex.data import schema as schema_lib
from synaplex.data.builtins import ChatMessages, GeneratorState
from synaplex.data.data_model import is_data_model_class
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.lm.tools import parse_tool_arguments, tool_call
from synaplex.lm.validation import validation_errors
from synaplex.modules import trace
from synaplex.modules.generator import StreamingResponse, normalize_examples, resolve_language_model, sampling_params
from synaplex.modules.module import Module
from synaplex.modules.tool import as_tool
from synaplex.serialization import (
    deserialize_data_model,
    deserialize_synaplex_object,
    serialize_data_model,
    serialize_synaplex_object,
)

_log = logging.getLogger("synaplex.agent")

FINAL_ANSWER = "final_answer"
SKIPPED = {"error": "Not executed: the final answer was given in the same turn."}
THINKING = "thinking"
THINKING_PROPERTY = {"type": "string",
                     "description": "Your step by step thinking: what you observe, and what to do next"}


class AgentMaxIterationsError(SynaplexError):
    """An agent used all its iterations without a final answer (``on_max_iterations="raise"``).

    ``trajectory`` holds the messages so far, so the work done is not lost.
    """

    def __init__(self, message: str, trajectory: list[dict]):
        super().__init__(message)
        self.trajectory = trajectory


def _default_instructions(has_answer_tool: bool) -> str:
    finish = (f"When you know the answer, call `{FINAL_ANSWER}` with it." if has_answer_tool
              else "When you know the answer, reply with it as text.")
    return ("Solve the task with the tools. Call the tools you need; call several at once when they do "
            f"not depend on each other. Read each tool's result before going on. {finish}")


def _message(role: str, content: str | None = "", tool_calls: list | None = None,
             tool_call_id: str | None = None) -> dict:
    return {"role": role, "content": content, "tool_call_id": tool_call_id, "tool_calls": list(tool_calls or [])}


def _readable(call: dict) -> dict:
    """``call`` in the neutral shape, its arguments read by the one parser every adapter uses.

    Arguments that cannot be used (a JSON text cut off or not an object, a value nested too
    deep) leave ``arguments`` empty and set ``arguments_error``, so the call is refused and
    reported to the model instead of running on defaults; an adapter's ``arguments_error`` is
    kept.
    """
    out = {key: call[key] for key in ("id", "name", "arguments_error", "arguments_raw") if key in call}
    parsed = tool_call(call.get("id"), call.get("name"), call.get("arguments"))
    if call.get("arguments_error"):
        parsed["arguments"] = {}
    return {**parsed, **out}


def _with_thinking(definition: dict, agent: str) -> dict:
    """``definition`` whose arguments start with ``thinking`` (``use_chain_of_thought``)."""
    parameters = definition["parameters"]
    properties = parameters.get("properties") or {}
    if THINKING in properties:
        raise InvalidInputError(
            f"Agent {agent!r}: tool {definition['name']!r} already takes an argument named {THINKING!r}, which "
            "use_chain_of_thought=True adds to every tool; rename that argument or use use_chain_of_thought=False.")
    required = [THINKING] + [r for r in parameters.get("required") or [] if r != THINKING]
    return {**definition, "parameters": {**parameters, "properties": {THINKING: THINKING_PROPERTY, **properties},
                                         "required": required}}


def _result_text(result: dict) -> str:
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (ValueError, RecursionError) as error:  # a circular or too deeply nested result
        return json.dumps({"error": f"The tool's result cannot be written as JSON ({type(error).__name__}: {error})."})


class FunctionCallingAgent(Module):
    """Call tools in a loop, then answer with a ``data_model``.

    Each turn the language model either calls tools (several in one turn run concurrently) or
    gives its final answer. With a ``data_model`` the final answer is a tool of its own,
    ``final_answer``, whose arguments are the data model, so every reply is a tool call: one
    call per turn is saved, and the embedded model's constrained decoding chooses between the
    tools and the answer. A model that replies with text instead is read as the answer when
    the text is valid JSON of the data model, else asked once more for structured output.

    A tool that raises, arguments that do not validate, and a call to a tool that does not
    exist are all sent back to the model as ``{"error": ...}`` tool results; the loop goes on.
    Arguments the model's reply does not hold as one JSON object (cut off at the token limit,
    garbage, an array, nested more than 64 levels) never run a tool, not even with its
    defaults: the error, quoting the raw text (cut to 200 characters), goes back the same way.

    Args:
        data_model / schema: the final answer's type. Without one the agent chats: the final
            answer is the model's text, and the output is the conversation.
        tools: ``synaplex.Tool`` objects (or functions, wrapped with ``Tool``).
        max_iterations: how many model turns may call tools. When they are spent,
            ``on_max_iterations="answer"`` (the default) asks for the final answer with the
            tools disabled, from what the trajectory holds, and logs a warning;
            ``"raise"`` raises :class:`AgentMaxIterationsError` carrying the trajectory.
        autonomous: ``True`` runs the loop to the final answer. ``False`` runs one step per
            call, for human (or program) approval: the input is a ``ChatMessages`` conversation,
            the output is the conversation extended by one assistant turn. When that turn asks
            for tools, its ``tool_calls`` are pending; edit or remove them, or add your own
            ``tool`` message to reject one, and call the agent again with the conversation: the
            remaining calls without a result run first, then the model takes its next turn.
            ``pending_tool_calls(output)`` and ``final_answer(output)`` read an output.
        return_inputs_with_trajectory: (Synalinks' name; ``return_trajectory`` is the same)
            autonomous with a data model: the output is ``messages``, the whole trajectory
            (the tool calls and their results included), plus the answer's fields; ``False``
            gives the answer alone. Non-autonomous: the output is the whole conversation;
            ``False`` gives only this step's new messages (the tool results and the
            assistant's turn).
        use_chain_of_thought: every tool call (the final answer's included) starts with a
            ``thinking`` argument, the model's step by step thinking, generated before the
            other arguments; it is taken out of the arguments and kept as the assistant
            message's text in the trajectory. Useful with models that do not reason natively.
        streaming: (chat mode: no data model) the final answer is streamed: once the loop
            ends, the answer is asked for without tools and the output is a
            ``StreamingResponse`` (``async for piece in output``); once read, its
            ``message`` is the answer and ``get_json()`` the output the agent would have
            given. During training the agent does not stream.
        temperature, max_tokens, top_p, top_k, reasoning_effort: sent with every model turn
            (see ``Generator``; ``reasoning_effort`` is the provider's reasoning setting).
        instructions, examples: the trainable state, as in ``Generator``.

    Example:
        >>> outputs = await synaplex.FunctionCallingAgent(data_model=FinalAnswer, tools=tools,
        ...     language_model=lm, max_iterations=5, autonomous=True)(inputs)
    """

    _traced_as_agent = True  # its span is the GenAI conventions' ``invoke_agent {name}``

    def __init__(self, data_model=None, schema: dict | None = None, tools: list | None = None,
                 language_model: Any = None, instructions: str | None = None, examples: list | None = None,
                 temperature: float | None = 0.0, max_iterations: int = 5, autonomous: bool = True,
                 return_inputs_with_trajectory: bool | None = None, on_max_iterations: str = "answer",
                 use_chain_of_thought: bool = False, streaming: bool = False, max_tokens: int | None = None,
                 top_p: float | None = None, top_k: int | None = None, reasoning_effort: str | None = None,
                 name: str | None = None, description: str | None = None, trainable: bool = True,
                 return_trajectory: bool | None = None):
        super().__init__(name=name, description=description, trainable=trainable)
        if return_inputs_with_trajectory is None:
            return_inputs_with_trajectory = True if return_trajectory is None else return_trajectory
        elif return_trajectory is not None and return_trajectory != return_inputs_with_trajectory:
            raise InvalidInputError(
                f"FunctionCallingAgent: return_trajectory={return_trajectory!r} and return_inputs_with_trajectory="
                f"{return_inputs_with_trajectory!r} disagree; they are the same setting: pass "
                "return_inputs_with_trajectory only.")
        for flag, value in (("return_inputs_with_trajectory", return_inputs_with_trajectory),
                            ("use_chain_of_thought", use_chain_of_thought), ("streaming", streaming),
                            ("autonomous", autonomous)):
            if not isinstance(value, bool):
                raise InvalidInputError(f"FunctionCallingAgent({flag}=...) must be True or False, got {value!r}.")
        if streaming and (data_model is not None or schema is not None):
            raise InvalidInputError(
                "FunctionCallingAgent(streaming=True) streams the final answer's text, so it needs chat mode: no "
                "data_model= or schema=. A structured final answer arrives whole, once validated.")
        if data_model is not None and not is_data_model_class(data_model):
            raise DataModelTypeError(
                f"FunctionCallingAgent(data_model=...) expects a synaplex.DataModel subclass, got {data_model!r:.100}.")
        if instructions is not None and not isinstance(instructions, str):
            raise InvalidInputError(
                f"FunctionCallingAgent(instructions=...) must be a string, got {instructions!r:.100}.")
        if not isinstance(max_iterations, int) or isinstance(max_iterations, bool) or max_iterations < 1:
            raise InvalidInputError(f"max_iterations must be an integer >= 1, got {max_iterations!r}.")
        if on_max_iterations not in ("answer", "raise"):
            raise InvalidInputError(f"on_max_iterations must be 'answer' or 'raise', got {on_max_iterations!r}.")
        self.tools = [as_tool(t) for t in (tools or [])]
        names = [t.name for t in self.tools]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidInputError(
                f"Agent {self.name!r}: two tools share the name(s) {repeated}; names must be unique.")
        self.data_model = data_model
        self.schema = data_model.get_schema() if data_model is not None else schema
        if self.schema is not None and FINAL_ANSWER in names:
            raise InvalidInputError(
                f"Agent {self.name!r}: {FINAL_ANSWER!r} is reserved for the final answer; rename that tool.")
        self.language_model = resolve_language_model(language_model)
        self.temperature = temperature
        self.max_iterations = max_iterations
        self.autonomous = autonomous
        self.return_inputs_with_trajectory = return_inputs_with_trajectory
        self.on_max_iterations = on_max_iterations
        self.use_chain_of_thought = use_chain_of_thought
        self.streaming = streaming
        self.max_tokens = max_tokens
        self.top_p = top_p
        self.top_k = top_k
        self.reasoning_effort = reasoning_effort
        self.state = self.add_variable(
            initializer=GeneratorState(instructions=instructions or _default_instructions(self.schema is not None),
                                       examples=normalize_examples(examples, "FunctionCallingAgent")),
            name="state")
        self._tools_by_name = {t.name: t for t in self.tools}
        self._definitions = [t.get_tool_definition() for t in self.tools]
        if self.schema is not None:
            self._definitions.append({"name": FINAL_ANSWER, "description": "Give the final answer.",
                                      "parameters": self.schema})
        if use_chain_of_thought:
            self._definitions = [_with_thinking(d, self.name) for d in self._definitions]
        self._params = sampling_params(temperature, max_tokens, top_p, top_k, reasoning_effort)
        self._merge = schema_lib.PlannedConcat()
        self._answer_schema = self.schema
        self._output_schema = self._compute_output_schema()
        self._system_cache: tuple | None = None
        self.built = True

    @property
    def return_trajectory(self) -> bool:
        """The same as ``return_inputs_with_trajectory`` (synaplex's earlier name)."""
        return self.return_inputs_with_trajectory

    # --- schemas ------------------------------------------------------------------------

    def _compute_output_schema(self) -> dict:
        conversation = ChatMessages.get_schema()
        if self.schema is None or not self.autonomous:
            return conversation
        if not self.return_inputs_with_trajectory:
            return self.schema
        return self._merge.schema(conversation, self.schema)[0]

    async def compute_output_spec(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            raise DataModelTypeError(f"{self.name}: an agent takes one input; merge several with '+' or '&' first.")
        if not self.autonomous and "messages" not in schema_lib.properties(inputs.get_schema()):
            raise DataModelTypeError(
                f"{self.name}: a non-autonomous agent resumes conversations, so its input must be "
                "synaplex.ChatMessages (a 'messages' field).")
        data_model = self.data_model if (self.autonomous and not self.return_inputs_with_trajectory) else None
        if self.schema is None or not self.autonomous:
            data_model = ChatMessages
        return SymbolicDataModel(schema=self._output_schema, data_model=data_model)

    # --- prompt -------------------------------------------------------------------------

    def _system(self) -> dict:
        value = self.state.get_json()
        if self._system_cache is not None and self._system_cache[0] is value:
            return self._system_cache[1]
        content = value["instructions"]
        if value.get("examples"):
            shown = "\n".join(f"Inputs: {json.dumps(e.get('inputs', {}), ensure_ascii=False)}\n"
                              f"Final answer: {json.dumps(e.get('outputs', {}), ensure_ascii=False)}"
                              for e in value["examples"])
            content += "\n\nExamples:\n" + shown
        message = {"role": "system", "content": content}
        self._system_cache = (value, message)
        return message

    def _conversation(self, inputs: JsonDataModel) -> list[dict]:
        value = inputs.get_json()
        if "messages" in value and isinstance(value["messages"], list):
            return [_message(m.get("role", "user"), m.get("content"), m.get("tool_calls"), m.get("tool_call_id"))
                    for m in value["messages"]]
        return [_message("user", json.dumps(value, ensure_ascii=False))]

    # --- tools ----------------------------------------------------------------------------

    async def _run_call(self, call: dict) -> dict:
        tool = self._tools_by_name.get(call.get("name"))
        if tool is None and self.schema is not None and call.get("name") == FINAL_ANSWER:
            errors = call.get("arguments_error") or "; ".join(self._check_answer(call.get("arguments")))
            return {"error": f"Invalid final answer: {errors}. Call {FINAL_ANSWER} again with arguments "
                             "that follow its schema."}
        if tool is None:
            available = ", ".join(self._tools_by_name) or "none"
            return {"error": f"Unknown tool {call.get('name')!r}. Available tools: {available}."}
        return await tool.run_call(_readable(call))

    async def _run_calls(self, calls: list[dict]) -> list[dict]:
        results = await asyncio.gather(*(self._run_call(c) for c in calls))
        return [_message("tool", _result_text(r), tool_call_id=c["id"]) for c, r in zip(calls, results)]

    def _check_answer(self, value: Any) -> list[str]:
        if not isinstance(value, dict):
            return [f"the final answer must be a JSON object, got {value!r:.100}"]
        _, problem = parse_tool_arguments(value)  # nested too deep to validate or write back
        if problem:
            return [problem.replace("the arguments are", "the final answer is", 1)]
        return validation_errors(value, self.schema)

    # --- one model turn -----------------------------------------------------------------

    async def _turn(self, trajectory: list[dict]) -> tuple[dict | None, str | None]:
        """Ask the model for its next turn; extend ``trajectory``. Returns ``(answer, text)``:
        the final answer (data model) or text (chat), or ``(None, None)`` when tools were called."""
        messages = [self._system()] + trajectory
        reply = await self.language_model(messages, tools=self._definitions or None,
                                          tool_choice="required" if self.schema is not None else "auto",
                                          **self._params)
        calls = [_readable({**c, "id": c.get("id") or f"call_{uuid.uuid4().hex[:12]}"})
                 for c in reply.get("tool_calls") or []]
        if not calls:
            return await self._text_answer(trajectory, reply.get("content") or "")
        thoughts = self._take_thinking(calls) if self.use_chain_of_thought else ""
        final = next((c for c in calls if c["name"] == FINAL_ANSWER), None) if self.schema is not None else None
        if final is not None and not final.get("arguments_error") and not self._check_answer(final["arguments"]):
            others = [c for c in calls if c is not final]
            if others:  # recorded as not executed, so the trajectory stays a valid conversation
                trajectory.append(_message("assistant", thoughts, others))
                trajectory.extend(_message("tool", _result_text(SKIPPED), tool_call_id=c["id"]) for c in others)
            trajectory.append(_message("assistant", json.dumps(final["arguments"], ensure_ascii=False)))
            return final["arguments"], None
        trajectory.append(_message("assistant", reply.get("content") or thoughts, calls))
        if self.autonomous:
            trajectory.extend(await self._run_calls(calls))
        else:  # refused at once, so no call is left pending (for approval) on arguments the model did not send
            trajectory.extend(await self._run_calls([c for c in calls if c.get("arguments_error")]))
        return None, None

    @staticmethod
    def _take_thinking(calls: list[dict]) -> str:
        """The ``thinking`` arguments of ``calls``, taken out of them (``use_chain_of_thought``)."""
        thoughts = []
        for call in calls:
            arguments = call.get("arguments")
            if isinstance(arguments, dict) and THINKING in arguments:
                thought = arguments.pop(THINKING)
                if isinstance(thought, str) and thought.strip():
                    thoughts.append(thought.strip())
        return "\n\n".join(thoughts)

    async def _text_answer(self, trajectory: list[dict], text: str) -> tuple[dict | None, str | None]:
        if self.schema is None:
            trajectory.append(_message("assistant", text))
            return None, text
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if value is None or self._check_answer(value):
            value = await self._forced_answer(trajectory, text)
        else:
            trajectory.append(_message("assistant", json.dumps(value, ensure_ascii=False)))
        return value, None

    async def _forced_answer(self, trajectory: list[dict], text: str = "") -> dict:
        """The final answer as structured output, tools disabled, from the trajectory."""
        if text:
            trajectory.append(_message("assistant", text))
        messages = [self._system()] + trajectory + [
            {"role": "user", "content": "Give your final answer now, as JSON that follows the schema."}]
        value = await self.language_model(messages, schema=self.schema, **self._params)
        trajectory.append(_message("assistant", json.dumps(value, ensure_ascii=False)))
        return value

    # --- calling --------------------------------------------------------------------------

    async def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            raise DataModelTypeError(f"{self.name}: an agent takes one input; merge several with '+' or '&' first.")
        trajectory = self._conversation(inputs)
        streaming = self.streaming and not training
        if not self.autonomous:
            return await self._step(trajectory, streaming)
        for _ in range(self.max_iterations):
            answer, text = await self._turn(trajectory)
            if answer is not None or text is not None:
                if training:
                    trace.record(self.state, self.name, inputs.get_json(),
                                 answer if text is None else {"content": text})
                if streaming:
                    trajectory.pop()  # the answer, asked for again as a stream
                    return self._stream_answer(trajectory, lambda: self._output(None, trajectory))
                return self._output(answer, trajectory)
        if self.on_max_iterations == "raise":
            raise AgentMaxIterationsError(
                f"Agent {self.name!r} used its {self.max_iterations} iterations without a final answer; the "
                f"last turn called {_last_calls(trajectory)}. "
                "Raise max_iterations, simplify the task, or use on_max_iterations='answer' to answer from "
                "the trajectory so far (error.trajectory holds it).", trajectory)
        _log.warning("Agent %r used its %d iterations; answering from the trajectory so far.", self.name,
                     self.max_iterations)
        if self.schema is None:
            if streaming:
                return self._stream_answer(trajectory, lambda: self._output(None, trajectory))
            reply = await self.language_model([self._system()] + trajectory, **self._params)
            trajectory.append(_message("assistant", reply.get("content") or ""))
            return self._output(None, trajectory)
        return self._output(await self._forced_answer(trajectory), trajectory)

    async def _step(self, trajectory: list[dict], streaming: bool = False):
        start = len(trajectory)
        pending = self.pending_calls(trajectory)
        if pending:
            trajectory.extend(await self._run_calls(pending))

        def output() -> JsonDataModel:
            messages = trajectory if self.return_inputs_with_trajectory else trajectory[start:]
            return JsonDataModel(json={"messages": messages}, schema=self._output_schema)

        _, text = await self._turn(trajectory)
        if streaming and text is not None:
            trajectory.pop()  # the answer, asked for again as a stream
            return self._stream_answer(trajectory, output)
        return output()

    def _stream_answer(self, trajectory: list[dict], output) -> StreamingResponse:
        """The final answer (chat mode), streamed with the tools disabled; once read, the
        answer joins ``trajectory`` and ``output()`` is what the response stands for."""
        stream = self.language_model.stream([self._system()] + trajectory, **self._params)

        def finish(message: JsonDataModel) -> JsonDataModel:
            trajectory.append(_message("assistant", message.get("content") or ""))
            return output()

        return StreamingResponse(stream, self._output_schema, finish=finish)

    def _output(self, answer: dict | None, trajectory: list[dict]) -> JsonDataModel:
        conversation = JsonDataModel(json={"messages": trajectory}, schema=ChatMessages.get_schema())
        if self.schema is None:
            return conversation
        result = JsonDataModel(json=answer, schema=self.schema)
        return self._merge(conversation, result) if self.return_inputs_with_trajectory else result

    # --- reading outputs ----------------------------------------------------------------

    @staticmethod
    def pending_calls(messages: list[dict]) -> list[dict]:
        """The tool calls of the last assistant turn that have no result yet."""
        for index in range(len(messages) - 1, -1, -1):
            message = messages[index]
            if message.get("role") == "assistant":
                answered = {m.get("tool_call_id") for m in messages[index + 1:] if m.get("role") == "tool"}
                return [c for c in message.get("tool_calls") or [] if c.get("id") not in answered]
        return []

    @classmethod
    def pending_tool_calls(cls, output: Any) -> list[dict]:
        """The tool calls awaiting approval in a non-autonomous agent's output."""
        return cls.pending_calls(_messages_of(output))

    def final_answer(self, output: Any) -> JsonDataModel | None:
        """The final answer in a non-autonomous agent's output, or ``None`` while tools are pending."""
        messages = _messages_of(output)
        if not messages or messages[-1].get("role") != "assistant" or messages[-1].get("tool_calls"):
            return None
        if self.schema is None:
            return JsonDataModel(json={"content": messages[-1].get("content")},
                                 schema={"type": "object", "properties": {"content": {"type": "string"}}})
        try:
            value = json.loads(messages[-1].get("content") or "")
        except (ValueError, RecursionError):
            return None
        return None if self._check_answer(value) else JsonDataModel(json=value, schema=self.schema)

    # --- serialization ------------------------------------------------------------------

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(serialize_data_model(self.data_model, self.schema))
        config.update(
            tools=[serialize_synaplex_object(t) for t in self.tools],
            language_model=serialize_synaplex_object(self.language_model),
            instructions=self.state["instructions"], examples=self.state["examples"],
            temperature=self.temperature, max_iterations=self.max_iterations, autonomous=self.autonomous,
            return_inputs_with_trajectory=self.return_inputs_with_trajectory,
            on_max_iterations=self.on_max_iterations)
        for key in ("use_chain_of_thought", "streaming", "max_tokens", "top_p", "top_k", "reasoning_effort"):
            if getattr(self, key):
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        data_model, schema = deserialize_data_model(config)
        config["language_model"] = deserialize_synaplex_object(config["language_model"])
        config["tools"] = [deserialize_synaplex_object(t) for t in config.get("tools") or []]
        return cls(data_model=data_model, schema=None if data_model else schema, **config)


def _last_calls(trajectory: list[dict]) -> list[str]:
    last = next((m for m in reversed(trajectory) if m["role"] == "assistant"), {})
    return [c["name"] for c in last.get("tool_calls") or []]


def _messages_of(output: Any) -> list[dict]:
    if hasattr(output, "get_json"):
        output = output.get_json()
    if isinstance(output, dict) and isinstance(output.get("messages"), list):
        return [m if isinstance(m, dict) else dict(m) for m in output["messages"]]
    raise InvalidInputError(f"Expected an agent output with 'messages', got {output!r:.100}.")
