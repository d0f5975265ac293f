"""``synaplex.errors``: every typed error synaplex raises."""

from synaplex.backend.errors import (  # noqa: F401
    DataModelTypeError,
    InvalidInputError,
    ModuleLookupError,
    PredictionError,
    ProgramBuildError,
    SavingError,
    SynaplexError,
    UnknownClassError,
)
from synaplex.lm.errors import (  # noqa: F401
    LMError,
    MissingResponsesError,
    ScriptExhaustedError,
    StructuredOutputError,
    UnknownProviderError,
)
