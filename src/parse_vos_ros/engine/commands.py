"""The command slot: the command set from any thread, taken by the frame thread on its next frame."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from parse_vos_ros.types import ParsedCommand


@dataclass(frozen=True)
class Command:
    """One referring command as the engine holds it."""

    parsed: ParsedCommand
    command_id: str
    stamp: float | None  # the caller's stamp (s), reported in the trace; None when not given
    generation: int  # increases with every set or clear: results for an older one are stale


@dataclass(frozen=True)
class CommandUpdate:
    """What the frame thread learns at the top of a frame."""

    new: Command | None  # a command that takes effect on this frame (set or re-grounded after a reset)
    active: Command | None  # the command in force on this frame
    changed: bool  # a set or clear happened since the last frame: the old selection is void


class CommandSlot:
    """Holds the pending and the active command; every field is touched only under ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._pending: Command | None = None
        self._active: Command | None = None
        self._generation = 0
        self._taken = 0  # the generation the frame thread last saw

    def set(self, parsed: ParsedCommand, command_id: str, stamp: float | None) -> int:
        """Queue ``parsed`` for the next frame; returns its generation."""
        with self.lock:
            self._generation += 1
            self._pending = Command(parsed, command_id, stamp, self._generation)
            return self._generation

    def clear(self) -> int:
        """Drop the pending and the active command; returns the new generation."""
        with self.lock:
            self._generation += 1
            self._pending = self._active = None
            return self._generation

    def take(self) -> CommandUpdate:
        """Frame thread: the pending command becomes the active one."""
        with self.lock:
            new, self._pending = self._pending, None
            if new is not None:
                self._active = new
            changed, self._taken = self._taken != self._generation, self._generation
            return CommandUpdate(new, self._active, changed)

    def regrounded(self) -> None:
        """After a reset the active command is taken again on the next frame (grounded afresh)."""
        with self.lock:
            if self._active is not None and self._pending is None:
                self._pending = self._active

    @property
    def generation(self) -> int:
        """The newest generation (a set or clear not yet taken counts)."""
        with self.lock:
            return self._generation

    @property
    def current(self) -> ParsedCommand | None:
        """The pending command, else the active one, else None."""
        with self.lock:
            cmd = self._pending or self._active
            return cmd.parsed if cmd else None
