"""The node's commands: topic commands queued for the worker (newest wins), the ``set_command`` and
``reset`` services, and applying a command to the engine.

``CommandHandling`` is a part of ``ParseVosNode`` (a mixin); the command state it owns is
``_command_text``, ``_command_id``, ``_command_counter``, ``_queued_command`` (under
``_slot_lock``) and ``_command_answered``.
"""

from __future__ import annotations

import json

from std_msgs.msg import String
from std_srvs.srv import Trigger

from parse_vos_ros.msg import ReferringCommand
from parse_vos_ros.parsing.base import CommandParseError
from parse_vos_ros.ros.stamps import stamp_seconds
from parse_vos_ros.srv import SetCommand

LOG_PREVIEW_CHARS = 80


def _preview(text: str) -> str:
    """A short, printable rendering of untrusted text for log lines."""
    short = text[:LOG_PREVIEW_CHARS]
    return repr(short) + (f"... ({len(text)} chars)" if len(text) > LOG_PREVIEW_CHARS else "")


class CommandHandling:
    """Command intake of ``ParseVosNode`` (see the module docstring)."""

    def _set_command(self, text: str, command_id: str, stamp: float | None) -> tuple[bool, str, str]:
        """Apply a command; returns (success, message, command id). Empty text clears."""
        if self._engine is None:
            self._count_command("rejected")
            self._faults.report("command_ignored", f"command {_preview(text)} ignored: the node is {self.lifecycle}")
            return False, f"the node is {self.lifecycle}: configure it first", command_id
        if not text.strip():
            with self._engine_lock:
                if self._engine is not None:
                    self._engine.clear_command()
            self._command_text = self._command_id = ""
            self.get_logger().info("command cleared")
            return True, "command cleared", ""
        command_id = command_id or f"cmd-{next(self._command_counter)}"
        try:
            with self._engine_lock:
                if self._engine is None:
                    return False, f"the node is {self.lifecycle}: configure it first", command_id
                parsed = self._engine.set_command(text, stamp, command_id)
        except CommandParseError as exc:
            self._count_command("rejected")
            self._faults.report("command_rejected", f"command {_preview(text)} rejected: {exc}")
            return False, f"rejected: {exc}", command_id
        except Exception as exc:  # a parser backend fault must not take the node down
            self._count_command("rejected")
            self._faults.report("command_error", f"command {_preview(text)} failed: {type(exc).__name__}: {exc}")
            return False, f"failed: {type(exc).__name__}: {exc}", command_id
        with self._slot_lock:
            unanswered = self._command_id if self._command_id and not self._command_answered else ""
            self._command_answered = False
            self._counters["commands_applied"] += 1
        if unanswered:
            self._superseded(unanswered, f"replaced by {command_id} before any frame answered it", "unanswered")
        self._command_text, self._command_id = text, command_id
        self.get_logger().info(f"command {command_id}: {_preview(text)} -> {parsed.to_dict()}")
        return True, json.dumps(parsed.to_dict()), command_id

    def _count_command(self, outcome: str) -> None:
        with self._slot_lock:
            self._counters[f"commands_{outcome}"] += 1

    def _superseded(self, which: str, why: str, outcome: str = "superseded") -> None:
        """Count a command that never produced an answer, and say so (rate-limited). ``outcome``:
        ``superseded`` (replaced before it was applied) or ``unanswered`` (applied, then replaced
        before any frame answered it)."""
        self._count_command(outcome)
        self._faults.report("command_superseded", f"command {which} superseded: {why}")

    def _truncated(self, text: str, declared: int) -> str:
        """Why a command whose declared UTF-8 length does not match what arrived is refused
        ("" when it matches or nothing was declared)."""
        arrived = len(text.encode("utf-8", "surrogatepass"))
        if declared == 0 or arrived == declared:
            return ""
        return (f"text_length {declared} declared, {arrived} UTF-8 bytes arrived: the text was cut short "
                "(a NUL byte ends a ROS string) or altered; send it again without NUL")

    def _refused_as_truncated(self, text: str, command_id: str, declared: int) -> str:
        """Count and report a command whose declared length does not match (see ``_truncated``);
        returns why, "" when it is whole."""
        why = self._truncated(text, declared)
        if why:
            self._count_command("rejected")
            self._faults.report("command_truncated", f"command {command_id or _preview(text)} rejected: {why}")
        return why

    def _replace_queued(self, new: tuple[str, str, float | None] | None, why: str) -> None:
        """Put ``new`` in the command queue; a command it replaces unapplied is reported superseded."""
        with self._slot_lock:
            replaced, self._queued_command = self._queued_command, new
        if replaced is not None:
            self._superseded(replaced[1] or _preview(replaced[0]), why)

    def _queue_command(self, text: str, command_id: str, stamp: float | None) -> None:
        """Topic commands (counted as received by the caller): queue for the worker, newest wins;
        the executor never waits on the engine."""
        self._replace_queued((text, command_id, stamp), "a newer command arrived before it was applied")
        self._slot_event.set()

    def _apply_queued_command(self) -> None:
        """Apply the newest queued topic command (worker thread, between frames)."""
        with self._slot_lock:
            queued, self._queued_command = self._queued_command, None
        if queued is not None:
            self._set_command(*queued)

    def _on_command(self, msg: String) -> None:
        self._count_command("received")
        self._queue_command(msg.data, "", None)

    def _on_command_stamped(self, msg: ReferringCommand) -> None:
        self._count_command("received")
        if self._refused_as_truncated(msg.text, msg.id, msg.text_length):
            return
        stamp = stamp_seconds(msg.header)
        self._queue_command(msg.text, msg.id, stamp if stamp > 0 else None)

    def _on_set_command(self, request: SetCommand.Request, response: SetCommand.Response) -> SetCommand.Response:
        self._count_command("received")
        why = self._refused_as_truncated(request.text, request.id, request.text_length)
        if why:
            response.success, response.message, response.command_id = False, f"rejected: {why}", request.id
            return response
        # This command is newer than any queued topic command.
        self._replace_queued(None, "set_command was called before it was applied")
        response.success, response.message, response.command_id = self._set_command(request.text, request.id, None)
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._reset_engine()
        response.success, response.message = True, "tracks and history cleared; command kept"
        self.get_logger().info("reset")
        return response
