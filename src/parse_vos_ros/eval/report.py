"""The human side of ``parse-vos eval``: a Markdown report, plots and overlay videos.

Written next to ``metrics.json``:
- ``report.md``: overall J&F / J / F, splits (kind, focus, camera, ...), per sequence, per
  expression (worst first), failures, timing, machine, split and scoring convention;
- ``plots/per_sequence.png``: J and F per sequence (bar chart);
- ``plots/jf_vs_frame.png``: J&F against frame index per expression, with the mean;
- ``plots/failure_gallery.png``: the worst frame of each of the worst expressions, ground truth
  outlined in green and the prediction tinted red;
- ``overlays/VIDEO__EXP.mp4``: the same overlay over whole videos, for the worst expressions.
Matplotlib runs on the Agg backend (no display needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from parse_vos_ros.atomic import atomic_path, atomic_write_text
from parse_vos_ros.eval.datasets import ExpressionItem
from parse_vos_ros.eval.layout import frame_curve, mask_dir
from parse_vos_ros.eval.maskio import read_mask
from parse_vos_ros.eval.stages import DETECTION_IOU, STAGE_KEYS

GALLERY_FRAMES = 12  # worst frames shown in the failure gallery
OVERLAY_VIDEOS = 3  # worst expressions rendered as overlay videos
PRED_BGR = (40, 40, 230)
GT_BGR = (60, 220, 60)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.3f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return lines


def _score_row(name: str, scores: dict[str, Any], count: Any = "") -> list[Any]:
    return [
        name,
        scores.get("J&F", float("nan")),
        scores.get("J", float("nan")),
        scores.get("F", float("nan")),
        scores.get("J_recall", float("nan")),
        scores.get("F_recall", float("nan")),
        count,
    ]


SCORE_HEADER = ["", "J&F", "J", "F", "J recall", "F recall", "n"]


STAGE_HEADER = ["", "detection recall", "detection best IoU", "best-candidate IoU", "selected IoU"]


def _stage_row(name: str, stages: dict[str, Any]) -> list[Any]:
    return [name, *(stages.get(k, float("nan")) for k in STAGE_KEYS)]


def _stage_lines(m: dict[str, Any]) -> list[str]:
    """The per-stage table: where between detection and selection the score is lost."""
    if not m.get("overall_stages"):
        return []
    rows = [_stage_row("mean over expressions", m["overall_stages"])]
    rows += [_stage_row(v, s["stages"]) for v, s in m["sequences"].items() if "stages" in s]
    return [
        "## Per stage",
        "",
        f"Detection recall: keyframes whose best box for the command's phrases overlaps the ground-truth "
        f"box at IoU >= {DETECTION_IOU:g}. Best-candidate IoU: the best live track's mask per frame "
        "(a perfect choice). Selected IoU: the output mask (J).",
        "",
        *_table(STAGE_HEADER, rows),
        "",
    ]


def markdown(metrics: dict[str, Any], figures: list[str], overlays: list[str]) -> str:
    """The report text."""
    m = metrics
    timing, counts, mach = m["timing"], m["counts"], m["machine"]
    machine_text = f"{mach['cpu']} ({mach['cores']} cores)" + (f", GPU {mach['gpu']}" if mach.get("gpu") else "")
    lines = [
        f"# parse-vos eval: {m['dataset']}",
        "",
        f"- profile `{m['profile']}`, mode **{m['mode']}**, signature `{m['signature']}`, {m['created']}",
        f"- machine: {machine_text}, Python {mach['python']}",
        f"- split: {m['split']}; expressions file: `{m['expressions_file']}`",
        f"- convention: {m['convention']}",
        f"- {counts['expressions']} expressions on {counts['sequences']} sequences, {counts['failed']} failed",
        f"- engine time {timing['engine_s']:.1f} s for {timing['frames']} frames: "
        f"{timing['ms_per_frame']:.1f} ms/frame ({timing['fps']:.1f} FPS, single process), "
        f"run wall time {timing['run_wall_s']:.1f} s with {timing['workers']} worker(s)",
        "",
    ]
    if m["overall"]:
        lines += ["## Overall", ""]
        rows = [_score_row("mean over expressions", m["overall"], counts["scored"])]
        if m["overall_by_sequence"]:
            rows.append(_score_row("mean over sequences", m["overall_by_sequence"], len(m["sequences"])))
        lines += [*_table(SCORE_HEADER, rows), ""]
        for key, groups in m["splits"].items():
            lines += [f"### By {key}", ""]
            rows = [_score_row(v, s, int(s.get("count", 0))) for v, s in groups.items()]
            lines += [*_table(SCORE_HEADER, rows), ""]
        lines += ["## Per sequence", ""]
        rows = [_score_row(v, s, s["expressions"]) for v, s in m["sequences"].items()]
        lines += [*_table(SCORE_HEADER, rows), ""]
        lines += _stage_lines(m)
    else:
        lines += [
            "No ground truth for this split: predictions are written in the submission layout under "
            "`Annotations/VIDEO/EXP_ID/FRAME.png`; zip that folder for the benchmark server.",
            "",
        ]
    lines += ["## Per expression (worst first)", ""]
    exps = sorted(m["expressions"].items(), key=lambda kv: kv[1].get("J&F", 2.0))
    rows = []
    for key, e in exps:
        timing_e = e.get("timing", {})
        states = ", ".join(f"{s} {n}" for s, n in sorted(e.get("states", {}).items()))
        rows.append(
            [
                key,
                e["text"],
                e.get("J&F", "-"),
                e.get("J", "-"),
                e.get("F", "-"),
                e["meta"].get("kind", e["meta"].get("focus", "")),
                timing_e.get("ms_per_frame", "-"),
                states or e.get("status", ""),
            ]
        )
    lines += [*_table(["expression", "sentence", "J&F", "J", "F", "kind", "ms/frame", "states"], rows), ""]
    if m["failed"]:
        lines += ["## Failures (scored 0)", ""]
        lines += [f"- `{key}`: {error}" for key, error in m["failed"].items()] + [""]
    if figures:
        lines += ["## Plots", ""] + [f"![{Path(f).stem}]({f})" for f in figures] + [""]
    if overlays:
        lines += ["## Overlay videos (prediction red, ground truth green)", ""]
        lines += [f"- [{Path(o).stem}]({o})" for o in overlays] + [""]
    return "\n".join(lines)


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def plot_per_sequence(metrics: dict[str, Any], path: Path) -> None:
    """Bar chart of J and F per sequence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(metrics["sequences"])
    j = [metrics["sequences"][n]["J"] for n in names]
    f = [metrics["sequences"][n]["F"] for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(names) + 2), 4))
    ax.bar(x - 0.2, j, 0.4, label="J (region)")
    ax.bar(x + 0.2, f, 0.4, label="F (boundary)")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1.15)  # headroom for the legend
    ax.set_ylabel("score")
    jf = metrics["overall"].get("J&F", float("nan"))
    ax.set_title(f"{metrics['dataset']} ({metrics['mode']}): J&F {jf:.3f} over expressions")
    ax.axhline(jf, color="k", lw=0.8, ls="--")
    ax.legend(loc="upper left", ncol=2, fontsize=8)
    _save(fig, path)
    plt.close(fig)


