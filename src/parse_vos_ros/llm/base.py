"""The interface every LLM runtime implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class LLMError(RuntimeError):
    """The LLM failed: unreachable, timed out, cancelled or returned unusable output."""


class LLMRuntime(Protocol):
    """Chat completion constrained to a JSON schema."""

    def complete_json(
        self,
        messages: Sequence[Mapping[str, str]],
        schema: Mapping[str, Any],
        *,
        max_tokens: int,
        timeout_s: float,
    ) -> str:
        """The raw completion text (callers validate it); raises ``LLMError``."""
        ...
