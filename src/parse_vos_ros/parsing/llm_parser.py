"""The LLM command parser, with the rule parser as its safety net.

Bad input (empty, too long, control characters) is rejected exactly as by the rule parser,
before any LLM call. Otherwise the LLM answers under the JSON schema; the answer must pass the
schema validation and a grounding check (every phrase shares a word with the sentence, so an
injected instruction cannot make up a target). On any failure (model missing, server down,
timeout, truncated/garbage/ungrounded output) the rule parser answers instead, with
``source = "llm-fallback:<kind>"``, and the LLM is skipped for ``llm.failure_cooldown_s``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from parse_vos_ros.backends import FALLBACK_VALUES, BackendLoadError
from parse_vos_ros.config import Config
from parse_vos_ros.llm.base import LLMError, LLMRuntime
from parse_vos_ros.llm.grammar import extract_json_object
from parse_vos_ros.llm.prompts import parse_messages
from parse_vos_ros.llm.runtime import FailureGate, build_runtime, failure_kind
from parse_vos_ros.parsing import lexicon as lx
from parse_vos_ros.parsing.rule import RuleParser, clean_text, singular, tokenize
from parse_vos_ros.parsing.schema import FIELDS, LIST_FIELDS, PARSED_COMMAND_SCHEMA, SchemaError, validate_parsed
from parse_vos_ros.types import ParsedCommand

LOG = logging.getLogger(__name__)

# What the LLM is constrained to: the validation schema, tighter, so the grammar bounds the
# answer to about 200 tokens.
LLM_PARSE_SCHEMA = {
    **PARSED_COMMAND_SCHEMA,
    "properties": {
        **{
            f: {**PARSED_COMMAND_SCHEMA["properties"][f], "maxItems": 4, "items": {"type": "string", "maxLength": 48}}
            for f in LIST_FIELDS
        },
        "cardinality": PARSED_COMMAND_SCHEMA["properties"]["cardinality"],
    },
    "required": list(FIELDS),
}


def _stem(word: str) -> str:
    base = lx.VERB_FORMS.get(word, (word, ""))[0]
    base = singular(base)[0]
    return base[:4]


def check_grounded(parsed: ParsedCommand, text: str) -> None:
    """Every phrase must share a word (compared by 4-letter stem after singular / gerund
    normalisation) with ``text``; raises ``SchemaError`` naming the first phrase that does not."""
    said = {_stem(w) for w in tokenize(text.lower()) if len(w) >= 2}
    for field in LIST_FIELDS:
        for phrase in getattr(parsed, field):
            words = [w for w in tokenize(phrase) if len(w) >= 2 and w not in lx.DETERMINERS]
            if words and not any(_stem(w) in said for w in words):
                raise SchemaError(field, f"{phrase!r} does not come from the sentence")


class LLMParser:
    """``CommandParser`` that asks an LLM and falls back to ``RuleParser``.

    Args:
        runtime: the LLM, or None when it failed to load (every parse then falls back).
        fallback: the rule parser (also the input checker).
        max_tokens: completion budget.
        timeout_s: deadline per parse, seconds.
        failure_cooldown_s: after a failure, skip the LLM this long.
        unavailable_reason: why ``runtime`` is None, for the logs.
    """

    def __init__(
        self,
        runtime: LLMRuntime | None,
        *,
        fallback: RuleParser | None = None,
        max_tokens: int = 256,
        timeout_s: float = 20.0,
        failure_cooldown_s: float = 30.0,
        unavailable_reason: str = "",
    ) -> None:
        self.runtime = runtime
        self.fallback = fallback or RuleParser()
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.gate = FailureGate(failure_cooldown_s)
        self.unavailable_reason = unavailable_reason
        self.cancel_event = threading.Event()

    @classmethod
    def from_config(cls, config: Config) -> LLMParser:
        """With ``fallback: embedded`` a model that fails to load leaves the rule path running
        (and says so); otherwise the ``BackendLoadError`` propagates."""
        runtime: LLMRuntime | None = None
        reason = ""
        try:
            runtime = build_runtime(config)
        except (BackendLoadError, LLMError) as exc:
            if config.fallback not in FALLBACK_VALUES:
                raise BackendLoadError(str(exc)) from None
            reason = str(exc)
            LOG.warning("LLM parser unavailable (%s); commands use the rule parser", reason)
        return cls(
            runtime,
            fallback=RuleParser.from_config(config),
            max_tokens=config.llm.max_tokens,
            timeout_s=config.llm.timeout_s,
            failure_cooldown_s=config.llm.failure_cooldown_s,
            unavailable_reason=reason,
        )

    def parse(self, text: str) -> ParsedCommand:
        """Parse with the LLM, or with the rule parser when the LLM fails (see module doc).

        Raises:
            CommandParseError: the text itself is unusable (same rules as ``RuleParser``).
        """
        clean_text(text, self.fallback.max_command_chars)  # bad input is an error on every path
        if self.runtime is None:
            return self._fallback(text, "unavailable")
        if self.gate.blocked():
            return self._fallback(text, "cooldown")
        self.cancel_event.clear()
        try:
            raw = self.runtime.complete_json(
                parse_messages(text),
                LLM_PARSE_SCHEMA,
                max_tokens=self.max_tokens,
                timeout_s=self.timeout_s,
                cancel=self.cancel_event,
            )
            parsed = validate_parsed(extract_json_object(raw), text=text, source="llm")
            check_grounded(parsed, text)
        except (LLMError, SchemaError) as exc:
            kind = failure_kind(exc)
            self.gate.fail(f"{kind}: {exc}")
            LOG.warning("LLM parse failed (%s: %s); using the rule parser", kind, exc)
            return self._fallback(text, kind)
        self.gate.ok()
        return parsed

    def cancel(self) -> None:
        """Stop an in-flight LLM parse (it then falls back to the rule parser)."""
        self.cancel_event.set()

    def _fallback(self, text: str, kind: str) -> ParsedCommand:
        return dataclasses.replace(self.fallback.parse(text), source=f"llm-fallback:{kind}")
