"""synaplex: build, train and run typed LLM programs the way Keras builds neural networks.

The public API is flat (``synaplex.Generator``, ``synaplex.Program``…) and lazily imported:
``import synaplex`` loads only what is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from synaplex.data import provide_operators as _provide_operators
from synaplex.version import __version__

# The data types' operators (+ & | ^ ~ in, masks) record modules in a program's graph when an
# operand is symbolic, so they are implemented in synaplex.modules, a layer above synaplex.data.
# The root, above every layer, wires that implementation in; it loads on the first operator used.
_provide_operators(lambda: importlib.import_module("synaplex.modules.ops"))

# name -> "module:attribute" (or "module" for a namespace)
_EXPORTS = {
    # data
    "DataModel": "synaplex.data.data_model:DataModel",
    "Field": "synaplex.data.data_model:Field",
    "JsonDataModel": "synaplex.data.json_data_model:JsonDataModel",
    "SymbolicDataModel": "synaplex.data.symbolic_data_model:SymbolicDataModel",
    "ChatRole": "synaplex.data.builtins:ChatRole",
    "ChatMessage": "synaplex.data.builtins:ChatMessage",
    "ChatMessages": "synaplex.data.builtins:ChatMessages",
    "ToolCall": "synaplex.data.builtins:ToolCall",
    "Embedding": "synaplex.data.builtins:Embedding",
    "Embeddings": "synaplex.data.builtins:Embeddings",
    "Instructions": "synaplex.data.builtins:Instructions",
    "GeneratorState": "synaplex.data.builtins:GeneratorState",
    "Entity": "synaplex.data.knowledge:Entity",
    "Relation": "synaplex.data.knowledge:Relation",
    "Entities": "synaplex.data.knowledge:Entities",
    "Relations": "synaplex.data.knowledge:Relations",
    "KnowledgeGraph": "synaplex.data.knowledge:KnowledgeGraph",
    "Document": "synaplex.data.knowledge:Document",
    "Chunk": "synaplex.data.knowledge:Chunk",
    "KnowledgeBase": "synaplex.knowledge.knowledge_base:KnowledgeBase",
    # modules
    "Module": "synaplex.modules.module:Module",
    "Input": "synaplex.modules.input:Input",
    "InputModule": "synaplex.modules.input:InputModule",
    "Generator": "synaplex.modules.generator:Generator",
    "ChainOfThought": "synaplex.modules.chain_of_thought:ChainOfThought",
    "Decision": "synaplex.modules.decision:Decision",
    "MultiDecision": "synaplex.modules.multi_decision:MultiDecision",
    "Branch": "synaplex.modules.branch:Branch",
    "Identity": "synaplex.modules.identity:Identity",
    "SelfCritique": "synaplex.modules.self_critique:SelfCritique",
    "Tool": "synaplex.modules.tool:Tool",
    "FunctionCallingAgent": "synaplex.modules.agent:FunctionCallingAgent",
    "Action": "synaplex.modules.action:Action",
    "Lambda": "synaplex.modules.lambda_module:Lambda",
    "MultiServerMCPClient": "synaplex.modules.mcp:MultiServerMCPClient",
    "MCPTool": "synaplex.modules.mcp:MCPTool",
    "Concat": "synaplex.modules.merging:Concat",
    "And": "synaplex.modules.merging:And",
    "Or": "synaplex.modules.merging:Or",
    "Xor": "synaplex.modules.merging:Xor",
    "Not": "synaplex.modules.merging:Not",
    "InMask": "synaplex.modules.masking:InMask",
    "OutMask": "synaplex.modules.masking:OutMask",
    "UpdateKnowledge": "synaplex.modules.knowledge_update:UpdateKnowledge",
    "EmbedKnowledge": "synaplex.modules.knowledge_update:EmbedKnowledge",
    "EntityRetriever": "synaplex.modules.knowledge_retrievers:EntityRetriever",
    "TripletRetriever": "synaplex.modules.knowledge_retrievers:TripletRetriever",
    "RetrieveKnowledge": "synaplex.modules.knowledge_retrievers:RetrieveKnowledge",
    "ReciprocalRankFusion": "synaplex.modules.knowledge_retrievers:ReciprocalRankFusion",
    # programs
    "Program": "synaplex.programs.program:Program",
    "Sequential": "synaplex.programs.sequential:Sequential",
    # training
    "Variable": "synaplex.data.variable:Variable",
    # language models
    "LanguageModel": "synaplex.lm.language_model:LanguageModel",
    "EmbeddingModel": "synaplex.lm.embedding_model:EmbeddingModel",
    "Usage": "synaplex.lm.base:Usage",
    "track_usage": "synaplex.lm.usage:track_usage",
    "create_language_model": "synaplex.lm.language_model:create_language_model",
    "Router": "synaplex.lm.router:Router",
    "budget": "synaplex.lm.budget:budget",
    "Budget": "synaplex.lm.budget:Budget",
    # session and configuration
    "clear_session": "synaplex.backend.naming:clear_session",
    "enable_logging": "synaplex.backend.config:enable_logging",
    "enable_observability": "synaplex.observability.tracing:enable_observability",
    "disable_observability": "synaplex.observability.tracing:disable_observability",
    # namespaces
    "config": "synaplex.config",
    "datasets": "synaplex.datasets",
    "optimizers": "synaplex.training.optimizers",
    "rewards": "synaplex.training.rewards",
    "metrics": "synaplex.training.metrics",
    "callbacks": "synaplex.training.callbacks",
    "ops": "synaplex.ops",
    "modules": "synaplex.modules",
    "errors": "synaplex.errors",
    "saving": "synaplex.saving",
    "utils": "synaplex.utils",
    # training names Synalinks also exports at the top level
    "Reward": "synaplex.training.rewards:Reward",
    "BatchReward": "synaplex.training.rewards:BatchReward",
    "ExactMatch": "synaplex.training.rewards:ExactMatch",
    "CosineSimilarity": "synaplex.training.rewards:CosineSimilarity",
    "LMAsJudge": "synaplex.training.rewards:LMAsJudge",
    "ProgramAsJudge": "synaplex.training.rewards:ProgramAsJudge",
    "Metric": "synaplex.training.metrics:Metric",
    "BatchMetric": "synaplex.training.metrics:BatchMetric",
    "OMEGA": "synaplex.training.optimizers:OMEGA",
    # the provider seeds' names (SynapseKit, SynthOrg)
    "LLMConfig": "synaplex.lm.llm_config:LLMConfig",
    "ProviderRegistry": "synaplex.lm.registry:ProviderRegistry",
    "RoutingRequest": "synaplex.lm.routing:RoutingRequest",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'synaplex' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    value = importlib.import_module(module_name)
    if attribute:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__():
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from synaplex.data.data_model import DataModel, Field  # noqa: F401
    from synaplex.lm.language_model import LanguageModel  # noqa: F401
    from synaplex.modules.generator import Generator  # noqa: F401
    from synaplex.modules.input import Input  # noqa: F401
    from synaplex.modules.module import Module  # noqa: F401
    from synaplex.programs.program import Program  # noqa: F401
    from synaplex.programs.sequential import Sequential  # noqa: F401
