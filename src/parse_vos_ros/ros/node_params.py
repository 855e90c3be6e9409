"""The node's parameters: every config key declared as a parameter, a change validated as a whole
new Config and applied by the worker between frames (in place, by resubscribing, or by rebuilding
the engine); while no worker runs (unconfigured) a change is applied at once, and configure builds
with it. ``NodeParameters`` is a part of ``ParseVosNode`` (a mixin); it owns ``_pending`` (under
``_slot_lock``) and replaces ``config`` and the engine.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.parameter import Parameter

from parse_vos_ros.config import Config, ConfigError
from parse_vos_ros.parsing.base import CommandParseError
from parse_vos_ros.ros import params, qos


class NodeParameters:
    """Parameter handling of ``ParseVosNode`` (see the module docstring)."""

    def _declare_config(self, config: Config) -> Config:
        """Declare every config key as a parameter (defaults from ``config``) and read overrides."""
        values: dict[str, Any] = {}
        for key, default in params.config_keys(config):
            descriptor = ParameterDescriptor(description=f"config key {key}", dynamic_typing=True)
            param = self.declare_parameter(key, params.to_parameter_value(default), descriptor)
            values[key] = param.value
        return params.config_from_values(values, base=config)

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Validate a change as a whole new Config; the worker applies it between frames."""
        changes = {p.name: p.value for p in parameters if p.name != "use_sim_time"}
        if not changes:
            return SetParametersResult(successful=True)
        with self._slot_lock:
            # A change not applied yet is the base of the next one, so none is lost.
            pending = self._pending
            try:
                plan = params.classify_changes(pending.config if pending else self.config, changes)
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            self._pending = pending.then(plan) if pending else plan
        if self._worker is None:  # unconfigured: nothing runs a frame, so apply it now (executor thread)
            self._apply_pending()
        else:
            self._slot_event.set()
        return SetParametersResult(successful=True)

    def _apply_pending(self) -> None:
        """Apply a validated parameter change (worker thread between frames, or the executor
        thread while unconfigured: what configure creates takes the new values then)."""
        with self._slot_lock:
            plan, self._pending = self._pending, None
        if plan is None:
            return
        self._adopt_config(plan.config)
        if plan.resubscribe and self._image_sub is not None:
            self._resubscribe(qos.choose_image_reliability(self._offered_reliability(),
                                                           plan.config.ros.image_reliability))
        if "ros.diagnostics_period_s" in plan.live:
            self._diag_timer.cancel()
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(plan.config.ros.diagnostics_period_s, self._publish_diagnostics)
        if plan.rebuild_engine:
            self._rebuild_engine(plan.config)
        self.get_logger().info(
            f"parameters applied (in place: {sorted(plan.live) or '-'}, engine rebuilt: {plan.rebuild_engine})"
        )

    def _adopt_config(self, config: Config) -> None:
        """Make ``config`` the node's configuration, and with it the values the node's parts keep as
        plain numbers (the depth pairing tolerance, the fault log period): the one place ``config``
        changes after construction, so none of them can fall behind. Everything else reads
        ``self.config`` where it needs it."""
        self.config = config
        if self._depth_input is not None:  # made on configure, from self.config
            self._depth_input.tolerance_s = config.ros.depth_tolerance_s
        self._faults.period_s = config.ros.fault_log_period_s

    def _rebuild_engine(self, config: Config) -> None:
        """Replace the engine (tracks are lost) and re-issue the current command."""
        if self._engine is None:
            return  # unconfigured: configure will build it with the new config
        try:
            engine = self._engine_factory(config)
        except Exception as exc:  # a backend failing to load must not take the node down
            self._faults.report("engine_rebuild", f"new parameters kept, engine rebuild failed: {exc}")
            return
        with self._engine_lock:
            old, self._engine = self._engine, engine
            if old is None:  # cleaned up while the new engine was being built
                self._engine = None
                old = engine
            elif self._command_text:
                try:
                    engine.set_command(self._command_text, None, self._command_id)
                except CommandParseError as exc:
                    self._faults.report("command_rejected", f"command dropped after rebuild: {exc}")
                    self._command_text = self._command_id = ""
        old.close()
        self._backends = self._backend_summary(engine)
