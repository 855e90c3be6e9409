"""Words to detector and classifier classes, through WordNet 3.0 (the generated ``data/word_classes.json``).

``classes_for("the light blue soapbox kart")`` finds the phrase's head noun (``vocabulary``'s
rule), tries the longest WordNet lemma ending at it ("soapbox kart", then "kart"), strips a regular
plural, and answers with the COCO classes YOLOX can box it as, the ImageNet classes under it, and
its broad group. The table is made by ``scripts/make_word_classes.py``; see ``docs/models.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

from parse_vos_ros.grounding.vocabulary import colour_name, head_noun, noun_phrase_end, phrase_words
from parse_vos_ros.grounding.yolox import COCO_CLASSES

TABLE = "word_classes.json"
_MAX_LEMMA_WORDS = 3  # longest multiword lemma tried ("black swan", "soapbox kart", "hot air balloon")
_MIN_COMPOUND_HEAD, _MIN_COMPOUND_TAIL = 3, 4  # letters of a closed compound's first and last part
_PERSON = COCO_CLASSES.index("person")
# Regular English plural endings, longest first (WordNet's morphy rules for nouns).
_PLURALS = (
    ("ches", "ch"), ("shes", "sh"), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ies", "y"), ("men", "man"), ("s", "")
)
# Determiners only: vocabulary's stop words also drop "and", "or", "to" and prepositions, which would
# change the words a lemma is looked up from.
_STOP = frozenset("a an the this that these those its his her their".split())  # noqa: SIM905


@dataclass(frozen=True)
class WordClasses:
    """What a noun phrase's head noun means to the learned detector.

    Attributes:
        phrase: the phrase as given.
        noun: the WordNet lemma found ("" when none).
        coco: COCO class indices (``yolox.COCO_CLASSES``) the noun is, is a kind of, or covers.
        imagenet: ImageNet-1k indices (1..1000 of ``imagenet_labels.txt``) in the noun's subtree.
        narrower: the noun is a strict kind of its COCO class ("swan" of bird, "cyclist" of person).
        groups: broad groups the noun belongs to: "animal", "person", "vehicle".
        beyond: for a noun with COCO classes, the broad groups of its ImageNet classes that are
            under no COCO class ("scooter": a water scooter is a boat, a motor scooter is in no
            COCO class but in the vehicles): their boxes may hold it too.
        kin: for an animal or vehicle with no ImageNet class of its own, those of its nearest kin
            ("deer": the ruminants ImageNet has; "cow": the ox). They stand in for ``imagenet``
            when the noun has no COCO class either: the crop classifier calls a deer an impala.
    """

    phrase: str
    noun: str
    coco: tuple[int, ...] = ()
    imagenet: tuple[int, ...] = ()
    narrower: bool = False
    groups: tuple[str, ...] = ()
    beyond: tuple[str, ...] = ()
    kin: tuple[int, ...] = ()

    def without(self, withheld: frozenset[int]) -> WordClasses:
        """These classes for a detector never trained on the COCO classes ``withheld``: a noun left
        with none of its own is outside COCO (its broad group and ImageNet classes decide)."""
        coco = tuple(c for c in self.coco if c not in withheld)
        if coco == self.coco:
            return self
        if coco:
            return replace(self, coco=coco)
        return replace(self, coco=(), narrower=False, beyond=(), imagenet=self.imagenet or self.kin)


@lru_cache(maxsize=1)
def _table() -> dict[str, object]:
    data = resources.files("parse_vos_ros").joinpath("data", TABLE).read_text(encoding="utf-8")
    return json.loads(data)


def _singular(word: str, lemmas: dict[str, int], plurals: dict[str, str]) -> str | None:
    """The lemma of ``word`` (itself, an irregular plural's singular or a regular plural stripped)."""
    if word in lemmas:
        return word
    if word in plurals:
        return plurals[word]
    head, _, last = word.rpartition(" ")
    for suffix, repl in _PLURALS:
        if last.endswith(suffix) and len(last) > len(suffix) + 1:
            candidate = (f"{head} " if head else "") + last[: -len(suffix)] + repl
            if candidate in lemmas:
                return candidate
    return None


def lookup(words: list[str]) -> str:
    """The longest lemma (up to ``_MAX_LEMMA_WORDS`` words) ending at ``words[-1]``; "" when none.

    Hyphenated words arrive split ("kite-surfer" -> "kite", "surfer"), so "kite surfer" is tried
    before "surfer"; "go-kart" is tried both as "go kart" and with its hyphen, "skate board" also
    as one word, except after a colour word: "white horse" is a horse, not "whitehorse" (a town).
    """
    table = _table()
    lemmas: dict[str, int] = table["lemmas"]  # type: ignore[assignment]
    plurals: dict[str, str] = table["plurals"]  # type: ignore[assignment]
    for n in range(min(_MAX_LEMMA_WORDS, len(words)), 0, -1):
        tail = words[-n:]
        closed = () if any(colour_name(w) is not None for w in tail[:-1]) else ("".join(tail),)
        for joined in dict.fromkeys((" ".join(tail), "-".join(tail), *closed)):
            found = _singular(joined, lemmas, plurals)
            if found is not None:
                return found
    return _person_tail(words[-1], lemmas, plurals) if words else ""


def _person_tail(word: str, lemmas: dict[str, int], plurals: dict[str, str]) -> str:
    """The person lemma a closed compound outside WordNet ends in ("breakdancer" -> "dancer",
    "kitesurfers" -> "surfer"): English compounds name a kind of their last part. Only persons:
    "paraglider" is a person, not the glider its last part names, so other tails say nothing."""
    entries = _table()["entries"]
    for start in range(_MIN_COMPOUND_HEAD, len(word) - _MIN_COMPOUND_TAIL + 1):
        found = _singular(word[start:], lemmas, plurals)
        if found is not None:
            coco = entries[lemmas[found]][0]  # type: ignore[index]
            return found if coco == [_PERSON] else ""
    return ""


def head_words(phrase: str) -> list[str]:
    """The words up to and including the head noun, e.g. "the black swan with a red beak" ->
    ["black", "swan"] (colour words kept: "black swan" is a lemma). The noun phrase ends where
    ``vocabulary`` ends it ("the man carrying a red bag" -> ["man"])."""
    words = phrase_words(phrase)
    out = [w for w in words[: noun_phrase_end(words)] if w not in _STOP]
    noun = head_noun(words)
    if noun:
        out = out[: len(out) - out[::-1].index(noun)]
    return out


def classes_for(phrase: str) -> WordClasses:
    """The classes of ``phrase``'s head noun; an unknown or abstract noun (the table holds physical
    nouns only) gets ``noun=""`` and empty classes."""
    words = head_words(phrase)
    noun = lookup(words) if words else ""
    if not noun:
        return WordClasses(phrase=phrase, noun="")
    table = _table()
    coco, runs, narrower, groups, beyond, kin_runs = table["entries"][table["lemmas"][noun]]  # type: ignore[index]
    imagenet = tuple(i for first, last in runs for i in range(first, last + 1))
    kin = tuple(i for first, last in kin_runs for i in range(first, last + 1))
    return WordClasses(
        phrase=phrase,
        noun=noun,
        coco=tuple(coco),
        imagenet=imagenet or (() if coco else kin),
        narrower=bool(narrower),
        groups=tuple(g for g in str(groups).split("+") if g),
        beyond=tuple(g for g in str(beyond).split("+") if g),
        kin=kin,
    )


def same_kind(a: str, b: str) -> bool:
    """Phrases ``a`` and ``b`` name the same kind of thing: the same head noun ("the man on the
    left", "a running man"), or nouns that share a COCO class ("man" and "girl" are persons, a
    dog is an animal); "car" and "truck" are not."""
    ca, cb = classes_for(a), classes_for(b)
    if ca.noun and cb.noun:
        return ca.noun == cb.noun or bool(set(ca.coco) & set(cb.coco))
    words_a, words_b = head_words(a), head_words(b)  # a noun outside the table: the words decide
    return bool(words_a) and words_a[-1:] == words_b[-1:]
