"""Weight-free object cues for the embedded detector: ego-compensated motion, colour, saliency, HOG.

Each cue works on a reduced image (``(h, w)`` below, the detector's working size) and returns
candidate boxes as ``(N, 4) float64`` xyxy in working-size pixels with ``(N,)`` scores in [0, 1];
the detector scales them back to the camera frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from parse_vos_ros.grounding.vocabulary import COLOUR_RANGES

Boxes = tuple[np.ndarray, np.ndarray]  # ((N, 4) float64 xyxy, (N,) float64 scores)


def empty_boxes() -> Boxes:
    return np.zeros((0, 4)), np.zeros(0)


def _fit_affine_flow(flow: np.ndarray, init: np.ndarray, step: int = 4, iterations: int = 3) -> np.ndarray:
    """Robust ``(2, 3)`` affine explaining a ``(h, w, 2)`` flow field (the dominant, camera motion).

    Iteratively reweighted least squares (Cauchy weights) on a subsampled grid, started from the
    residuals of ``init``, so a moving object covering a sizeable part of the image is down-weighted.
    """
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    x, y = xs.ravel().astype(np.float64), ys.ravel().astype(np.float64)
    f = flow[ys.ravel(), xs.ravel()].astype(np.float64)
    design = np.stack([x, y, np.ones_like(x)], axis=1)
    target = np.stack([x + f[:, 0], y + f[:, 1]], axis=1)
    affine = init
    for _ in range(iterations):
        r = np.linalg.norm(design @ affine.T - target, axis=1)
        scale = max(1.5 * float(np.median(r)), 0.3)
        weight = 1.0 / (1.0 + (r / scale) ** 2)
        sw = np.sqrt(weight)[:, None]
        sol, *_ = np.linalg.lstsq(design * sw, target * sw, rcond=None)
        affine = sol.T
    return affine


def motion_residual(flow_engine: cv2.DISOpticalFlow, prev: np.ndarray, cur: np.ndarray,
                    ego: np.ndarray) -> np.ndarray:
    """Magnitude of the motion the camera does not explain.

    Args:
        flow_engine: a DIS optical flow instance.
        prev, cur: ``(h, w) uint8`` previous and current grey frames at working size.
        ego: ``(2, 3)`` prev -> cur affine at working size (initial guess of the camera motion).

    Returns:
        ``(h, w) float32`` residual displacement in working-size pixels per frame, located on the
        previous frame's pixel grid (a moving object's pixels on ``prev``; close enough at the
        displacements of one frame).
    """
    flow = flow_engine.calc(prev, cur, None)
    affine = _fit_affine_flow(flow, ego)
    h, w = prev.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    cx = affine[0, 0] * gx + affine[0, 1] * gy + affine[0, 2]
    cy = affine[1, 0] * gx + affine[1, 1] * gy + affine[1, 2]
    residual = np.hypot(flow[..., 0] - (cx - gx), flow[..., 1] - (cy - gy)).astype(np.float32)
    # Background the camera carries out of view has no match in ``cur``: its flow is noise, and
    # over a keyframe-long baseline of a panning camera that strip looks like a moving object.
    margin = 2.0
    gone = (cx < margin) | (cx > w - 1 - margin) | (cy < margin) | (cy > h - 1 - margin)
    residual[gone] = 0.0
    return residual


def components_to_boxes(mask: np.ndarray, strength: np.ndarray, min_area: int, merge_px: int) -> Boxes:
    """Boxes of the connected components of ``mask``, and of groups of components within ``merge_px``.

    Objects often split into pieces (limbs, textureless interiors); the merged groups give the
    whole-object box while the single components keep small separate objects.

    Args:
        mask: ``(h, w) bool`` region.
        strength: ``(h, w) float32`` evidence in [0, 1]; a box scores the mean over its pixels.
        min_area: components smaller than this many pixels are ignored.
        merge_px: pieces closer than this are grouped.
    """
    boxes, scores = [], []
    listed: set[tuple[int, ...]] = set()  # integer boxes already emitted (exact, O(1) look-up)
    m8 = mask.astype(np.uint8)
    levels = [m8]
    if merge_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * merge_px + 1, 2 * merge_px + 1))
        levels.append(cv2.dilate(m8, kernel))
    for grown in levels:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
        for i in range(1, n):
            x, y, bw, bh, _ = stats[i]
            inside = (labels[y:y + bh, x:x + bw] == i) & mask[y:y + bh, x:x + bw]
            area = int(inside.sum())
            if area < min_area:
                continue
            ys, xs = np.nonzero(inside)
            box = (int(x + xs.min()), int(y + ys.min()), int(x + xs.max() + 1), int(y + ys.max() + 1))
            if box in listed:
                continue  # the group is a single component already listed
            listed.add(box)
            fill = area / max(1.0, (box[2] - box[0]) * (box[3] - box[1]))
            # Compact regions and regions of object size (a few % of the frame) are preferred over
            # thin slivers and specks, which are usually flow or threshold noise.
            size = min(1.0, area / (0.03 * mask.size))
            score = float(strength[y:y + bh, x:x + bw][inside].mean()) * (0.5 + 0.5 * min(1.0, 2 * fill))
            score *= 0.5 + 0.5 * size
            boxes.append(box)
            scores.append(score)
    if not boxes:
        return empty_boxes()
    return np.asarray(boxes, np.float64), np.clip(np.asarray(scores, np.float64), 0.0, 1.0)


def motion_boxes(residual: np.ndarray, min_px: float, min_area: int, merge_px: int) -> Boxes:
    """Candidate boxes of independently moving regions from a ``(h, w)`` residual magnitude map.

    Thresholds at several fractions of the strongest motion (never below ``min_px`` or 3x the
    median) propose both a whole object (low level) and its fastest part or a separate smaller mover
    (higher levels). Each box is scored by its pixels' motion times its contrast to a ring around
    it: an object moves against still surroundings, a flow artefact smears into them.
    """
    base = max(min_px, 3.0 * float(np.median(residual)))
    peak = float(np.percentile(residual, 99.5))
    if peak <= base:
        return empty_boxes()
    strength = np.clip(residual / peak, 0.0, 1.0)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    parts = []
    for level in sorted({base, max(base, 0.3 * peak), max(base, 0.55 * peak)}):
        mask = (residual > level).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
        parts.append(components_to_boxes(mask, strength, min_area, merge_px))
    boxes = np.concatenate([b for b, _ in parts])
    scores = np.concatenate([sc for _, sc in parts])
    if not len(boxes):
        return empty_boxes()
    return boxes, scores * (0.4 + 0.6 * ring_contrast(strength, boxes))


def _clipped_boxes(boxes: np.ndarray, h: int, w: int) -> tuple[np.ndarray, ...]:
    """``(N, 4)`` xyxy boxes rounded to integers and clipped to an ``(h, w)`` image: x0, y0, x1, y1."""
    b = np.round(boxes).astype(int).reshape(-1, 4)
    return np.clip(b[:, 0], 0, w), np.clip(b[:, 1], 0, h), np.clip(b[:, 2], 0, w), np.clip(b[:, 3], 0, h)


def _box_sums(integral: np.ndarray, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """``(N,)`` sums over integer boxes from a ``cv2.integral`` table (``(h + 1, w + 1)``)."""
    return integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]


def ring_contrast(strength: np.ndarray, boxes: np.ndarray, grow: float = 0.25) -> np.ndarray:
    """``(N,)`` in [0, 1]: how much a box's mean ``strength`` exceeds that of a ring around it.

    The ring is the box grown by ``grow`` x its size on each side (clipped to the image) minus the
    box; 1 means nothing around, 0 means the surroundings are as strong as the box.
    """
    h, w = strength.shape
    integral = cv2.integral(strength.astype(np.float32), sdepth=cv2.CV_64F)
    x0, y0, x1, y1 = _clipped_boxes(boxes, h, w)
    gx = np.round((x1 - x0) * grow).astype(int)
    gy = np.round((y1 - y0) * grow).astype(int)
    ox0, ox1 = np.clip(x0 - gx, 0, w), np.clip(x1 + gx, 0, w)
    oy0, oy1 = np.clip(y0 - gy, 0, h), np.clip(y1 + gy, 0, h)
    inner_area = np.maximum((x1 - x0) * (y1 - y0), 1)
    inner = _box_sums(integral, x0, y0, x1, y1)
    ring_area = (ox1 - ox0) * (oy1 - oy0) - (x1 - x0) * (y1 - y0)
    ring = (_box_sums(integral, ox0, oy0, ox1, oy1) - inner) / np.maximum(ring_area, 1)
    inside = inner / inner_area
    contrast = np.where(ring_area > 0, 1.0 - ring / np.maximum(inside, 1e-6), 1.0)
    return np.clip(contrast, 0.0, 1.0)


def colours_mask(hsv: np.ndarray, colours: tuple[str, ...]) -> np.ndarray:
    """``(h, w) bool`` pixels of ``hsv`` (``(h, w, 3) uint8`` OpenCV HSV) in any named colour's ranges."""
    out = np.zeros(hsv.shape[:2], bool)
    for colour in colours:
        for h0, h1, s0, s1, v0, v1 in COLOUR_RANGES[colour]:
            out |= cv2.inRange(hsv, (h0, s0, v0), (h1, s1, v1)).astype(bool)
    return out


