#!/usr/bin/env python3
"""Print the README's J&F table from one or more ``metrics.json`` files written by ``parse-vos eval``.

Usage: ``python scripts/update_readme_results.py OUT1/metrics.json [OUT2/metrics.json ...]``

One row per file (dataset, profile, mode, machine, expressions, J&F, J, F, FPS), then one row per
split value (``--splits``, default ``kind,focus``) so the motion-only scores are visible. The numbers come
from the files only; paste the output into the README.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_SPLITS = ("kind", "focus")  # split keys shown by default (metrics.json has more)
HEADER = ["Dataset", "Profile", "Mode", "Machine", "Expressions", "J&F", "J", "F", "FPS"]


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def _machine(m: dict[str, Any]) -> str:
    text = f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores)"
    return f"{text}, {m['gpu']}" if m.get("gpu") else text


def mode(metrics: dict[str, Any]) -> str:
    """The run's mode as the README names it: offline, or streaming with how frames came (``real
    time`` at the video's frame rate, ``--realtime``) and where keyframes ran (``sync keyframes``:
    ``--set engine.async_keyframes=false``)."""
    text = str(metrics["mode"])
    if text != "streaming":
        return text
    if metrics.get("realtime"):
        text += ", real time"
    if metrics.get("overrides", {}).get("engine.async_keyframes") is False:
        text += ", sync keyframes"
    return text


def rows(metrics: dict[str, Any], splits: tuple[str, ...] = DEFAULT_SPLITS) -> list[list[str]]:
    """Table rows for one metrics file: the overall row, then one per value of the ``splits`` keys."""
    base = [metrics["profile"], mode(metrics), _machine(metrics["machine"])]
    overall = metrics.get("overall") or {}
    fps = f"{metrics['timing']['fps']:.1f}"
    out = [
        [
            metrics["dataset"],
            *base,
            str(metrics["counts"]["scored"]),
            _num(overall.get("J&F")),
            _num(overall.get("J")),
            _num(overall.get("F")),
            fps,
        ]
    ]
    for key, groups in metrics.get("splits", {}).items():
        if key not in splits:
            continue
        for value, scores in groups.items():
            name = f"{metrics['dataset']} · {key}={value}"
            out.append(
                [
                    name,
                    *base,
                    str(int(scores.get("count", 0))),
                    _num(scores.get("J&F")),
                    _num(scores.get("J")),
                    _num(scores.get("F")),
                    fps,
                ]
            )
    return out


def table(files: list[Path], splits: tuple[str, ...] = DEFAULT_SPLITS) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] * len(HEADER)) + "|"]
    for path in files:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows(metrics, splits)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", nargs="+", type=Path, help="metrics.json files from parse-vos eval")
    parser.add_argument(
        "--splits",
        default=",".join(DEFAULT_SPLITS),
        help="comma-separated split keys to add rows for (kind, variant, focus, camera, occlusion, ...; '' for none)",
    )
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.metrics if not p.is_file()]
    if missing:
        print(f"update_readme_results: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(table(args.metrics, tuple(k for k in args.splits.split(",") if k)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
