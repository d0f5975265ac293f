"""Seed 004 (SynthOrg): the provider registry, routing decisions, strict types, health."""

import math

import pydantic
import pytest

import synaplex
from synaplex.errors import InvalidInputError, InvalidRequestError, ProviderInternalError
from synaplex.lm import provider_models as pm
from synaplex.lm.errors import (
    DriverAlreadyRegisteredError,
    DriverFactoryNotFoundError,
    DriverNotRegisteredError,
    ModelResolutionError,
    NoAvailableModelError,
    UnknownStrategyError,
)
from synaplex.lm.registry import LanguageModelDriver, ProviderRegistry, register_provider
from synaplex.lm.routing import RoutingDecision, RoutingRequest, SeniorityLevel

PROVIDERS = {
    "budget-co": {"provider": "scripted", "responses": ["small says hi"], "models": [
        {"id": "small-1", "alias": "small", "cost_per_1k_input": 0.1, "cost_per_1k_output": 0.2,
         "max_context": 8000, "estimated_latency_ms": 900}]},
    "premium-co": {"provider": "scripted", "responses": ["big says hi"], "models": [
        {"id": "large-1", "alias": "large", "cost_per_1k_input": 3.0, "cost_per_1k_output": 15.0},
        {"id": "mid-1", "alias": "medium", "cost_per_1k_input": 1.0, "cost_per_1k_output": 2.0,
         "estimated_latency_ms": 200}]},
}
ROUTING = {"strategy": "smart", "rules": [{"task_type": "code", "preferred_model": "large", "fallback": "medium"},
                                          {"role_level": "senior", "preferred_model": "medium"}],
           "fallback_chain": ["medium"]}


def registry():
    return ProviderRegistry.from_config(PROVIDERS)


# --- the registry -------------------------------------------------------------------------------

async def test_registry_snippet_from_config_get_in_len_and_complete():
    reg = registry()
    driver = reg.get("budget-co")
    response = await driver.complete([pm.ChatMessage(role="user", content="Hello")], "small")
    assert isinstance(response, pm.CompletionResponse) and response.content == "small says hi"
    assert response.model == "scripted/small-1" and response.finish_reason is pm.FinishReason.STOP
    assert "budget-co" in reg and "nope" not in reg and len(reg) == 2
    assert reg.list_providers() == ("budget-co", "premium-co")
    caps = await driver.get_model_capabilities("small")
    assert (caps.model_id, caps.cost_per_1k_input, caps.cost_per_1k_output, caps.max_context_tokens) == \
        ("small-1", 0.1, 0.2, 8000)
    with pytest.raises(TypeError):
        reg._drivers["x"] = driver  # immutable


def test_registry_errors_say_what_exists():
    with pytest.raises(DriverNotRegisteredError, match="No provider 'nope' in this registry; it has: budget-co, "
                                                       "premium-co"):
        registry().get("nope")
    with pytest.raises(DriverFactoryNotFoundError, match="names driver 'bedrock-native', which has no factory.*"
                                                         "register_provider"):
        ProviderRegistry.from_config({"x": {"driver": "bedrock-native", "provider": "scripted"}})
    with pytest.raises(InvalidInputError, match="'nosuch' is not a synaplex provider"):
        ProviderRegistry.from_config({"nosuch": {}})
    with pytest.raises(ModelResolutionError, match="Provider 'budget-co' has no model 'huge'; its models: small-1"):
        registry().get("budget-co").language_model("huge")


