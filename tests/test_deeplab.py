"""DeepLab keyframe target masks: the real vendored models on a real photo, the crop geometry, the
choice of tracks per keyframe and the segmenter's re-anchoring entry."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from parse_vos_ros import models
from parse_vos_ros.config import ConfigError, load_config
from parse_vos_ros.tracking import deeplab
from parse_vos_ros.tracking.deeplab import DeepLabLoadError, DeepLabMasker, crop_box, letterbox
from parse_vos_ros.tracking.embedded import EmbeddedSegmenter
from parse_vos_ros.tracking.keyframe_masks import KeyframeMasks, supported
from parse_vos_ros.types import FrameContext

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "deeplab" / "bedroom_00000.jpg"
# Hand-read from the 480x270 fixture: the kneeling boy (left) and the jumping girl.
BOY_BOX = np.array([72.0, 65.0, 140.0, 205.0])
BOY_INSIDE = [(105, 125), (128, 85), (100, 160)]  # (x, y): his shirt, head, shorts
BOY_BOX_BACKGROUND = [(76, 69), (80, 110)]  # (x, y): wall in the box's left part, beside his head and back
GIRL_BOX = np.array([155.0, 0.0, 258.0, 200.0])
WALL_BOX = np.array([5.0, 10.0, 60.0, 110.0])  # window and curtain, nobody there


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    bgr = cv2.imread(str(FIXTURE), cv2.IMREAD_COLOR)
    assert bgr is not None, FIXTURE
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module", params=["dm05", "full"])
def masker(request: pytest.FixtureRequest) -> DeepLabMasker:
    return DeepLabMasker.named(request.param)


def box_area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def test_real_model_segments_the_person_not_the_box(image: np.ndarray, masker: DeepLabMasker) -> None:
    mask = masker.segment(image, BOY_BOX)
    assert mask is not None and mask.shape == image.shape[:2]
    for x, y in BOY_INSIDE:
        assert mask[y, x], f"the boy at ({x}, {y}) is not in the mask"
    for x, y in BOY_BOX_BACKGROUND:
        assert not mask[y, x], f"the wall at ({x}, {y}) is in the mask"
    area = np.count_nonzero(mask)
    # A person kneeling sideways fills part of his box, never all of it, and not a sliver either.
    assert 0.25 * box_area(BOY_BOX) < area < 0.85 * box_area(BOY_BOX)
    x0, y0, x1, y1 = crop_box(BOY_BOX, image.shape[1], image.shape[0])
    assert not mask[:, :x0].any() and not mask[:, x1:].any() and not mask[:y0].any() and not mask[y1:].any()


def test_real_model_labels_are_person(image: np.ndarray, masker: DeepLabMasker) -> None:
    x0, y0, x1, y1 = crop_box(GIRL_BOX, image.shape[1], image.shape[0])
    labels = masker.labels_of(np.ascontiguousarray(image[y0:y1, x0:x1]))
    ids, counts = np.unique(labels[labels != deeplab.BACKGROUND], return_counts=True)
    assert masker.labels[int(ids[np.argmax(counts)])] == "person"


def test_label_map_names_the_class_at_any_resolution(image: np.ndarray) -> None:
    masker = DeepLabMasker.named("dm05")
    person = masker.label_ids(["person"])
    for size in (None, (240, 135)):
        labels = masker.label_map(image, BOY_BOX, out_size=size)
        mask = masker.segment(image, BOY_BOX, out_size=size)
        assert labels is not None and mask is not None and labels.dtype == np.uint8
        np.testing.assert_array_equal(labels != deeplab.BACKGROUND, mask)
        assert np.isin(labels[mask], list(person)).mean() > 0.9  # the boy is labelled a person


def test_label_ids_follow_coco_names_and_pascal_kinds() -> None:
    masker = DeepLabMasker.named("dm05")
    ids = {name: i for i, name in enumerate(masker.labels)}
    assert masker.label_ids(["person"]) == {ids["person"]}
    assert masker.label_ids(["tv", "couch"]) == {ids["tvmonitor"], ids["sofa"]}  # COCO spells them differently
    # A dog DeepLab partly calls a sheep is still the animal asked for; a person is not.
    animals = masker.label_ids(["dog"])
    assert {ids["dog"], ids["sheep"], ids["cat"]} <= animals and ids["person"] not in animals
    assert ids["bus"] in masker.label_ids(["airplane"]) and ids["dog"] not in masker.label_ids(["airplane"])
    assert masker.label_ids(["sports ball", "kite"]) == frozenset()  # outside PASCAL's 20 classes


def test_nothing_found_is_none(image: np.ndarray, masker: DeepLabMasker) -> None:
    assert masker.segment(image, WALL_BOX) is None


def test_mask_at_another_resolution(image: np.ndarray) -> None:
    masker = DeepLabMasker.named("dm05")
    full = masker.segment(image, BOY_BOX)
    half = masker.segment(image, BOY_BOX, out_size=(240, 135))
    assert full is not None and half is not None and half.shape == (135, 240)
    down = cv2.resize(full.astype(np.float32), (240, 135), interpolation=cv2.INTER_AREA) >= 0.5
    assert np.count_nonzero(down & half) / np.count_nonzero(down | half) > 0.9


def test_bad_input_is_a_clear_error(image: np.ndarray, tmp_path: Path) -> None:
    masker = DeepLabMasker.named("dm05")
    with pytest.raises(ValueError, match="uint8 RGB"):
        masker.segment(image.astype(np.float32), BOY_BOX)
    with pytest.raises(ValueError, match="finite"):
        masker.segment(image, np.array([0, 0, np.nan, 5.0]))
    assert masker.segment(image, np.array([10.0, 10.0, 11.0, 11.0])) is None  # too small to segment
    with pytest.raises(DeepLabLoadError, match=r"not found.*models verify"):
        DeepLabMasker(tmp_path / "absent.tflite")
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(DeepLabLoadError, match="cannot be loaded"):
        DeepLabMasker(broken)


def test_crop_and_letterbox_geometry() -> None:
    assert crop_box(np.array([10.0, 20.0, 110.0, 220.0]), 640, 480) == (5, 10, 115, 230)
    assert crop_box(np.array([0.0, 0.0, 100.0, 100.0]), 90, 90) == (0, 0, 90, 90)  # clipped to the image
    crop = np.full((100, 50, 3), 200, np.uint8)
    padded, (w, h) = letterbox(crop)
    assert padded.shape == (513, 513, 3) and (w, h) == (256, 513)
    assert (padded[:, :w] == 200).all() and (padded[:, w:] == deeplab.PAD_VALUE).all()


def test_supported_keeps_the_components_touching_the_track() -> None:
    candidate = np.zeros((40, 60), bool)
    candidate[5:15, 5:15] = True  # the track's object
    candidate[25:35, 40:55] = True  # a neighbour
    prior = np.zeros_like(candidate)
    prior[8:12, 8:20] = True
    kept = supported(candidate, prior)
    assert kept is not None and kept[10, 10] and not kept[30, 45]
    elsewhere = np.zeros_like(candidate)
    elsewhere[0:3, 30:33] = True
    assert supported(candidate, elsewhere) is None


class _Recording:
    """A masker double that records the boxes it was asked for and answers a fixed square."""

    def __init__(self) -> None:
        self.boxes: list[np.ndarray] = []

    def label_map(self, image: np.ndarray, box: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        self.boxes.append(np.asarray(box))
        labels = np.zeros(out_size[::-1], np.uint8)
        x0, y0, x1, y1 = (np.asarray(box) / (image.shape[1] / out_size[0])).astype(int)
        labels[y0:y1, x0:x1] = 1
        return labels


def test_keyframe_budget_puts_the_target_first() -> None:
    masks = {}
    for tid, x in ((1, 5), (2, 25), (3, 45), (4, 65)):
        m = np.zeros((60, 80), bool)
        m[10:30, x : x + 10] = True
        masks[tid] = m
    masks[5] = np.zeros((60, 80), bool)  # not visible: never cropped
    assert KeyframeMasks.order(selected=(3, 5), fresh=(4, 1, 3), masks=masks) == [3, 4, 1]
    recorder = _Recording()
    km = KeyframeMasks(recorder, max_crops=2)  # type: ignore[arg-type]
    image = np.zeros((120, 160, 3), np.uint8)  # twice the working size
    # Track 3's detection box reaches lower than its mask: the crop is their union.
    out = km.masks(image, masks, selected=(3,), fresh=(4, 1), detection_boxes={3: np.array([45.0, 10, 55, 40])})
    assert list(out) == [3, 4]
    np.testing.assert_allclose(recorder.boxes[0], [90, 20, 110, 80])
    assert KeyframeMasks(recorder, max_crops=0).masks(image, masks, (3,), (), {}) == {}  # type: ignore[arg-type]


def test_config_keys_are_validated() -> None:
    config = load_config("default")
    assert config.tracking.keyframe_masks == "deeplab" and config.tracking.keyframe_mask_model == "dm05"
    assert load_config("weightfree").tracking.keyframe_masks == "none"
    assert KeyframeMasks.from_config(load_config("weightfree")) is None
    assert isinstance(KeyframeMasks.from_config(config), KeyframeMasks)
    with pytest.raises(ConfigError, match=r"tracking.keyframe_masks"):
        load_config("weightfree", {"tracking.keyframe_masks": "grabcut"})
    with pytest.raises(ConfigError, match=r"tracking.keyframe_masks.*sam2"):
        load_config(None, {"tracking.keyframe_masks": "deeplab", "tracking.backend": "sam2",
                           "tracking.model_path": "x"})
    with pytest.raises(ConfigError, match=r"tracking.keyframe_mask_max_crops"):
        load_config(None, {"tracking.keyframe_mask_max_crops": -1})
    with pytest.raises(ConfigError, match=r"tracking.keyframe_mask_known_min_iou"):
        load_config(None, {"tracking.keyframe_mask_known_min_iou": 1.5})


def test_missing_model_falls_back_only_when_asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(models, "vendored_dir", lambda: tmp_path)
    with pytest.raises(DeepLabLoadError, match=r"deeplabv3_mnv2_dm05_pascal_quant.tflite"):
        KeyframeMasks.from_config(load_config("default"))
    assert KeyframeMasks.from_config(load_config("default", {"fallback": "embedded"})) is None


def test_segmenter_reanchors_to_a_given_mask(image: np.ndarray) -> None:
    seg = EmbeddedSegmenter.from_config(load_config("weightfree"))
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    frame = FrameContext(index=0, stamp=0.0, image=image, gray=gray)
    seg.add_objects(frame, {7: BOY_BOX})
    person = DeepLabMasker.named("dm05").segment(image, BOY_BOX)
    assert person is not None
    set_ = seg.set_masks(frame, {7: person, 99: person})  # 99 is unknown: ignored
    assert set(set_) == {7}
    assert np.count_nonzero(set_[7] & person) / np.count_nonzero(set_[7] | person) > 0.85
    # The next frame propagates from the new anchor.
    nxt = seg.propagate(FrameContext(index=1, stamp=1 / 30, image=image, gray=gray, prev_gray=gray))
    assert np.count_nonzero(nxt[7] & person) / np.count_nonzero(nxt[7] | person) > 0.7
    with pytest.raises(ValueError, match="shape"):
        seg.set_masks(frame, {7: person[:10]})


class _Fragment:
    """A masker double that labels a small fragment of the crop with the real model's ``label``
    (an object outside its classes, or part of one), and maps class names as the real model does."""

    def __init__(self, label: str = "bottle") -> None:
        self.real = DeepLabMasker.named("dm05")
        self.label = self.real.labels.index(label)

    def label_map(self, image: np.ndarray, box: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        labels = np.zeros(out_size[::-1], np.uint8)
        labels[12:15, 46:49] = self.label
        return labels

    def label_ids(self, names: list[str]) -> frozenset[int]:
        return self.real.label_ids(names)


def test_a_fragment_does_not_replace_the_propagated_mask() -> None:
    track = np.zeros((60, 80), bool)
    track[10:30, 45:55] = True
    image = np.zeros((60, 80, 3), np.uint8)
    assert KeyframeMasks(_Fragment(), 2, min_iou=0.3).masks(image, {3: track}, (3,), (), {}) == {}  # type: ignore[arg-type]
    taken = KeyframeMasks(_Fragment(), 2, min_iou=0.0).masks(image, {3: track}, (3,), (), {})  # type: ignore[arg-type]
    assert np.count_nonzero(taken[3]) == 9


@pytest.mark.parametrize(
    ("label", "phrase", "taken"),
    [
        ("dog", "the golden dog", True),  # the class the command names: trusted
        ("sheep", "the golden dog", True),  # an animal the model confused with the dog's class
        ("person", "the golden dog", False),  # another class than the named one
        ("person", "the soapbox kart", False),  # the people on a kart: the kart is no PASCAL class
        # A noun of no COCO class trusts its broad group's labels: a kart is some vehicle, a camel
        # some animal to the model.
        ("car", "the soapbox kart", True),
        ("horse", "the camel", True),
        ("person", "the camel", False),
        ("cow", "the elephant", True),  # a COCO class the model does not know: its group's labels
        ("bottle", "the red ball", False),  # a ball's highlight
    ],
)
def test_a_mask_of_the_named_class_may_differ_from_the_propagated_one(label: str, phrase: str, taken: bool) -> None:
    track = np.zeros((60, 80), bool)
    track[10:30, 45:55] = True  # drifted: 9 of its 200 pixels are where the model finds the object
    image = np.zeros((60, 80, 3), np.uint8)
    km = KeyframeMasks(_Fragment(label), 2, min_iou=0.5, known_min_iou=0.0)  # type: ignore[arg-type]
    km.set_phrases([phrase])
    out, named = km.masks_named(image, {3: track}, (3,), (), {})
    assert (3 in out) is taken
    # The judgement travels with the mask: the worker's mask, carried to a later frame, is checked
    # again by the same gate (Keyframer._apply_late), which accepts it only when told it is named.
    assert (3 in named) is taken
    if taken:
        assert km.accept(out[3], track, known=True) is not None
        assert km.accept(out[3], track) is None
    km.set_phrases(["the sofa"])  # a new command: its own classes
    assert km.masks(image, {3: track}, (3,), (), {}) == {}


def test_the_engine_tells_the_keyframe_masks_what_the_command_names(image: np.ndarray) -> None:
    from parse_vos_ros.engine import Engine

    with Engine(load_config("default")) as engine:
        assert engine.keyframe_masks is not None
        engine.set_command("the golden dog on the left", 0.0)
        engine.push_frame(image, 0.0)  # the command takes effect on the next frame
        assert engine.keyframe_masks.target_labels == engine.keyframe_masks.masker.label_ids(["dog"])
        engine.set_command("the red ball", 0.1)
        engine.push_frame(image, 0.1)
        assert engine.keyframe_masks.target_labels == frozenset()


def test_refresh_is_due_every_n_frames_after_a_keyframe() -> None:
    km = KeyframeMasks(_Recording(), 2, refresh_frames=5)  # type: ignore[arg-type]
    assert [n for n in range(16) if km.refresh_due(n)] == list(range(5, 16))  # due until it runs
    assert not any(KeyframeMasks(_Recording(), 2).refresh_due(n) for n in range(16))  # type: ignore[arg-type]


REFRESH_TEST_FRAMES = 30  # a keyframe (the new command's) and, with the worker, time for its jobs
SETTLE_S = 10.0  # the longest a worker job may take here


def masked_between_keyframes(image: np.ndarray, refresh_frames: int, threaded: bool) -> list[int]:
    """The frames on which keyframe masks were applied without a detection, on a still clip."""
    from parse_vos_ros.engine import Engine

    config = load_config("default", {"tracking.keyframe_mask_refresh_frames": refresh_frames})
    results = []
    with Engine(config, async_keyframes=threaded) as engine:
        engine.set_command("the girl", 0.0)
        for t in range(REFRESH_TEST_FRAMES):
            results.append(engine.push_frame(image, t / 30))
            # The worker's job done before the next frame: how many land does not hang on the
            # machine's load (a busy worker skips a refresh, never queues it).
            assert engine.settle(SETTLE_S)
    assert all(r.track_ids for r in results[2:])  # a target is selected and followed
    key = "worker_keyframe_masks" if threaded else "keyframe_masks"
    return [t for t, r in enumerate(results) if "detect" not in r.timings_ms and key in r.timings_ms]


def test_selected_target_is_segmented_again_between_keyframes(image: np.ndarray) -> None:
    between = masked_between_keyframes(image, 5, threaded=False)
    assert between and all(t >= 5 for t in between)
    assert masked_between_keyframes(image, 0, threaded=False) == []


def test_the_worker_segments_the_target_again_between_keyframes(image: np.ndarray) -> None:
    # With the worker the keyframe's own masks also land without a detection (a few frames after
    # it); a refresh due while the worker runs waits for it, so refreshes add masked frames.
    refreshed = masked_between_keyframes(image, 5, threaded=True)
    assert len(refreshed) > len(masked_between_keyframes(image, 0, threaded=True))