def plot_jf_vs_frame(curves: dict[str, list[float]], path: Path) -> None:
    """J&F against frame index: one thin line per expression, the mean over expressions in black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    longest = max(len(c) for c in curves.values())
    stacked = np.full((len(curves), longest), np.nan)
    for row, (_name, curve) in enumerate(curves.items()):
        ax.plot(curve, lw=0.7, alpha=0.45)
        stacked[row, : len(curve)] = curve
    ax.plot(np.nanmean(stacked, axis=0), color="k", lw=2, label="mean over expressions")
    ax.set_xlabel("frame index")
    ax.set_ylabel("J&F")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    _save(fig, path)
    plt.close(fig)


def overlay(image_rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray | None, caption: str) -> np.ndarray:
    """``(H, W, 3) uint8`` BGR: prediction tinted and outlined red, ground truth outlined green, a caption."""
    bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    tinted = bgr.copy()
    tinted[pred] = PRED_BGR
    out = cv2.addWeighted(bgr, 0.5, tinted, 0.5, 0)
    thickness = max(1, image_rgb.shape[0] // 160)
    pred_contours, _ = cv2.findContours(pred.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, pred_contours, -1, PRED_BGR, thickness)
    if gt is not None:
        contours, _ = cv2.findContours(gt.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, GT_BGR, thickness)
    scale = max(0.4, image_rgb.shape[0] / 600)
    cv2.putText(out, caption, (6, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, caption, (6, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _frame(item: ExpressionItem, t: int) -> np.ndarray:
    bgr = cv2.imread(str(item.image_paths[t]), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"unreadable frame {item.image_paths[t]}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def failure_gallery(worst: list[tuple[float, ExpressionItem, int]], masks_of: Any, path: Path) -> None:
    """A grid of the worst frames ``(J&F, item, frame index)``, 4 per row, each 320 px wide."""
    tiles = []
    gt_cache: dict[str, np.ndarray] = {}
    for score, item, t in worst:
        if item.key not in gt_cache:
            gt_cache[item.key] = item.ground_truth()
        pred = read_mask(masks_of(item) / f"{item.frame_names[t]}.png")
        tile = overlay(_frame(item, t), pred, gt_cache[item.key][t], f"{item.key} #{t} J&F {score:.2f}")
        h, w = tile.shape[:2]
        tiles.append(cv2.resize(tile, (320, max(1, round(h * 320 / w))), interpolation=cv2.INTER_AREA))
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    while len(tiles) % 4:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles), 4)])
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), grid):
            raise OSError(f"could not write {path}")


def overlay_video(item: ExpressionItem, masks_folder: Path, scores: list[float] | None, path: Path) -> None:
    """MP4 of the expression's video with its prediction (and ground truth when known)."""
    gt = item.ground_truth() if item.has_gt else None
    writer = None
    with atomic_path(path) as tmp:
        try:
            for t, image in enumerate(item.frames()):
                pred = read_mask(masks_folder / f"{item.frame_names[t]}.png")
                caption = item.text if scores is None else f"{item.text} | J&F {scores[t]:.2f}"
                frame = overlay(image, pred, None if gt is None else gt[t], caption)
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), item.fps, (w, h))
                    if not writer.isOpened():
                        raise OSError(f"OpenCV cannot write MP4 video to {path}")
                writer.write(frame)
        finally:
            if writer is not None:
                writer.release()