async def test_factory_overrides_and_register_provider():
    made = []

    def factory(name, config):
        made.append(name)
        return LanguageModelDriver(name, {**config, "provider": "scripted", "responses": ["from factory"]})

    reg = ProviderRegistry.from_config({"a": {"driver": "test-double"}}, factory_overrides={"test-double": factory})
    assert made == ["a"] and (await reg.get("a").complete([{"role": "user", "content": "x"}], "m")).content == \
        "from factory"
    register_provider("seed-004-custom", factory)
    assert "a" in ProviderRegistry.from_config({"a": {"driver": "seed-004-custom"}})
    with pytest.raises(DriverAlreadyRegisteredError, match="'seed-004-custom' is already registered.*replace=True"):
        register_provider("seed-004-custom", factory)
    register_provider("seed-004-custom", factory, replace=True)
    with pytest.raises(InvalidInputError, match="factory must be callable"):
        register_provider("other", "not a factory")


def test_driver_repr_and_errors_never_show_the_key():
    secret = "sk-live-abcdefghijklmnopqrstuvwxyz"
    reg = ProviderRegistry.from_config({"openai": {"api_key": secret, "models": [{"id": "gpt-4o-mini"}]}})
    assert secret not in repr(reg.get("openai")) and secret not in repr(reg)
    assert secret not in repr(reg.get("openai").language_model("gpt-4o-mini").get_config())


# --- routing decisions without a call ----------------------------------------------------------------

def test_smart_priority_order():
    router = registry().router(ROUTING)
    decide = lambda **kw: router.route(RoutingRequest(**kw))  # noqa: E731
    assert decide(model_override="large", task_type="code").reason == "explicit override 'large'"
    assert decide(task_type="code", agent_level="senior").resolved_model.alias == "large"   # task > role
    assert decide(agent_level="senior").resolved_model.alias == "medium"                    # role rule
    junior = decide(agent_level="junior")                                                   # seniority default
    assert junior.resolved_model.alias == "small" and "'junior' uses the 'small' tier" in junior.reason
    cheapest = decide()
    assert cheapest.resolved_model.model_id == "small-1" and cheapest.strategy_used == "smart"
    capped = decide(task_type="code", remaining_budget=4.0)       # large ($18/1k) is over, its fallback is not
    assert capped.resolved_model.alias == "medium" and capped.fallbacks_tried == ("large",)
    assert "large: over the budget ($18/1k > $4/1k)" in capped.reason
    resolved = cheapest.resolved_model
    assert (resolved.cost_per_1k_input, resolved.cost_per_1k_output, resolved.max_context,
            resolved.estimated_latency_ms, resolved.total_cost_per_1k) == (0.1, 0.2, 8000, 900, pytest.approx(0.3))
    with pytest.raises(NoAvailableModelError, match="smart routing found no model.*over the budget"):
        decide(remaining_budget=0.01)


def test_each_named_strategy():
    def router(strategy):
        return registry().router({**ROUTING, "strategy": strategy})

    assert router("manual").route(RoutingRequest(model_override="mid-1")).resolved_model.alias == "medium"
    assert router("manual").route(RoutingRequest(model_override="scripted/large-1")).resolved_model.alias == "large"
    with pytest.raises(ModelResolutionError, match="manual routing needs RoutingRequest\\(model_override="):
        router("manual").route(RoutingRequest())
    with pytest.raises(ModelResolutionError, match="No model 'gpt-9' in this Router: use an alias \\(large, medium, "
                                                   "small\\)"):
        router("manual").route(RoutingRequest(model_override="gpt-9"))
    assert router("role_based").route(RoutingRequest(agent_level=SeniorityLevel.LEAD)).resolved_model.alias == "large"
    with pytest.raises(ModelResolutionError, match="role_based routing needs RoutingRequest\\(agent_level=...\\)"):
        router("role_based").route(RoutingRequest())
    for name in ("cost_aware", "cheapest"):
        decision = router(name).route(RoutingRequest(remaining_budget=1.0))
        assert decision.resolved_model.alias == "small" and decision.strategy_used == name
    assert router("cost_aware").route(RoutingRequest(task_type="code")).resolved_model.alias == "large"
    fastest = router("fastest").route(RoutingRequest())
    assert fastest.resolved_model.alias == "medium" and "200 ms" in fastest.reason
    with pytest.raises(UnknownStrategyError, match="Unknown routing strategy 'random'; choose one of"):
        router("random")
    with pytest.raises(UnknownStrategyError, match="round_robin.*makes no decision without a call"):
        router("round_robin").route(RoutingRequest())