def colour_purity(hsv: np.ndarray, colours: tuple[str, ...]) -> np.ndarray:
    """``(h, w) float32``, ~[0, 1]: how strongly each pixel shows the named colours, relative to the frame.

    Saturation (times brightness) for hues, since painted or dyed objects are usually more
    saturated than a tinted background; lightness / darkness / greyness for white / black / gray.
    """
    s = hsv[..., 1].astype(np.float32) / 255.0
    v = hsv[..., 2].astype(np.float32) / 255.0
    out = np.zeros(hsv.shape[:2], np.float32)
    for name in colours:
        if name == "white":
            p = v * (1.0 - s)
        elif name == "black":
            p = 1.0 - v
        elif name == "gray":
            p = 1.0 - s
        elif name == "dark gray":
            p = (1.0 - s) * (1.0 - v)
        elif name == "light gray":
            p = (1.0 - s) * v
        else:
            p = s * np.minimum(1.0, 2.0 * v)
        out = np.maximum(out, p * colours_mask(hsv, (name,)))
    # Relative to the purest pixels of the frame: the most colourful region scores ~1 whatever the
    # lighting, so colour candidates stay comparable with the other cues' scores.
    return out / max(float(np.percentile(out, 99.9)), 1e-3)


def colour_boxes(mask: np.ndarray, purity: np.ndarray, min_area: int, merge_px: int) -> Boxes:
    """Candidate boxes of regions of one colour (``(h, w) bool`` from ``colour_mask``), scored by purity."""
    m8 = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m8 = cv2.morphologyEx(m8, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return components_to_boxes(m8.astype(bool), purity, min_area, merge_px)


# Colour words re-rank boxes: the share of a box in the named colours, full at COLOUR_FULL_SHARE,
# maps to a factor in [COLOUR_FLOOR, 1] (then relative to the best box); a part's colour (a red
# beak) covers little of the object: full at PART_FULL_SHARE, a factor in [PART_FLOOR, 1].
COLOUR_FLOOR, COLOUR_FULL_SHARE = 0.2, 0.3
PART_FLOOR, PART_FULL_SHARE = 0.7, 0.03
# What a person wears ("the kid in a black shirt") is a part of the box too, a shirt or a skirt 5-10 %
# of its pixels in the named colour's range, and its name is loose (a dark blue dress films near
# black): a preference, full at WORN_FULL_SHARE, in [WORN_FLOOR, 1] (then relative to the best box).
WORN_FLOOR, WORN_FULL_SHARE = 0.5, 0.1


def colour_factors(hsv: np.ndarray, boxes: np.ndarray, colours: tuple[str, ...],
                   part_colours: tuple[str, ...], worn: bool = False) -> np.ndarray:
    """``(N,)`` score factors in [0, 1] for ``(N, 4)`` boxes (pixels of ``hsv``) from a phrase's colours.

    A colour word is a hard requirement, relatively: boxes without the colour sink below those with
    it, but when no box shows the colour (the light, or a loose word: a "golden" dog that films
    white) the factors are equal and the other evidence decides. A part's colour is a soft
    preference, and so is a colour the referent wears (``worn``: ``PhraseCues.worn``).
    """
    factors = np.ones(len(boxes))
    if len(boxes) == 0:
        return factors
    if colours:
        floor, full = (WORN_FLOOR, WORN_FULL_SHARE) if worn else (COLOUR_FLOOR, COLOUR_FULL_SHARE)
        factors *= colour_fit(colours_mask(hsv, colours), boxes, floor, full)
    if part_colours:
        share = box_mean(colours_mask(hsv, part_colours), boxes)
        factors *= PART_FLOOR + (1.0 - PART_FLOOR) * np.clip(share / PART_FULL_SHARE, 0.0, 1.0)
    return factors


def colour_fit(mask: np.ndarray, boxes: np.ndarray, floor: float = COLOUR_FLOOR,
               full_share: float = COLOUR_FULL_SHARE) -> np.ndarray:
    """``(N,)`` factors in [``floor``, 1] for ``(N, 4)`` boxes from the object colours' ``(h, w) bool``
    mask (``colours_mask``): each box's share of the colours, full at ``full_share``, relative to
    the best box (ones when no box)."""
    if len(boxes) == 0:
        return np.ones(0)
    share = box_mean(mask, boxes)
    fit = floor + (1.0 - floor) * np.clip(share / full_share, 0.0, 1.0)
    return fit / fit.max()


def box_mean(values: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` mean of ``values`` (``(h, w)`` bool or float) over each integer-rounded xyxy box
    (0 for a box with no pixels inside the image)."""
    integral = cv2.integral(values.astype(np.float32), sdepth=cv2.CV_64F)
    x0, y0, x1, y1 = _clipped_boxes(boxes, *values.shape)
    area = (x1 - x0) * (y1 - y0)
    sums = _box_sums(integral, x0, y0, x1, y1)
    return np.divide(sums, area, out=np.zeros(len(area)), where=area > 0)


def saliency_map(rgb: np.ndarray) -> np.ndarray:
    """``(h, w) float32`` objectness in [0, 1] from appearance alone.

    Average of (a) spectral-residual saliency (Hou & Zhang 2007: what the image's smooth log
    spectrum does not predict) and (b) colour contrast to the image border, which is usually
    background in a camera frame.
    """
    h, w = rgb.shape[:2]
    gray = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(gray.astype(np.float32))
    log_amp = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amp - cv2.blur(log_amp.astype(np.float32), (3, 3))
    sr = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sr = cv2.GaussianBlur(sr.astype(np.float32), (0, 0), 2.5)
    sr = cv2.resize(sr / (sr.max() + 1e-9), (w, h), interpolation=cv2.INTER_LINEAR)
    lab = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32), (0, 0), 2.0)
    b = max(2, min(h, w) // 16)
    strips = [lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3), lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)]
    dist = np.min(np.stack([np.linalg.norm(lab - np.median(s, axis=0), axis=2) for s in strips]), axis=0)
    contrast = dist / (np.percentile(dist, 99) + 1e-6)
    return np.clip(0.5 * sr + 0.5 * contrast, 0.0, 1.0).astype(np.float32)


def saliency_boxes(saliency: np.ndarray, min_area: int, merge_px: int) -> Boxes:
    """Candidate boxes of salient regions at several thresholds (Otsu, then stricter quantiles).

    One threshold rarely fits: Otsu's may merge an object with a salient background patch, a
    stricter one splits them; nested thresholds propose both.
    """
    s8 = (saliency * 255).astype(np.uint8)
    otsu, _ = cv2.threshold(s8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    levels = sorted({int(otsu), int(np.percentile(s8, 85)), int(np.percentile(s8, 93))})
    all_boxes, all_scores = [], []
    for level in levels:
        mask = (s8 > level).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)).astype(bool)
        boxes, scores = components_to_boxes(mask, saliency, min_area, merge_px)
        all_boxes.append(boxes)
        all_scores.append(scores)
    return np.concatenate(all_boxes), np.concatenate(all_scores)


class PeopleDetector:
    """OpenCV's built-in HOG + linear SVM pedestrian detector (Dalal & Triggs), no downloaded weights."""

    def __init__(self) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, rgb: np.ndarray, scale_step: float = 1.08) -> Boxes:
        """People in ``(h, w, 3) uint8`` RGB; scores map SVM margins to [0, 1]."""
        if rgb.shape[0] < 128 or rgb.shape[1] < 64:
            return empty_boxes()  # smaller than the 64x128 detection window
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        rects, weights = self._hog.detectMultiScale(gray, hitThreshold=0.0, winStride=(8, 8), padding=(8, 8),
                                                    scale=scale_step)
        if len(rects) == 0:
            return empty_boxes()
        rects = np.asarray(rects, np.float64).reshape(-1, 4)
        boxes = np.stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]], axis=1)
        # The default window has ~16 px of context around a person on each side; trim to the body.
        pad_x, pad_y = 0.15 * rects[:, 2], 0.07 * rects[:, 3]
        boxes += np.stack([pad_x, pad_y, -pad_x, -pad_y], axis=1)
        scores = 1.0 / (1.0 + np.exp(-2.0 * (np.asarray(weights, np.float64).ravel() - 0.3)))
        return boxes, scores


