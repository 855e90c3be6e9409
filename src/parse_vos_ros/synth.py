"""Procedural referring-VOS scenes with exact masks (``parse-vos synth``).

Each scene is a short video of textured shapes over a textured background, written in the
DAVIS layout (``JPEGImages/SEQ/NNNNN.jpg``, ``Annotations/SEQ/NNNNN.png`` palette id maps)
plus one ``meta_expressions.json`` in the Ref-YouTube-VOS / MeViS layout whose expressions
name the referred object ids. Scenes are built so that the referred object can only be told
apart by what the sentence says:

- ``motion_only`` scenes hold look-alikes (same colour, shape and texture) that differ only in
  motion: left vs right, fast vs slow, moving vs still, toward vs away (scale change);
- ``appearance`` scenes hold objects that move alike and differ in colour;
- ``multi_target`` scenes refer to two of three look-alikes at once.

On top of that, scenes vary camera motion (static, pan, zoom), a static occluder that the
target passes behind, an object entering mid-video, and per-frame sensor noise. Everything is
a pure function of ``(seed, scene index, frames, size)``: the same arguments give the same files.

Motion words describe motion in the world (the camera's ego-motion removed), which is what
the engine's ego-compensated trajectories measure; world speeds are kept well above the pan
speed so image-space and world-space directions agree except for "still" objects.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from parse_vos_ros.atomic import atomic_path, atomic_write_json
from parse_vos_ros.eval.maskio import write_ids

GENERATOR_VERSION = 2  # bump when the same arguments would give other pixels
COLOURS: dict[str, tuple[int, int, int]] = {  # RGB, saturated so they stand out from the background
    "red": (220, 30, 30),
    "green": (30, 190, 40),
    "blue": (40, 70, 230),
    "yellow": (240, 220, 30),
    "orange": (250, 140, 20),
    "purple": (150, 40, 200),
    "white": (245, 245, 245),
}
SHAPES = ("ball", "square", "triangle")
OCCLUDER_ID = 9  # annotation id of the occluding post (never referred)
OCCLUDER_RGB = (92, 92, 98)  # neutral grey: the post tests occlusion, not colour confusion
VARIANTS = ("direction", "speed", "still", "depth", "colour", "multi")
KIND_OF_VARIANT = {
    "direction": "motion_only",
    "speed": "motion_only",
    "still": "motion_only",
    "depth": "motion_only",
    "colour": "appearance",
    "multi": "multi_target",
}


@dataclass
class SynthObject:
    """One object, in world pixel coordinates of frame 0 (the camera maps them to the image).

    Attributes:
        obj_id: annotation id (1..8; 9 is the occluder).
        shape: one of ``SHAPES``.
        colour: one of ``COLOURS``.
        start: ``(x, y)`` centre at frame 0, pixels.
        velocity: ``(vx, vy)`` pixels per frame.
        radius: half size at frame 0, pixels.
        growth: relative size change per frame (> 0 comes toward the camera).
        appear: first frame the object is in the scene (enters then).
    """

    obj_id: int
    shape: str
    colour: str
    start: tuple[float, float]
    velocity: tuple[float, float]
    radius: float
    growth: float = 0.0
    appear: int = 0

    def centre(self, t: int) -> tuple[float, float]:
        return self.start[0] + self.velocity[0] * t, self.start[1] + self.velocity[1] * t

    def size(self, t: int) -> float:
        return self.radius * (1.0 + self.growth) ** t


@dataclass
class SynthExpression:
    """A referring sentence and the ids it refers to; ``focus`` is "motion" or "appearance"."""

    text: str
    obj_ids: tuple[int, ...]
    focus: str


@dataclass
class SceneSpec:
    """Everything needed to render one scene deterministically."""

    name: str
    kind: str
    variant: str
    camera: str  # "static" | "pan" | "zoom"
    objects: list[SynthObject]
    expressions: list[SynthExpression]
    occluder_x: float | None = None  # world x of a vertical post in front of everything
    texture_seed: int = 0
    extras: dict[str, object] = field(default_factory=dict)


@dataclass
class Scene:
    """A rendered scene: ``images (T, H, W, 3) uint8`` RGB and ``ids (T, H, W) uint8`` object ids."""

    spec: SceneSpec
    images: np.ndarray
    ids: np.ndarray


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str], n: int) -> list[str]:
    return [options[i] for i in rng.choice(len(options), size=n, replace=False)]


def _plural(shape: str) -> str:
    return {"ball": "balls", "square": "squares", "triangle": "triangles"}[shape]


def make_spec(seed: int, index: int, frames: int, size: tuple[int, int]) -> SceneSpec:
    """The layout and sentences of scene ``index`` of the set generated with ``seed``."""
    rng = np.random.default_rng([seed, index, GENERATOR_VERSION])
    width, height = size
    scale = min(width, height) / 240.0  # speeds and sizes are designed at 320x240
    variant = VARIANTS[index % len(VARIANTS)]
    camera = ("static", "pan", "zoom")[(index // len(VARIANTS) + index) % 3]
    colour, other_colour = _pick(rng, tuple(COLOURS), 2)
    shape, other_shape = _pick(rng, SHAPES, 2)
    radius = float(rng.uniform(13, 18)) * scale
    speed = float(rng.uniform(2.0, 3.0)) * scale * 30.0 / max(frames, 2)  # crosses ~1/4 of the width
    travel = speed * (frames - 1)
    rows = [height * f for f in (0.3, 0.55, 0.8)]
    rng.shuffle(rows)
    name = f"s{index:03d}_{variant}"
    thing = f"{colour} {shape}"
    objects: list[SynthObject] = []
    expressions: list[SynthExpression] = []

    def obj(
        start_x: float,
        row: float,
        vx: float,
        *,
        look: tuple[str, str] = (shape, colour),
        growth: float = 0.0,
        appear: int = 0,
    ) -> SynthObject:
        vy = float(rng.uniform(-0.15, 0.15)) * scale  # a slight drift so no motion is perfectly axis-aligned
        o = SynthObject(len(objects) + 1, look[0], look[1], (start_x, row), (vx, vy), radius, growth, appear)
        objects.append(o)
        return o

    def random_sign() -> float:
        """+1 (rightward) or -1 (leftward), equally likely."""
        return 1.0 if rng.random() < 0.5 else -1.0

    mid = width / 2
    if variant == "direction":
        a = obj(mid + travel / 2 + radius, rows[0], -speed)
        b = obj(mid - travel / 2 - radius, rows[1], speed)
        expressions += [
            SynthExpression(f"the {thing} moving to the left", (a.obj_id,), "motion"),
            SynthExpression(f"the {thing} moving to the right", (b.obj_id,), "motion"),
        ]
    elif variant == "speed":
        sign = random_sign()
        direction = "right" if sign > 0 else "left"
        start = mid - sign * (travel * 1.2) / 2
        a = obj(start, rows[0], sign * speed * 1.2)
        b = obj(start, rows[1], sign * speed * 0.35)
        expressions += [
            SynthExpression(f"the {thing} moving fast to the {direction}", (a.obj_id,), "motion"),
            SynthExpression(f"the slow {thing}", (b.obj_id,), "motion"),
        ]
    elif variant == "still":
        sign = random_sign()
        a = obj(mid - sign * travel / 2, rows[0], sign * speed)
        b = obj(float(rng.uniform(0.3, 0.7)) * width, rows[1], 0.0)
        b.velocity = (0.0, 0.0)
        expressions += [
            SynthExpression(f"the {thing} that is moving", (a.obj_id,), "motion"),
            SynthExpression(f"the {thing} standing still", (b.obj_id,), "motion"),
        ]
    elif variant == "depth":
        growth = (2.2 ** (1.0 / max(frames - 1, 1))) - 1.0  # 2.2x bigger (or smaller) over the clip
        a = obj(width * 0.3, height * 0.5, 0.0, growth=growth)
        b = obj(width * 0.72, height * 0.5, 0.0, growth=1.0 / (1.0 + growth) - 1.0)
        a.radius, b.radius = radius * 0.8, radius * 1.6
        a.velocity = b.velocity = (0.0, 0.0)
        expressions += [
            SynthExpression(f"the {thing} coming toward the camera", (a.obj_id,), "motion"),
            SynthExpression(f"the {thing} moving away from the camera", (b.obj_id,), "motion"),
        ]
    elif variant == "colour":
        sign = random_sign()
        a = obj(mid - sign * travel / 2, rows[0], sign * speed)
        b = obj(mid - sign * travel / 2 + sign * radius, rows[1], sign * speed, look=(shape, other_colour))
        expressions += [
            SynthExpression(f"the {thing}", (a.obj_id,), "appearance"),
            SynthExpression(f"the {other_colour} {shape}", (b.obj_id,), "appearance"),
        ]
    else:  # multi
        a = obj(mid - travel / 2 - radius * 2, rows[0], speed)
        b = obj(mid - travel / 2 + radius * 1.5, rows[1], speed)
        c = obj(mid + travel / 2, rows[2], -speed)
        expressions += [
            SynthExpression(f"the two {colour} {_plural(shape)} moving to the right", (a.obj_id, b.obj_id), "motion"),
            SynthExpression(f"the {thing} moving to the left", (c.obj_id,), "motion"),
        ]
    # A distractor of another shape and colour, sometimes entering mid-video from the side.
    enters = bool(rng.random() < 0.5)
    d_speed = speed * float(rng.uniform(0.5, 1.0))
    d_row = height * 0.12 if variant != "depth" else height * 0.85
    d_colour = other_colour
    if variant == "colour":  # other_colour is taken by a referred object there
        d_colour = _pick(rng, tuple(c for c in COLOURS if c not in (colour, other_colour)), 1)[0]
    appear = frames // 3 if enters else 0
    # An entering distractor is half visible at the left edge on the frame it appears.
    start_x = -0.4 * radius - d_speed * appear if enters else width * 0.15
    distractor = obj(start_x, d_row, d_speed, look=(other_shape, d_colour), appear=appear)
    distractor.radius = radius * 0.8
    # Half of the scenes put a post in front of the first referred object's mid-video position.
    occluder_x = None
    if variant != "depth" and rng.random() < 0.5:
        occluder_x = objects[0].centre(frames // 2)[0]
    return SceneSpec(
        name=name,
        kind=KIND_OF_VARIANT[variant],
        variant=variant,
        camera=camera,
        objects=objects,
        expressions=expressions,
        occluder_x=occluder_x,
        texture_seed=int(rng.integers(2**31)),
        extras={"object_enters": enters},
    )


def _background(seed: int, width: int, height: int) -> np.ndarray:
    """``(height, width, 3) uint8`` muted texture: smooth colour blobs plus fine noise and stripes."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(70, 170, size=(max(height // 24, 2), max(width // 24, 2), 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = 12.0 * np.sin(xs * 0.21 + ys * 0.07)[..., None]
    fine = rng.normal(0.0, 10.0, size=(height, width, 1)).astype(np.float32)
    texture = smooth * 0.6 + np.mean(smooth, axis=2, keepdims=True) * 0.4 + stripes + fine
    return np.clip(texture, 0, 255).astype(np.uint8)


