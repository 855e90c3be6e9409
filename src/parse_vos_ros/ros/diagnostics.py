"""The node's diagnostics: every counter and figure as strings, the status level and message, and
the ``/diagnostics`` message. ``NodeDiagnostics`` is a part of ``ParseVosNode`` (a mixin) that only
reads the node's state.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from parse_vos_ros import backends
from parse_vos_ros.ros import memory, qos

# Fault kinds that concern the engine rather than the input (diagnostics name them first).
ENGINE_FAULTS = ("engine_error", "engine_rebuild", "internal_error")
BYTES_PER_MB = 1024 * 1024


class NodeDiagnostics:
    """Diagnostics of ``ParseVosNode`` (see the module docstring)."""

    def diagnostics_values(self) -> dict[str, str]:
        """Every diagnostic key/value as strings (also used by tests)."""
        with self._slot_lock:
            counters = dict(self._counters)
        values: dict[str, str] = {
            f"frames_{k}": str(counters.get(k, 0))
            for k in ("received", "processed", "dropped", "rejected", "ignored_inactive", "with_depth")
        }
        for key in ("commands_received", "commands_applied", "commands_rejected", "commands_superseded",
                    "commands_unanswered", "memory_trims"):
            values[key] = str(counters.get(key, 0))
        values["command_queue_depth"] = str(qos.COMMAND_DEPTH)
        values["rss_mb"] = f"{memory.rss_bytes() / BYTES_PER_MB:.1f}"
        values["threads"] = str(threading.active_count())  # Python threads: the worker, the engine's workers
        values["lifecycle"] = self.lifecycle
        values["backends"] = self._backends
        values["fallbacks"] = "; ".join(f.describe() for f in backends.fallbacks()) or "none"
        for kind, count in sorted(self._faults.counts().items()):
            values[f"fault_{kind}"] = str(count)
        times = np.array(self._process_ms, dtype=np.float64)
        if times.size:
            for q in (50, 95, 99):
                values[f"process_ms_p{q}"] = f"{np.percentile(times, q):.2f}"
        if self._last_arrival is not None:
            values["last_image_age_s"] = f"{time.monotonic() - self._last_arrival:.2f}"
        values["image_reliability"] = self._reliability
        values["command_id"] = self._command_id
        result = self._last_result
        values["state"] = str(result.state.value) if result is not None else f"none (node {self.lifecycle})"
        with contextlib.suppress(Exception), self._engine_lock:  # stats are best effort
            for key, value in (self._engine.stats() if self._engine is not None else {}).items():
                values[f"engine_{key}"] = f"{value:g}" if isinstance(value, float) else str(value)
        return values

    def diagnostics_status(self, values: dict[str, str]) -> tuple[bytes, str]:
        """Level and message: a node that is not active (WARN: it publishes nothing), then recent
        engine faults, a stalled camera, recent input faults (``ros.fault_warn_s``); old faults
        only remain in the ``fault_*`` counts."""
        ros = self.config.ros
        if self.lifecycle != "active":
            return DiagnosticStatus.WARN, f"{self.lifecycle}: images are ignored, nothing is published"
        recent = self._faults.recent(ros.fault_warn_s)
        engine = [k for k in recent if k in ENGINE_FAULTS]
        if engine:
            return DiagnosticStatus.WARN, f"engine faults: {', '.join(engine)}"
        if float(values.get("last_image_age_s", 0.0)) > ros.stall_warn_s:
            return DiagnosticStatus.WARN, f"camera stalled: no image for {ros.stall_warn_s:g} s"
        if recent:
            return DiagnosticStatus.WARN, f"input faults: {', '.join(recent)} (see fault_* counts)"
        if values.get("fallbacks", "none") != "none":
            return DiagnosticStatus.WARN, "degraded: a model failed to load, its fallback runs (see fallbacks)"
        return DiagnosticStatus.OK, "ok"

    def _publish_diagnostics(self) -> None:
        values = self.diagnostics_values()
        status = DiagnosticStatus()
        status.name = f"{self.get_name()}: pipeline"
        status.hardware_id = self.get_fully_qualified_name()
        status.level, status.message = self.diagnostics_status(values)
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self._diag_pub.publish(array)
