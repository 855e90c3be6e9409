#!/usr/bin/env python3
"""Which image size of a person tells that it comes closer: box height, width or sqrt(area)?

On a video from a static camera above a ground plane (OpenCV's ``vtest.avi``: people walking in
a square) the foot point is an independent reference: it moves down the image as a person comes
closer and up as it walks away. People are detected on every frame by the vendored YOLOX-Nano and
linked frame to frame by box IoU; every window of ``--window-s`` seconds of a track that no box
of it touches the border (``reasoning.sizes.BORDER_FRAC``) gives one sample: the foot point's
speed (box heights per second, down = closer) and the slope of each log size (per second).
With ``--masks`` the sizes are read on the person pixels DeepLab (the vendored half-width model)
finds inside each box, as the engine's tracks are masks: the mask's box height and width and
the square root of its area; the reference stays the detection box's foot point.

For each reference speed threshold it prints the share of windows whose size trend has the foot
point's sign, and the share the reasoner would call confidently wrong (``|slope| >`` its
``SCALE_RATE`` with the wrong sign). ``reasoning/sizes.py`` reads the height for this reason.

    PYTHONPATH=src python scripts/size_cue.py ../shared/data/video/vtest.avi [--masks] --out size_cue.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from parse_vos_ros.geometry import iou_matrix
from parse_vos_ros.grounding.yolox import YoloxDetector
from parse_vos_ros.models import vendored_path
from parse_vos_ros.reasoning.rule_reasoner import SCALE_RATE
from parse_vos_ros.reasoning.sizes import BORDER_FRAC
from parse_vos_ros.tracking.deeplab import DeepLabMasker

PERSON = 0  # COCO class index
SCORE_MIN = 0.4  # detections kept
LINK_IOU = 0.3  # a box continues the track whose last box it overlaps this much
MAX_GAP = 3  # frames a track may miss before it ends
SPEED_THRESHOLDS = (0.05, 0.1, 0.2)  # foot-point speeds (heights/s) that count as clearly moving
SIZES = ("height", "width", "sqrt_area")
MIN_MASK_PX = 50  # a box with fewer person pixels gives no mask sizes

Sample = tuple[int, np.ndarray, np.ndarray]  # frame, (4,) detection xyxy px, (3,) height, width, area px


def sizes_in(image: np.ndarray, box: np.ndarray, masker: DeepLabMasker | None) -> np.ndarray:
    """``(3,)`` height, width, area (px) of the person in ``box``: the box's own without ``masker``,
    else its DeepLab person pixels' (NaN when it finds fewer than ``MIN_MASK_PX``)."""
    w, h = box[2] - box[0], box[3] - box[1]
    if masker is None:
        return np.array([h, w, w * h])
    x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
    x1, y1 = min(int(np.ceil(box[2])), image.shape[1]), min(int(np.ceil(box[3])), image.shape[0])
    person = masker.labels_of(np.ascontiguousarray(image[y0:y1, x0:x1])) == masker.labels.index("person")
    if np.count_nonzero(person) < MIN_MASK_PX:
        return np.full(3, np.nan)
    ys, xs = np.nonzero(person)
    return np.array([np.ptp(ys) + 1.0, np.ptp(xs) + 1.0, float(len(ys))])


def person_tracks(video: str, masker: DeepLabMasker | None) -> tuple[list[list[Sample]], float, tuple[int, int]]:
    """``(tracks of samples, fps, (W, H))`` of the people in ``video``."""
    detector = YoloxDetector(vendored_path("yolox-nano/yolox_nano.onnx"), 0, SCORE_MIN, 0.45)
    capture = cv2.VideoCapture(video)
    if not capture.isOpened():
        sys.exit(f"cannot read {video}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    done: list[list[Sample]] = []
    live: list[list[Sample]] = []
    index, size = 0, (0, 0)
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        size = (bgr.shape[1], bgr.shape[0])
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        found = detector(rgb)
        boxes = found.boxes[found.classes == PERSON]
        free = set(range(len(boxes)))
        kept = []
        for track in live:
            overlaps = iou_matrix(track[-1][1][None], boxes)[0] if len(boxes) else np.zeros(0)
            best = max(free, key=lambda i: overlaps[i], default=None)
            if best is not None and overlaps[best] > LINK_IOU:
                free.discard(best)
                track.append((index, boxes[best], sizes_in(rgb, boxes[best], masker)))
                kept.append(track)
            elif index - track[-1][0] < MAX_GAP:
                kept.append(track)
            else:
                done.append(track)
        live = kept + [[(index, boxes[i], sizes_in(rgb, boxes[i], masker))] for i in sorted(free)]
        index += 1
    return done + live, fps, size


def windows(tracks: list[list[Sample]], fps: float, size: tuple[int, int], window_s: float) -> np.ndarray:
    """``(N, 4)``: foot speed (heights/s, + = closer) and the log-height, log-width and
    log-sqrt-area slopes (1/s) of every half-overlapping window clear of the border (and, with
    masks, with a mask on every sample)."""
    w, h = size
    n = max(2, round(window_s * fps))
    rows = []
    for track in tracks:
        stamps = np.array([f for f, _, _ in track]) / fps
        boxes = np.array([b for _, b, _ in track])
        sizes = np.array([z for _, _, z in track])
        for start in range(0, len(track) - n + 1, max(1, n // 2)):
            t, b, z = stamps[start:start + n], boxes[start:start + n], sizes[start:start + n]
            if ((b[:, :2] <= BORDER_FRAC * np.array([w, h])).any()
                    or (b[:, 2:] >= (1 - BORDER_FRAC) * np.array([w, h])).any() or np.isnan(z).any()):
                continue
            foot = np.polyfit(t, b[:, 3], 1)[0] / (b[:, 3] - b[:, 1]).mean()
            rows.append((foot, *(np.polyfit(t, np.log(z[:, k]) * (0.5 if k == 2 else 1.0), 1)[0] for k in range(3))))
    return np.array(rows).reshape(-1, 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--window-s", type=float, default=1.5)
    ap.add_argument("--masks", action="store_true", help="sizes of DeepLab's person pixels in each box")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    tracks, fps, size = person_tracks(args.video, DeepLabMasker.named("dm05", threads=2) if args.masks else None)
    rows = windows(tracks, fps, size, args.window_s)
    report: dict[str, object] = {"video": Path(args.video).name, "sizes_of": "masks" if args.masks else "boxes",
                                 "tracks": len(tracks), "windows": len(rows)}
    for threshold in SPEED_THRESHOLDS:
        moving = rows[np.abs(rows[:, 0]) > threshold]
        entry: dict[str, object] = {"windows": len(moving)}
        for k, name in enumerate(SIZES, start=1):
            agree = np.sign(moving[:, k]) == np.sign(moving[:, 0])
            called = np.abs(moving[:, k]) > SCALE_RATE
            entry[name] = {"agrees": round(float(agree.mean()), 3),
                           "confidently_wrong": round(float((~agree & called).mean()), 3)}
        report[f"foot_speed_over_{threshold}"] = entry
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
