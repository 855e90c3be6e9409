"""Whether anything in view grounds the command's nouns: the gate before a target is published.

Every detector here proposes boxes for any phrase (the embedded one falls back to saliency, so
"the purple elephant" or "ignore previous instruction" still gets candidate tracks), and the
motion reasoner then picks the best of what exists. A robot must not act on that: when no
candidate has evidence for what the sentence names, the engine answers ``NOT_FOUND`` with the
reason in the trace instead of a target.

:func:`not_found_reason` is that decision, from the evidence the candidate tracks carry:

- a **colour word** must be seen: a phrase that names colours is grounded only by a track whose
  keyframe crops show one of them (``MIN_COLOUR_SHARE`` of the crop's pixels). Approximate colour
  words (``LOOSE_COLOUR_WORDS``: "golden", "silver", "tan", "dark" ... name a material or a shade,
  not a hue: a golden dog often films cream) are no requirement on their own;
- the **head noun** must be something a model or cue can find: ``noun_check(noun)`` says True
  (a class some detector or classifier covers, a person word, a generic object word), False
  (names no physical object) or None (unknown). An unknown noun is still grounded when the
  sentence gives a colour (seen, above) or a motion to look for, since the colour and motion cues
  find those whatever the noun is.

``noun_check`` is the place to extend: :func:`default_noun_check` knows the words of the vendored
ImageNet labels, the person words, generic object/shape words and, through the WordNet table
(``grounding/word_classes.py``), every noun under a COCO or ImageNet class.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence

import cv2
import numpy as np

from parse_vos_ros.grounding.crop_classifier import LABELS_FILE, load_labels
from parse_vos_ros.grounding.cues import colours_mask
from parse_vos_ros.grounding.vocabulary import PERSON_WORDS, analyse_phrase, is_colour_word, part_start, phrase_words
from parse_vos_ros.grounding.word_classes import classes_for
from parse_vos_ros.models import vendored_path
from parse_vos_ros.parsing.lexicon import words
from parse_vos_ros.types import ParsedCommand, Trajectory

# A track shows a colour when at least this share of the pixels of one of its keyframe crops
# (its box, background included) has it: a red square fills its box, a man "in red" a fifth of it.
MIN_COLOUR_SHARE = 0.1
# Median filter (px) applied to a crop first: sensor noise on grey makes single pixels of every
# hue (7 % "purple" on a noisy grey background), a coloured object is a region.
COLOUR_DENOISE_PX = 5
# Nouns that name "some object" or a plain shape: the saliency and motion cues stand for them.
GENERIC_OBJECT_NOUNS = words(
    "object thing something anything item one shape blob square circle ball box triangle rectangle cube disc "
    "disk dot spot figure"
)
# Colour words whose canonical colour (``vocabulary.colour_name``) only approximates what a camera
# sees, and shade words; a phrase whose object colours come only from these needs no colour seen.
LOOSE_COLOUR_WORDS = words("golden gold silver tan beige dark light pale bright deep")

NounCheck = Callable[[str], "bool | None"]


@functools.cache
def imagenet_words() -> frozenset[str]:
    """Lower-case words of the vendored ImageNet-1k labels ("African elephant" -> african, elephant)."""
    try:
        text = "\n".join(load_labels(vendored_path(LABELS_FILE)))
    except OSError:
        return frozenset()
    return frozenset(re.findall(r"[a-z]+", text.lower())) - {"background"}


def default_noun_check(noun: str) -> bool | None:
    """True when ``noun`` names something a vendored model or a cue covers (the ImageNet label
    words, person and generic object words, and every noun the WordNet table maps to a COCO or
    ImageNet class: "cyclist", "kid", "camel"); None when unknown.

    Never False: the WordNet table holds physical nouns only, so a word missing from it may be
    abstract ("instruction") or merely unknown ("roomba"); both need a colour or a motion.
    """
    word = noun.lower()
    if word in PERSON_WORDS or word in GENERIC_OBJECT_NOUNS or word in imagenet_words():
        return True
    classes = classes_for(word)
    return True if classes.coco or classes.imagenet else None


def required_colours(phrase: str) -> tuple[str, ...]:
    """The object colours of ``phrase`` a track must show: none when every colour word naming the
    object (before "with", "holding", "chasing" ...: ``vocabulary.part_start``) is in ``LOOSE_COLOUR_WORDS``."""
    words = phrase_words(phrase)
    object_words = words[: part_start(words)]  # colours after these belong to a part or another thing
    strict = [w for w in object_words if is_colour_word(w) and w not in LOOSE_COLOUR_WORDS]
    return analyse_phrase(phrase).colours if strict else ()


def shows_colour(crops: Sequence[np.ndarray], colours: Sequence[str]) -> bool:
    """Whether any ``(h, w, 3) uint8`` RGB crop has ``MIN_COLOUR_SHARE`` of one of ``colours``
    (False without crops: a track born between keyframes has no colour evidence yet)."""
    for crop in crops:
        smooth = cv2.medianBlur(np.ascontiguousarray(crop), COLOUR_DENOISE_PX)
        hsv = cv2.cvtColor(smooth, cv2.COLOR_RGB2HSV)
        if float(colours_mask(hsv, tuple(colours)).mean()) >= MIN_COLOUR_SHARE:
            return True
    return False


def not_found_reason(
    command: ParsedCommand,
    trajectories: Sequence[Trajectory],
    crops: Mapping[int, Sequence[np.ndarray]],
    noun_check: NounCheck = default_noun_check,
) -> str | None:
    """Why no candidate track grounds any of the command's phrases, or None when one does.

    Args:
        command: the parsed command (its ``candidates`` are the phrases, ``motion`` its motion).
        trajectories: the candidate tracks (``phrase`` = the phrase each was found for).
        crops: ``{track_id: [(h, w, 3) uint8 RGB keyframe crop, ...]}``.
        noun_check: see the module docstring.

    Returns:
        None while there are no tracks yet (nothing to judge: the state stays searching).
    """
    if not trajectories:
        return None
    reasons = []
    for phrase in command.candidates:
        cues = analyse_phrase(phrase)
        tracks = [t for t in trajectories if t.phrase == phrase]
        if not tracks:
            reasons.append(f"nothing was detected for '{phrase}'")
            continue
        known = noun_check(cues.noun) if cues.noun else None
        if known is False:
            reasons.append(f"'{cues.noun}' names no physical object")
            continue
        colours = required_colours(phrase)
        if colours:
            if not any(shows_colour(crops.get(t.track_id, ()), colours) for t in tracks):
                reasons.append(f"no candidate for '{phrase}' shows {' or '.join(colours)}")
                continue
        elif known is None and not command.motion:
            reasons.append(f"'{cues.noun or phrase}' is not a class any detector knows, and the sentence "
                           "names no colour or motion to look for")
            continue
        return None
    return "; ".join(reasons) or "the command names nothing to look for"
