"""Language benchmark: parser field accuracy (rule vs a real small LLM), parse/reason latency per
runtime, and the token cost of the trajectory serialization with the real Llama 3 tokenizer.

- ``parser``: field accuracy (exact set match and token F1) of the rule parser and of the LLM
  parser (SmolLM2-135M-Instruct GGUF by default) on tests/data/commands.jsonl (development set,
  the rule parser was debugged on it) and tests/data/commands_heldout.jsonl (written after the
  rule parser, measured once). ``llm_only`` counts a fallback as a miss; ``llm_with_fallback`` is
  what the node delivers.
- ``latency``: parse and reason wall time per runtime: ``llama_cpp`` in process, ``openai`` through
  llama-cpp-python's OpenAI-compatible server on 127.0.0.1 serving the same GGUF.
- ``tokens``: serialized scene tokens per track and per track-second for window lengths and track
  counts, capped (the shipped defaults) and uncapped (every sample), Llama 3 tokenizer.

    .venv/bin/python benchmarks/bench_language.py --out out/bench_language.json [--limit N] [--model GGUF]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # scene and model helpers live with the tests

from llm_support import free_port, look_alike_scene, trajectory  # noqa: E402

from parse_vos_ros.atomic import atomic_write_json  # noqa: E402
from parse_vos_ros.llm.vocab import llama_vocab_path, missing_vocab_message  # noqa: E402
from parse_vos_ros.parsing.evaluate import compare, evaluate, load_commands, timed_parse  # noqa: E402
from parse_vos_ros.parsing.llm_parser import LLMParser  # noqa: E402
from parse_vos_ros.parsing.rule import RuleParser  # noqa: E402
from parse_vos_ros.parsing.schema import FIELDS  # noqa: E402
from parse_vos_ros.reasoning.llm_reasoner import LLMMotionReasoner  # noqa: E402
from parse_vos_ros.reasoning.serialize import serialize_scene  # noqa: E402
from parse_vos_ros.types import ParsedCommand, SceneSummary  # noqa: E402

DATA = REPO / "tests" / "data"
REASON_CASES = [  # (command on the look-alike scene, expected ids): T1 left, T2 still, T3 right-up
    (ParsedCommand("the dog running to the left", ("dog",), motion=("running", "to the left")), (1,)),
    (ParsedCommand("the dog standing still", ("dog",), motion=("still",), pose=("standing",)), (2,)),
    (ParsedCommand("the dog running to the right", ("dog",), motion=("running", "to the right")), (3,)),
]


def _stats(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "n": len(ms),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else 0.0,
        "p50_ms": round(ms[len(ms) // 2], 1) if ms else 0.0,
        "max_ms": round(ms[-1], 1) if ms else 0.0,
    }


def bench_llm_parser(parser: LLMParser, name: str, limit: int) -> dict[str, Any]:
    """One LLM parse per sentence; scores both the LLM's own answers and the delivered result."""
    items = load_commands(DATA / name)[: limit or None]
    own = {f: 0.0 for f in FIELDS}
    delivered = {f: 0.0 for f in FIELDS}
    own_f1 = {f: 0.0 for f in FIELDS}
    sources: dict[str, int] = {}
    times: list[float] = []
    for item in items:
        got, ms = timed_parse(parser, item.text)
        times.append(ms)
        source = "error" if got is None else got.source
        print(f"  {name} {len(times)}/{len(items)} {times[-1] / 1000:.1f}s {source}", file=sys.stderr, flush=True)
        sources[source] = sources.get(source, 0) + 1
        for field, (ok, f1) in compare(item.expected, got).items():
            delivered[field] += ok
            own[field] += ok and source == "llm"
            own_f1[field] += f1 if source == "llm" else 0.0
        parser.gate.ok()  # measure every sentence with the LLM, no cooldown
    n = max(len(items), 1)
    return {
        "n": len(items),
        "llm_only_exact": {f: round(v / n, 4) for f, v in own.items()},
        "llm_only_token_f1": {f: round(v / n, 4) for f, v in own_f1.items()},
        "llm_with_fallback_exact": {f: round(v / n, 4) for f, v in delivered.items()},
        "sources": sources,
        "latency": _stats(times),
    }


