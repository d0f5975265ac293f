"""Cutting long documents into chunks that the embedder reads whole.

The splitting is ``semantic-text-splitter``'s (MIT, Rust): it cuts at the largest semantic
unit that fits (sections, paragraphs, sentences, then words), measured in the tokens of the
embedded embedder's WordPiece tokenizer, so a chunk never exceeds what all-MiniLM-L6-v2 reads
(256 tokens).
"""

from __future__ import annotations

from synaplex.backend.errors import InvalidInputError, MissingDependencyError

INSTALL = 'pip install "synaplex[knowledge]"'


class Chunker:
    """``Chunker(max_tokens=200, overlap=20).split(text)`` returns the text's chunks, in order.

    Example:
        >>> Chunker(max_tokens=50).split(long_text)[:2]
    """

    def __init__(self, max_tokens: int = 200, overlap: int = 20):
        if not isinstance(max_tokens, int) or not 16 <= max_tokens <= 256:
            raise InvalidInputError(f"chunk max_tokens must be an integer from 16 to 256, got {max_tokens!r}.")
        if not isinstance(overlap, int) or not 0 <= overlap < max_tokens // 2:
            raise InvalidInputError(f"chunk overlap must be an integer from 0 to {max_tokens // 2 - 1}, "
                                    f"got {overlap!r}.")
        self.max_tokens = max_tokens
        self.overlap = overlap
        self._splitter = None

    def _get_splitter(self):
        if self._splitter is None:
            try:
                import tokenizers  # noqa: PLC0415 - optional extra "knowledge"
                from semantic_text_splitter import TextSplitter  # noqa: PLC0415 - optional extra "knowledge"
            except ImportError as error:
                raise MissingDependencyError(
                    f"Chunking documents needs semantic-text-splitter and tokenizers ({error.name} is missing). "
                    f"Install them with: {INSTALL}") from None
            from synaplex.lm.onnx_embedding import tokenizer_json  # noqa: PLC0415 - with the optional tokenizer

            tokenizer = tokenizers.Tokenizer.from_str(tokenizer_json())
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._splitter = TextSplitter.from_huggingface_tokenizer(tokenizer, capacity=self.max_tokens,
                                                                     overlap=self.overlap, trim=True)
        return self._splitter

    def split(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise InvalidInputError(f"A document's text must be a string, got {type(text).__name__}.")
        if not text.strip():
            return []
        return [chunk for chunk in self._get_splitter().chunks(text) if chunk.strip()]

    def get_config(self) -> dict:
        return {"max_tokens": self.max_tokens, "overlap": self.overlap}
