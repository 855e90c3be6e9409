"""The interface every command parser implements."""

from __future__ import annotations

from typing import Protocol

from parse_vos_ros.types import ParsedCommand


class CommandParseError(ValueError):
    """The command cannot be parsed (empty, too long, invalid text); the message says why."""


class CommandParser(Protocol):
    """Turns a transcript into a validated ``ParsedCommand``."""

    def parse(self, text: str) -> ParsedCommand:
        """Parse ``text``; raises ``CommandParseError`` with a clear reason on bad input."""
        ...