def camera_affine(spec: SceneSpec, t: int, frames: int, width: int, height: int) -> np.ndarray:
    """``(2, 3)`` affine from world (frame-0 image) pixels to frame ``t`` image pixels."""
    if spec.camera == "pan":
        dx = -0.6 * (min(width, height) / 240.0) * t * 30.0 / max(frames, 2)
        return np.array([[1.0, 0.0, dx], [0.0, 1.0, 0.0]])
    if spec.camera == "zoom":
        z = 1.0 + 0.25 * t / max(frames - 1, 1)
        cx, cy = width / 2, height / 2
        return np.array([[z, 0.0, cx - z * cx], [0.0, z, cy - z * cy]])
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _draw(shape: str, canvas: np.ndarray, centre: tuple[float, float], r: float, value: int | tuple[int, ...]) -> None:
    """Draw a filled shape of half size ``r`` (pixels) with sub-pixel precision (4 fractional bits)."""
    shift = 4
    cx, cy = round(float(centre[0]) * 16), round(float(centre[1]) * 16)
    rr = max(round(float(r) * 16), 16)
    if shape == "ball":
        cv2.circle(canvas, (cx, cy), rr, value, -1, cv2.LINE_8, shift)
        return
    if shape == "square":
        pts = [(cx - rr, cy - rr), (cx + rr, cy - rr), (cx + rr, cy + rr), (cx - rr, cy + rr)]
    else:
        pts = [(cx, cy - rr), (cx + rr, cy + int(rr * 0.8)), (cx - rr, cy + int(rr * 0.8))]
    cv2.fillPoly(canvas, [np.array(pts, dtype=np.int32)], value, cv2.LINE_8, shift)


