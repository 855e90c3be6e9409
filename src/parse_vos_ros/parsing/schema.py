"""The JSON schema of a parsed command and the validation every parser output goes through.

The schema is what the LLM is constrained to (grammar) and what every output is checked against
afterwards, because a grammar alone lets control characters, empty strings and oversized lists
through. ``validate_parsed`` is the single gate: it accepts a JSON string or a decoded mapping
and returns a ``ParsedCommand`` or raises ``SchemaError`` with the offending field.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from parse_vos_ros.parsing.base import CommandParseError
from parse_vos_ros.types import Cardinality, ParsedCommand

MAX_ITEMS = 8  # per list field: more candidates/descriptors than this is never a real command
MAX_PHRASE_CHARS = 80  # per list item
MAX_CARDINALITY = 64  # an integer above this is read as "all" would be; we reject it instead
MAX_JSON_CHARS = 8192  # a longer LLM answer is rejected before decoding
LIST_FIELDS = ("candidates", "context", "motion", "pose")
FIELDS = (*LIST_FIELDS, "cardinality")


class SchemaError(CommandParseError):
    """A parse result does not satisfy the schema; ``field`` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"parsed command field '{field}': {message}")
        self.field = field


def _string_list(min_items: int) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": MAX_PHRASE_CHARS},
        "minItems": min_items,
        "maxItems": MAX_ITEMS,
    }


PARSED_COMMAND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "candidates": _string_list(1),
        "context": _string_list(0),
        "motion": _string_list(0),
        "pose": _string_list(0),
        "cardinality": {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_CARDINALITY},
                {"type": "string", "enum": ["all"]},
            ]
        },
    },
    "required": list(FIELDS),
    "additionalProperties": False,
}


def clean_phrase(value: str) -> str:
    """Collapse whitespace and lower-case; control and format characters are an error (not
    silently dropped), since they are a sign of a broken or hostile generator."""
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") and ch not in " \t\n":
            raise ValueError(f"contains the control/unassigned character U+{ord(ch):04X}")
    return " ".join(value.split()).lower()


def _phrases(obj: Mapping[str, Any], field: str, min_items: int) -> tuple[str, ...]:
    value = obj[field]
    if not isinstance(value, list):
        raise SchemaError(field, f"must be a list of strings, got {type(value).__name__}")
    if len(value) > MAX_ITEMS:
        raise SchemaError(field, f"has {len(value)} items, at most {MAX_ITEMS} allowed")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise SchemaError(field, f"item {i} must be a string, got {type(item).__name__}")
        try:
            phrase = clean_phrase(item)
        except ValueError as exc:
            raise SchemaError(field, f"item {i} {exc}") from None
        if not phrase:
            raise SchemaError(field, f"item {i} is empty")
        if len(phrase) > MAX_PHRASE_CHARS:
            raise SchemaError(field, f"item {i} is longer than {MAX_PHRASE_CHARS} characters")
        if phrase not in out:  # duplicates carry no information; keep the first occurrence
            out.append(phrase)
    if len(out) < min_items:
        raise SchemaError(field, f"needs at least {min_items} item(s)")
    return tuple(out)


def _cardinality(value: Any) -> Cardinality:
    if isinstance(value, str) and value.strip().lower() == "all":
        return "all"
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError("cardinality", f'must be an integer >= 1 or "all", got {value!r}')
    if not 1 <= value <= MAX_CARDINALITY:
        raise SchemaError("cardinality", f'must be in [1, {MAX_CARDINALITY}] or "all", got {value}')
    return value


def validate_parsed(obj: str | Mapping[str, Any], *, text: str = "", source: str = "rule") -> ParsedCommand:
    """Check a parse result against ``PARSED_COMMAND_SCHEMA`` and build the ``ParsedCommand``.

    Args:
        obj: a JSON object string (e.g. raw LLM output) or an already decoded mapping.
        text: the original transcript, stored in the result.
        source: which parser produced it.

    Raises:
        SchemaError: not JSON, not an object, missing/extra keys, wrong types, control
            characters, empty or oversized items; the message names the field.
    """
    if isinstance(obj, str):
        if len(obj) > MAX_JSON_CHARS:
            raise SchemaError("<json>", f"output is {len(obj)} characters, at most {MAX_JSON_CHARS} allowed")
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise SchemaError("<json>", f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(obj, Mapping):
        raise SchemaError("<json>", f"must be a JSON object, got {type(obj).__name__}")
    missing = [f for f in FIELDS if f not in obj]
    if missing:
        raise SchemaError(missing[0], "is missing")
    extra = sorted(str(k) for k in obj if k not in FIELDS)
    if extra:
        raise SchemaError(extra[0], "is not a schema field")
    return ParsedCommand(
        text=text,
        candidates=_phrases(obj, "candidates", 1),
        context=_phrases(obj, "context", 0),
        motion=_phrases(obj, "motion", 0),
        pose=_phrases(obj, "pose", 0),
        cardinality=_cardinality(obj["cardinality"]),
        source=source,
    )
