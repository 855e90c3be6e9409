"""Token cost of the serialized trajectories the LLM reasoner reads, vs tracks and window length.

Scenes are built the way the track store fills them (one sample per frame at ``fps``, capped at
``engine.max_history_samples`` per track), serialized by ``reasoning.serialize.serialize_scene``
with the configured caps, and counted with the real Llama 3 tokenizer (a vocab-only GGUF loaded
by llama.cpp; no weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from parse_vos_ros.config import Config
from parse_vos_ros.llm.vocab import llama_vocab_path, missing_vocab_message
from parse_vos_ros.reasoning.serialize import serialize_scene
from parse_vos_ros.types import SceneSummary, Trajectory


def synthetic_scene(n_tracks: int, window_s: float, *, fps: float, max_samples: int, seed: int = 0,
                    size: tuple[int, int] = (640, 480)) -> SceneSummary:
    """``n_tracks`` linear trajectories with random speed and visibility over ``window_s`` seconds."""
    rng = np.random.default_rng(seed)
    t_len = max(2, min(int(window_s * fps), max_samples))
    stamps = np.linspace(100.0 - window_s, 100.0, t_len)
    trajectories = []
    for tid in range(n_tracks):
        start = rng.uniform([0, 0], size)
        velocity = rng.uniform(-60, 60, 2)  # px/s
        centre = start + (stamps - stamps[0])[:, None] * velocity
        half = rng.uniform(15, 60, 2)
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        visible = rng.random(t_len) > 0.1
        areas = np.prod(2 * half) * np.ones(t_len)
        trajectories.append(Trajectory(tid + 1, "ball", stamps.copy(), boxes, boxes.copy(), areas, visible,
                                       float(rng.uniform(0.4, 0.9))))
    return SceneSummary(trajectories, "panning left 40 px/s", (), size, window_s)


def token_costs(config: Config, *, vocab: Path | None = None, tracks: Sequence[int] = (1, 2, 4, 8, 12, 16, 24),
                windows_s: Sequence[float] = (2.0, 5.0, 10.0, 30.0, 60.0), fps: float = 30.0) -> dict[str, object]:
    """Llama 3 token counts of serialized scenes over a grid of track counts and window lengths.

    Returns per cell the tokens with the configured caps and without them (every track, every
    stored sample), so the bound the caps give is visible; ``{"skipped": reason}`` (one line) when
    the tokenizer (``vocab``, else ``llm.vocab.llama_vocab_path``) or llama-cpp-python is missing.
    """
    found = llama_vocab_path(vocab)
    if found is None:
        return {"skipped": missing_vocab_message(vocab)}
    vocab = found
    try:
        import llama_cpp
    except ImportError:
        return {"skipped": "llama-cpp-python is not installed (pip install '.[llm]')"}
    tokenizer = llama_cpp.Llama(model_path=str(vocab), vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(tokenizer.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    rc = config.reasoner
    grid = []
    for n in tracks:
        for w in windows_s:
            scene = synthetic_scene(n, w, fps=fps, max_samples=config.engine.max_history_samples)
            capped, _ = serialize_scene(scene, max_tracks=rc.max_tracks_serialized,
                                        max_samples=rc.max_samples_per_track)
            full, _ = serialize_scene(scene, max_tracks=10**6, max_samples=10**6)
            tok = count(capped)
            grid.append({
                "tracks": n,
                "window_s": w,
                "tokens": tok,
                "tokens_uncapped": count(full),
                "tokens_per_track_second": round(tok / (min(n, rc.max_tracks_serialized) * w), 2),
            })
    return {
        "tokenizer": vocab.name,
        "caps": {"max_tracks_serialized": rc.max_tracks_serialized, "max_samples_per_track": rc.max_samples_per_track},
        "max_tokens": max(g["tokens"] for g in grid),
        "grid": grid,
    }
