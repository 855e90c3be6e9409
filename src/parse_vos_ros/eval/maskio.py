"""Reading and writing mask PNGs in the layouts of the DAVIS family of benchmarks.

Annotations there are 8-bit PNGs: DAVIS-2016 stores 0/255 greyscale, DAVIS-2017, YouTube-VOS
and MeViS store palette PNGs whose *indices* are object ids. OpenCV expands palette images
to colours, so palette files are read with Pillow when it is installed and otherwise mapped
back through the standard (PASCAL VOC) palette that all of these datasets use.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from parse_vos_ros.atomic import atomic_path


class MaskReadError(ValueError):
    """A mask file is missing, unreadable or has colours outside the known palette."""


@lru_cache(maxsize=1)
def voc_palette() -> np.ndarray:
    """``(256, 3) uint8`` RGB colours of the PASCAL VOC / DAVIS palette (index -> colour)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((value >> 0) & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[index] = (r, g, b)
    return palette


def _colours_to_ids(rgb: np.ndarray, path: Path) -> np.ndarray:
    """Map an ``(H, W, 3)`` RGB image drawn with the VOC palette to ``(H, W) uint8`` ids."""
    keys = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    palette = voc_palette().astype(np.uint32)
    palette_keys = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    lookup = {int(k): i for i, k in enumerate(palette_keys)}
    uniques, inverse = np.unique(keys, return_inverse=True)
    ids = np.empty(len(uniques), dtype=np.uint8)
    for n, key in enumerate(uniques):
        if int(key) not in lookup:
            raise MaskReadError(f"{path}: colour #{int(key):06x} is not in the DAVIS palette")
        ids[n] = lookup[int(key)]
    return ids[inverse].reshape(keys.shape)


def read_ids(path: str | os.PathLike[str]) -> np.ndarray:
    """Object-id map ``(H, W) uint8`` of an annotation PNG (0 = background).

    Greyscale files are returned as stored (so DAVIS-2016's foreground is 255).
    """
    path = Path(path)
    if not path.is_file():
        raise MaskReadError(f"{path}: mask file not found")
    try:
        from PIL import Image  # optional: exact palette indices

        with Image.open(path) as image:
            if image.mode in ("P", "L", "1"):
                return np.asarray(image.convert("L") if image.mode == "1" else image, dtype=np.uint8).copy()
    except ImportError:
        pass
    except OSError as exc:
        raise MaskReadError(f"{path}: unreadable image ({exc})") from None
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise MaskReadError(f"{path}: unreadable image")
    if data.ndim == 2:
        return data.astype(np.uint8) if data.dtype == np.uint8 else (data > 0).astype(np.uint8)
    rgb = cv2.cvtColor(data[..., :3], cv2.COLOR_BGR2RGB)
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return rgb[..., 0].copy()
    return _colours_to_ids(rgb, path)


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """``(H, W) bool`` mask of a PNG where any value > 0 is foreground."""
    return read_ids(path) > 0


def write_mask(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write an ``(H, W)`` mask atomically as an 8-bit PNG with foreground 255."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be (H, W), got shape {mask.shape}")
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.where(mask > 0, 255, 0).astype(np.uint8)):
            raise OSError(f"could not write {path}")


def write_ids(path: str | os.PathLike[str], ids: np.ndarray) -> None:
    """Write an ``(H, W) uint8`` object-id map atomically as a palette PNG (VOC palette).

    Uses Pillow when available (a true palette PNG, as the benchmarks' servers expect);
    otherwise writes the palette colours as RGB, which ``read_ids`` maps back.
    """
    ids = np.asarray(ids, dtype=np.uint8)
    if ids.ndim != 2:
        raise ValueError(f"an id map must be (H, W), got shape {ids.shape}")
    with atomic_path(path) as tmp:
        try:
            from PIL import Image

            image = Image.frombytes("P", (ids.shape[1], ids.shape[0]), np.ascontiguousarray(ids).tobytes())
            image.putpalette(voc_palette().reshape(-1).tolist())
            image.save(tmp)
        except ImportError:
            rgb = voc_palette()[ids]
            if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                raise OSError(f"could not write {path}") from None
