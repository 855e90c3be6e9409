"""Box and mask geometry, written once: box IoU and overlap, mask-to-box, mask IoU, resizing.

Boxes are xyxy pixels with x1/y1 exclusive (a one-pixel mask at (x, y) has box (x, y, x+1, y+1));
masks are ``(H, W) bool``.
"""

from __future__ import annotations

import cv2
import numpy as np

MASK_THRESHOLD_U8 = 127  # a linearly resized 0/255 mask is foreground above this (half way)
# A box is one of some others when it overlaps one at IoU >= SAME_IOU, and a part of them when at
# least PART_INSIDE of it lies inside their union (``is_one_of``).
SAME_IOU = 0.5
PART_INSIDE = 0.8


def _intersections(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersection areas ``(N, M)`` and the areas ``(N,)``, ``(M,)`` of xyxy boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    return inter, area_a, area_b


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes -> ``(N, M)`` in [0, 1]."""
    inter, area_a, area_b = _intersections(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``(4,)`` xyxy boxes, in [0, 1]."""
    return float(iou_matrix(a, b)[0, 0])


def overlap_matrix(boxes: np.ndarray) -> np.ndarray:
    """Pairwise intersection over the smaller box area of ``(N, 4)`` xyxy boxes -> ``(N, N)`` in
    [0, 1], the diagonal 0."""
    inter, area, _ = _intersections(boxes, boxes)
    smaller = np.minimum(area[:, None], area[None, :])
    out = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
    np.fill_diagonal(out, 0.0)
    return out


def covered_fraction(box: np.ndarray, others: np.ndarray) -> float:
    """The share of the ``(4,)`` xyxy ``box``'s area inside the union of the ``(M, 4)`` xyxy
    ``others``, in [0, 1] (0 for an empty box or no others); counted on the box's whole-pixel grid."""
    x0, y0 = np.floor(box[:2]).astype(int)
    x1, y1 = np.ceil(box[2:]).astype(int)
    if x1 <= x0 or y1 <= y0 or len(others) == 0:
        return 0.0
    # The box as a mask on its own grid, the others (rounded to whole pixels first) moved onto it.
    moved = np.round(np.asarray(others, np.float64).reshape(-1, 4)) - np.array([x0, y0, x0, y0], np.float64)
    return mask_share_inside(np.ones((y1 - y0, x1 - x0), bool), moved)


def is_one_of(box: np.ndarray, others: np.ndarray, inside: float | None = None) -> bool:
    """Whether the ``(4,)`` xyxy ``box`` is one of the ``(M, 4)`` xyxy ``others`` (IoU >= ``SAME_IOU``)
    or a part of them (``PART_INSIDE`` of it inside their union); False without others.
    ``inside``: the share of the object inside the others when known better than its box's (a
    mask's pixels, ``mask_share_inside``)."""
    if len(others) == 0:
        return False
    if iou_matrix(box, others).max() >= SAME_IOU:
        return True
    return (covered_fraction(box, others) if inside is None else inside) >= PART_INSIDE


def mask_share_inside(mask: np.ndarray, boxes: np.ndarray) -> float:
    """The share of the ``(h, w) bool`` ``mask``'s pixels inside the union of the ``(M, 4)`` xyxy
    ``boxes`` (of the mask's pixels), in [0, 1]; 0 for an empty mask."""
    total = np.count_nonzero(mask)
    if total == 0 or len(boxes) == 0:
        return 0.0
    h, w = mask.shape
    inside = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in np.clip(np.round(np.asarray(boxes, np.float64).reshape(-1, 4)), 0, [w, h, w, h]).astype(int):
        inside[y0:y1, x0:x1] = True  # clipped first: a box beyond the mask's edge must not wrap round
    return float(np.count_nonzero(mask & inside) / total)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of ``(N, 4)`` xyxy ``boxes`` kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[iou_matrix(boxes[i], boxes[rest])[0] <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """``(4,) float`` xyxy box of a ``(h, w) bool`` mask (x1/y1 exclusive), None when empty."""
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(mask, dtype=bool).view(np.uint8))
    return None if w == 0 else np.array([x, y, x + w, y + h], np.float64)


def mask_iou(a: np.ndarray, b: np.ndarray, empty: float = 0.0) -> float:
    """IoU of two ``(H, W) bool`` masks; ``empty`` when both are empty."""
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else empty


def mask_iou_matrix(masks_a: list[np.ndarray | None], masks_b: list[np.ndarray | None]) -> np.ndarray:
    """Pairwise mask IoU; pairs where either mask is None score 0. Masks are ``(H, W) bool``."""
    out = np.zeros((len(masks_a), len(masks_b)))
    ia = [i for i, m in enumerate(masks_a) if m is not None]
    ib = [j for j, m in enumerate(masks_b) if m is not None]
    if not ia or not ib:
        return out
    # One matrix product of flattened masks gives all intersections at once.
    fa = np.stack([masks_a[i].reshape(-1) for i in ia]).astype(np.float32)
    fb = np.stack([masks_b[j].reshape(-1) for j in ib]).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    out[np.ix_(ia, ib)] = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def resize_to_width(image: np.ndarray, width: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """``image`` scaled down to ``width`` pixels, aspect kept; unchanged when ``width`` is 0 or the
    image is no wider."""
    h, w = image.shape[:2]
    if width == 0 or w <= width:
        return image
    return cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=interpolation)


def upscale_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(h, w) bool`` mask -> ``(H, W) bool`` at ``size`` = (W, H): linear interpolation then a
    half threshold, for smooth edges instead of blocky ones."""
    if (mask.shape[1], mask.shape[0]) == size:
        return mask
    up = cv2.resize(np.ascontiguousarray(mask, dtype=bool).view(np.uint8) * np.uint8(255), size,
                    interpolation=cv2.INTER_LINEAR)
    return up > MASK_THRESHOLD_U8


def downscale_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W) bool`` mask -> ``(h, w) bool`` at ``size`` = (w, h): area averaging then a half
    threshold, a fair downscale of a binary mask (a pixel is set when at least half its area was)."""
    return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
