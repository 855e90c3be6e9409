"""Depth images, intrinsics and 3D ground truth for ``parse-vos synth --depth``.

The synthetic scenes are drawn in 2D; this gives them a consistent 3D reading. Every object is a
fronto-parallel plate of the same physical half-size ``OBJECT_HALF_SIZE_M``, so its distance
follows from its drawn size: ``z = fx0 * S / r`` (r the half size in frame-0 pixels). A larger
object is nearer (as the renderer's draw order already assumes), an object that grows comes
toward the camera, the occluding post stands in front of everything and the background is a
slanted plane behind everything. A zoom camera is a focal-length change, so ``fx`` follows it.

Files (beside the DAVIS layout): ``Depth/SEQ/NNNNN.png`` 16-bit PNG, millimetres, 0 = no
measurement (what a ``16UC1`` driver publishes), and ``Depth/SEQ/camera.json`` with per-frame
intrinsics ``[fx, fy, cx, cy]`` and each object's true 3D centre per frame (metres, camera
optical frame; null while the object is not in view). The depth carries sensor-like noise
(growing with z squared) and holes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from parse_vos_ros.atomic import atomic_path, atomic_write_json
from parse_vos_ros.context.depth import DepthFrame, Intrinsics, back_project, depth_from_mm, encode_depth_mm
from parse_vos_ros.synth import OCCLUDER_ID, Scene, camera_affine

DEPTH_DIR = "Depth"
CAMERA_FILE = "camera.json"
HORIZONTAL_FOV_DEG = 60.0  # a typical RGB-D colour camera
OBJECT_HALF_SIZE_M = 0.2  # every object is a plate this half-size (so size encodes distance)
BACKGROUND_MARGIN = 1.4  # the background plane is this much farther than the farthest object...
BACKGROUND_SLANT = 0.3  # ... and this much farther still at the top of the image (a floor-to-wall look)
OCCLUDER_NEAR = 0.6  # the post is at this fraction of the nearest object's distance
NOISE_PER_M2 = 0.002  # depth noise sigma = this x z^2 metres (structured-light/stereo-like)
HOLE_FRACTION = 0.02  # share of pixels without a measurement


def focal_px(width: int) -> float:
    """Frame-0 focal length in pixels for ``HORIZONTAL_FOV_DEG`` at ``width``."""
    return width / 2.0 / math.tan(math.radians(HORIZONTAL_FOV_DEG) / 2.0)


def render_depth(scene: Scene) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """Depth, intrinsics and true object centres of a rendered scene.

    Returns:
        ``(depth_mm (T, H, W) uint16, intrinsics (T, 4) [fx, fy, cx, cy], centres)`` where
        ``centres[obj_id]`` is ``(T, 3)`` metres, NaN while the object shows no pixel.
    """
    spec = scene.spec
    frames, height, width = scene.ids.shape
    f0 = focal_px(width)
    cx, cy = width / 2.0 - 0.5, height / 2.0 - 0.5  # pixel centres at integer coordinates
    rng = np.random.default_rng(spec.texture_seed + 2)
    z_of = {o.obj_id: np.array([f0 * OBJECT_HALF_SIZE_M / o.size(t) for t in range(frames)]) for o in spec.objects}
    z_far = max(float(z.max()) for z in z_of.values()) * BACKGROUND_MARGIN
    z_near = min(float(z.min()) for z in z_of.values()) * OCCLUDER_NEAR
    rows = np.linspace(1.0 + BACKGROUND_SLANT, 1.0, height, dtype=np.float64)[:, None]
    background = np.broadcast_to(z_far * rows, (height, width))  # the same plane on every frame
    depth_mm = np.zeros((frames, height, width), np.uint16)
    intrinsics = np.zeros((frames, 4))
    centres = {o.obj_id: np.full((frames, 3), np.nan) for o in spec.objects}
    for t in range(frames):
        cam = camera_affine(spec, t, frames, width, height)
        zoom = float(np.sqrt(abs(np.linalg.det(cam[:, :2]))))
        fx = f0 * zoom
        intrinsics[t] = (fx, fx, cx, cy)
        k = Intrinsics(fx, fx, cx, cy, width, height)
        ids = scene.ids[t]
        z = background.copy()
        z[ids == OCCLUDER_ID] = z_near
        for o in spec.objects:
            where = ids == o.obj_id
            if not where.any():
                continue
            zt = z_of[o.obj_id][t]
            z[where] = zt
            x, y = o.centre(t)
            u = cam[0, 0] * x + cam[0, 1] * y + cam[0, 2]
            v = cam[1, 0] * x + cam[1, 1] * y + cam[1, 2]
            centres[o.obj_id][t] = back_project(np.array([u]), np.array([v]), np.array([zt]), k)[0]
        noisy = z + rng.normal(0.0, 1.0, z.shape) * NOISE_PER_M2 * z**2
        noisy[rng.random(z.shape) < HOLE_FRACTION] = np.nan
        depth_mm[t] = encode_depth_mm(noisy)
    return depth_mm, intrinsics, centres


def write_depth(scene: Scene, root: Path) -> None:
    """Write ``Depth/SEQ/NNNNN.png`` and ``Depth/SEQ/camera.json`` for a rendered scene."""
    depth_mm, intrinsics, centres = render_depth(scene)
    folder = root / DEPTH_DIR / scene.spec.name
    for t, image in enumerate(depth_mm):
        path = folder / f"{t:05d}.png"
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), image):
                raise OSError(f"could not write {path}")
    atomic_write_json(folder / CAMERA_FILE, {
        "encoding": "16UC1",
        "units": "millimetres, 0 = no measurement",
        "frame_id": "camera_color_optical_frame",
        "size": [int(scene.ids.shape[2]), int(scene.ids.shape[1])],
        "intrinsics": [[round(float(v), 4) for v in row] for row in intrinsics],
        "centres": {str(obj_id): [None if np.isnan(c[0]) else [round(float(v), 5) for v in c] for c in arr]
                    for obj_id, arr in centres.items()},
    })


def depth_folder(image_path: Path) -> Path:
    """``ROOT/Depth/SEQ`` for a frame ``ROOT/JPEGImages/SEQ/NNNNN.jpg``."""
    return image_path.parents[2] / DEPTH_DIR / image_path.parent.name


def read_depth_folder(folder: Path, names: list[str] | None = None
                      ) -> tuple[list[tuple[np.ndarray, Intrinsics]], dict[str, object]]:
    """``(H, W) uint16`` millimetre images and their intrinsics from a ``Depth/SEQ`` folder.

    Args:
        folder: holds ``NNNNN.png`` (16-bit) and ``camera.json``.
        names: frame names (file stems) to read, in order; None: every PNG sorted by name.

    Returns:
        ``([(depth_mm, intrinsics) per frame], camera.json content)``.

    Raises:
        ValueError: a missing or unreadable file, or fewer intrinsics than frames.
    """
    camera_path = folder / CAMERA_FILE
    if not camera_path.is_file():
        raise ValueError(f"{camera_path}: not found (a depth folder holds NNNNN.png and {CAMERA_FILE})")
    camera = json.loads(camera_path.read_text(encoding="utf-8"))
    width, height = camera["size"]
    stems = names if names is not None else sorted(p.stem for p in folder.glob("*.png"))
    if len(camera["intrinsics"]) < len(stems):
        raise ValueError(f"{camera_path}: {len(camera['intrinsics'])} intrinsics for {len(stems)} frames")
    out = []
    for stem, (fx, fy, cx, cy) in zip(stems, camera["intrinsics"], strict=False):
        raw = cv2.imread(str(folder / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.dtype != np.uint16 or raw.ndim != 2:
            raise ValueError(f"{folder / stem}.png: not a 16-bit single-channel depth PNG")
        out.append((raw, Intrinsics(fx, fy, cx, cy, width, height)))
    return out, camera


def load_depth(image_paths: list[Path]) -> tuple[list[DepthFrame], dict[int, np.ndarray]] | None:
    """The depth frames and true centres ``{obj_id: (T, 3)}`` of a sequence, None without depth."""
    if not image_paths or not (depth_folder(image_paths[0]) / CAMERA_FILE).is_file():
        return None
    images, camera = read_depth_folder(depth_folder(image_paths[0]), [p.stem for p in image_paths])
    frames = [DepthFrame(depth_from_mm(mm), k, str(camera["frame_id"])) for mm, k in images]
    centres = {int(k): np.array([[np.nan] * 3 if c is None else c for c in v], float)
               for k, v in dict(camera["centres"]).items()}
    return frames, centres
