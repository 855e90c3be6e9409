"""Mask refinement primitives for the embedded segmenter: colour models, box initialisation, cues.

Everything here works on the segmenter's internal (reduced) resolution; ``h, w`` below are that
resolution, never the camera's. Arrays are plain numpy, vectorised, no per-pixel Python loops.
"""

from __future__ import annotations

import cv2
import numpy as np

# Lab quantisation: coarse lightness (shading varies over an object), finer chroma (what separates
# an object from its surroundings). 8 * 16 * 16 = 2048 bins.
L_BINS, A_BINS, B_BINS = 8, 16, 16
N_BINS = L_BINS * A_BINS * B_BINS
# GrabCut results keeping less than this fraction of the box are treated as failures.
_MIN_BOX_FILL = 0.05
_HIST_PRIOR = 0.1  # share of a histogram's mass spread evenly over all bins (smoothing)


def colour_index(rgb: np.ndarray) -> np.ndarray:
    """Quantised Lab colour bin of every pixel.

    Args:
        rgb: ``(h, w, 3) uint8`` RGB.

    Returns:
        ``(h, w) int32`` bin index in ``[0, N_BINS)``.
    """
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    l_q = lab[..., 0].astype(np.int32) * L_BINS >> 8
    a_q = lab[..., 1].astype(np.int32) * A_BINS >> 8
    b_q = lab[..., 2].astype(np.int32) * B_BINS >> 8
    return (l_q * A_BINS + a_q) * B_BINS + b_q


