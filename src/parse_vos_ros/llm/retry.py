"""Retries with exponential back-off inside one call's ``Deadline``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from parse_vos_ros.llm.base import Deadline, LLMError

T = TypeVar("T")


class RetryableError(LLMError):
    """A failure worth another attempt (e.g. connection refused/reset, HTTP 5xx, 429)."""


def backoff_delay(retry: int, backoff_s: float) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): ``backoff_s`` doubled per retry."""
    return backoff_s * 2 ** (retry - 1)


def call_with_retries(
    attempt: Callable[[], T], deadline: Deadline, *, max_retries: int, backoff_s: float, target: str
) -> T:
    """``attempt()``'s result, calling it again after a ``RetryableError`` up to ``max_retries``
    more times, with ``backoff_delay`` between calls.

    A back-off that would end at or past the deadline is not started: the call gives up at once
    rather than sleep into a timeout. The cancel event interrupts a back-off. Other errors from
    ``attempt`` (including ``LLMError`` timeouts and cancels) propagate unchanged.

    Args:
        attempt: one try; raises ``RetryableError`` for a transient failure.
        deadline: bounds the whole call, back-off sleeps included.
        max_retries: extra attempts after the first.
        backoff_s: first back-off delay in seconds.
        target: what is being called, for the error (e.g. "host:port").

    Raises:
        LLMError: "``target`` failed after N attempt(s): <last error>" when no attempt succeeded,
            or "cancelled" when cancelled during a back-off.
    """
    last: RetryableError | None = None
    attempts = 0
    for retry in range(max_retries + 1):
        if retry:
            delay = backoff_delay(retry, backoff_s)
            if deadline.remaining() <= delay:
                break
            deadline.sleep(delay)
        attempts += 1
        try:
            return attempt()
        except RetryableError as exc:
            last = exc
    raise LLMError(f"{target} failed after {attempts} attempt(s): {last}")
