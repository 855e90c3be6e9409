"""Embedded (weight-free) pose / appearance verifier.

What it can do, honestly: posture words that change a person's or an animal's box (standing /
upright = tall, lying = wide, sitting / crouching = squat; relative, so a standing dog still ranks
above a lying one) are scored from the crop's aspect ratio when the subject is a person or an
animal (a shape or a car has no posture: "standing still" is only still), and colour
words ("in red", "white dog") from the fraction of the crop's central pixels in that colour's HSV
range. Anything else ("with raised arm", "smiling") carries no signal it can read, so every
candidate gets 0.5 and the caller keeps its motion ranking. CLIP (``pose.backend: clip``) is
the real implementation of this step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from parse_vos_ros.config import Config
from parse_vos_ros.grounding.word_classes import classes_for

BEINGS = frozenset({"person", "animal"})  # the ``WordClasses.groups`` that have postures

# A person's target log(height / width) per posture word and the spread of the score (natural log units).
POSTURES: dict[str, tuple[float, float]] = {
    "standing": (np.log(2.2), 0.6),
    "upright": (np.log(2.2), 0.6),
    "tall": (np.log(2.2), 0.6),
    "sitting": (np.log(1.1), 0.5),
    "seated": (np.log(1.1), 0.5),
    "crouching": (np.log(0.9), 0.5),
    "squatting": (np.log(0.9), 0.5),
    "lying": (np.log(0.4), 0.6),
    "sleeping": (np.log(0.4), 0.6),
    "horizontal": (np.log(0.4), 0.6),
}
# Colour -> list of (h_lo, h_hi, s_lo, s_hi, v_lo, v_hi) OpenCV HSV ranges (H in [0, 180)).
COLOURS: dict[str, list[tuple[int, int, int, int, int, int]]] = {
    "red": [(0, 8, 90, 255, 60, 255), (170, 180, 90, 255, 60, 255)],
    "orange": [(8, 22, 100, 255, 80, 255)],
    "yellow": [(22, 35, 90, 255, 90, 255)],
    "green": [(35, 85, 60, 255, 40, 255)],
    "blue": [(90, 130, 70, 255, 40, 255)],
    "purple": [(130, 160, 60, 255, 40, 255)],
    "pink": [(150, 175, 40, 255, 120, 255)],
    "brown": [(5, 25, 60, 255, 30, 160)],
    "white": [(0, 180, 0, 40, 190, 255)],
    "black": [(0, 180, 0, 255, 0, 50)],
    "dark": [(0, 180, 0, 255, 0, 80)],  # "a dark shirt": black, navy, dark brown alike
    "gray": [(0, 180, 0, 40, 60, 190)],
    "grey": [(0, 180, 0, 40, 60, 190)],
}


def colour_fraction(crop: np.ndarray, colour: str) -> float:
    """Fraction of the central half of ``crop`` ``(h, w, 3) uint8`` RGB in ``colour``'s HSV range."""
    h, w = crop.shape[:2]
    centre = crop[h // 4 : h - h // 4 or h, w // 4 : w - w // 4 or w]
    hsv = cv2.cvtColor(np.ascontiguousarray(centre), cv2.COLOR_RGB2HSV)
    hit = np.zeros(hsv.shape[:2], bool)
    for h0, h1, s0, s1, v0, v1 in COLOURS[colour]:
        hit |= cv2.inRange(hsv, (h0, s0, v0), (h1, s1, v1)) > 0
    return float(hit.mean()) if hit.size else 0.0


class EmbeddedPoseVerifier:
    """Scores crops against posture and colour words; 0.5 (no information) for anything else."""

    @classmethod
    def from_config(cls, config: Config) -> EmbeddedPoseVerifier:
        return cls()

    def understood(self, pose_text: str, subject: str = "") -> list[str]:
        """The posture/colour words of ``pose_text`` this verifier can score: postures only of a
        person or an animal (``subject`` names one, or "" unknown)."""
        postures = not subject.strip() or bool(BEINGS & set(classes_for(subject).groups))
        words = re.findall(r"[a-z]+", pose_text.lower())
        return [w for w in words if (postures and w in POSTURES) or w in COLOURS]

    def score(self, pose_text: str, crops: Mapping[int, Sequence[np.ndarray]], subject: str = "") -> dict[int, float]:
        """Per track id, the mean over its crops of the mean per-word score, in [0, 1]."""
        words = self.understood(pose_text, subject)
        out: dict[int, float] = {}
        for tid, track_crops in crops.items():
            usable = [c for c in track_crops if c.ndim == 3 and c.shape[0] > 0 and c.shape[1] > 0]
            if not words or not usable:
                out[tid] = 0.5
                continue
            per_crop = []
            for crop in usable:
                ratio = np.log(crop.shape[0] / crop.shape[1])
                scores = []
                for word in words:
                    if word in POSTURES:
                        target, spread = POSTURES[word]
                        scores.append(float(np.exp(-(((ratio - target) / spread) ** 2))))
                    else:
                        # A third of the object's centre in the colour is already a clear match.
                        scores.append(min(1.0, 3.0 * colour_fraction(crop, word)))
                per_crop.append(float(np.mean(scores)))
            out[tid] = float(np.mean(per_crop))
        return out
