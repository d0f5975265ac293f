import json
import subprocess
import sys

HEAVY = ["httpx2", "httpx", "llama_cpp", "matplotlib", "graphviz", "openai", "anthropic", "litellm",
         "torch", "jsonschema", "rich", "numpy", "mcp", "langchain_core"]


def test_import_synaplex_is_light():
    code = (
        "import sys, json; import synaplex; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))" % (HEAVY,)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_building_and_running_a_program_loads_no_provider_sdk():
    code = """
import asyncio, sys, json, synaplex
class Q(synaplex.DataModel):
    q: str
class A(synaplex.DataModel):
    a: str
async def main():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"a": "x"}])
    i = synaplex.Input(data_model=Q)
    p = synaplex.Program(inputs=i, outputs=await synaplex.Generator(data_model=A, language_model=lm)(i))
    assert (await p(Q(q="?"))).get_json() == {"a": "x"}
asyncio.run(main())
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))
""" % (["httpx2", "llama_cpp", "matplotlib", "openai", "anthropic", "litellm", "torch", "mcp"],)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_public_api_names_resolve():
    import synaplex

    for name in synaplex.__all__:
        assert getattr(synaplex, name) is not None, name