def bench_reasoner(reasoner: LLMMotionReasoner, repeats: int) -> dict[str, Any]:
    scene = look_alike_scene()
    correct, times, sources = 0, [], {}
    for _ in range(repeats):
        for command, expected in REASON_CASES:
            t0 = time.perf_counter()
            result = reasoner.select(command, scene)
            times.append((time.perf_counter() - t0) * 1000)
            sources[result.source] = sources.get(result.source, 0) + 1
            correct += result.source == "llm" and tuple(result.track_ids) == expected
            reasoner.gate.ok()
    return {"llm_correct": f"{correct}/{repeats * len(REASON_CASES)}", "sources": sources, "latency": _stats(times)}


def start_server(model: Path, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--n_ctx", "2048", "--n_threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start")


def bench_tokens() -> dict[str, Any]:
    from llama_cpp import Llama

    path = llama_vocab_path()
    if path is None:
        return {"skipped": missing_vocab_message()}
    vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=False))

    rows = []
    for window_s in (2.0, 5.0, 10.0, 30.0):
        n = int(window_s * 30)  # 30 Hz history
        stamps = np.arange(n) / 30.0
        for n_tracks in (1, 4, 12, 24):
            tracks = [
                trajectory(
                    i, "person", np.stack([np.linspace(50 + i, 600, n), np.linspace(100, 300 + i, n)], 1), stamps
                )
                for i in range(n_tracks)
            ]
            scene = SceneSummary(tracks, "panning left 12 px/s", [], (640, 480), window_s)
            capped, ids = serialize_scene(scene, max_tracks=12, max_samples=8)
            uncapped, _ = serialize_scene(scene, max_tracks=n_tracks, max_samples=n)
            track_tokens = sum(count(line) for line in capped.splitlines() if line.startswith("T") and " | " in line)
            rows.append(
                {
                    "window_s": window_s,
                    "tracks": n_tracks,
                    "tokens_capped": count(capped),
                    "tokens_uncapped": count(uncapped),
                    "tokens_per_track": round(track_tokens / len(ids), 1),
                    "tokens_per_track_second": round(track_tokens / len(ids) / window_s, 2),
                }
            )
    return {"defaults": {"max_tracks": 12, "max_samples": 8}, "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--model", type=Path, default=None, help="GGUF for the LLM runs (default: SmolLM2-135M)")
    ap.add_argument("--limit", type=int, default=0, help="LLM sentences of the development set (0 = all)")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 avoids spin-waiting on a busy CPU)")
    ap.add_argument("--repeats", type=int, default=2, help="reasoner runs per case")
    ap.add_argument("--skip-server", action="store_true", help="no openai-runtime latency")
    ap.add_argument("--parser-only", action="store_true", help="only the parser accuracy runs")
    args = ap.parse_args()
    from llm_support import smollm2_gguf

    model = args.model or smollm2_gguf()
    report: dict[str, Any] = {"model": model.name, "tokens": bench_tokens()}
    rule = RuleParser()
    report["parser"] = {
        name: {"rule": {k: v for k, v in evaluate(rule, load_commands(DATA / name)).items() if k != "misses"}}
        for name in ("commands.jsonl", "commands_heldout.jsonl")
    }
    from parse_vos_ros.llm.llama_cpp_runtime import LlamaCppRuntime

    local = LlamaCppRuntime(model, n_ctx=2048, n_threads=args.threads)
    parser = LLMParser(local, timeout_s=120, failure_cooldown_s=0)
    for name, limit in (("commands_heldout.jsonl", 0), ("commands.jsonl", args.limit)):
        report["parser"][name]["llm"] = bench_llm_parser(parser, name, limit)
        atomic_write_json(args.out.with_suffix(".partial.json"), report)  # a long run keeps what it measured
    if args.parser_only:
        atomic_write_json(args.out, report)
        return 0
    reasoner = LLMMotionReasoner(local, timeout_s=120, failure_cooldown_s=0)
    report["latency"] = {"llama_cpp": {"reason": bench_reasoner(reasoner, args.repeats)}}
    report["latency"]["llama_cpp"]["parse"] = report["parser"]["commands_heldout.jsonl"]["llm"]["latency"]
    if not args.skip_server:
        from parse_vos_ros.llm.openai_runtime import OpenAIRuntime

        proc, url = start_server(model, args.threads)
        try:
            remote = OpenAIRuntime(url, response_format="json_object")
            remote_parser = LLMParser(remote, timeout_s=120, failure_cooldown_s=0)
            remote_reasoner = LLMMotionReasoner(remote, timeout_s=120, failure_cooldown_s=0)
            report["latency"]["openai"] = {
                "parse": bench_llm_parser(remote_parser, "commands_heldout.jsonl", 10)["latency"],
                "reason": bench_reasoner(remote_reasoner, args.repeats),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    atomic_write_json(args.out, report)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
