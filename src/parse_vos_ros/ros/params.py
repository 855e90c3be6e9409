"""Every config key as a ROS parameter: declaration, validation, runtime updates, params files.

The dotted config keys (``engine.window_s``) are the parameter names, so a ROS params file
holds the same nesting as a profile under ``<node>: ros__parameters:`` (see
:func:`params_file_text`). Parameters are declared with dynamic typing because YAML writes
``10`` for a float key; the config's own coercion and ``validate()`` decide what is valid.

Runtime changes (``ros2 param set``) are validated as a whole new Config before anything is
applied; the node then applies ``ros.*`` keys in place and rebuilds the engine for the rest
(keeping the current command), see :func:`classify_changes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from parse_vos_ros.config import Config, ConfigError, config_from_dict, merge, unflatten

# Keys the node applies without touching the engine.
LIVE_KEYS = frozenset({"ros.max_image_pixels", "ros.frame_id_override", "ros.diagnostics_period_s",
                       "ros.stall_warn_s", "ros.stream_restart_s", "ros.fault_log_period_s", "ros.fault_warn_s",
                       "ros.depth_tolerance_s"})
# Keys that need the image subscription to be re-created.
SUBSCRIPTION_KEYS = frozenset({"ros.image_reliability"})


@dataclass(frozen=True)
class ChangePlan:
    """What a validated parameter change requires of the node."""

    config: Config  # the new, validated configuration
    live: frozenset[str]  # keys applied in place
    resubscribe: bool  # the image subscription must be re-created
    rebuild_engine: bool  # the engine must be rebuilt (tracks are lost, the command is kept)

    def then(self, later: ChangePlan) -> ChangePlan:
        """This plan followed by ``later`` (validated against this one's config), as one plan."""
        return ChangePlan(later.config, self.live | later.live, self.resubscribe or later.resubscribe,
                          self.rebuild_engine or later.rebuild_engine)


def config_keys(config: Config) -> list[tuple[str, Any]]:
    """``(dotted_key, value)`` for every config leaf, in declaration order (the parameter list)."""
    return list(config.flat_items())


def to_parameter_value(value: Any) -> Any:
    """A config value as a ROS parameter value (tuples become lists; everything else is as is)."""
    return list(value) if isinstance(value, tuple) else value


def config_from_values(values: Mapping[str, Any], base: Config | None = None) -> Config:
    """Build and validate a Config from dotted ``values`` laid over ``base`` (defaults when None).

    Raises:
        ConfigError: naming the dotted key when a value has the wrong type or range.
    """
    tree = base.to_dict() if base is not None else {}
    return config_from_dict(merge(tree, unflatten(dict(values))))


def classify_changes(current: Config, changes: Mapping[str, Any]) -> ChangePlan:
    """Validate ``changes`` (dotted key -> new value) against ``current`` and plan how to apply them.

    Raises:
        ConfigError: an unknown key or an invalid value; nothing is applied then.
    """
    known = dict(current.flat_items())
    for key in changes:
        if key not in known:
            raise ConfigError(key, "unknown key")
    new = config_from_values(changes, base=current)
    new_items = dict(new.flat_items())
    changed = {k for k in changes if new_items[k] != known[k]}
    return ChangePlan(
        config=new,
        live=frozenset(changed & LIVE_KEYS),
        resubscribe=bool(changed & SUBSCRIPTION_KEYS),
        rebuild_engine=bool(changed - LIVE_KEYS - SUBSCRIPTION_KEYS),
    )


def params_file_text(config: Config, node_names: Iterable[str] = ("/**",)) -> str:
    """A ROS params file (``--ros-args --params-file``) holding every key of ``config``.

    ``/**`` matches any node name and namespace, so the file works with remapped names.
    """
    body = {"ros__parameters": config.to_dict()}
    return yaml.safe_dump({name: body for name in node_names}, sort_keys=False)
