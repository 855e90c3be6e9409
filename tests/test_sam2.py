"""SAM2 streaming segmenter: torch pre/post-processing against the processor's documented behaviour,
the real Sam2VideoModel (tiny random weights) through a streaming session, ids, pruning, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_models import build_tiny_sam2_video, one_torch_thread  # noqa: E402, F401 (autouse fixture)

from parse_vos_ros.backends import BackendLoadError, build_segmenter  # noqa: E402
from parse_vos_ros.config import load_config  # noqa: E402
from parse_vos_ros.tracking.sam2 import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    Sam2Segmenter,
    box_to_prompt,
    check_box,
    postprocess_masks,
    preprocess_frame,
)
from parse_vos_ros.types import FrameContext  # noqa: E402

pytestmark = pytest.mark.ml


H, W = 96, 144  # a non-square frame catches x/y mix-ups


@pytest.fixture(scope="session")
def sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sam2_video(tmp_path_factory.mktemp("sam2") / "tiny-sam2")


def make_config(path: Path, **overrides: object):
    sets = {"tracking.backend": "sam2", "tracking.model_path": str(path), "device": "cpu"}
    sets.update(overrides)
    return load_config(None, sets)


def frames(n: int, seed: int = 0) -> list[FrameContext]:
    """A bright square moving right over a noisy background."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
        x = 10 + 2 * i
        img[30:60, x : x + 30] = 220
        out.append(FrameContext(index=i, stamp=i / 30.0, image=img, gray=img[..., 0].copy()))
    return out


# --- pre/post-processing ------------------------------------------------------------------------


