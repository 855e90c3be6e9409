"""The LLM runtime named by ``llm.runtime`` (imported only when chosen), and the failure gate
that sends callers to the rule path while the LLM is failing."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable

from parse_vos_ros.config import Config
from parse_vos_ros.llm.base import LLMRuntime

_SHARED: dict[tuple[object, ...], LLMRuntime] = {}
_SHARED_LOCK = threading.Lock()


def build_runtime(config: Config) -> LLMRuntime:
    """The runtime for ``config.llm``, shared: the LLM parser and the LLM reasoner of one process
    get the same instance, so an 8B model is loaded once (its own lock serialises requests).

    Raises:
        parse_vos_ros.backends.BackendLoadError: the GGUF file is missing, corrupt or unloadable
            (failures are not cached: the next call tries again).
    """
    key = tuple(sorted(dataclasses.asdict(config.llm).items()))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = _create(config)
        return _SHARED[key]


def _create(config: Config) -> LLMRuntime:
    if config.llm.runtime == "openai":
        from parse_vos_ros.llm.openai_runtime import OpenAIRuntime

        return OpenAIRuntime.from_config(config)
    from parse_vos_ros.llm.llama_cpp_runtime import LlamaCppRuntime

    return LlamaCppRuntime.from_config(config)


class FailureGate:
    """Remembers the last LLM failure so callers take the rule path for ``cooldown_s`` seconds
    instead of waiting for a dead or stalled LLM on every request; the first call after the
    cooldown tries the LLM again, so the LLM path recovers by itself.

    Args:
        cooldown_s: seconds to skip the LLM after a failure (0 = always try).
        clock: time source in seconds (monotonic by default; injectable for tests).
    """

    def __init__(self, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.failures = 0  # total failures, for diagnostics
        self.last_error = ""
        self._until = -math.inf

    def blocked(self) -> bool:
        """True while a recent failure says to skip the LLM."""
        return self.clock() < self._until

    def fail(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        self._until = self.clock() + self.cooldown_s

    def ok(self) -> None:
        self._until = -math.inf


def failure_kind(exc: BaseException) -> str:
    """A short tag for ``source`` strings ("llm-fallback:<kind>") from an LLM/validation error."""
    from parse_vos_ros.llm.grammar import LLMOutputError
    from parse_vos_ros.parsing.schema import SchemaError

    text = str(exc).lower()
    if isinstance(exc, SchemaError):
        return "invalid"
    if isinstance(exc, LLMOutputError):
        return "truncated" if "truncated" in text else "invalid"
    if "timed out" in text:
        return "timeout"
    if "cancelled" in text:
        return "cancelled"
    return "error"