def render(spec: SceneSpec, frames: int, size: tuple[int, int]) -> Scene:
    """Render ``spec`` into ``frames`` RGB images of ``size = (width, height)`` and their id maps."""
    width, height = size
    margin = int(0.5 * max(width, height))
    world = _background(spec.texture_seed, width + 2 * margin, height + 2 * margin)
    rng = np.random.default_rng(spec.texture_seed + 1)
    # Object texture: a fixed pattern shared by look-alikes (same shape and colour -> same pixels).
    pattern = rng.normal(0.0, 14.0, size=(64, 64)).astype(np.float32)
    pattern = cv2.GaussianBlur(pattern, (0, 0), 1.2)
    images = np.empty((frames, height, width, 3), dtype=np.uint8)
    ids = np.zeros((frames, height, width), dtype=np.uint8)
    for t in range(frames):
        cam = camera_affine(spec, t, frames, width, height)
        to_texture = cam.copy()
        to_texture[:, 2] -= cam[:, :2] @ np.array([margin, margin], dtype=np.float64)
        frame = cv2.warpAffine(
            world, to_texture, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        ).astype(np.float32)
        id_map = ids[t]
        zoom = float(np.sqrt(abs(np.linalg.det(cam[:, :2]))))
        # Larger objects are drawn last, i.e. nearer, as the engine's occlusion prior assumes; the
        # occluding post is drawn over everything.
        for o in sorted(spec.objects, key=lambda o: o.size(t)):
            if t < o.appear:
                continue
            x, y = o.centre(t)
            centre = (cam[0, 0] * x + cam[0, 1] * y + cam[0, 2], cam[1, 0] * x + cam[1, 1] * y + cam[1, 2])
            _draw(o.shape, id_map, centre, o.size(t) * zoom, o.obj_id)
        if spec.occluder_x is not None:
            post_x = cam[0, 0] * spec.occluder_x + cam[0, 2]
            half = 0.05 * min(width, height) * zoom
            x0, x1 = round(float(post_x - half)), round(float(post_x + half))
            id_map[:, max(x0, 0) : max(x1, 0)] = OCCLUDER_ID
        tiled = np.tile(pattern, (height // 64 + 1, width // 64 + 1))[:height, :width]
        for o in [*spec.objects, None]:
            obj_id = OCCLUDER_ID if o is None else o.obj_id
            where = id_map == obj_id
            if not where.any():
                continue
            base = np.array(OCCLUDER_RGB if o is None else COLOURS[o.colour], dtype=np.float32)
            frame[where] = base + tiled[where][:, None] * (0.4 if o is None else 1.0)
        frame += rng.normal(0.0, 2.0, size=frame.shape).astype(np.float32)  # sensor noise
        images[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return Scene(spec=spec, images=images, ids=ids)


def generate(seed: int, index: int, frames: int = 30, size: tuple[int, int] = (320, 240)) -> Scene:
    """Scene ``index`` of the set with ``seed`` (pure function of its arguments)."""
    if frames < 4:
        raise ValueError(f"a scene needs at least 4 frames, got {frames}")
    if size[0] < 64 or size[1] < 64:
        raise ValueError(f"scene size must be at least 64x64, got {size[0]}x{size[1]}")
    return render(make_spec(seed, index, frames, size), frames, size)


def meta_entry(scene: Scene) -> dict[str, object]:
    """The scene's entry under ``videos`` in ``meta_expressions.json``."""
    spec = scene.spec
    return {
        "frames": [f"{t:05d}" for t in range(len(scene.images))],
        "kind": spec.kind,
        "variant": spec.variant,
        "camera": spec.camera,
        "occlusion": spec.occluder_x is not None,
        **spec.extras,
        "objects": {str(o.obj_id): {"shape": o.shape, "colour": o.colour, "appear": o.appear} for o in spec.objects},
        "expressions": {
            str(i): {"exp": e.text, "obj_id": list(e.obj_ids), "focus": e.focus} for i, e in enumerate(spec.expressions)
        },
    }


def write_scene(scene: Scene, out: Path) -> None:
    """Write one scene's frames (JPEG, quality 95) and palette annotations atomically."""
    for t, (image, id_map) in enumerate(zip(scene.images, scene.ids, strict=True)):
        jpg = out / "JPEGImages" / scene.spec.name / f"{t:05d}.jpg"
        with atomic_path(jpg) as tmp:
            if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise OSError(f"could not write {jpg}")
        write_ids(out / "Annotations" / scene.spec.name / f"{t:05d}.png", id_map)


def write_dataset(
    out: str | os.PathLike[str],
    seed: int,
    scenes: int,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    progress: Callable[[int, int], None] | None = None,
    depth: bool = False,
) -> dict[str, object]:
    """Generate and write ``scenes`` scenes under ``out``; returns the meta dict it wrote.

    With ``depth`` also a 16UC1 depth image per frame, the intrinsics and the objects' true 3D
    centres (``parse_vos_ros.synth_depth``).
    """
    if scenes < 1:
        raise ValueError(f"--scenes must be >= 1, got {scenes}")
    root = Path(out)
    videos: dict[str, object] = {}
    for index in range(scenes):
        scene = generate(seed, index, frames, size)
        write_scene(scene, root)
        videos[scene.spec.name] = meta_entry(scene)
        if depth:
            from parse_vos_ros.synth_depth import write_depth

            write_depth(scene, root)
        if progress is not None:
            progress(index + 1, scenes)
    meta = {
        "generator": {
            "name": "parse-vos synth",
            "version": GENERATOR_VERSION,
            "seed": seed,
            "scenes": scenes,
            "frames": frames,
            "size": list(size),
            "depth": depth,
        },
        "videos": videos,
    }
    atomic_write_json(root / "meta_expressions.json", meta)
    return meta
