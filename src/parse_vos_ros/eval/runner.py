"""Run the engine on every expression of a dataset and score it (``parse-vos eval``).

Per expression the runner resets the engine, waits until its background threads are idle
(``Engine.settle``), gives it the sentence, feeds the video (offline:
``run_offline``, which may revise earlier frames; streaming: causal ``push_frame`` with stamps
``t / fps``), writes the predicted masks as PNGs and a ``result.json`` with per-frame J, F,
states and timings under ``OUT/items/VIDEO/EXP_ID/``. A finished expression whose
``result.json`` carries the same run signature (dataset, mode, configuration) is skipped, so an
interrupted run resumes where it stopped; every file is written atomically.

Workers (``--workers N``) are separate processes, each with its own engine, so a crash or
a slow expression never blocks the others; they share nothing but the output folder.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import logging
import multiprocessing
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from parse_vos_ros.atomic import atomic_write_json, remove_stale_temps
from parse_vos_ros.config import Config, load_config
from parse_vos_ros.eval import position3d
from parse_vos_ros.eval.datasets import ExpressionItem, convention, default_expressions, load_dataset
from parse_vos_ros.eval.layout import frame_curve, item_dir, mask_dir
from parse_vos_ros.eval.maskio import write_mask
from parse_vos_ros.eval.metrics import evaluate_sequence, mean_over_sequences
from parse_vos_ros.eval.stages import StageProbe, mean_stages

LOG = logging.getLogger(__name__)
MODES = ("offline", "streaming")
SPLIT_KEYS = (
    "kind",
    "variant",
    "focus",
    "camera",
    "occlusion",
    "object_enters",
    "annotator",
)  # meta fields reports split scores by
EngineFactory = Callable[[Config], Any]


class EngineBuildError(RuntimeError):
    """The engine (or one of its backends) could not be built from the configuration."""


def build_engine(factory: EngineFactory, config: Config) -> Any:
    """``factory(config)``, with any failure turned into one clear ``EngineBuildError``."""
    try:
        return factory(config)
    except Exception as exc:
        raise EngineBuildError(f"could not build the engine: {type(exc).__name__}: {exc}") from exc


@dataclass
class EvalOptions:
    """What ``parse-vos eval`` was asked to do.

    Attributes:
        dataset: one of ``datasets.DATASETS``.
        root: dataset root folder.
        expressions: expression file (None: the dataset's default location).
        out: output folder.
        profile: configuration profile name or YAML path (None: built-in defaults).
        overrides: dotted config overrides (``{"engine.window_s": 5}``).
        mode: "offline" or "streaming".
        workers: processes running expressions in parallel.
        limit: evaluate only the first ``limit`` expressions (after sorting by video/expression).
        engine_factory: ``"module:function"`` building the engine from a Config (default: ``Engine``).
        realtime: streaming only: feed each video's frames at its own frame rate in real time, as a
            camera does (the engine's worker threads get the time between frames a robot leaves
            them); False: back to back, as fast as the engine takes them.
    """

    dataset: str
    root: Path
    expressions: Path | None
    out: Path
    profile: str | None = "default"
    overrides: dict[str, Any] = field(default_factory=dict)
    mode: str = "offline"
    workers: int = 1
    limit: int | None = None
    engine_factory: str | None = None
    realtime: bool = False

    def signature(self, config: Config) -> str:
        """Hash of what determines the results: dataset, mode, full configuration, engine factory
        and the expression file's bytes (a regenerated synthetic set has a new meta file)."""
        exp_path = self.expressions or default_expressions(self.dataset, self.root)
        exp_hash = hashlib.sha256(exp_path.read_bytes()).hexdigest() if exp_path.is_file() else ""
        blob = json.dumps(
            {
                "dataset": self.dataset,
                "mode": self.mode,
                "config": config.to_dict(),
                "factory": self.engine_factory,
                "realtime": self.realtime,
                "expressions": exp_hash,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _default_factory(config: Config) -> Any:
    from parse_vos_ros.engine import Engine

    return Engine(config)


def resolve_factory(spec: str | None) -> EngineFactory:
    """``"package.module:function"`` -> the function; None -> the default ``Engine(config)``."""
    if not spec:
        return _default_factory
    module_name, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"engine factory {spec!r} not found ({exc})") from None


def paced(frames: Iterable[np.ndarray], fps: float) -> Iterator[np.ndarray]:
    """``frames`` handed out no faster than ``fps`` per second in real time: frame t not before
    ``t / fps`` seconds after the first (an engine slower than that gets them back to back)."""
    start = time.perf_counter()
    for t, frame in enumerate(frames):
        wait = start + t / fps - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        yield frame


def run_item(engine: Any, item: ExpressionItem, mode: str, depths: list[Any] | None = None,
             realtime: bool = False) -> tuple[list[np.ndarray], list[dict[str, Any]], float]:
    """Masks ``(H, W) bool`` per frame, per-frame records (state, score, timings) and wall seconds.

    ``depths`` are the item's aligned depth frames (``load_depth``), None without depth;
    ``realtime`` (streaming): frames come at ``item.fps`` in real time (``paced``).
    """
    from parse_vos_ros.engine.offline import depth_kwargs, run_offline

    # The last clip's keyframe may still run in the worker: each clip starts as a new stream on
    # a fresh engine would, not with its first keyframe left to the worker (order-dependent).
    engine.reset()
    settle = getattr(engine, "settle", None)
    if callable(settle) and not settle():
        LOG.warning("%s/%s: background work still running after reset", item.video, item.exp_id)
    start = time.perf_counter()
    if mode == "offline":
        results = run_offline(engine, item.frames(), item.text, fps=item.fps, depths=depths)
    elif mode == "streaming":
        engine.set_command(item.text, 0.0)
        with_depth = [depth_kwargs(d) for d in depths] if depths else itertools.repeat({})
        frames = paced(item.frames(), item.fps) if realtime else item.frames()
        results = [engine.push_frame(image, t / item.fps, **kw)
                   for t, (image, kw) in enumerate(zip(frames, with_depth, strict=False))]
    else:
        raise ValueError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
    wall = time.perf_counter() - start
    if len(results) != len(item.image_paths):
        raise RuntimeError(f"engine returned {len(results)} results for {len(item.image_paths)} frames")
    records = [
        {
            "state": str(getattr(r.state, "value", r.state)),
            "score": float(r.score),
            "track_ids": [int(t) for t in r.track_ids],
            "timings_ms": {k: round(float(v), 3) for k, v in r.timings_ms.items()},
            **({"points": [[round(float(v), 4) for v in p.position] for p in r.points]} if depths else {}),
        }
        for r in results
    ]
    return [np.asarray(r.mask, dtype=bool) for r in results], records, wall


def _position_3d(item: ExpressionItem, records: list[dict[str, Any]],
                 centres: dict[int, np.ndarray] | None) -> dict[str, Any] | None:
    """3D position errors of the predicted points against the true ``centres`` (None without depth)."""
    if centres is None or not records or "points" not in records[0]:
        return None
    absolute, relative, missing = position3d.frame_errors([r["points"] for r in records], centres, item.obj_ids)
    return {**position3d.summary(absolute, relative, missing), "abs_errors_m": absolute, "rel_errors": relative,
            "missing": missing}


def evaluate_item(engine: Any, item: ExpressionItem, options: EvalOptions, signature: str) -> dict[str, Any]:
    """Run, score and write one expression; returns its ``result.json`` content."""
    base = {"video": item.video, "exp_id": item.exp_id, "text": item.text, "meta": item.meta, "signature": signature}
    try:
        from parse_vos_ros.synth_depth import load_depth

        loaded = load_depth(item.image_paths)  # read once: the frames for the run, the centres for the score
        depths, centres = loaded if loaded is not None else (None, None)
        gt = item.ground_truth() if item.has_gt else None
        probe = StageProbe(engine) if gt is not None and StageProbe.supports(engine) else None
        if probe is not None:
            probe.watch(gt)
            with probe:
                masks, records, wall = run_item(engine, item, options.mode, depths, options.realtime)
            wall -= probe.overhead_s  # engine time only
        else:
            masks, records, wall = run_item(engine, item, options.mode, depths, options.realtime)
        out_masks = mask_dir(options.out, item)
        for name, mask in zip(item.frame_names, masks, strict=True):
            write_mask(out_masks / f"{name}.png", mask)
        result: dict[str, Any] = {
            **base,
            "status": "ok",
            "frames": item.frame_names,
            "timing": {"wall_s": wall, "frames": len(masks), "ms_per_frame": 1000.0 * wall / max(len(masks), 1)},
            "per_frame": records,
        }
        if gt is not None:
            if gt.shape[1:] != masks[0].shape:
                raise RuntimeError(f"engine mask size {masks[0].shape} differs from ground truth {gt.shape[1:]}")
            scores = evaluate_sequence(gt, np.stack(masks), frames=item.frame_names)
            result["scores"] = scores.summary()
            for record, j, f in zip(records, scores.j, scores.f, strict=True):
                record["J"], record["F"] = float(j), float(f)
            position = _position_3d(item, records, centres)
            if position is not None:
                result["position_3d"] = position
            if probe is not None:
                result["stages"] = probe.scores(gt, masks)
    except Exception as exc:  # one bad expression must not end a long run
        result = {
            **base,
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=6),
        }
    atomic_write_json(item_dir(options.out, item) / "result.json", result)
    return result


def load_done(out: Path, item: ExpressionItem, signature: str) -> dict[str, Any] | None:
    """The stored result of a finished expression of this run signature, else None."""
    path = item_dir(out, item) / "result.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if data.get("signature") == signature and data.get("status") == "ok" else None


# -- worker processes -------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _worker_init(options: EvalOptions, signature: str) -> None:
    config = load_config(options.profile, options.overrides)
    _WORKER["engine"] = build_engine(resolve_factory(options.engine_factory), config)
    _WORKER["items"] = {i.key: i for i in load_dataset(options.dataset, options.root, options.expressions)}
    _WORKER["options"], _WORKER["signature"] = options, signature


def _worker_run(key: str) -> dict[str, Any]:
    return evaluate_item(_WORKER["engine"], _WORKER["items"][key], _WORKER["options"], _WORKER["signature"])


def _progress(done: int, total: int, started: float, key: str, stream: Any) -> None:
    elapsed = time.monotonic() - started
    eta = elapsed / max(done, 1) * (total - done)
    width = 24
    filled = int(width * done / max(total, 1))
    bar = "#" * filled + "-" * (width - filled)
    print(
        f"\reval [{bar}] {done}/{total} {elapsed:6.0f}s eta {eta:5.0f}s {key[:40]:<40}", end="", file=stream, flush=True
    )
    if done == total:
        print(file=stream)


def _run_all(
    items: list[ExpressionItem],
    options: EvalOptions,
    config: Config,
    signature: str,
    stream: Any,
    factory: EngineFactory | None,
) -> Iterator[dict[str, Any]]:
    todo = []
    for item in items:
        done = load_done(options.out, item, signature)
        if done is None:
            todo.append(item)
        else:
            yield done
    if todo and stream is not None:
        print(f"eval: {len(items) - len(todo)} expression(s) already done, {len(todo)} to run", file=stream)
    started = time.monotonic()
    if options.workers <= 1 or len(todo) <= 1:
        engine = build_engine(factory or resolve_factory(options.engine_factory), config) if todo else None
        try:
            for n, item in enumerate(todo, 1):
                yield evaluate_item(engine, item, options, signature)
                if stream is not None:
                    _progress(n, len(todo), started, item.key, stream)
        finally:
            if engine is not None and hasattr(engine, "close"):
                engine.close()
        return
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited threads or torch state
    with context.Pool(min(options.workers, len(todo)), _worker_init, (options, signature)) as pool:
        for n, result in enumerate(pool.imap_unordered(_worker_run, [i.key for i in todo]), 1):
            yield result
            if stream is not None:
                _progress(n, len(todo), started, f"{result['video']}/{result['exp_id']}", stream)


def machine() -> dict[str, Any]:
    """A short description of the machine the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": platform.system(),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")  # only report a GPU when a backend actually used torch
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _group_means(rows: list[dict[str, Any]]) -> dict[str, float]:
    return mean_over_sequences([r["scores"] for r in rows])


def aggregate(results: list[dict[str, Any]], options: EvalOptions, signature: str, wall_s: float) -> dict[str, Any]:
    """The ``metrics.json`` content from every expression's result."""
    scored = []
    expressions: dict[str, Any] = {}
    failed: dict[str, str] = {}
    frames = 0
    engine_s = 0.0
    for r in sorted(results, key=lambda r: (r["video"], _exp_order(r["exp_id"]))):
        key = f"{r['video']}/{r['exp_id']}"
        entry: dict[str, Any] = {"video": r["video"], "exp_id": r["exp_id"], "text": r["text"], "meta": r["meta"]}
        if r["status"] != "ok":
            failed[key] = r["error"]
            # A failed expression scores 0 so failures lower the mean instead of hiding.
            zero = {"J&F": 0.0, "J": 0.0, "F": 0.0, "J_recall": 0.0, "F_recall": 0.0, "J_decay": 0.0, "F_decay": 0.0}
            r = {**r, "scores": zero}
            entry["status"] = "failed"
        else:
            frames += r["timing"]["frames"]
            engine_s += r["timing"]["wall_s"]
            entry["timing"] = {k: r["timing"][k] for k in ("frames", "ms_per_frame")}
            entry["states"] = _state_counts(r["per_frame"])
        if "scores" in r:
            entry.update({k: v for k, v in r["scores"].items() if k != "frames"})
            scored.append(r)
        if "stages" in r:
            entry["stages"] = r["stages"]
        expressions[key] = entry
    sequences: dict[str, Any] = {}
    for video in sorted({r["video"] for r in scored}):
        rows = [r for r in scored if r["video"] == video]
        sequences[video] = {**_group_means(rows), "expressions": len(rows)}
        stages = mean_stages([r["stages"] for r in rows if "stages" in r])
        if stages:
            sequences[video]["stages"] = stages
    splits: dict[str, Any] = {}
    for key in SPLIT_KEYS:
        values = sorted({str(r["meta"][key]) for r in scored if key in r["meta"]})
        if values:
            splits[key] = {v: _group_means([r for r in scored if str(r["meta"].get(key)) == v]) for v in values}
    conv = convention(options.dataset)
    return {
        "dataset": options.dataset,
        "root": str(options.root),
        "expressions_file": str(options.expressions or default_expressions(options.dataset, options.root)),
        "split": conv["split"],
        "convention": conv["scoring"],
        "profile": str(options.profile),
        "overrides": options.overrides,
        "mode": options.mode,
        "realtime": options.realtime,
        "machine": machine(),
        "signature": signature,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "counts": {
            "expressions": len(expressions),
            "scored": len(scored),
            "failed": len(failed),
            "sequences": len({r["video"] for r in results}),
        },
        "overall": _group_means(scored) if scored else {},
        **({"position_3d": position} if (position := position3d.pooled(scored)) else {}),
        "overall_by_sequence": mean_over_sequences(
            [{k: v for k, v in seq.items() if k != "stages"} for seq in sequences.values()]
        ) if sequences else {},
        "overall_stages": mean_stages([r["stages"] for r in scored if "stages" in r]),
        "splits": splits,
        "timing": {
            "frames": frames,
            "engine_s": engine_s,
            "ms_per_frame": 1000.0 * engine_s / max(frames, 1),
            "fps": frames / engine_s if engine_s > 0 else 0.0,
            "run_wall_s": wall_s,
            "workers": options.workers,
        },
        "sequences": sequences,
        "expressions": expressions,
        "failed": failed,
    }


def _exp_order(exp_id: str) -> tuple[int, str]:
    return (int(exp_id), "") if exp_id.isdigit() else (sys.maxsize, exp_id)


def _state_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record["state"]] = counts.get(record["state"], 0) + 1
    return counts


