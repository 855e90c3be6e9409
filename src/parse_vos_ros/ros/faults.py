"""Fault counting with one rate-limited log line per fault kind.

A bursting camera sending broken frames at 200 Hz must not flood the log: each kind logs at
most once per ``period_s`` and the next line says how many were suppressed. Counts are kept
forever for diagnostics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class FaultLog:
    """Thread-safe fault counters with per-kind rate-limited logging.

    Args:
        log: called with one formatted line (e.g. ``node.get_logger().warning``).
        period_s: minimum seconds between two lines of the same kind.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, log: Callable[[str], object], period_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self.period_s = period_s  # may be changed at runtime (ros.fault_log_period_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._last_seen: dict[str, float] = {}

    def report(self, kind: str, message: str) -> bool:
        """Count one fault of ``kind``; log ``message`` unless this kind logged recently.

        Returns:
            True when a line was logged.
        """
        now = self._clock()
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self._last_seen[kind] = now
            last = self._last_logged.get(kind)
            if last is not None and now - last < self.period_s:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            self._last_logged[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        extra = f" ({suppressed} more since the last report)" if suppressed else ""
        self._log(f"[{kind}] {message}{extra}")
        return True

    def counts(self) -> dict[str, int]:
        """Total count per fault kind since start."""
        with self._lock:
            return dict(self._counts)

    def recent(self, within_s: float) -> list[str]:
        """Fault kinds reported within the last ``within_s`` seconds, sorted."""
        now = self._clock()
        with self._lock:
            return sorted(k for k, t in self._last_seen.items() if now - t <= within_s)
