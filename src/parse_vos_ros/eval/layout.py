"""Where ``parse-vos eval`` writes each expression's files, and the per-frame curves read back
from its results: shared by the runner (which writes) and the report (which reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parse_vos_ros.eval.datasets import ExpressionItem


def item_dir(out: Path, item: ExpressionItem) -> Path:
    """Folder of one expression's ``result.json``."""
    return out / "items" / item.video / item.exp_id


def mask_dir(out: Path, item: ExpressionItem) -> Path:
    """Predicted masks; Ref-YouTube-VOS gets the submission layout ``Annotations/VIDEO/EXP_ID``."""
    top = "Annotations" if item.dataset == "refytvos" else "masks"
    return out / top / item.video / item.exp_id


def frame_curve(results: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-expression J&F per frame (for the J&F-vs-frame plot)."""
    return {
        f"{r['video']}/{r['exp_id']}": [(p["J"] + p["F"]) / 2 for p in r["per_frame"]]
        for r in results
        if r["status"] == "ok" and r["per_frame"] and "J" in r["per_frame"][0]
    }
