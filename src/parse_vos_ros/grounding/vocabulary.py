"""Word lists the embedded detector uses to decide which cues a noun phrase calls for.

Colour ranges are in OpenCV's 8-bit HSV: hue in [0, 180), saturation and value in [0, 256).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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
PREPOSITIONS = _words("of in on with at by from near behind wearing holding")
_STOP = _words("a an the this that these those of in on with and or to at by from its his her their")


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
    """

    phrase: str
    noun: str
    colours: tuple[str, ...]
    part_colours: tuple[str, ...]
    person: bool


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


def analyse_phrase(phrase: str) -> PhraseCues:
    """Split a noun phrase into its cues, e.g. ``"the man in red"`` -> person + colour red."""
    words = re.findall(r"[a-z]+", phrase.lower())
    colours: list[str] = []
    part_colours: list[str] = []
    found = colours
    for k, word in enumerate(words):
        if word in PART_PREPOSITIONS:
            found = part_colours  # "a dog with a red harness": red is a small part of the dog
        colour = colour_name(word)
        if k > 0 and colour == "gray" and words[k - 1] in _GRAY_SHADES:
            colour = _GRAY_SHADES[words[k - 1]]
        if word in SHADES and k + 1 < len(words) and colour_name(words[k + 1]) is not None:
            continue  # "dark blue" is a shade of blue, not black and blue
        if colour is not None and colour not in colours and colour not in found:
            found.append(colour)
    # The head noun is the last content word before the first preposition that follows one:
    # "red sports car" -> car, "man in red" -> man, "the dog" -> dog.
    head: list[str] = []
    for word in words:
        if word in PREPOSITIONS and head:
            break
        if word not in _STOP and colour_name(word) is None:
            head.append(word)
    noun = head[-1] if head else ""
    person = noun in PERSON_WORDS
    return PhraseCues(phrase=phrase, noun=noun, colours=tuple(colours), part_colours=tuple(part_colours),
                      person=person)
