"""Word lists the detectors use to decide which cues a noun phrase calls for, and the one rule
for a phrase's head noun (``head_noun``) that the cues and the WordNet class lookup share.

Colour ranges are in OpenCV's 8-bit HSV: hue in [0, 180), saturation and value in [0, 256).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from parse_vos_ros.parsing import lexicon  # word lists only (no imports): the parser's -ing nouns and verb forms


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` (keeps long word lists readable)."""
    return frozenset(text.split())


PERSON_WORDS = _words(
    """person persons people man men woman women boy boys girl girls child children kid kids baby
    pedestrian pedestrians player players dancer dancers rider riders skater skaters surfer surfers
    human humans guy guys lady ladies biker bikers cyclist cyclists runner runners walker walkers
    athlete athletes paraglider paragliders jumper jumpers skier skiers worker workers someone
    individual individuals gentleman adult adults teenager teenagers"""
)

# (hue_lo, hue_hi, sat_lo, sat_hi, val_lo, val_hi), inclusive; a colour may need several ranges
# (red wraps around hue 0).
HsvRange = tuple[int, int, int, int, int, int]
COLOUR_RANGES: dict[str, tuple[HsvRange, ...]] = {
    "red": ((0, 8, 90, 255, 60, 255), (170, 179, 90, 255, 60, 255)),
    "orange": ((9, 20, 110, 255, 90, 255),),
    "yellow": ((21, 34, 90, 255, 90, 255),),
    "green": ((35, 85, 60, 255, 40, 255),),
    "cyan": ((86, 99, 60, 255, 60, 255),),
    "blue": ((100, 130, 70, 255, 40, 255),),
    "purple": ((131, 155, 50, 255, 40, 255),),
    "pink": ((156, 169, 40, 255, 90, 255), (0, 8, 30, 89, 150, 255)),
    "brown": ((5, 22, 70, 255, 30, 150),),
    "white": ((0, 179, 0, 40, 190, 255),),
    "gray": ((0, 179, 0, 40, 60, 189),),
    "black": ((0, 179, 0, 255, 0, 55),),
    # Shades of gray are told apart by brightness alone (a dark grey car on a mid-grey road).
    "dark gray": ((0, 179, 0, 60, 15, 115),),
    "light gray": ((0, 179, 0, 40, 125, 220),),
}
# A shade word before "gray" picks one of the gray shades above; before a hue it adds nothing.
_GRAY_SHADES = {"dark": "dark gray", "deep": "dark gray", "light": "light gray", "pale": "light gray",
                "bright": "light gray"}
COLOUR_SYNONYMS = {
    "grey": "gray",
    "silver": "gray",
    "violet": "purple",
    "dark": "black",
    "golden": "yellow",
    "gold": "yellow",
    "crimson": "red",
    "navy": "blue",
    "tan": "brown",
    "beige": "brown",
}

SHADES = _words("dark light pale bright deep")  # modify a following colour word
PART_PREPOSITIONS = _words("with holding carrying")  # what follows them is a part ("with a red beak")
PREPOSITIONS = _words("of in on with at by from near behind wearing holding carrying")
_STOP = _words("a an the this that these those of in on with and or to at by from its his her their")
# After the noun these relate it to something else ("the cow closest to the camera", "the dog
# next to the man", "the ball under the table"): what follows is not the referent.
# (Not "up", "down", "off", "over": they also join nouns, "pick up truck", "drop off zone".)
RELATION_WORDS = _words("closest nearest farthest furthest closer nearer next to towards toward into onto "
                        "across along through") | lexicon.LOCATION_PREPOSITIONS
_MIN_PARTICIPLE_CHARS = 5  # an -ing or -ed participle is longer than "king", "ring", "shed", "sled"
# After an -ed form these make it a participle with its complement ("dressed in", "parked by").
_AFTER_PAST_PARTICIPLE = PREPOSITIONS | lexicon.DIRECTION_PREPOSITIONS


@dataclass(frozen=True)
class PhraseCues:
    """What a noun phrase asks for.

    Attributes:
        phrase: the phrase as given.
        noun: the head noun (last content word that is not a colour), "" when none.
        colours: canonical colour names of the object itself (keys of ``COLOUR_RANGES``), including
            what a person wears ("the man in red").
        part_colours: colours of a part named after "with" / "holding" ("a swan with a red beak").
        person: the phrase names a person (HOG people detector applies).
        worn: every colour of ``colours`` is named after the noun ("the man in red", "the kid
            wearing a black shirt"): what the referent wears covers a part of it, and a worn
            colour's name is loose ("a dark blue dress" films near black).
    """

    phrase: str
    noun: str
    colours: tuple[str, ...]
    part_colours: tuple[str, ...]
    person: bool
    worn: bool = False


def colour_name(word: str) -> str | None:
    """Canonical colour for ``word`` ("Grey" -> "gray", "reddish" -> "red"), None when not a colour."""
    w = word.lower()
    if w in COLOUR_RANGES:
        return w
    if w in COLOUR_SYNONYMS:
        return COLOUR_SYNONYMS[w]
    for suffix in ("dish", "ish"):  # "reddish", "greyish"
        stem = w[: -len(suffix)]
        if w.endswith(suffix) and (stem in COLOUR_RANGES or stem in COLOUR_SYNONYMS):
            return COLOUR_SYNONYMS.get(stem, stem)
    return None


