"""The interface every LLM runtime implements, and the one deadline that bounds a call."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Messages = Sequence[Mapping[str, str]]  # chat messages: {"role": ..., "content": ...}
Schema = Mapping[str, Any]  # JSON schema the completion must satisfy


class LLMError(RuntimeError):
    """The LLM failed: unreachable, timed out, cancelled or returned unusable output."""


class Deadline:
    """One deadline and one cancel event for a whole LLM call (every attempt, back-off sleep and
    wait), so a runtime cannot overrun ``timeout_s`` however many steps it takes.

    The error messages are part of the contract: ``failure_kind`` maps "timed out" and
    "cancelled" to the ``llm-fallback:timeout`` / ``llm-fallback:cancelled`` source tags.

    Args:
        timeout_s: seconds from now until the call must stop.
        cancel: set by another thread to stop the call early, or None.
        clock: monotonic time source in seconds (injectable for tests).
    """

    def __init__(
        self,
        timeout_s: float,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s = timeout_s
        self.cancel = cancel
        self.clock = clock
        self.at = clock() + timeout_s  # absolute expiry on ``clock``

    def remaining(self) -> float:
        """Seconds left (negative once expired)."""
        return self.at - self.clock()

    def timed_out(self, detail: str = "") -> LLMError:
        """The timeout error; ``detail`` (e.g. " waiting for host:port") is appended verbatim."""
        return LLMError(f"timed out after {self.timeout_s:.1f}s{detail}")

    def check(self, detail: str = "") -> None:
        """Raise if the call must stop now: ``LLMError("cancelled")`` when the cancel event is
        set (checked first: a cancel wins over a simultaneous timeout), else ``timed_out(detail)``
        once the deadline has passed."""
        if self.cancel is not None and self.cancel.is_set():
            raise LLMError("cancelled")
        if self.clock() > self.at:
            raise self.timed_out(detail)

    def sleep(self, delay_s: float) -> None:
        """Sleep ``delay_s`` seconds, waking at once to raise ``LLMError("cancelled")`` if the
        cancel event is set meanwhile (callers keep ``delay_s`` within ``remaining()``)."""
        if self.cancel is None:
            time.sleep(delay_s)
        elif self.cancel.wait(delay_s):
            raise LLMError("cancelled")


class LLMRuntime(ABC):
    """Chat completion constrained to a JSON schema.

    ``complete_json`` is the public call; it starts the call's ``Deadline`` and hands it to the
    runtime's ``_complete``, which must stop (raising ``LLMError``) once the deadline passes or
    the cancel event is set.
    """

    def complete_json(
        self,
        messages: Messages,
        schema: Schema,
        *,
        max_tokens: int,
        timeout_s: float,
        cancel: threading.Event | None = None,
    ) -> str:
        """The raw completion text (callers validate it).

        Args:
            messages: the chat, oldest first.
            schema: JSON schema the answer must follow.
            max_tokens: generation limit in tokens.
            timeout_s: seconds the whole call may take.
            cancel: set by another thread to stop the call early.

        Raises:
            LLMError: the runtime failed, timed out or was cancelled.
            parse_vos_ros.llm.grammar.LLMOutputError: generation stopped at ``max_tokens``.
        """
        return self._complete(messages, schema, max_tokens, Deadline(timeout_s, cancel))

    @abstractmethod
    def _complete(self, messages: Messages, schema: Schema, max_tokens: int, deadline: Deadline) -> str:
        """The runtime's work for ``complete_json``, bounded by ``deadline``."""
