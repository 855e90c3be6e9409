"""SIGINT and SIGTERM as a stop request, taken between callbacks.

rclpy's own handlers shut the ROS context down from a separate thread the moment a signal comes
and also raise ``KeyboardInterrupt`` in the main thread. A callback running at that moment then
fails inside any rclpy call (``InvalidHandle``, or ``RuntimeError: Unable to convert call
argument`` when the interrupt lands inside a message conversion), and the process ended with a
traceback and exit code 1 instead of a clean stop. Here rclpy installs no handlers
(``rclpy.init(signal_handler_options=SignalHandlerOptions.NO)``); a signal only sets an event, which
the spin loop reads between callbacks, so a callback always finishes and the owner releases
everything before it shuts the context down itself. A second signal raises ``KeyboardInterrupt``
for a user who wants out at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_POLL_S = 0.1  # how often an idle spin loop looks at the stop event (a signal's latency, s)


@contextmanager
def stop_on_signals(stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """While inside, SIGINT/SIGTERM set ``stop`` (a new event if None), which is yielded; the
    previous handlers come back on exit. Call from the main thread only (Python's rule)."""
    event = stop if stop is not None else threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if event.is_set():
            raise KeyboardInterrupt  # asked twice: stop now
        event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        yield event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
