"""COCO run-length encoding (the format of MeViS ``mask_dict.json``), in numpy, without pycocotools.

An RLE is ``{"size": [height, width], "counts": ...}``; ``counts`` lists alternating run lengths
of 0s and 1s (starting with 0s) over the mask flattened in column-major (Fortran) order, either
as a list of ints or as the compressed COCO string: each count is written in 5-bit groups as
characters offset by 48, with a continuation bit (0x20) and a sign bit (0x10) on the last group,
and from the fourth count on, as the difference to the count two places before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class RLEError(ValueError):
    """An RLE object is malformed (bad size, bad counts string, runs not matching the size)."""


def counts_from_string(text: str) -> list[int]:
    """Decode the compressed COCO counts string into run lengths."""
    counts: list[int] = []
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    p = 0
    while p < len(data):
        value, shift, more = 0, 0, True
        while more:
            if p >= len(data):
                raise RLEError("truncated RLE counts string")
            c = data[p] - 48
            if c < 0 or c > 63:
                raise RLEError(f"invalid character {chr(data[p])!r} in RLE counts string")
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            p += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift  # sign-extend
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def counts_to_string(counts: list[int]) -> str:
    """Encode run lengths as the compressed COCO counts string (inverse of ``counts_from_string``)."""
    out = []
    for i, count in enumerate(counts):
        value = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = value & 0x1F
            value >>= 5  # arithmetic shift keeps the sign
            more = value != -1 if c & 0x10 else value != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def decode(rle: Mapping[str, Any]) -> np.ndarray:
    """``(H, W) bool`` mask of one RLE object."""
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise RLEError(f"an RLE needs 'size': [h, w] and 'counts' ({exc})") from None
    runs = counts_from_string(counts) if isinstance(counts, str | bytes) else [int(c) for c in counts]
    if any(r < 0 for r in runs):
        raise RLEError("negative run length in RLE")
    total = height * width
    if sum(runs) != total:
        raise RLEError(f"RLE runs cover {sum(runs)} pixels, size {height}x{width} has {total}")
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    return flat.reshape((width, height)).T  # column-major storage


def encode(mask: np.ndarray) -> dict[str, Any]:
    """Compressed RLE of an ``(H, W)`` mask (for fixtures and round-trip tests)."""
    mask = np.asarray(mask) > 0
    flat = mask.T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.r_[0, change, flat.size]
    runs = np.diff(edges).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]  # counts always start with a run of zeros
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts_to_string(runs)}