def _histogram(index: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Normalised ``(N_BINS,) float64`` histogram of ``index`` over the True pixels of ``where``.

    The smoothing mass is a fixed share of the histogram (not a fixed count per bin), so a colour
    neither region has shown gets the same probability under both: a neutral log-ratio, whatever
    the two sample sizes.
    """
    counts = np.bincount(index[where], minlength=N_BINS).astype(np.float64)
    total = max(counts.sum(), 1.0)
    return (counts + _HIST_PRIOR * total / N_BINS) / (total * (1.0 + _HIST_PRIOR))


class ColourModel:
    """Foreground / local-background colour histograms of one object, updated with a learning rate.

    The background histogram is taken from a band around the object, not the whole frame, because
    refinement only ever decides pixels near the object's boundary.
    """

    def __init__(self, index: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> None:
        """``index``: ``(h, w) int32`` colour bins; ``fg``/``bg``: ``(h, w) bool`` sample regions."""
        self.fg = _histogram(index, fg)
        self.bg = _histogram(index, bg)

    def update(self, index: np.ndarray, fg: np.ndarray, bg: np.ndarray, rate: float,
               bg_rate: float | None = None) -> None:
        """Blend in this frame's histograms: the foreground with weight ``rate``, the background
        with ``bg_rate`` (default ``rate``), both in [0, 1]."""
        if fg.any() and rate > 0:
            self.fg = (1.0 - rate) * self.fg + rate * _histogram(index, fg)
        b = rate if bg_rate is None else bg_rate
        if bg.any() and b > 0:
            self.bg = (1.0 - b) * self.bg + b * _histogram(index, bg)

    def log_ratio(self, index: np.ndarray, clip: float = 4.0) -> np.ndarray:
        """``log P(colour|fg) - log P(colour|bg)`` per pixel, ``index.shape`` float32, clipped."""
        table = np.clip(np.log(self.fg) - np.log(self.bg), -clip, clip).astype(np.float32)
        return table[index]


def box_to_int(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Round an xyxy float box outward to integer pixel bounds clipped to ``(width, height)``."""
    x0 = int(np.clip(np.floor(box[0]), 0, width - 1))
    y0 = int(np.clip(np.floor(box[1]), 0, height - 1))
    x1 = int(np.clip(np.ceil(box[2]), x0 + 1, width))
    y1 = int(np.clip(np.ceil(box[3]), y0 + 1, height))
    return x0, y0, x1, y1


def scaled_box(box: np.ndarray, scale: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """An xyxy ``(4,)`` box of other pixels times ``scale``, rounded outward to integer bounds
    within ``(width, height)`` (``box_to_int``); None when it is not finite or has no area."""
    b = np.asarray(box, dtype=np.float64).reshape(4) * scale
    if not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
        return None
    return box_to_int(b, width, height)


def ellipse_in_box(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """``(h, w) bool`` filled ellipse inscribed in the integer box ``(x0, y0, x1, y1)``."""
    mask = np.zeros(shape, np.uint8)
    x0, y0, x1, y1 = box
    centre = ((x0 + x1 - 1) // 2, (y0 + y1 - 1) // 2)
    axes = (max((x1 - x0) // 2, 1), max((y1 - y0) // 2, 1))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, thickness=-1)
    return mask.astype(bool)


def grabcut_box(
    rgb: np.ndarray,
    box: tuple[int, int, int, int],
    iterations: int,
    seed: np.ndarray | None = None,
    max_side: int = 240,
) -> np.ndarray:
    """Object mask inside ``box`` by GrabCut on a crop around it.

    Args:
        rgb: ``(h, w, 3) uint8`` RGB at internal resolution.
        box: integer ``(x0, y0, x1, y1)``; pixels outside it are background.
        iterations: GrabCut iterations (each costs a few ms on a ~100 px crop).
        seed: optional ``(h, w) bool`` previous mask: inside the box it marks probable foreground
            and the rest of the box probable background (re-anchoring); None = the whole box is
            probable foreground.
        max_side: the crop is downscaled so its longer side is at most this many pixels.

    Returns:
        ``(h, w) bool``; when GrabCut keeps almost nothing (flat, low-contrast boxes, colours shared
        with the background) it falls back to the seed inside the box when that covers >= 30% of
        it, else to the ellipse inscribed in the box, so a box always yields a mask.
    """
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    # A margin of background around the box gives GrabCut its background colour model.
    cx0, cy0 = max(0, x0 - max(4, bw // 4)), max(0, y0 - max(4, bh // 4))
    cx1, cy1 = min(w, x1 + max(4, bw // 4)), min(h, y1 + max(4, bh // 4))
    seeded = seed is not None and bool(seed[y0:y1, x0:x1].any())
    if seeded and seed is not None and seed[y0:y1, x0:x1].mean() >= 0.3:
        fallback = np.zeros((h, w), bool)
        fallback[y0:y1, x0:x1] = seed[y0:y1, x0:x1]
    else:
        # A seed covering little of the box is a part of the object at best (e.g. moving legs).
        fallback = ellipse_in_box((h, w), box)
    if bw < 4 or bh < 4 or (cx1 - cx0) * (cy1 - cy0) < 1.1 * bw * bh:
        # Too small to model, or the box fills the frame so (almost) no background sample exists.
        # A box spanning one dimension (a wide car, a swan filmed close) still has background above
        # and below it: cut it, an ellipse there covers the road or water around the object.
        return fallback
    crop = rgb[cy0:cy1, cx0:cx1]
    gc = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    inner = (slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0))
    if seeded:
        assert seed is not None
        gc[inner] = np.where(seed[y0:y1, x0:x1], cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    else:
        gc[inner] = cv2.GC_PR_FGD
    # GrabCut's cost grows with the crop's pixel count; a large box is cut at reduced size.
    scale = min(1.0, max_side / max(crop.shape[:2]))
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA) if scale < 1 else np.ascontiguousarray(crop)
    gc_small = cv2.resize(gc, size, interpolation=cv2.INTER_NEAREST) if scale < 1 else gc
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour mixtures by k-means on OpenCV's global RNG: fix it, or the same
    # box would give different masks depending on what ran before.
    cv2.setRNGSeed(12345)
    try:
        cv2.grabCut(small, gc_small, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return fallback  # degenerate colour statistics (e.g. a single flat colour)
    fg = ((gc_small == cv2.GC_FGD) | (gc_small == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale < 1:
        fg = cv2.resize(fg, crop.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    out = np.zeros((h, w), bool)
    out[cy0:cy1, cx0:cx1] = fg.astype(bool)
    if out.sum() < _MIN_BOX_FILL * bw * bh:
        return fallback
    return out


def motion_seed(flow: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """Pixels inside ``box`` that move unlike the box's surroundings, as a GrabCut seed.

    Args:
        flow: ``(h, w, 2) float32`` displacement field of the frame (pixels per frame).
        box: integer ``(x0, y0, x1, y1)``.

    Returns:
        ``(h, w) bool`` moving pixels inside the box, or None when motion does not separate
        anything (under 10% or over 90% of the box moves, or no surroundings to compare with).
    """
    h, w = flow.shape[:2]
    x0, y0, x1, y1 = box
    m = max(4, (x1 - x0) // 4, (y1 - y0) // 4)
    ring = np.zeros((h, w), bool)
    ring[max(0, y0 - m):y1 + m, max(0, x0 - m):x1 + m] = True
    ring[y0:y1, x0:x1] = False
    if ring.sum() < 16:
        return None
    around = flow[ring]
    m_bg = np.median(around, axis=0)
    spread = float(np.median(np.linalg.norm(around - m_bg, axis=1)))
    inner = flow[y0:y1, x0:x1]
    moving = np.linalg.norm(inner - m_bg, axis=2) > max(1.0, 3.0 * spread)
    if not 0.1 <= moving.mean() <= 0.9:
        return None
    seed = np.zeros((h, w), bool)
    seed[y0:y1, x0:x1] = moving
    return seed


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """``(h, w) float32`` distance in pixels to the boundary of ``mask``: > 0 inside, < 0 outside."""
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    return inside - outside


def motion_log_ratio(flow: np.ndarray, fg: np.ndarray, bg: np.ndarray, clip: float = 3.0) -> np.ndarray:
    """Per-pixel evidence that a pixel moves with the object rather than with its surroundings.

    Args:
        flow: ``(h, w, 2) float32`` displacement field (pixels per frame).
        fg: ``(h, w) bool`` object pixels; bg: ``(h, w) bool`` nearby background pixels.

    Returns:
        ``(h, w) float32`` log-ratio of two isotropic Gaussians around the median object and
        background motion, clipped; ~0 everywhere when both move alike (no information).
    """
    if fg.sum() < 8 or bg.sum() < 8:
        return np.zeros(flow.shape[:2], np.float32)
    f_fg, f_bg = _sample(flow[fg]), _sample(flow[bg])
    m_fg, m_bg = np.median(f_fg, axis=0), np.median(f_bg, axis=0)
    # Spread of the object's own motion (non-rigid parts, flow noise) sets the scale; the floor
    # keeps sub-pixel flow noise from looking like evidence.
    spread = float(np.median(np.abs(f_fg - m_fg))) + float(np.median(np.abs(f_bg - m_bg)))
    var = 2.0 * max(spread, 0.5) ** 2
    # |f - m_bg|^2 - |f - m_fg|^2 is linear in f: one multiply-add per channel.
    a = 2.0 * (m_fg - m_bg) / var
    c = (float(m_bg @ m_bg) - float(m_fg @ m_fg)) / var
    out = flow[..., 0] * np.float32(a[0]) + flow[..., 1] * np.float32(a[1]) + np.float32(c)
    return np.clip(out, -clip, clip, out=out)


def _sample(values: np.ndarray, limit: int = 2048) -> np.ndarray:
    """At most ``limit`` rows of ``values``, evenly strided (robust statistics need no more)."""
    step = max(1, len(values) // limit)
    return values[::step]


def keep_supported_components(mask: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Drop connected components of ``mask`` that do not touch ``support`` (both ``(h, w) bool``)."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    keep = np.zeros(n, bool)
    keep[np.unique(labels[support & mask])] = True
    keep[0] = False
    return keep[labels]


def fill_holes(mask: np.ndarray, max_hole_px: int) -> np.ndarray:
    """Fill background components of ``mask`` smaller than ``max_hole_px`` not touching the border."""
    inv = (~mask).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 2:
        return mask
    h, w = mask.shape
    x, y, bw, bh, area = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3], stats[:, 4]
    border = (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)
    small = (area <= max_hole_px) & ~border
    small[0] = False
    return mask | small[labels]


def band_px(mask: np.ndarray, band_scale: float) -> int:
    """Half-width of the band around an ``(h, w) bool`` mask where pixels may change: grows with
    the object's size (``band_scale`` x sqrt(area)), clipped to [3, 24] px."""
    return int(np.clip(band_scale * np.sqrt(mask.sum()), 3, 24))


def background_band(mask: np.ndarray, band_scale: float) -> np.ndarray:
    """``(h, w) bool`` ring around ``mask``, twice ``band_px`` wide: the local background."""
    r = band_px(mask, band_scale) * 2 + 1
    near = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (r, r)))
    return near.astype(bool) & ~mask