def run_eval(
    options: EvalOptions, stream: Any = sys.stderr, factory: EngineFactory | None = None, report: bool = True
) -> dict[str, Any]:
    """Evaluate, write ``OUT/metrics.json`` (and the report), and return the metrics.

    ``factory`` overrides ``options.engine_factory`` in this process (single worker only; tests).
    """
    if options.mode not in MODES:
        raise ValueError(f"unknown mode {options.mode!r} (known: {', '.join(MODES)})")
    if options.realtime and options.mode != "streaming":
        raise ValueError("--realtime paces a stream: it needs --mode streaming")
    if options.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {options.workers}")
    config = load_config(options.profile, options.overrides)
    signature = options.signature(config)
    items = load_dataset(options.dataset, options.root, options.expressions)
    items.sort(key=lambda i: (i.video, _exp_order(i.exp_id)))
    if options.limit is not None:
        items = items[: max(options.limit, 0)]
    if not items:
        raise ValueError("no expressions to evaluate")
    stale = remove_stale_temps(options.out)  # left by a killed run; a resumed run starts clean
    if stale and stream is not None:
        print(f"eval: removed {stale} temporary file(s) left by an interrupted run", file=stream)
    started = time.perf_counter()
    results = list(_run_all(items, options, config, signature, stream, factory))
    metrics = aggregate(results, options, signature, time.perf_counter() - started)
    atomic_write_json(options.out / "metrics.json", metrics)
    atomic_write_json(options.out / "per_frame.json", frame_curve(results))
    if report:
        from parse_vos_ros.eval.report import write_report

        write_report(metrics, results, items, options.out)
    return metrics
