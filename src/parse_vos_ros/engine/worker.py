"""One worker for the engine's slow jobs (reasoning, keyframes), inline or in a background thread.

Both forms share one API: ``submit`` then ``poll``. Inline, the job runs inside ``submit`` (for
deterministic offline runs and tests); threaded, ``submit`` hands it to the thread and returns at
once, and the frame loop never waits. Latest wins: a job submitted while another waits replaces
it. Outcomes of an older generation (a command or stream since replaced) are dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

LOG = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 5.0  # how long ``close`` waits for a running job
MAX_NICE = 19  # the lowest OS priority


def ms_since(t: float) -> float:
    """Milliseconds since ``t`` (a ``time.perf_counter()`` value)."""
    return (time.perf_counter() - t) * 1e3


class _Job(Protocol):
    generation: int


J = TypeVar("J", bound=_Job)
O = TypeVar("O")  # noqa: E741


class Worker(Generic[J, O]):
    """Runs jobs inline or in one background thread; every field is touched only under ``_lock``.

    Args:
        name: the thread's name (and the log's word for a failure).
        run: computes a job's outcome.
        threaded: run jobs in a background thread (``submit`` never waits).
        failed: the outcome of a job whose ``run`` raised (threaded form; inline, it propagates).
        cancel: called when the generation changes, to stop an in-flight job early (an LLM call
            would otherwise run to its timeout for a result that is discarded); may be None.
        nice: how many OS nice steps below the thread that made the worker (the frame loop) the
            thread runs (Linux: nice is per thread), 0 = the same; above 0 the scheduler runs the
            frame loop first when both want a core, and the thread takes what is left.
    """

    def __init__(self, name: str, run: Callable[[J], O], threaded: bool, failed: Callable[[J, Exception], O],
                 cancel: Callable[[], None] | None = None, nice: int = 0) -> None:
        self._name = name
        self._nice = nice
        self._run = run
        self._failed = failed
        self._cancel = cancel
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._job: J | None = None  # waiting for the thread
        self._outcome: O | None = None  # done, not yet polled
        self._busy = False  # the thread is running a job
        self._generation = 0  # outcomes of older generations are dropped
        self._closed = False
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
            self._thread.start()

    @property
    def busy(self) -> bool:
        """The thread is running a job (always False inline)."""
        with self._lock:
            return self._busy

    @property
    def idle(self) -> bool:
        """No job runs or waits, and no outcome waits to be polled."""
        with self._lock:
            return not self._busy and self._job is None and self._outcome is None

    def settle(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until no job runs or waits; True when none does. For the
        gap between two streams (an evaluation's clips): the frame loop never waits."""
        with self._lock:
            return self._wake.wait_for(lambda: not self._busy and self._job is None, timeout=timeout_s)

    def submit(self, job: J) -> None:
        """Run ``job`` now (inline) or hand it to the thread, replacing one that still waits."""
        if self._thread is None:
            self._store(job, self._run(job))
            return
        with self._lock:
            self._job = job
            self._wake.notify()

    def poll(self) -> O | None:
        """The newest finished outcome not yet taken, or None."""
        with self._lock:
            outcome, self._outcome = self._outcome, None
            return outcome

    def invalidate(self, generation: int) -> None:
        """Jobs of older generations are void: drop a waiting one and an unpolled outcome, cancel
        a running one."""
        with self._lock:
            self._generation = max(self._generation, generation)
            self._job = None
            self._outcome = None
            if self._cancel is not None:
                self._cancel()

    def close(self) -> None:
        """Stop the thread (waits up to ``JOIN_TIMEOUT_S`` for a running job)."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT_S)

    def _store(self, job: J, outcome: O) -> None:
        with self._lock:
            self._busy = False
            if job.generation == self._generation:  # a newer generation preempts this outcome
                self._outcome = outcome
            self._wake.notify_all()  # ``settle`` waits on it

    def _lower_priority(self) -> None:
        """Raise this thread's nice value by ``self._nice`` (it starts with its maker's); runs in the thread."""
        if self._nice <= 0:
            return
        try:  # Linux: a thread's id names it alone (``PRIO_PROCESS`` with a tid)
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(MAX_NICE, os.getpriority(os.PRIO_PROCESS, tid) + self._nice))
        except (AttributeError, OSError) as exc:  # no setpriority (Windows) or not allowed: run at the usual priority
            LOG.warning("%s: cannot lower the thread's priority to nice %d (%s)", self._name, self._nice, exc)

    def _loop(self) -> None:
        self._lower_priority()
        while True:
            with self._lock:
                while self._job is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job, self._job = self._job, None
                self._busy = True
            try:
                outcome = self._run(job)
            except Exception as exc:  # a failing backend must not kill the thread: report it
                LOG.exception("%s failed", self._name)
                outcome = self._failed(job, exc)
            self._store(job, outcome)
