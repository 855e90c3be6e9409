"""Field accuracy of a parser on a labelled command set (tests/data/commands.jsonl).

Two scores per field: ``exact`` (the set of phrases equals the expected set after whitespace
and case normalisation; cardinality must be equal) and ``token_f1`` (bag-of-words F1 over the
field's phrases, which credits a paraphrase such as "runs" for "running" partially). A parser
error counts as a miss on every field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parse_vos_ros.parsing.base import CommandParseError, CommandParser
from parse_vos_ros.parsing.schema import FIELDS, LIST_FIELDS
from parse_vos_ros.types import ParsedCommand


@dataclass(frozen=True)
class LabelledCommand:
    """One line of the test set: the sentence and the expected value of every field."""

    text: str
    expected: dict[str, Any]


def load_commands(path: str | Path) -> list[LabelledCommand]:
    """Read a JSONL file with keys ``text`` plus every schema field; a bad line is an error
    that names the line number."""
    items: list[LabelledCommand] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            missing = [k for k in ("text", *FIELDS) if k not in obj]
            if missing:
                raise ValueError(f"{path}:{number}: missing keys {missing}")
            items.append(LabelledCommand(obj["text"], {k: obj[k] for k in FIELDS}))
    return items


def _norm(phrases: Iterable[str]) -> set[str]:
    return {" ".join(p.lower().split()) for p in phrases}


def _token_f1(expected: Iterable[str], got: Iterable[str]) -> float:
    want = [w for p in expected for w in p.lower().split()]
    have = [w for p in got for w in p.lower().split()]
    if not want and not have:
        return 1.0
    remaining = list(want)
    hits = 0
    for word in have:
        if word in remaining:
            remaining.remove(word)
            hits += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / len(have), hits / len(want)
    return 2 * precision * recall / (precision + recall)


def compare(expected: dict[str, Any], got: ParsedCommand | None) -> dict[str, tuple[bool, float]]:
    """Per field ``(exact match, token F1)``; ``got=None`` (the parser failed) scores zero."""
    out: dict[str, tuple[bool, float]] = {}
    for field in LIST_FIELDS:
        if got is None:
            out[field] = (False, 0.0)
            continue
        have = getattr(got, field)
        out[field] = (_norm(expected[field]) == _norm(have), _token_f1(expected[field], have))
    same = got is not None and str(got.cardinality) == str(expected["cardinality"])
    out["cardinality"] = (same, float(same))
    return out


def timed_parse(parser: CommandParser, text: str) -> tuple[ParsedCommand | None, float]:
    """``parser``'s command for ``text`` (None when it raises ``CommandParseError``) and the
    wall time the call took, in milliseconds."""
    t0 = time.perf_counter()
    try:
        got: ParsedCommand | None = parser.parse(text)
    except CommandParseError:
        got = None
    return got, (time.perf_counter() - t0) * 1000.0


def evaluate(parser: CommandParser, items: Sequence[LabelledCommand]) -> dict[str, Any]:
    """Accuracy per field (exact and token F1), failures, sources and latency over ``items``.

    Returns a JSON-serialisable dict: ``exact``/``token_f1`` map field -> mean in [0, 1];
    ``errors`` counts ``CommandParseError``; ``sources`` counts ``ParsedCommand.source`` values;
    ``latency_ms`` has mean/p50/p95/max per sentence; ``misses`` lists up to 40 wrong fields.
    """
    exact = {f: 0.0 for f in FIELDS}
    f1 = {f: 0.0 for f in FIELDS}
    errors = 0
    sources: dict[str, int] = {}
    times: list[float] = []
    misses: list[dict[str, Any]] = []
    for item in items:
        got, ms = timed_parse(parser, item.text)
        times.append(ms)
        errors += got is None
        if got is not None:
            key = got.source.split(":", 1)[0]
            sources[key] = sources.get(key, 0) + 1
        for field, (ok, score) in compare(item.expected, got).items():
            exact[field] += ok
            f1[field] += score
            if not ok and len(misses) < 40:
                value = None if got is None else got.to_dict()[field]
                misses.append({"text": item.text, "field": field, "expected": item.expected[field], "got": value})
    n = max(len(items), 1)
    times.sort()
    return {
        "n": len(items),
        "exact": {f: round(v / n, 4) for f, v in exact.items()},
        "token_f1": {f: round(v / n, 4) for f, v in f1.items()},
        "errors": errors,
        "sources": sources,
        "latency_ms": {
            "mean": round(sum(times) / n, 3),
            "p50": round(times[len(times) // 2], 3) if times else 0.0,
            "p95": round(times[min(len(times) - 1, int(0.95 * len(times)))], 3) if times else 0.0,
            "max": round(times[-1], 3) if times else 0.0,
        },
        "misses": misses,
    }