def test_a_user_strategy_and_bad_requests():
    class MostExpensive:
        name = "most_expensive"

        def select(self, request, config, resolver):
            model = max(resolver.all_models(), key=lambda m: m.total_cost_per_1k)
            return RoutingDecision(resolved_model=model, strategy_used=self.name, reason="the priciest")

    router = registry().router({"strategy": MostExpensive()})
    assert router.route(RoutingRequest()).resolved_model.alias == "large"
    with pytest.raises(InvalidInputError, match="cannot be saved: its code is not data"):
        router.get_config()
    with pytest.raises(UnknownStrategyError, match="must be a name or an object with a 'name'"):
        registry().router({"strategy": object()})
    with pytest.raises(InvalidInputError, match="(?s)invalid RoutingRequest.*remaining_budget.*greater than or equal to 0"):
        registry().router(ROUTING).route({"remaining_budget": -1})
    with pytest.raises(InvalidInputError, match="(?s)invalid routing rules.*a routing rule needs role_level or task_type"):
        registry().router({"rules": [{"preferred_model": "large"}]})
    with pytest.raises(ModelResolutionError, match="rule 0 names 'gpt-9', which is neither one of its models"):
        registry().router({"rules": [{"task_type": "x", "preferred_model": "gpt-9"}]})


async def test_router_from_config_is_still_a_language_model_and_saves_its_rules():
    router = registry().router(ROUTING)
    reply = await router("Write code", routing=RoutingRequest(task_type="code"))
    assert reply["content"] == "big says hi" and router.last_decision.model == "scripted/large-1"
    program_input = synaplex.Input(data_model=synaplex.Instructions)
    assert await synaplex.Generator(language_model=router)(program_input) is not None
    saved = synaplex.saving.serialize_synaplex_object(router)
    again = synaplex.saving.deserialize_synaplex_object(saved)
    assert again.route(RoutingRequest(task_type="code")).resolved_model.alias == "large"


# --- health ------------------------------------------------------------------------------------

async def test_health_is_readable_and_smart_skips_a_model_in_cooldown():
    failing = synaplex.LanguageModel(model="scripted/flaky", max_retries=0, capabilities={
        "input_price_per_token": 1e-7, "output_price_per_token": 1e-7},
        responses=lambda messages, schema: (_ for _ in ()).throw(ProviderInternalError("503", provider="x")))
    good = synaplex.LanguageModel(model="scripted/good", responses=["ok"], capabilities={
        "input_price_per_token": 1e-6, "output_price_per_token": 1e-6})
    router = synaplex.Router(models=[failing, good], strategy="smart", cooldown=60)
    assert router.route(RoutingRequest()).resolved_model.model_id == "flaky"   # cheaper, healthy
    assert (await router("hi"))["content"] == "ok"
    flaky, fine = router.health()
    assert (flaky.healthy, flaky.recent_errors, flaky.last_error) == (False, 1, "ProviderInternalError")
    assert 59 < flaky.cooldown_remaining_s <= 60 and fine.healthy and fine.latency_ms > 0
    decision = router.route(RoutingRequest())
    assert decision.resolved_model.model_id == "good" and "flaky: in its cooldown" in decision.reason


# --- strict types ------------------------------------------------------------------------------

