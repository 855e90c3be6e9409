"""Learned grounding: YOLOX-Nano COCO boxes, MobileNetV2 ImageNet crop recognition, WordNet words.

Per phrase, its head noun (``word_classes.classes_for``) decides the path:
1. the noun is, or covers, COCO classes ("dog", "animal", "cyclist" -> person): YOLOX boxes of
   those classes; when the noun is strictly narrower than its class and ImageNet has classes under
   it ("black swan" of bird, "pelican"), the crop classifier's mass under the noun re-scores them.
   When some of its ImageNet classes are under no COCO class (``WordClasses.beyond``: a scooter
   is a boat in one sense, a motor scooter in another), the boxes of those classes' groups are
   looked at too, as in 2;
2. the noun is outside COCO but physical ("camel", "kart", "wolf"): broad YOLOX boxes (every COCO
   class of the noun's group: any animal, any vehicle, any person; when it has none, any class but
   a person, animal or vehicle YOLOX is sure of),
   and boxes of objects of no sure class (objectness alone passed the threshold,
   ``grounding.yolox_objects``: YOLOX often sees that something is there without a class that
   fits it), re-scored by the crop classifier's probability mass under the noun's ImageNet subtree;
3. the noun is unknown or has no ImageNet class ("paraglider", "soapbox"): any YOLOX box (for a
   known noun, none surely of another kind, as in 2), weighed down;
4. when nothing scores, the weight-free ``EmbeddedDetector`` (motion, colour, saliency) is the last
   resort. It finds what moves or stands out, whatever it is, so of its boxes those that YOLOX
   surely names as a thing the noun cannot be, or as a part of one (``geometry.is_one_of``), are
   dropped: a person, an animal or a vehicle, for a noun of none of those groups (the child
   jumping beside "the pink pillow", ``_named_otherwise``). An unknown noun ("robot", "soapbox")
   drops none.
5. for a noun of a thing (of no group), those sure people, animals and vehicles are returned too,
   after the candidates, as ``Detection.rules_out`` detections: a weight-free cue's track that is
   one of them, or a part of one, is no candidate for the phrase (``Candidates._rule_out``).
Colour words re-rank a phrase's boxes as in the weight-free detector (``cues.colour_factors``).

Crop recognition is bounded: at most ``grounding.classifier_crops`` crops per keyframe. A box that
overlaps one recognized on an earlier keyframe reuses that recognition; crops go to the new boxes
first, then to those whose earlier recognition was the least confident (lowest top-class
probability), then the oldest. The
recognition joins ``Detection.score``, which the track store averages into the track's
confidence and the reasoners weigh in the selection.

State: the recognitions of recent keyframes (bounded by ``_MAX_MEMORY``) and the embedded
detector's own state; ``reset`` clears both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from parse_vos_ros.backends import BackendLoadError
from parse_vos_ros.config import Config
from parse_vos_ros.geometry import iou_matrix, is_one_of
from parse_vos_ros.grounding import cues
from parse_vos_ros.grounding.crop_classifier import LABELS_FILE, CropClassifier, load_labels, subtree_mass
from parse_vos_ros.grounding.embedded import EmbeddedDetector
from parse_vos_ros.grounding.vocabulary import analyse_phrase
from parse_vos_ros.grounding.word_classes import WordClasses, classes_for
from parse_vos_ros.grounding.yolox import COCO_CLASSES, Boxes, YoloxDetector
from parse_vos_ros.types import RULES_OUT_PATH, Detection, FrameContext

YOLOX_FILE = "yolox-nano/yolox_nano.onnx"
CLASSIFIER_FILE = "coral/mobilenet_v2_1.0_224_quant.tflite"

# A noun's ImageNet mass at or above this counts as certain (the classifier spreads its mass over
# sibling classes: a swan crop gives "black swan" 0.6 and "goose" 0.2).
MASS_FULL = 0.5
NARROW_FLOOR = 0.5  # COCO path, narrower noun: a box of the class keeps this share of its score unrecognized
BROAD_DETECTION_SHARE = 0.5  # ImageNet path: score = mass x (1 - share + share x detector score)
UNRECOGNIZED = 0.25  # ImageNet path: the mass a broad box is given while its crop waits for the classifier
ANY_BOX_WEIGHT = 0.5  # unknown noun: a COCO box of any class counts half
OBJECT_PROPOSALS = 4  # ImageNet path: boxes of an object of no sure class looked at, at most, per keyframe
MATCH_IOU = 0.5  # a box overlapping an earlier recognized box this much reuses its recognition
# A person, animal or vehicle YOLOX boxes with at least this score is surely one: the class
# threshold 0.25 lets guesses through, and YOLOX-Nano calls a synthetic textured background a
# person at 0.5-0.6; people in plain view score 0.75-0.9.
OTHER_SCORE = 0.7
GROUPS = ("animal", "vehicle", "person")  # the broad groups, which YOLOX tells apart from everything else
_MAX_MEMORY = 64  # recognitions remembered (newest kept)
_RUNTIME_FIX = "fix: pip install -r requirements/core.txt (onnxruntime, ai-edge-litert), or set fallback: weightfree"


@dataclass
class _Recognition:
    """The crop classifier's answer for one box on a keyframe (kept to spare later crops)."""

    box: np.ndarray  # (4,) xyxy pixels on the keyframe it was made on
    probs: np.ndarray  # (1001,) float32 class probabilities
    index: int  # frame index it was made on


