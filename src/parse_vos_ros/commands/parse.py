"""`parse-vos parse "TEXT"`: print the parsed command (the parser named by ``parser.backend``).

Exit codes: 0 parsed, 2 the text or the configuration is unusable (the message says why).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from parse_vos_ros.config import ConfigError, load_config, parse_override

HELP = "Parse a referring sentence into candidates, context, motion, pose and cardinality."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="the referring sentence (quote it)")
    parser.add_argument("--config", default="default", help="profile name or YAML path (default: default)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (fields, source, time)")


def run(args: argparse.Namespace) -> int:
    from parse_vos_ros.backends import BackendLoadError, build_parser
    from parse_vos_ros.parsing.base import CommandParseError

    try:
        config = load_config(args.config, dict(parse_override(item) for item in args.set))
        parser = build_parser(config)
        t0 = time.perf_counter()
        parsed = parser.parse(args.text)
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
    except (ConfigError, BackendLoadError, CommandParseError) as exc:
        print(f"parse-vos parse: {exc}", file=sys.stderr)
        return 2
    if args.json:
        record = {**parsed.to_dict(), "text": parsed.text, "source": parsed.source, "ms": round(elapsed_ms, 3)}
        print(json.dumps(record, ensure_ascii=False))
        return 0
    for field, value in parsed.to_dict().items():
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        print(f"{field:12s} {shown or '-'}")
    print(f"{'source':12s} {parsed.source}  ({elapsed_ms:.1f} ms)")
    return 0