def test_message_role_constraints():
    call = pm.ToolCall(id="c1", name="search", arguments={"q": "x"})
    with pytest.raises(pydantic.ValidationError, match="a 'user' message cannot carry tool_calls"):
        pm.ChatMessage(role="user", content="hi", tool_calls=(call,))
    with pytest.raises(pydantic.ValidationError, match="a 'tool' message needs tool_result"):
        pm.ChatMessage(role="tool", content="42")
    with pytest.raises(pydantic.ValidationError, match="an 'assistant' message needs content or tool_calls"):
        pm.ChatMessage(role="assistant")
    with pytest.raises(pydantic.ValidationError, match="role"):
        pm.ChatMessage(role="robot", content="x")
    failed = pm.ChatMessage(role=pm.MessageRole.TOOL,
                            tool_result=pm.ToolResult(tool_call_id="c1", content="timeout", is_error=True))
    assert failed.to_wire() == {"role": "tool", "content": "Error: timeout", "tool_call_id": "c1"}
    asks = pm.ChatMessage(role="assistant", tool_calls=(call,))
    assert asks.to_wire()["tool_calls"] == [{"id": "c1", "name": "search", "arguments": {"q": "x"}}]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        asks.content = "changed"


def test_responses_stream_events_and_usage_arithmetic():
    with pytest.raises(pydantic.ValidationError, match="a completion needs content or tool_calls"):
        pm.CompletionResponse(finish_reason="stop", usage=pm.ZERO_TOKEN_USAGE, model="m")
    with pytest.raises(pydantic.ValidationError, match="a 'content_delta' event needs content"):
        pm.StreamChunk(event_type="content_delta")
    assert pm.StreamChunk(event_type=pm.StreamEventType.DONE).content is None
    a = pm.compute_cost(1000, 500, cost_per_1k_input=0.003, cost_per_1k_output=0.015)
    assert (a.input_tokens, a.output_tokens, a.total_tokens) == (1000, 500, 1500)
    assert a.cost_usd == pytest.approx(0.0105)
    assert a + pm.ZERO_TOKEN_USAGE == a == pm.ZERO_TOKEN_USAGE.add(a)
    b = pm.add_token_usage(a, a)
    assert b.total_tokens == 3000 and a.total_tokens == 1500   # pure: a is unchanged
    for bad, name in ((-1, "input_tokens"), (math.nan, "cost_per_1k_input"), (math.inf, "cost_per_1k_input")):
        args = {"input_tokens": 10, "output_tokens": 1, "cost_per_1k_input": 0.1, "cost_per_1k_output": 0.1}
        args[name] = bad
        with pytest.raises(InvalidRequestError, match=f"compute_cost: {name} must be a finite number >= 0"):
            pm.compute_cost(**args)
    assert [pm.finish_reason(w) for w in ("length", "tool_calls", "end_turn", None, "weird")] == [
        pm.FinishReason.MAX_TOKENS, pm.FinishReason.TOOL_USE, pm.FinishReason.STOP, pm.FinishReason.STOP,
        pm.FinishReason.ERROR]


async def test_driver_stream_gives_typed_events_with_whole_tool_calls():
    driver = LanguageModelDriver("s", {"provider": "scripted", "responses": [
        {"content": "", "tool_calls": [{"id": "c1", "name": "search", "arguments": {"q": "paris"}}]}]})
    tools = [pm.ToolDefinition(name="search", description="Search", parameters_schema={
        "type": "object", "properties": {"q": {"type": "string"}}})]
    events = [e async for e in driver.stream([pm.ChatMessage(role="user", content="find")], "m", tools=tools,
                                               config=pm.CompletionConfig(temperature=0.1, max_tokens=50))]
    kinds = [e.event_type for e in events]
    assert kinds == [pm.StreamEventType.TOOL_CALL_DELTA, pm.StreamEventType.USAGE, pm.StreamEventType.DONE]
    assert events[0].tool_call_delta == pm.ToolCall(id="c1", name="search", arguments={"q": "paris"})
    with pytest.raises(InvalidRequestError, match="complete/stream need at least one message"):
        await driver.complete([], "m")
    with pytest.raises(InvalidRequestError, match="the model must be a non-blank string"):
        await driver.complete([{"role": "user", "content": "x"}], " ")