@dataclass(frozen=True)
class LearnedParams:
    """Tuning of the learned detector (see ``GroundingConfig`` for units and defaults)."""

    classifier_crops: int = 4
    max_detections: int = 16


class LearnedDetector:
    """YOLOX + crop recognition + WordNet words (implements ``grounding.base.Detector``).

    Args:
        yolox: the COCO box detector.
        classifier: the ImageNet crop classifier, or None (no crop recognition).
        labels: ImageNet label lines (index 0 = background), for the trace.
        fallback: the weight-free detector, the last resort when nothing scores.
        params: see ``LearnedParams``.
        withheld: COCO class indices the detector acts as never trained on (``grounding.withheld_classes``):
            the YOLOX decoder ignores their scores and no noun is boxed as them.
    """

    def __init__(self, yolox: YoloxDetector, classifier: CropClassifier | None, labels: Sequence[str],
                 fallback: EmbeddedDetector, params: LearnedParams | None = None,
                 withheld: frozenset[int] = frozenset()) -> None:
        self.yolox = yolox
        self.classifier = classifier
        self.labels = list(labels)
        self.fallback = fallback
        self.params = params or LearnedParams()
        self._memory: list[_Recognition] = []
        self.crops_last_keyframe = 0  # crops recognized on the last call (for timing reports)
        self.withheld = withheld
        self._groups = {g: frozenset(classes_for(g).coco) - withheld for g in GROUPS}

    @classmethod
    def from_config(cls, config: Config) -> LearnedDetector:
        """Build from ``config.grounding``; raises ``BackendLoadError`` naming the file and the fix when
        a model is missing, corrupt or not loadable (``fallback: weightfree`` then runs the embedded one)."""
        from parse_vos_ros.models import require_vendored, vendored_path

        g = config.grounding
        withheld = g.withheld_indices()
        yolox_path = require_vendored(g.yolox_model or vendored_path(YOLOX_FILE), "grounding.yolox_model")
        try:
            yolox = YoloxDetector(yolox_path, g.model_threads, g.yolox_score_threshold, g.yolox_nms_iou,
                                  tuple(sorted(withheld)), g.yolox_score_threshold if g.yolox_objects else None)
        except ImportError as exc:
            raise BackendLoadError(f"the learned detector needs onnxruntime ({exc}); {_RUNTIME_FIX}") from None
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise BackendLoadError(f"YOLOX model {yolox_path} cannot be loaded ({type(exc).__name__}: {exc}); "
                                   "fix: set grounding.yolox_model to a YOLOX-Nano 416px ONNX export, or \"\" "
                                   "for the vendored one") from None
        classifier = None
        if g.classifier_crops > 0:
            cls_path = require_vendored(g.classifier_model or vendored_path(CLASSIFIER_FILE),
                                        "grounding.classifier_model")
            try:
                classifier = CropClassifier(cls_path, g.model_threads)
            except ImportError as exc:
                raise BackendLoadError(f"crop recognition needs ai-edge-litert ({exc}); {_RUNTIME_FIX}") from None
            except Exception as exc:  # LiteRT raises ValueError/RuntimeError for a bad file
                raise BackendLoadError(f"crop classifier {cls_path} cannot be loaded ({type(exc).__name__}: "
                                       f"{exc}); fix: set grounding.classifier_model to a 224px ImageNet-1k "
                                       "uint8 TFLite model, or \"\" for the vendored one") from None
        labels = load_labels(require_vendored(vendored_path(LABELS_FILE), "grounding.classifier_model"))
        return cls(yolox, classifier, labels, EmbeddedDetector.from_config(config),
                   LearnedParams(classifier_crops=g.classifier_crops, max_detections=g.max_detections), withheld)

    def reset(self) -> None:
        """Forget remembered recognitions and the weight-free detector's state (new stream)."""
        self._memory.clear()
        self.fallback.reset()

    def detect(self, frame: FrameContext, phrases: Sequence[str]) -> list[Detection]:
        """Detections for ``phrases`` on ``frame``, best first, boxes in pixel xyxy of ``frame.image``."""
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"LearnedDetector expects (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        if not phrases:
            raise ValueError("LearnedDetector.detect needs at least one phrase")
        if self._memory and frame.index < self._memory[-1].index:
            self._memory.clear()  # frame numbers went back: a new stream, earlier recognitions are void
        found = self.yolox(image)
        plans = [(phrase, classes_for(phrase).without(self.withheld)) for phrase in phrases]
        otherwise = {phrase: self._named_otherwise(found, words) for phrase, words in plans}
        # Which boxes each phrase needs recognized, then one bounded batch of crops for all phrases.
        wanted = [self._candidates(found, words, otherwise[phrase]) for phrase, words in plans]
        recognized = self._recognize(frame, found, [np.flatnonzero(recog) for _, recog in wanted])
        out: list[Detection] = []
        needing: list[str] = []  # phrases nothing the models name scores for: the weight-free cues' turn
        hsv: tuple[np.ndarray, float] | None = None  # working-size HSV image and its scale, made on demand
        for (phrase, words), (chosen, recog) in zip(plans, wanted, strict=True):
            dets = self._score(phrase, words, found, chosen, recog, recognized)
            cue = analyse_phrase(phrase)
            if dets and (cue.colours or cue.part_colours):
                # Colour words ("the brown and white cow") tell apart boxes of one class.
                hsv = hsv or self._hsv(image)
                boxes = np.array([d.box for d in dets]) * hsv[1]
                factors = cues.colour_factors(hsv[0], boxes, cue.colours, cue.part_colours, cue.worn)
                for d, f in zip(dets, factors, strict=True):
                    d.score *= float(f)
            if not any(d.score >= self.yolox.score_threshold for d in dets):
                needing.append(phrase)
            out += dets
        if needing:
            # One weight-free pass for all of them: its flow, saliency and HOG are made once, and its
            # memory of the last keyframe (the long-baseline motion cue) serves every phrase.
            for d in self.fallback.detect(frame, needing):
                if d.phrase not in otherwise or not is_one_of(d.box, found.boxes[otherwise[d.phrase]]):
                    out.append(d)
        out.sort(key=lambda d: -d.score)
        # After the candidates, uncounted by their cap (a crowd must not push out the phrase's own).
        ruled = [d for phrase, words in plans for d in self._ruling_out(phrase, words, found, otherwise[phrase])]
        return out[: self.params.max_detections] + ruled[: self.params.max_detections]

    def _ruling_out(self, phrase: str, words: WordClasses, found: Boxes, otherwise: np.ndarray) -> list[Detection]:
        """For a noun of a thing (of no group: "pillow", "ball", "mirror"), the people, animals and
        vehicles YOLOX is sure of (``otherwise``: ``_named_otherwise``), as ``Detection.rules_out``
        detections (score 0): a track that is one of them is no candidate for the phrase. A being
        or a vehicle gets none: a rider and the bicycle or horse ridden are one object, whose track
        a box of either part may match."""
        if words.groups:
            return []
        return [Detection(box=found.boxes[i].copy(), score=0.0, phrase=phrase,
                          source=f"{RULES_OUT_PATH}:{COCO_CLASSES[int(found.classes[i])]}")
                for i in np.flatnonzero(otherwise)]

    def _hsv(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """``(h, w, 3) uint8`` OpenCV HSV of ``image`` at the weight-free detector's working width, and
        the scale (working px per image px): the size the weight-free detector's own colour cues use."""
        small, s = self.fallback.working_image(image)
        return cv2.cvtColor(small, cv2.COLOR_RGB2HSV), s

    # -- per phrase -----------------------------------------------------------------------------------
    def _candidates(self, found: Boxes, words: WordClasses, otherwise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N,) bool`` boxes of ``found`` the phrase considers and ``(N,) bool`` those whose crop must be
        recognized (``otherwise``: the ``(N,) bool`` boxes of another kind, ``_named_otherwise``)."""
        classes = found.classes
        sure = found.scores >= self.yolox.score_threshold
        if words.coco:
            chosen = np.isin(classes, words.coco) & sure
            recog = chosen & (words.narrower and bool(words.imagenet))
            beyond = np.isin(classes, sorted(self._broad(words.beyond))) & ~chosen & sure
            return chosen | beyond, recog | beyond
        broad = self._broad(words.groups)
        # A noun of no group may be in a box of any class but those of another kind surely named.
        chosen = (np.isin(classes, sorted(broad)) if broad else ~otherwise) & sure
        if not words.imagenet:
            return chosen, np.zeros(len(found), bool)
        chosen |= self._objects(found, chosen)
        return chosen, chosen

    def _objects(self, found: Boxes, chosen: np.ndarray) -> np.ndarray:
        """``(N,) bool`` boxes YOLOX finds an object in without naming its class (objectness alone
        passed, see ``YoloxDetector``): a thing of no COCO class, for the crop classifier to name. At
        most ``OBJECT_PROPOSALS``, the most object-like first, none overlapping a ``chosen`` box or
        each other above the NMS IoU (one object may get anchors of two classes)."""
        out = np.zeros(len(found), bool)
        loose = np.flatnonzero(found.scores < self.yolox.score_threshold)
        taken = list(found.boxes[chosen])
        for i in loose[np.argsort(-found.objectness[loose], kind="stable")]:
            if taken and iou_matrix(found.boxes[i], np.array(taken)).max() >= self.yolox.nms_iou:
                continue
            out[i] = True
            taken.append(found.boxes[i])
            if out.sum() >= OBJECT_PROPOSALS:
                break
        return out

    def _named_otherwise(self, found: Boxes, words: WordClasses) -> np.ndarray:
        """``(N,) bool`` boxes of ``found`` YOLOX surely names (``OTHER_SCORE``) as a person, an animal
        or a vehicle when the noun is of none of those kinds (none for an unknown noun)."""
        if not words.noun:
            return np.zeros(len(found), bool)
        own = set(words.coco) | self._broad(words.groups) | self._broad(words.beyond)
        other = self._broad([g for g in GROUPS if g not in words.groups]) - own
        return np.isin(found.classes, sorted(other)) & (found.scores >= OTHER_SCORE)

    def _broad(self, groups: Sequence[str]) -> set[int]:
        """The COCO classes of the broad ``groups`` (animal, vehicle, person)."""
        return set().union(*(self._groups.get(g, frozenset()) for g in groups))

    def _score(self, phrase: str, words: WordClasses, found: Boxes, chosen: np.ndarray, recog: np.ndarray,
               recognized: dict[int, np.ndarray]) -> list[Detection]:
        """The phrase's detections from its chosen boxes, recognition folded into the score."""
        out = []
        for i in np.flatnonzero(chosen):
            det_score, name = float(found.scores[i]), COCO_CLASSES[int(found.classes[i])]
            probs = recognized.get(int(i)) if recog[i] else None
            own = int(found.classes[i]) in words.coco  # a box of the noun's COCO classes
            if own and not recog[i]:
                score, source = det_score, f"yolox:{name}"
            elif own:  # narrower noun of a COCO class: the classifier tells the kind apart
                fit = 0.0 if probs is None else _fit(probs, words.imagenet)
                score = det_score * (NARROW_FLOOR + (1.0 - NARROW_FLOOR) * fit)
                source = f"yolox:{name}" if probs is None else f"yolox:{name}+imagenet:{self._top(probs, words)}"
            elif words.imagenet:  # outside (this sense of) COCO: a broad box the classifier recognizes as the noun
                if probs is None and det_score < self.yolox.score_threshold:
                    continue  # an object of no sure class is evidence only once the classifier names it
                fit = UNRECOGNIZED if probs is None else _fit(probs, words.imagenet)
                score = fit * (1.0 - BROAD_DETECTION_SHARE + BROAD_DETECTION_SHARE * det_score)
                source = f"yolox-broad:{name}" if probs is None else f"imagenet:{self._top(probs, words)}"
            else:  # unknown noun, or nothing ImageNet knows under it
                score, source = det_score * ANY_BOX_WEIGHT, f"yolox-any:{name}"
            out.append(Detection(box=found.boxes[i].copy(), score=float(np.clip(score, 0.0, 1.0)), phrase=phrase,
                                 source=source))
        return out

    def _top(self, probs: np.ndarray, words: WordClasses) -> str:
        """The name of the most probable ImageNet class under the noun (its first synonym)."""
        best = max(words.imagenet, key=lambda k: probs[k])
        return self.labels[best].split(",")[0].strip() if best < len(self.labels) else str(best)

    # -- crop recognition -----------------------------------------------------------------------------
    def _recognize(self, frame: FrameContext, found: Boxes, needed: list[np.ndarray]) -> dict[int, np.ndarray]:
        """``{box index: (1001,) probabilities}`` for the boxes in ``needed``: remembered recognitions of
        overlapping earlier boxes, and fresh crops for at most ``classifier_crops`` boxes, new ones first,
        then those whose remembered answer is the least confident, then the oldest."""
        self.crops_last_keyframe = 0
        indices = np.unique(np.concatenate(needed)) if needed else np.zeros(0, np.int64)
        if self.classifier is None or indices.size == 0:
            return {}
        reuse: dict[int, _Recognition] = {}
        if self._memory:
            overlap = iou_matrix(found.boxes[indices], np.array([m.box for m in self._memory]))
            for row, i in enumerate(indices):
                j = int(np.argmax(overlap[row]))
                if overlap[row, j] >= MATCH_IOU:
                    reuse[int(i)] = self._memory[j]

        def priority(i: int) -> tuple[int, float, int]:
            old = reuse.get(i)
            if old is None:
                return (0, 0.0, 0)  # never recognized: first
            confidence = float(old.probs[1:].max())  # low: the classifier was unsure, ask again
            return (1, confidence, old.index)

        order = sorted((int(i) for i in indices), key=priority)
        fresh = order[: self.params.classifier_crops]
        out = {i: m.probs for i, m in reuse.items()}
        if fresh:
            probs = self.classifier.probabilities(frame.image, found.boxes[fresh])
            for i, p in zip(fresh, probs, strict=True):
                out[i] = p
                self._memory.append(_Recognition(found.boxes[i].copy(), p, frame.index))
            self.crops_last_keyframe = len(fresh)
        # Keep the newest recognitions; one per place (a new one replaces what it overlaps).
        kept: list[_Recognition] = []
        for rec in reversed(self._memory):
            if len(kept) >= _MAX_MEMORY:
                break
            if not kept or iou_matrix(rec.box, np.array([k.box for k in kept])).max() < MATCH_IOU:
                kept.append(rec)
        self._memory = kept[::-1]
        return out


def _fit(probs: np.ndarray, classes: Sequence[int]) -> float:
    """How surely a crop shows the noun: its probability mass under the noun's classes, saturating at
    ``MASS_FULL``, in [0, 1]."""
    mass = float(subtree_mass(probs[None], classes)[0])
    return min(1.0, mass / MASS_FULL)
