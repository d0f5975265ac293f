"""Item 3: EmbeddingModel takes the call path (retries, cache, rate limit, prices, reported usage,
batches, spans), on recorded requests (httpx2.MockTransport)."""

import asyncio
import json

import httpx2
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import synaplex
from synaplex.errors import AuthenticationError, RetriesExhaustedError
from tests.test_provider_openai_compatible import KEY, Recorder, error


def vectors_reply(texts_or_count, prompt_tokens=1000, dim=3):
    count = texts_or_count if isinstance(texts_or_count, int) else len(texts_or_count)
    return {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [float(i)] * dim}
                                       for i in range(count)],
            "model": "text-embedding-3-small", "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}


def embedder(recorder, model="openai/text-embedding-3-small", **kwargs):
    kwargs.setdefault("retry_delay", 0.0)
    return synaplex.EmbeddingModel(model=model, api_key=KEY, transport=recorder.transport(), **kwargs)


async def test_a_503_is_retried():
    recorder = Recorder(error(503, "Service Unavailable"), vectors_reply(2))
    em = embedder(recorder)
    assert (await em(["a", "b"]))["embeddings"] == [[0.0] * 3, [1.0] * 3]
    assert len(recorder.requests) == 2 and em.usage.retries == 1 and em.usage.calls == 1
    with pytest.raises(RetriesExhaustedError):
        await embedder(Recorder(error(503, "down")), max_retries=1)(["a"])
    with pytest.raises(AuthenticationError):  # not retryable: one request
        failing = Recorder(error(401, "bad key"))
        await embedder(failing)(["a"])
    assert len(failing.requests) == 1


async def test_reported_usage_and_catalogue_price():
    em = embedder(Recorder(vectors_reply(2, prompt_tokens=1000)))
    with synaplex.track_usage() as used:
        await em(["a", "b"])
    assert em.usage.input_tokens == 1000 and used.total.input_tokens == 1000  # not a chars/4 guess
    price = em.capabilities.input_price_per_token
    assert price and em.usage.cost == pytest.approx(1000 * price) and em.usage.cost > 0


async def test_unknown_price_is_unknown_not_zero():
    em = embedder(Recorder(vectors_reply(1)), model="openai/my-embedder", api_base="http://127.0.0.1:9/v1")
    await em(["a"])
    assert em.usage.cost is None


async def test_texts_are_sent_in_batches_of_the_provider_limit():
    seen = []

    def handler(request):
        texts = json.loads(request.content)["input"]
        seen.append(len(texts))
        return httpx2.Response(200, json=vectors_reply(texts, prompt_tokens=len(texts)))

    em = synaplex.EmbeddingModel(model="cohere/embed-english-v3.0", api_key=KEY,
                                 transport=httpx2.MockTransport(handler))
    result = await em([f"text {i}" for i in range(200)])
    assert seen == [96, 96, 8] and len(result["embeddings"]) == 200  # Cohere takes 96 texts a request
    assert em.usage.calls == 3 and em.usage.input_tokens == 200
    assert em.batch_size == 96 and synaplex.EmbeddingModel(model="openai/text-embedding-3-small",
                                                           api_key=KEY).batch_size == 2048


async def test_vectors_are_cached_per_text():
    seen = []

    def handler(request):
        texts = json.loads(request.content)["input"]
        seen.append(texts)
        return httpx2.Response(200, json=vectors_reply(texts, prompt_tokens=len(texts)))

    em = synaplex.EmbeddingModel(model="openai/text-embedding-3-small", api_key=KEY, caching=True,
                                 transport=httpx2.MockTransport(handler))
    first = await em(["a", "b"])
    second = await em(["b", "c"])
    assert seen == [["a", "b"], ["c"]]
    assert second["embeddings"][0] == first["embeddings"][1]
    assert em.last_usage.cache_hits == 1 and em.last_usage.calls == 1


async def test_request_parameters_reach_the_body_and_unknown_ones_never_do():
    recorder = Recorder(vectors_reply(1))
    em = synaplex.EmbeddingModel(model="openrouter/qwen/qwen3-embedding-8b", api_key=KEY,
                                 transport=recorder.transport(), provider={"only": ["nebius"]}, dimensions=256,
                                 extra_body={"input_type": "query"})
    await em(["a"])
    assert recorder.body == {"model": "qwen/qwen3-embedding-8b", "input": ["a"], "encoding_format": "float",
                             "provider": {"only": ["nebius"]}, "dimensions": 256, "input_type": "query"}


async def test_gemini_embeddings_take_dimensions_and_are_retried():
    calls = []

    def handler(request):
        calls.append(json.loads(request.content))
        if len(calls) == 1:
            return httpx2.Response(503, json={"error": {"message": "overloaded"}})
        return httpx2.Response(200, json={"embeddings": [{"values": [0.5, 0.5]}]})

    em = synaplex.EmbeddingModel(model="gemini/text-embedding-004", api_key=KEY, retry_delay=0.0, dimensions=2,
                                 transport=httpx2.MockTransport(handler))
    assert (await em(["a"]))["embeddings"] == [[0.5, 0.5]]
    assert calls[-1]["requests"][0]["outputDimensionality"] == 2 and em.usage.retries == 1


async def test_a_concurrency_limit_holds_for_embeddings():
    in_flight, most = [0], [0]

    async def handler(request):
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.02)
        in_flight[0] -= 1
        return httpx2.Response(200, json=vectors_reply(1))

    em = synaplex.EmbeddingModel(model="openai/text-embedding-3-small", api_key=KEY, max_concurrency=1,
                                 transport=httpx2.MockTransport(handler))
    await asyncio.gather(*(em([f"t{i}"]) for i in range(4)))
    assert most[0] == 1 and em.usage.calls == 4


async def test_embeddings_get_a_span():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    synaplex.enable_observability(tracer_provider=provider)
    try:
        await embedder(Recorder(vectors_reply(2, prompt_tokens=42)))(["a", "b"])
    finally:
        synaplex.disable_observability()
    (span,) = exporter.get_finished_spans()
    assert span.name == "embeddings openai/text-embedding-3-small"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == 42 and span.attributes["synaplex.texts"] == 2