def test_preprocess_matches_documented_resize_rescale_normalise() -> None:
    """Sam2's processor: bilinear resize to the square input, x/255, ImageNet mean/std. PIL's
    bilinear (antialiased) resize is the reference; rounding differences stay within ~1 level."""
    from PIL import Image

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    img[20:50, 40:90] = (250, 10, 10)
    got = preprocess_frame(img, 128, torch.device("cpu"), torch.float32)
    assert got.shape == (3, 128, 128) and got.dtype == torch.float32
    ref = np.asarray(Image.fromarray(img).resize((128, 128), Image.BILINEAR), dtype=np.float32) / 255.0
    ref = (ref - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    diff = np.abs(got.permute(1, 2, 0).numpy() - ref)
    assert np.median(diff) < 0.01
    assert np.percentile(diff, 99) < 6 / 255 / min(IMAGENET_STD)


def test_box_prompt_matches_the_processors_own_normalisation() -> None:
    """Our box -> prompt conversion stores exactly what Sam2VideoProcessor.add_inputs_to_inference_
    session stores (the processor's coordinate code needs no image processor, so it runs here)."""
    from transformers import Sam2VideoProcessor
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    processor = Sam2VideoProcessor.__new__(Sam2VideoProcessor)  # skip __init__: it wants torchvision
    processor.target_size, processor.point_pad_value = 128, -10
    session = Sam2VideoInferenceSession(video_height=H, video_width=W, dtype=torch.float32)
    box = np.array([12.5, 30.0, 100.0, 80.0])
    processor.add_inputs_to_inference_session(session, frame_idx=0, obj_ids=7, input_boxes=[[box.tolist()]])
    expected = session.point_inputs_per_obj[0][0]
    coords, labels = box_to_prompt(box, (H, W), 128)
    torch.testing.assert_close(coords, expected["point_coords"])
    assert torch.equal(labels, expected["point_labels"].to(labels.dtype))


def test_postprocess_aligns_low_res_masks_with_the_frame() -> None:
    logits = torch.full((1, 1, 32, 32), -10.0)
    logits[0, 0, 8:16, 4:12] = 10.0  # rows 1/4..1/2, columns 1/8..3/8 of the image
    mask = postprocess_masks(logits, (H, W), 0.0)[0]
    assert mask.shape == (H, W) and mask.dtype == bool
    expected = np.zeros((H, W), bool)
    expected[H // 4 : H // 2, W // 8 : 3 * W // 8] = True
    iou = (mask & expected).sum() / (mask | expected).sum()
    assert iou > 0.9


def test_postprocess_agrees_with_the_video_processor() -> None:
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    logits = torch.randn(2, 1, 32, 32) * 5
    ours = postprocess_masks(logits, (H, W), 0.0)
    theirs = (
        Sam2VideoVideoProcessor()
        .post_process_masks([logits.clone()], [(H, W)], [(128, 128)], pad_size={"height": 128, "width": 128})[0][:, 0]
        .numpy()
    )
    assert (ours == theirs).mean() > 0.97


def test_check_box_clips_and_rejects_garbage() -> None:
    np.testing.assert_allclose(check_box(np.array([-5, -5, 500, 50.0]), (H, W), 1), [0, 0, W, 50])
    assert check_box(np.array([W + 10, 5, W + 20, 6.0]), (H, W), 1)[2] == W  # outside -> 1 px at the edge
    with pytest.raises(ValueError, match="object 3"):
        check_box(np.array([0, 0, np.nan, 1.0]), (H, W), 3)
    with pytest.raises(ValueError, match="x1 < x0"):
        check_box(np.array([10, 0, 5, 1.0]), (H, W), 3)
    with pytest.raises(ValueError, match="4 finite numbers"):
        check_box(np.array([1.0, 2.0]), (H, W), 3)


# --- the segmenter on the real model --------------------------------------------------------------


def test_streaming_masks_ids_and_removal(sam2_dir: Path) -> None:
    seg = Sam2Segmenter.from_config(make_config(sam2_dir))
    clip = frames(6)
    assert seg.propagate(clip[0]) == {}  # nothing to track yet
    added = seg.add_objects(clip[0], {4: np.array([10, 30, 40, 60.0]), 9: np.array([90, 10, 130, 40.0])})
    assert set(added) == {4, 9}
    for mask in added.values():
        assert mask.shape == (H, W) and mask.dtype == bool
    for frame in clip[1:4]:
        masks = seg.propagate(frame)
        assert list(masks) == [4, 9]  # stable ids, insertion order
        assert all(m.shape == (H, W) for m in masks.values())
    seg.add_objects(clip[3], {2: np.array([50, 50, 70, 90.0])})  # a newcomer on a later keyframe
    assert seg.object_ids == [4, 9, 2]
    seg.remove_objects([9, 12345])  # unknown ids are ignored
    assert list(seg.propagate(clip[4])) == [4, 2]
    seg.remove_objects([4, 2])
    assert seg.propagate(clip[5]) == {}


def test_pruning_does_not_change_the_masks(sam2_dir: Path) -> None:
    """Against an unpruned session driven the plain transformers way, 40 frames (past the model's
    16-frame look-back), keyframe re-anchoring every 10 frames: identical masks."""
    from transformers import Sam2VideoModel
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    clip = frames(40)
    seg = Sam2Segmenter.from_config(make_config(sam2_dir, **{"tracking.sam2_max_cond_frames": 8}))
    model = Sam2VideoModel.from_pretrained(sam2_dir, local_files_only=True).eval()
    ref = Sam2VideoInferenceSession(video_height=H, video_width=W, dtype=torch.float32)
    for i, frame in enumerate(clip):
        ours = seg.propagate(frame)
        pixels = preprocess_frame(frame.image, 128, torch.device("cpu"), torch.float32)
        if i % 10 == 0:
            box = np.array([10 + 2 * i, 30, 40 + 2 * i, 60.0])
            ours = seg.add_objects(frame, {1: box})
            if i:  # the plain way to make a tracked frame a new conditioning frame
                ref.output_dict_per_obj[0]["non_cond_frame_outputs"].pop(i, None)
                ref.frames_tracked_per_obj[0].pop(i, None)
            coords, labels = box_to_prompt(box, (H, W), 128)
            obj_idx = ref.obj_id_to_idx(1)
            ref.add_point_inputs(obj_idx, i, {"point_coords": coords, "point_labels": labels})
            ref.obj_with_new_inputs = [1]
        out = model(inference_session=ref, frame_idx=i, frame=pixels)
        expected = postprocess_masks(out.pred_masks, (H, W), 0.0)[0] & bool(out.object_score_logits.item() > 0)
        np.testing.assert_array_equal(ours[1], expected, err_msg=f"frame {i}")
    assert len(ref.processed_frames) == 40 and seg.memory_stats()["frames"] == 1


def test_memory_stays_bounded_over_a_long_stream(sam2_dir: Path) -> None:
    seg = Sam2Segmenter.from_config(make_config(sam2_dir, **{"engine.window_s": 1.0}))
    clip = frames(8)
    history = []
    for i in range(100):
        base = clip[i % len(clip)]
        frame = FrameContext(index=i, stamp=i / 30.0, image=base.image, gray=base.gray)
        seg.propagate(frame)
        if i % 15 == 0:
            seg.add_objects(frame, {1: np.array([10, 30, 40, 60.0]), 2: np.array([80, 20, 120, 70.0])})
        history.append(seg.memory_stats())
    last = history[-1]
    assert last["frames"] == 1
    assert last["tracked_memories"] <= 2 * seg.horizon
    assert last["cond_memories"] <= 2 * seg.max_cond_frames
    assert last["prompts"] <= 2
    steady = [h["bytes"] for h in history[50:]]  # windows full: 16 tracked frames, 1 s of prompts
    assert max(steady) <= 1.05 * min(steady)  # flat once the windows are full


def test_window_limits_conditioning_memories(sam2_dir: Path) -> None:
    seg = Sam2Segmenter.from_config(
        make_config(sam2_dir, **{"engine.window_s": 0.5, "tracking.sam2_max_cond_frames": 10})
    )
    clip = frames(1)
    for i in range(61):
        frame = FrameContext(index=i, stamp=i / 30.0, image=clip[0].image, gray=clip[0].gray)
        seg.propagate(frame)
        if i % 5 == 0:
            seg.add_objects(frame, {1: np.array([10, 30, 40, 60.0])})
    # Prompts every 5 frames, window 0.5 s = 15 frames: the ones at 45, 50, 55, 60.
    assert seg.memory_stats()["cond_memories"] == 4


def test_hidden_objects_get_empty_masks(sam2_dir: Path) -> None:
    seg = Sam2Segmenter.from_config(make_config(sam2_dir, **{"tracking.sam2_min_object_score": 1e9}))
    clip = frames(2)
    seg.propagate(clip[0])
    assert not seg.add_objects(clip[0], {1: np.array([10, 30, 40, 60.0])})[1].any()
    assert not seg.propagate(clip[1])[1].any()


def test_resolution_change_starts_a_new_session(sam2_dir: Path) -> None:
    seg = Sam2Segmenter.from_config(make_config(sam2_dir))
    clip = frames(1)
    seg.propagate(clip[0])
    seg.add_objects(clip[0], {1: np.array([10, 30, 40, 60.0])})
    big = np.zeros((64, 64, 3), np.uint8)
    assert seg.propagate(FrameContext(index=1, stamp=0.1, image=big, gray=big[..., 0])) == {}
    assert seg.object_ids == []


def test_bad_frames_are_rejected_clearly(sam2_dir: Path) -> None:
    seg = Sam2Segmenter.from_config(make_config(sam2_dir))
    gray = np.zeros((H, W), np.uint8)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        seg.propagate(FrameContext(index=0, stamp=0.0, image=gray, gray=gray))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        seg.propagate(FrameContext(index=0, stamp=0.0, image=np.zeros((H, W, 3), np.float32), gray=gray))


def test_missing_weights_raise_backend_load_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BackendLoadError, match="parse-vos models download") as info:
        Sam2Segmenter.from_config(make_config(tmp_path / "nowhere"))
    assert "tracking.model_path" in str(info.value)


def test_fallback_embedded_takes_over(tmp_path: Path) -> None:
    pytest.importorskip("parse_vos_ros.tracking.embedded")
    config = make_config(tmp_path / "nowhere", fallback="embedded")
    assert type(build_segmenter(config)).__name__ == "EmbeddedSegmenter"


# --- the whole engine with paper-style backends -----------------------------------------------------


@pytest.fixture(scope="session")
def paper_dirs(tmp_path_factory: pytest.TempPathFactory, sam2_dir: Path) -> dict[str, Path]:
    from tiny_models import build_tiny_clip, build_tiny_groundingdino

    root = tmp_path_factory.mktemp("paper")
    return {"gd": build_tiny_groundingdino(root / "gd"), "sam2": sam2_dir, "clip": build_tiny_clip(root / "clip")}


def test_engine_runs_end_to_end_with_paper_backends(paper_dirs: dict[str, Path]) -> None:
    from parse_vos_ros.engine import Engine
    from parse_vos_ros.grounding.groundingdino import GroundingDinoDetector
    from parse_vos_ros.reasoning.clip_pose import ClipPoseVerifier
    from parse_vos_ros.types import ParsedCommand, TargetState

    config = load_config(
        "paper",
        {
            "grounding.model_path": str(paper_dirs["gd"]),
            "tracking.model_path": str(paper_dirs["sam2"]),
            "pose.model_path": str(paper_dirs["clip"]),
            "parser.backend": "rule",
            "reasoner.backend": "rule",
            "grounding.box_threshold": 0.3,
            "grounding.max_detections": 3,
            "engine.keyframe_interval": 5,
            "fallback": "none",
            "device": "cpu",
        },
    )
    command = ParsedCommand("the dog sitting", candidates=("dog",), pose=("sitting",))
    with Engine(config) as engine:
        assert isinstance(engine.detector, GroundingDinoDetector)
        assert isinstance(engine.segmenter, Sam2Segmenter)
        assert isinstance(engine.pose_verifier, ClipPoseVerifier)
        engine.set_command(command)
        results = [engine.push_frame(f.image, f.stamp) for f in frames(24)]
        stats = engine.stats()
    assert stats["frames"] == 24 and stats["keyframes"] >= 4 and stats["births"] >= 1
    for result in results:
        assert result.mask.shape == (H, W) and result.mask.dtype == bool
        assert isinstance(result.state, TargetState)
        if result.box is not None:
            assert 0 <= result.box[0] < result.box[2] <= W and 0 <= result.box[1] < result.box[3] <= H
    assert any(r.track_ids for r in results)
    # several look-alike "dog" tracks remain, so CLIP re-ranks them by the pose text (cached once)
    assert any("pose_scores" in r.trace for r in results)
    assert engine.pose_verifier.text_encodings == 1
    assert engine.segmenter.memory_stats()["frames"] == 1
    assert set(engine.segmenter.object_ids) == set(engine.store.ids)


def test_half_precision_session_runs(sam2_dir: Path) -> None:
    """The GPU path runs the model and the session in bfloat16; the same code on the CPU."""
    from transformers import Sam2VideoModel

    model = Sam2VideoModel.from_pretrained(sam2_dir, local_files_only=True, dtype=torch.bfloat16).eval()
    seg = Sam2Segmenter(model, device=torch.device("cpu"), dtype=torch.bfloat16)
    clip = frames(3)
    seg.propagate(clip[0])
    assert seg.add_objects(clip[0], {1: np.array([10, 30, 40, 60.0])})[1].shape == (H, W)
    for frame in clip[1:]:
        assert seg.propagate(frame)[1].shape == (H, W)
