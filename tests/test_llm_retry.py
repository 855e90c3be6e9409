"""The shared call envelope of the LLM runtimes: ``Deadline`` (timeout + cancel), the retry loop
with exponential back-off, and ``LLMRuntime.complete_json`` handing both to the runtime."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest

from parse_vos_ros.llm.base import Deadline, LLMError, LLMRuntime, Messages, Schema
from parse_vos_ros.llm.retry import RetryableError, backoff_delay, call_with_retries
from parse_vos_ros.llm.runtime import failure_kind


class FakeClock:
    """A manual monotonic clock (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeDeadline(Deadline):
    """A ``Deadline`` on a fake clock whose sleeps advance the clock instead of waiting."""

    def __init__(self, timeout_s: float, cancel: threading.Event | None = None) -> None:
        self.fake = FakeClock()
        super().__init__(timeout_s, cancel, clock=self.fake)
        self.slept: list[float] = []

    def sleep(self, delay_s: float) -> None:
        self.slept.append(delay_s)
        self.fake.now += delay_s


def failing(times: int, then: str = "ok", cost_s: float = 0.0, clock: FakeClock | None = None) -> Callable[[], str]:
    """An attempt that raises ``RetryableError`` ``times`` times, then returns ``then``; each call
    costs ``cost_s`` seconds on ``clock``."""
    calls = {"n": 0}

    def attempt() -> str:
        calls["n"] += 1
        if clock is not None:
            clock.now += cost_s
        if calls["n"] <= times:
            raise RetryableError(f"boom {calls['n']}")
        return then

    attempt.calls = calls  # type: ignore[attr-defined]
    return attempt


def test_backoff_doubles_per_retry() -> None:
    assert [backoff_delay(r, 0.25) for r in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert backoff_delay(3, 0.0) == 0.0


def test_retries_count_and_backoff_growth() -> None:
    deadline = FakeDeadline(100.0)
    attempt = failing(10)
    with pytest.raises(LLMError, match=r"^svc:80 failed after 4 attempt\(s\): boom 4$"):
        call_with_retries(attempt, deadline, max_retries=3, backoff_s=0.125, target="svc:80")
    assert attempt.calls["n"] == 4  # type: ignore[attr-defined]
    assert deadline.slept == [0.125, 0.25, 0.5]


def test_success_after_transient_failures_stops_retrying() -> None:
    deadline = FakeDeadline(100.0)
    attempt = failing(2, then="answer")
    assert call_with_retries(attempt, deadline, max_retries=5, backoff_s=0.5, target="svc") == "answer"
    assert attempt.calls["n"] == 3  # type: ignore[attr-defined]
    assert deadline.slept == [0.5, 1.0]


def test_zero_retries_means_one_attempt() -> None:
    deadline = FakeDeadline(100.0)
    with pytest.raises(LLMError, match=r"failed after 1 attempt\(s\): boom 1"):
        call_with_retries(failing(5), deadline, max_retries=0, backoff_s=0.5, target="svc")
    assert deadline.slept == []


def test_no_backoff_is_started_that_would_reach_the_deadline() -> None:
    # 0.75 s budget, 0.25 s back-off: after attempt 2 (t = 0.25 s) the next 0.5 s sleep would end
    # exactly at the deadline, so the loop gives up instead of sleeping into a timeout.
    deadline = FakeDeadline(0.75)
    attempt = failing(10)
    with pytest.raises(LLMError, match=r"failed after 2 attempt\(s\)"):
        call_with_retries(attempt, deadline, max_retries=10, backoff_s=0.25, target="svc")
    assert deadline.slept == [0.25]
    assert deadline.remaining() > 0  # gave up early, not late


def test_time_spent_in_attempts_counts_against_the_deadline() -> None:
    # attempts of 0.75 s each in a 2 s budget: attempt 1 ends at 0.75 s, the 0.25 s back-off fits,
    # attempt 2 ends at 1.75 s and the next 0.5 s back-off would pass the deadline: stop.
    deadline = FakeDeadline(2.0)
    attempt = failing(10, cost_s=0.75, clock=deadline.fake)
    with pytest.raises(LLMError, match=r"failed after 2 attempt\(s\): boom 2"):
        call_with_retries(attempt, deadline, max_retries=10, backoff_s=0.25, target="svc")
    assert deadline.slept == [0.25]
    assert deadline.fake.now == 1.75


def test_other_errors_propagate_without_retry() -> None:
    deadline = FakeDeadline(100.0)
    calls = []

    def attempt() -> str:
        calls.append(1)
        raise LLMError("HTTP 400 from svc: bad model")

    with pytest.raises(LLMError, match="HTTP 400"):
        call_with_retries(attempt, deadline, max_retries=3, backoff_s=0.1, target="svc")
    assert calls == [1] and deadline.slept == []


def test_cancel_interrupts_a_backoff_sleep() -> None:
    cancel = threading.Event()
    deadline = Deadline(30.0, cancel)
    timer = threading.Timer(0.1, cancel.set)
    timer.start()
    attempt = failing(10)
    t0 = time.monotonic()
    with pytest.raises(LLMError, match=r"^cancelled$"):
        call_with_retries(attempt, deadline, max_retries=3, backoff_s=5.0, target="svc")
    assert time.monotonic() - t0 < 2.0  # not the 5 s back-off
    assert attempt.calls["n"] == 1  # type: ignore[attr-defined]
    timer.cancel()


def test_real_backoff_sleeps_at_least_the_delay() -> None:
    stamps: list[float] = []

    def attempt() -> str:
        stamps.append(time.monotonic())
        if len(stamps) < 3:
            raise RetryableError("busy")
        return "ok"

    assert call_with_retries(attempt, Deadline(10.0), max_retries=2, backoff_s=0.05, target="svc") == "ok"
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # doubled


def test_deadline_check_messages_and_priority() -> None:
    clock = FakeClock()
    cancel = threading.Event()
    deadline = Deadline(0.5, cancel, clock=clock)
    deadline.check(" waiting for svc")  # in time, not cancelled: no error
    clock.now = 0.5
    deadline.check()  # the deadline itself still counts as in time
    clock.now = 0.6
    with pytest.raises(LLMError, match=r"^timed out after 0\.5s waiting for svc$"):
        deadline.check(" waiting for svc")
    assert deadline.remaining() == pytest.approx(-0.1)
    cancel.set()
    with pytest.raises(LLMError, match=r"^cancelled$"):  # a cancel wins over the timeout
        deadline.check()
    assert failure_kind(deadline.timed_out()) == "timeout"
    assert failure_kind(LLMError("cancelled")) == "cancelled"


def test_deadline_sleep_waits_and_a_set_cancel_raises_at_once() -> None:
    t0 = time.monotonic()
    Deadline(5.0).sleep(0.05)
    assert time.monotonic() - t0 >= 0.05
    cancel = threading.Event()
    cancel.set()
    t0 = time.monotonic()
    with pytest.raises(LLMError, match=r"^cancelled$"):
        Deadline(5.0, cancel).sleep(10.0)
    assert time.monotonic() - t0 < 1.0


class Recorder(LLMRuntime):
    def __init__(self) -> None:
        self.seen: list[tuple[Messages, Schema, int, Deadline]] = []

    def _complete(self, messages: Messages, schema: Schema, max_tokens: int, deadline: Deadline) -> str:
        self.seen.append((messages, schema, max_tokens, deadline))
        return "{}"


def test_complete_json_hands_one_deadline_to_the_runtime() -> None:
    runtime = Recorder()
    cancel = threading.Event()
    messages = [{"role": "user", "content": "hi"}]
    assert runtime.complete_json(messages, {"type": "object"}, max_tokens=8, timeout_s=2.0, cancel=cancel) == "{}"
    ((got_messages, schema, max_tokens, deadline),) = runtime.seen
    assert got_messages == messages and schema == {"type": "object"} and max_tokens == 8
    assert deadline.timeout_s == 2.0 and deadline.cancel is cancel
    assert 0 < deadline.remaining() <= 2.0
    runtime.complete_json(messages, {}, max_tokens=8, timeout_s=1.0)
    assert runtime.seen[1][3].cancel is None


def test_a_runtime_must_implement_complete() -> None:
    with pytest.raises(TypeError):
        LLMRuntime()  # type: ignore[abstract]
