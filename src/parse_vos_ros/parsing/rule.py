"""The embedded rule parser: deterministic, weight-free, microseconds per sentence.

It reads an English referring expression left to right: transcript clean-up (fillers, request
openers, self-corrections, repeated words), then the subject noun phrase(s) (determiners, numbers,
"all", "one of the", pre-noun modifiers), then everything attached to them: relative clauses,
verb phrases (motion or pose by the verb lexicon), prepositional phrases (context, motion
direction or appearance), adverbs and predicate adjectives. Conventions (documented with examples
in docs/language.md): candidates are the subject noun phrases without determiners/numbers, head
singularised; verbs are written as gerunds with their particle and object; prepositional phrases
keep their words as spoken.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from parse_vos_ros.config import Config
from parse_vos_ros.grounding.vocabulary import PERSON_WORDS, is_colour_word
from parse_vos_ros.grounding.word_classes import classes_for
from parse_vos_ros.parsing import lexicon as lx
from parse_vos_ros.parsing.base import CommandParseError
from parse_vos_ros.parsing.schema import MAX_CARDINALITY, MAX_ITEMS, MAX_PHRASE_CHARS, validate_parsed
from parse_vos_ros.types import Cardinality, ParsedCommand

_TOKEN = re.compile(r"n't|'s|'re|[^\W_]+(?:['\-][^\W_]+)*|[,.;:!?]")
_PUNCT = frozenset(",.;:!?")
_CONTRACTION = re.compile(r"\b(that|who|which|it|there|what|where|he|she)'s\b")
_FIXED_MOTION = (
    ("up", "and", "down"), ("back", "and", "forth"), ("left", "and", "right"), ("round", "and", "round"),
    ("from", "side", "to", "side"), ("side", "to", "side"), ("to", "and", "fro"), ("in", "place"),
    ("side", "by", "side"), ("one", "by", "one"), ("one", "after", "another"),
)  # fmt: skip
_ASPECT = {"start": "starting", "starts": "starting", "started": "starting", "starting": "starting",
           "begin": "starting", "begins": "starting", "began": "starting", "beginning": "starting",
           "stop": "stopping", "stops": "stopping", "stopped": "stopping", "stopping": "stopping"}  # fmt: skip
_CONTINUATIVE = lx.words("keep keeps kept keeping continue continues continued continuing try tries tried")
_RELATION_PREPS = frozenset(
    {"in front of", "on top of", "to the left of", "to the right of", "next to", "close to", "far from", "in between",
     "on the side of", "in the middle of", "at the edge of"}
)  # fmt: skip


def clean_text(text: object, max_chars: int) -> str:
    """Check the transcript and return it lower-cased with normalised apostrophes.

    Raises:
        CommandParseError: not a string (or undecodable bytes), empty, too long, or containing
            control characters.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CommandParseError(f"command is not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(text, str):
        raise CommandParseError(f"command must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise CommandParseError(f"command is {len(text)} characters long, at most {max_chars} allowed")
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cs":
            raise CommandParseError("command holds an unpaired surrogate (it was not valid UTF-8)")
        if cat in ("Cc", "Cf") and ch not in "\t\n\r":
            raise CommandParseError(f"command holds the control character U+{ord(ch):04X}")
    if not text.strip():
        raise CommandParseError("command is empty")
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def tokenize(text: str) -> list[str]:
    """Words and sentence punctuation; ``don't`` -> ``do n't``, ``that's`` -> ``that 's``."""
    return _TOKEN.findall(_CONTRACTION.sub(r"\1 's", text.replace("n't", " n't")))


def _starts_with(tokens: list[str], i: int, phrase: tuple[str, ...]) -> bool:
    return tuple(tokens[i : i + len(phrase)]) == phrase


def strip_speech(tokens: list[str]) -> list[str]:
    """Remove transcript noise: fillers, request openers, self-corrections, stutters."""
    # A self-correction ("the dog, no wait, the cat") keeps what follows the last marker.
    for i in range(len(tokens) - 1, -1, -1):
        for marker in lx.CORRECTION_MARKERS:
            if not _starts_with(tokens, i, marker):
                continue
            # A bare "no" is a correction only between pauses ("no longer moving" is not).
            if marker == ("no",) and not (i == 0 or tokens[i - 1] in _PUNCT) and tokens[i + 1 : i + 2] != [","]:
                continue
            rest = tokens[i + len(marker) :]
            if any(t not in _PUNCT for t in rest):
                tokens = rest
                break
        else:
            continue
        break
    out: list[str] = []
    i = 0
    while i < len(tokens):
        phrase = next((p for p in lx.FILLER_PHRASES if _starts_with(tokens, i, p)), None)
        if phrase:
            i += len(phrase)
            continue
        tok = tokens[i]
        pause_next = i + 1 < len(tokens) and tokens[i + 1] in _PUNCT
        if tok in lx.FILLER_WORDS or (tok == "like" and (pause_next or (out and out[-1] in _PUNCT))):
            i += 1
            continue
        if out and tok == out[-1]:  # stutter "the the dog", repeated pauses
            i += 1
            continue
        if tok in _PUNCT and out and out[-1] in lx.DETERMINERS:  # abandoned start: "the, uh, the dog"
            out.pop()
            i += 1
            continue
        out.append(tok)
        i += 1
    # Request openers, repeatedly: "can you please find me the dog".
    changed = True
    while changed:
        changed = False
        while out and out[0] in _PUNCT:
            out.pop(0)
        for opener in lx.REQUEST_OPENERS:
            if _starts_with(out, 0, opener) and len(out) > len(opener):
                out = out[len(opener) :]
                changed = True
                break
    while out and (out[-1] in _PUNCT or out[-1] == "please"):
        out.pop()
    return out


def singular(word: str) -> tuple[str, bool]:
    """``(singular form, was plural)`` of a head noun."""
    if word in lx.IRREGULAR_PLURALS:
        return lx.IRREGULAR_PLURALS[word], True
    if word in lx.NOT_PLURAL or len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is", "'s")):
        return word, word in lx.COLLECTIVE_PLURALS
    if word.endswith("ies"):
        return word[:-3] + "y", True
    if word.endswith(("ches", "shes", "xes", "zzes", "sses")):
        return word[:-2], True
    return word[:-1], True


@dataclass
class _Entity:
    words: list[str] = field(default_factory=list)
    count: Cardinality | None = None

    def phrase(self) -> tuple[str | None, Cardinality]:
        """The candidate phrase (None for a bare pronoun "the one") and its cardinality."""
        if not self.words:
            return None, self.count or 1
        if len(self.words) == 1 and self.words[0] in lx.PRONOUN_HEADS:
            head, count = lx.PRONOUN_HEADS[self.words[0]]
            return head, self.count or count
        head, plural = singular(self.words[-1])
        if self.words[-1] in lx.INVARIANT_NOUNS:
            plural = False
        count = self.count if self.count is not None else ("all" if plural else 1)
        return " ".join([*self.words[:-1], head]), count


class _Reader:
    """One left-to-right pass over the cleaned tokens, filling the five fields."""

    def __init__(self, tokens: list[str]) -> None:
        self.t = tokens
        self.i = 0
        self.entities: list[_Entity] = []
        self.context: list[str] = []
        self.motion: list[str] = []
        self.pose: list[str] = []
        self.last_verb_kind = ""  # kind of the latest verb: direction phrases follow a motion verb
        self.last_pose_verb = -1  # index in self.pose of a pose verb that a following "at X" extends

    # -- token classes ---------------------------------------------------------------------
    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.t[j] if j < len(self.t) else ""

    def verb_kind(self, tok: str, *, np_has_words: bool) -> tuple[str, str] | None:
        """``(gerund, "motion"|"pose")`` when ``tok`` reads as a verb here, else None."""
        if tok in lx.VERB_FORMS:
            ger, kind = lx.VERB_FORMS[tok]
            # Before any noun, a base / -s / -ed form is a noun or adjective ("the skateboard").
            return (ger, kind) if tok == ger or np_has_words else None
        if tok.endswith("ing") and len(tok) > 4 and tok not in lx.ING_NOUNS:
            return tok, "motion"  # unknown -ing verbs: MeViS sentences are mostly about motion
        return None

    def sequence_after(self, verb: bool = True) -> bool:
        """The word after the current one goes on with a sequence of actions ("then", "and then",
        or, with ``verb``, a verb), so the current "first" orders actions, not objects ("appears
        first")."""
        nxt = self.peek(1)
        return nxt == "then" or (nxt in ("and", ",") and self.peek(2) == "then") or (
            verb and self.verb_kind(nxt, np_has_words=True) is not None)

    def is_preposition(self, k: int = 0) -> bool:
        tok = self.peek(k)
        if any(_starts_with(self.t, self.i + k, p) for p in lx.MULTI_PREPOSITIONS):
            return True
        return tok in lx.LOCATION_PREPOSITIONS or tok in lx.DIRECTION_PREPOSITIONS or tok in ("with", "without", "of")

    def np_boundary(self, k: int, has_words: bool) -> bool:
        tok = self.peek(k)
        if not tok or tok in _PUNCT or tok in lx.RELATIVE_PRONOUNS or tok in lx.AUXILIARIES:
            return True
        if tok in lx.CONJUNCTIONS or tok in lx.NEGATIONS or self.is_preposition(k):
            return True
        # "the car parked on the side", "the cat asleep": a posture after the noun ends its phrase.
        if has_words and (tok in lx.MOTION_ADVERBS or tok in lx.POSITION_WORDS or tok in lx.ONE_WORDS
                          or tok in lx.POSE_ADJECTIVES):
            return True
        return self.verb_kind(tok, np_has_words=has_words) is not None

    # -- noun phrases ----------------------------------------------------------------------
    def subject(self) -> _Entity:
        ent = _Entity()
        picked = False  # a position or size word came first: "the leftmost of the three birds"
        while self.i < len(self.t):
            tok, nxt = self.peek(), self.peek(1)
            if not ent.words and tok in lx.DETERMINERS:
                self.i += 1
            elif not ent.words and tok in lx.ONE_WORDS and nxt != "of" and self.np_boundary(1, False):
                ent.count = ent.count or (1 if tok == "one" else "all")  # "the one(s) ...": no noun follows
                self.i += 1
                break
            elif not ent.words and (tok in lx.NUMBERS or (tok.isascii() and tok.isdigit())):
                n = lx.NUMBERS.get(tok) or (int(tok) if len(tok) <= 4 else MAX_CARDINALITY)
                # "one of the two dogs": the count said first is the one referred to
                ent.count = ent.count or min(max(n, 1), MAX_CARDINALITY)
                self.i += 2 if nxt == "of" else 1
            elif not ent.words and tok in lx.QUANTITY_HEADS:
                ent.count = "all"
                self.i += 2 if nxt == "of" else 1
            elif not ent.words and tok in lx.PRONOUN_HEADS:
                ent.words.append(tok)
                self.i += 1
                break
            elif not ent.words and (tok in lx.POSITION_WORDS or tok in lx.SIZE_COMPARISONS) and nxt:
                self.context.append(tok)
                picked = True
                self.i += 1
            elif not ent.words and tok in lx.SPEED_ADJECTIVES and nxt == "of":
                self.motion.append(tok)  # "the slower of the two cars"
                picked = True
                self.i += 1
            elif not ent.words and tok in ("most", "least") and nxt == "active":
                self.motion.append(f"{tok} active")  # "the most active monkey": the one moving most
                self.i += 2
            elif not ent.words and picked and tok == "of" and nxt:
                # "the smaller of the two dogs": the noun comes after "of", and one of them is meant
                ent.count = ent.count or 1
                self.i += 1
            elif not ent.words and tok in lx.SPEED_ADJECTIVES and not self.np_boundary(1, False):
                self.motion.append(tok)
                self.i += 1
            elif not ent.words and tok in lx.POSE_ADJECTIVES and not self.np_boundary(1, False):
                self.pose.append(tok)
                self.i += 1
            elif not ent.words and self.verb_kind(tok, np_has_words=False) and not self.np_boundary(1, False):
                ger, kind = self.verb_kind(tok, np_has_words=False) or ("", "")
                (self.motion if kind == "motion" else self.pose).append(ger)  # "the running dog"
                self.i += 1
            elif tok == "and" and ent.words and is_colour_word(ent.words[-1]) and is_colour_word(nxt):
                ent.words.append(tok)  # "a brown and white cow": one object of two colours
                self.i += 1
            elif self.np_boundary(0, bool(ent.words)):
                break
            else:
                ent.words.append(tok)
                self.i += 1
        self.entities.append(ent)
        return ent

    def noun_phrase_words(self, allow_and: bool = False) -> list[str]:
        """Words of an object noun phrase as spoken (determiners kept), up to the next boundary."""
        words: list[str] = []
        while self.i < len(self.t):
            tok = self.peek()
            if tok == "of" and words:
                words.append(tok)
                self.i += 1
                continue
            if tok == "and" and allow_and and words:
                allow_and = False
                words.append(tok)
                self.i += 1
                continue
            content = [w for w in words if w not in lx.DETERMINERS]
            if content and tok in lx.DETERMINERS and words[-1] not in ("of", "as", "and"):
                break
            if tok == "first" and words and self.sequence_after(verb=False):
                break  # "walks to the left first and then turns": the order of actions, not a place
            if (tok, self.peek(1)) in (("each", "other"), ("one", "another")):
                words += [tok, self.peek(1)]
                self.i += 2
                continue
            if tok == "as" and "same" in words:  # "in the same direction as the bus"
                words.append(tok)
                self.i += 1
                continue
            # Position words are the noun itself in "to the left", "on the far right side".
            position_noun = (
                tok in lx.POSITION_WORDS
                and bool(words)
                and all(w not in content or w in lx.POSITION_WORDS for w in words)
            )
            # Right after an article a verb form is a noun or modifier: "the beginning", "the parking spot".
            modifier = bool(words) and words[-1] in ("a", "an", "the") and self.verb_kind(tok, np_has_words=True)
            if tok not in lx.DETERMINERS and not position_noun and not modifier and self.np_boundary(0, bool(content)):
                break
            words.append(tok)
            self.i += 1
        return words

    # -- attachments -----------------------------------------------------------------------
    def add(self, kind: str, phrase: str) -> None:
        target = {"motion": self.motion, "pose": self.pose, "context": self.context}[kind]
        target.append(phrase[:MAX_PHRASE_CHARS].strip())

    def preposition_phrase(self) -> None:
        prep_words = next((list(p) for p in lx.MULTI_PREPOSITIONS if _starts_with(self.t, self.i, p)), None)
        prep_words = prep_words or [self.peek()]
        prep = " ".join(prep_words)
        if prep == "to" and self.verb_kind(self.peek(1), np_has_words=True):
            self.i += 1  # infinitive: "the first bird to fly away"
            return
        self.i += len(prep_words)
        verb = self.verb_kind(self.peek(), np_has_words=True)
        if verb and prep in ("without", "after", "before", "while"):  # "without moving"
            self.i += 1
            self.last_pose_verb = -1
            self.add(verb[1], f"{prep} {verb[0]}")
            return
        words = self.noun_phrase_words(allow_and=prep in ("between", "in between"))
        if prep in ("with", "without"):
            words += self.attachment_conjuncts()
        if prep == "from" and self.peek() == "to":  # "from left to right"
            self.i += 1
            words += ["to", *self.noun_phrase_words()]
        phrase = " ".join([prep, *words])
        content = set(words)
        if prep in _RELATION_PREPS:
            kind = "context"
        elif (prep in ("at", "in") and content & lx.TEMPORAL_WORDS) or (prep == "in" and content & lx.MANNER_WORDS):
            kind = "motion"  # "at the end", "in circles": when and how it moves
        elif prep in ("with", "without") or (prep == "in" and content & lx.APPEARANCE_WORDS):
            kind = "pose"
        elif self.last_pose_verb >= 0 and prep in ("at", "to", "towards", "toward"):
            self.pose[self.last_pose_verb] += " " + phrase  # "looking at the camera"
            self.last_pose_verb = -1
            return
        elif (prep in lx.DIRECTION_PREPOSITIONS or prep == "out of") and self.last_verb_kind == "motion":
            kind = "motion"  # a direction only displaces with a motion verb ("hanging from" is a place)
        else:
            kind = "context"
        self.last_pose_verb = -1
        self.add(kind, phrase)

    def verb_phrase(self, negated: bool) -> None:
        tok = self.peek()
        prefix = "not " if negated else ""
        nxt_is_verb = self.verb_kind(self.peek(1), np_has_words=True) or (
            self.peek(1) == "to" and self.verb_kind(self.peek(2), np_has_words=True)
        )
        if tok in _CONTINUATIVE and nxt_is_verb:
            self.i += 2 if self.peek(1) == "to" else 1  # "keeps running" = "running"
            return
        if tok in _ASPECT and nxt_is_verb:
            self.add("motion", prefix + _ASPECT[tok])  # "starts running" -> starting, running
            self.i += 2 if self.peek(1) == "to" else 1
            return
        ger, kind = self.verb_kind(tok, np_has_words=True) or (tok, "motion")
        words = [prefix + ger]
        self.i += 1
        starts_prep = any(_starts_with(self.t, self.i, p) for p in lx.MULTI_PREPOSITIONS)
        if self.peek() in lx.PARTICLES and self.np_boundary(1, True) and not self.fixed_motion() and not starts_prep:
            words.append(self.peek())
            self.i += 1
        nxt = self.peek()
        modifier = nxt in lx.MOTION_ADVERBS or nxt in lx.SPEED_ADJECTIVES or nxt in lx.POSITION_WORDS
        modifier = modifier or nxt in lx.INTENSIFIERS or nxt in lx.PARTICLES or self.fixed_motion() is not None
        starts_np = nxt in lx.DETERMINERS or not self.np_boundary(0, False)
        if nxt and not modifier and nxt not in lx.ONE_WORDS and starts_np:
            words += self.noun_phrase_words()  # the object: "chasing the ball", "holding a cup"
            if kind == "pose":
                words += self.attachment_conjuncts()  # "holding a cup and a phone"
        self.add(kind, " ".join(words))
        self.last_verb_kind = kind
        self.last_pose_verb = len(self.pose) - 1 if kind == "pose" else -1

    def attachment_conjuncts(self) -> list[str]:
        """The words of "and ..." conjuncts that go on with the thing just had or held ("a
        paraglider with a backpack and a helmet", "wearing a hat and sunglasses"): a conjunct that
        names a person, an animal or a vehicle is a referent of its own ("the man with a hat and the
        dog") and is left for ``conjunction``; so is one that is not a noun phrase ("and runs")."""
        out: list[str] = []
        while self.peek() == "and":
            nxt = self.peek(1)
            if not nxt or self.verb_kind(nxt, np_has_words=True) or (
                    nxt not in lx.DETERMINERS and self.np_boundary(1, False)):
                break
            start = self.i
            self.i += 1
            words = self.noun_phrase_words()
            content = [w for w in words if w not in lx.DETERMINERS]
            if not content or content[-1] in PERSON_WORDS or classes_for(" ".join(content)).groups:
                self.i = start
                break
            out += ["and", *words]
        return out

    def fixed_motion(self) -> tuple[str, ...] | None:
        return next((p for p in _FIXED_MOTION if _starts_with(self.t, self.i, p)), None)

    def conjunction(self) -> None:
        self.i += 1
        while self.peek() in lx.CONJUNCTIONS:
            self.i += 1
        j = 0
        while self.peek(j) in lx.AUXILIARIES or self.peek(j) in lx.RELATIVE_PRONOUNS:
            j += 1
        tok = self.peek(j)
        if not tok or self.verb_kind(tok, np_has_words=True) or self.is_preposition(j) or tok in lx.MOTION_ADVERBS:
            return
        if tok in lx.SPEED_ADJECTIVES or tok in lx.POSE_ADJECTIVES or tok in lx.NEGATIONS:
            return
        self.subject()  # "the dog and the cat"

    def run(self) -> None:
        self.subject()
        negated = False
        while self.i < len(self.t):
            tok = self.peek()
            fixed = self.fixed_motion()
            if fixed:
                self.add("motion", " ".join(fixed))
                self.i += len(fixed)
            elif tok in _PUNCT or tok in lx.RELATIVE_PRONOUNS or tok in lx.ONE_WORDS:
                self.i += 1
            elif tok in lx.DETERMINERS and self.peek(1) in lx.ONE_WORDS:
                self.i += 2  # apposition: "the guy on the bike, the one going fast"
            elif tok in lx.DETERMINERS and (self.peek(1) in lx.POSITION_WORDS or self.peek(1) in lx.SIZE_COMPARISONS):
                self.i += 1  # predicate "is the first", "is the biggest"
            elif tok in lx.INTENSIFIERS and (self.peek(1) in lx.MOTION_ADVERBS or self.peek(1) in lx.SPEED_ADJECTIVES):
                self.add("motion", ("not " if negated else "") + f"{tok} {self.peek(1)}")  # "very slowly"
                negated = False
                self.i += 2
            elif tok in lx.NEGATIONS:
                negated = True
                self.i += 1
                if self.peek() == "longer":
                    self.i += 1
            elif tok in lx.AUXILIARIES:
                self.i += 1
            elif tok in lx.CONJUNCTIONS:
                self.conjunction()
            elif self.is_preposition():
                self.preposition_phrase()
            elif self.verb_kind(tok, np_has_words=True):
                self.verb_phrase(negated)
                negated = False
            elif tok in lx.SPEED_ADJECTIVES or tok in lx.MOTION_ADVERBS:
                self.add("motion", ("not " if negated else "") + tok)
                negated = False
                self.i += 1
            elif tok == "first" and self.sequence_after():
                self.i += 1  # "walks left first and then turns", "first runs, then stops": an order of actions
            elif tok in lx.POSITION_WORDS or tok in lx.SIZE_COMPARISONS:
                self.add("context", tok)
                self.i += 1
            else:
                # A predicate adjective or an unknown word after the subject: appearance ("that is
                # white"); kept, never dropped silently.
                words = [tok]
                self.i += 1
                while self.i < len(self.t) and not self.np_boundary(0, True):
                    words.append(self.peek())
                    self.i += 1
                self.add("pose", ("not " if negated else "") + " ".join(words))
                negated = False


class RuleParser:
    """Deterministic English rule parser (the embedded default of ``parser.backend``)."""

    def __init__(self, max_command_chars: int = 2000) -> None:
        self.max_command_chars = max_command_chars

    @classmethod
    def from_config(cls, config: Config) -> RuleParser:
        return cls(max_command_chars=config.parser.max_command_chars)

    def parse(self, text: str) -> ParsedCommand:
        """Parse ``text``; raises ``CommandParseError`` when it is empty, too long, not valid
        text, or holds no word at all."""
        cleaned = clean_text(text, self.max_command_chars)
        tokens = strip_speech(tokenize(cleaned))
        if not any(t not in _PUNCT for t in tokens):
            raise CommandParseError(f"command has no words to parse: {str(text)[:60]!r}")
        reader = _Reader(tokens)
        reader.run()
        candidates: list[str] = []
        counts: list[Cardinality] = []
        for ent in reader.entities:
            phrase, count = ent.phrase()
            if phrase is not None and phrase[:MAX_PHRASE_CHARS] not in candidates:
                candidates.append(phrase[:MAX_PHRASE_CHARS].strip())
                counts.append(count)
        if not candidates:  # "the one moving left": nothing names the object, ground anything
            candidates = ["object"]
            counts = [reader.entities[0].phrase()[1] if reader.entities else 1]
        cardinality: Cardinality = "all" if "all" in counts else min(sum(int(c) for c in counts), MAX_CARDINALITY)
        obj = {
            "candidates": candidates[:MAX_ITEMS],
            "context": _dedupe(reader.context),
            "motion": _dedupe(reader.motion),
            "pose": _dedupe(reader.pose),
            "cardinality": cardinality,
        }
        return validate_parsed(obj, text=str(text), source="rule")


def _dedupe(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out[:MAX_ITEMS]
