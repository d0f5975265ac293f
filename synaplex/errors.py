"""``synaplex.errors``: every typed error synaplex raises."""

from synaplex.backend.errors import (  # noqa: F401
    DataModelTypeError,
    InvalidInputError,
    MissingDependencyError,
    ModuleLookupError,
    PredictionError,
    ProgramBuildError,
    SavingError,
    SynaplexError,
    ToolArgumentsError,
    UnknownClassError,
    UnsafeLoadError,
)
from synaplex.datasets.loaders import (  # noqa: F401
    DatasetChecksumError,
    DatasetError,
    DatasetFormatError,
    DatasetUnavailableError,
)
from synaplex.knowledge.errors import (  # noqa: F401
    EmbeddingDimensionError,
    KnowledgeBaseConnectionError,
    KnowledgeBaseError,
    KnowledgeSchemaError,
    ReadOnlyQueryError,
    UnsupportedURIError,
)
from synaplex.lm.errors import (  # noqa: F401
    AuthenticationError,
    BudgetExceededError,
    ContentFilterError,
    ContextWindowExceededError,
    InvalidRequestError,
    LMError,
    MissingAPIKeyError,
    MissingResponsesError,
    ModelNotFoundError,
    PaymentRequiredError,
    ProviderConnectionError,
    ProviderInternalError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseTooLargeError,
    RetriesExhaustedError,
    ScriptExhaustedError,
    StructuredOutputError,
    UnknownOptionError,
    UnknownPriceError,
    UnknownProviderError,
    UnsupportedInputError,
)
from synaplex.modules.agent import AgentMaxIterationsError  # noqa: F401
from synaplex.modules.mcp import MCPConnectionError, MCPToolError  # noqa: F401
from synaplex.training.lookup import UnknownIdentifierError  # noqa: F401
from synaplex.training.optimizers.omega import MissingModelError  # noqa: F401
from synaplex.training.trainer import NotCompiledError  # noqa: F401