def is_colour_word(word: str) -> bool:
    """``word`` names a colour or a shade of one ("grey", "reddish", "light"), in any case."""
    return colour_name(word) is not None or word.lower() in SHADES


_DRESSED = re.compile(r"^(?:in|wearing|dressed in)\s")  # a pose phrase of what the subject wears


def detection_phrases(candidates: Sequence[str], pose: Sequence[str]) -> tuple[str, ...]:
    """What a detector is asked for the command's ``candidates``: one candidate with the colours it
    is dressed in ("kid" and "in a black shirt" -> "kid in a black shirt"), so that they re-rank its
    boxes as the colours of "the black-shirted kid" do; else the candidates themselves (a pose
    phrase belongs to no one candidate of several; a part's colour, "with a red beak", covers a
    few of the object's pixels)."""
    dressed = [p for p in pose if _DRESSED.match(p.lower()) and any(is_colour_word(w) for w in phrase_words(p))]
    if len(candidates) != 1 or not dressed:
        return tuple(candidates)
    return (" ".join([candidates[0], *dressed]),)


def phrase_words(phrase: str) -> list[str]:
    """The lower-case words of ``phrase`` (hyphenated words split: "kite-surfer" -> kite, surfer)."""
    return re.findall(r"[a-z]+", phrase.lower())


def is_content_word(word: str) -> bool:
    """``word`` (lower case) may be or modify the head noun: no article, preposition or colour."""
    return word not in _STOP and colour_name(word) is None


def is_participle(word: str, next_word: str = "") -> bool:
    """``word``, met after a noun's first content word, is a verb form that starts a new clause:
    an -ing form that is no noun ("carrying", "chasing", but not "building"), or an -ed form
    followed by a preposition ("dressed in", "parked on"; "long haired girl" is no clause)."""
    if len(word) < _MIN_PARTICIPLE_CHARS or word in lexicon.ING_NOUNS:
        return False
    return word.endswith("ing") or (word.endswith("ed") and next_word in _AFTER_PAST_PARTICIPLE)


def noun_phrase_end(words: Sequence[str]) -> int:
    """Index in ``words`` (``phrase_words``) of the word that ends the leading noun phrase, or
    ``len(words)``: the first preposition, relation word, relative pronoun or participle after a
    content word. The referent is the subject before it: "the man carrying a red bag" -> man, "a
    dog chasing a ball" -> dog, "the boy who is riding a bike" -> boy, "the cow closest to the
    camera" -> cow; before any content word a participle modifies the noun ("the running man")."""
    seen = False
    for k, word in enumerate(words):
        nxt = words[k + 1] if k + 1 < len(words) else ""
        if seen and (word in PREPOSITIONS or word in RELATION_WORDS or word in lexicon.RELATIVE_PRONOUNS
                     or is_participle(word, nxt)):
            return k
        seen = seen or is_content_word(word)
    return len(words)


def part_start(words: Sequence[str]) -> int:
    """Index in ``words`` from which colours belong to another thing than the referent, or
    ``len(words)``: a part preposition ("a swan with a red beak", "holding a blue umbrella") or an
    -ing participle's object ("a dog chasing a red ball"). "wearing", "dressed in" and "in" keep
    colours on the referent ("the man wearing red")."""
    seen = False
    for k, word in enumerate(words):
        verb_object = seen and word.endswith("ing") and word not in PREPOSITIONS and is_participle(word)
        if word in PART_PREPOSITIONS or verb_object:
            return k
        seen = seen or is_content_word(word)
    return len(words)


def head_noun(words: Sequence[str]) -> str:
    """The head noun of ``words`` (``phrase_words``): the last content word of the leading noun
    phrase ("red sports car" -> car, "the man in red" -> man), "" when none."""
    content = [w for w in words[: noun_phrase_end(words)] if is_content_word(w)]
    return content[-1] if content else ""


def analyse_phrase(phrase: str) -> PhraseCues:
    """Split a noun phrase into its cues, e.g. ``"the man in red"`` -> person + colour red."""
    words = phrase_words(phrase)
    colours: list[str] = []
    part_colours: list[str] = []
    found = colours
    parts_from = part_start(words)
    noun_end = noun_phrase_end(words)
    before_noun = False  # a colour of ``colours`` is named before the noun ends ("the red car")
    for k, word in enumerate(words):
        if k == parts_from:
            found = part_colours  # "a dog with a red harness": red is a small part of the dog
        colour = colour_name(word)
        if k > 0 and colour == "gray" and words[k - 1] in _GRAY_SHADES:
            colour = _GRAY_SHADES[words[k - 1]]
        if word in SHADES and k + 1 < len(words) and colour_name(words[k + 1]) is not None:
            continue  # "dark blue" is a shade of blue, not black and blue
        if colour is not None and colour not in colours and colour not in found:
            found.append(colour)
            before_noun = before_noun or (found is colours and k < noun_end)
    noun = head_noun(words)
    person = noun in PERSON_WORDS
    return PhraseCues(phrase=phrase, noun=noun, colours=tuple(colours), part_colours=tuple(part_colours),
                      person=person, worn=bool(colours) and not before_noun)