def write_report(
    metrics: dict[str, Any], results: list[dict[str, Any]], items: list[ExpressionItem], out: Path
) -> Path:
    """Write plots, overlay videos and ``report.md`` under ``out``; returns the report path."""
    by_key = {i.key: i for i in items}
    ok = [r for r in results if r["status"] == "ok" and f"{r['video']}/{r['exp_id']}" in by_key]
    curves = frame_curve(ok)
    figures: list[str] = []
    if metrics["sequences"]:
        plot_per_sequence(metrics, out / "plots" / "per_sequence.png")
        figures.append("plots/per_sequence.png")
    if curves:
        plot_jf_vs_frame(curves, out / "plots" / "jf_vs_frame.png")
        figures.append("plots/jf_vs_frame.png")
        # The worst frame of each expression, worst first: one sequence cannot fill the whole gallery.
        per_expression = [min((score, t) for t, score in enumerate(curve)) for curve in curves.values()]
        worst = sorted(
            ((score, by_key[key], t) for key, (score, t) in zip(curves, per_expression, strict=True)),
            key=lambda x: x[0],
        )[:GALLERY_FRAMES]
        failure_gallery(worst, lambda item: mask_dir(out, item), out / "plots" / "failure_gallery.png")
        figures.append("plots/failure_gallery.png")
    ranked = sorted(ok, key=lambda r: r.get("scores", {}).get("J&F", 0.0))[:OVERLAY_VIDEOS]
    overlays = []
    for r in ranked:
        item = by_key[f"{r['video']}/{r['exp_id']}"]
        name = f"overlays/{item.video}__{item.exp_id}.mp4"
        overlay_video(item, mask_dir(out, item), curves.get(item.key), out / name)
        overlays.append(name)
    path = out / "report.md"
    atomic_write_text(path, markdown(metrics, figures, overlays) + "\n")
    return path
