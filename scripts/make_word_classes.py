#!/usr/bin/env python3
"""Generate ``src/parse_vos_ros/data/word_classes.json`` (nouns -> COCO and ImageNet classes) from WordNet 3.0.

Usage (development machine only; the product reads the generated table, never WordNet):

    apt-get install wordnet        # Debian: WordNet 3.0 dictionary files in /usr/share/wordnet
    python scripts/make_word_classes.py [--wordnet /usr/share/wordnet] [--out PATH]

What the table says for every noun lemma of WordNet whose common meaning is a physical thing (the
only nouns it holds, so a noun missing from it is abstract or unknown; see ``docs/models.md``):
- the COCO classes (YOLOX-Nano output indices) related to the noun: a COCO class whose synset is
  the noun's synset, one of its hypernyms ("swan" -> bird, "cyclist" -> person) or one of its
  hyponyms ("animal" -> every COCO animal, "vehicle" -> car, bus, truck, ...);
- whether the noun is strictly narrower than its COCO class (then the crop classifier can tell it
  apart from the rest of the class: a swan among birds);
- the ImageNet-1k classes (indices into ``coral/imagenet_labels.txt``, 1..1000) inside the noun's
  WordNet subtree: ImageNet classes *are* WordNet 3.0 synsets, and the 1000 classes are sorted by
  synset offset (their wnid), which disambiguates labels whose words have several senses;
- the broad group (animal / vehicle / person) whose COCO boxes a noun outside COCO is looked for in;
- the broad groups of the noun's ImageNet classes that lie under no COCO class, for a noun that
  also has COCO classes ("scooter": a water scooter is a boat, a motor scooter is no COCO class:
  YOLOX boxes one as some vehicle, and the crop classifier tells which);
- for an animal or vehicle with no ImageNet class of its own, those of its kin ("deer": the
  ruminants ImageNet has; "cow": the ox), which the crop classifier's answers for it fall on.

Senses: a lemma's senses that occur in WordNet's sense-tagged corpus (``tagsense_cnt`` in
``index.noun``; at least the first), i.e. its common senses, not rare ones ("kid" is a child,
not kidskin). Plurals: irregular ones from ``noun.exc`` are in the table; regular ones are
stripped at lookup (``grounding/word_classes.py``).

Licence: WordNet 3.0 (Princeton University) allows use, copying and redistribution with its
copyright notice, which ``docs/models.md`` reproduces.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from parse_vos_ros.grounding.crop_classifier import LABELS_FILE, load_labels  # noqa: E402
from parse_vos_ros.grounding.yolox import COCO_CLASSES  # noqa: E402
from parse_vos_ros.models import vendored_path  # noqa: E402

DEFAULT_WORDNET = Path("/usr/share/wordnet")
DEFAULT_OUT = REPO / "src" / "parse_vos_ros" / "data" / "word_classes.json"
IMAGENET_LABELS = vendored_path(LABELS_FILE)

# Lexicographer files (``lex_filenum`` in data.noun) used to pick a COCO class's sense.
LEX = {"Tops": 3, "animal": 5, "artifact": 6, "communication": 10, "food": 13, "person": 18, "plant": 20}

# Each COCO class as (WordNet lemma, lexicographer file, n-th sense of the lemma in that file, from 0).
# This is the definition of what a COCO class is in WordNet terms, not a list tuned to any data.
COCO_SENSES: dict[str, tuple[str, str, int]] = {
    "person": ("person", "Tops", 0), "bicycle": ("bicycle", "artifact", 0), "car": ("car", "artifact", 0),
    "motorcycle": ("motorcycle", "artifact", 0), "airplane": ("airplane", "artifact", 0),
    "bus": ("bus", "artifact", 0), "train": ("train", "artifact", 0), "truck": ("truck", "artifact", 0),
    "boat": ("boat", "artifact", 0), "traffic light": ("traffic_light", "communication", 0),
    "fire hydrant": ("fireplug", "artifact", 0), "stop sign": ("street_sign", "communication", 0),
    "parking meter": ("parking_meter", "artifact", 0), "bench": ("bench", "artifact", 0),
    "bird": ("bird", "animal", 0), "cat": ("cat", "animal", 0), "dog": ("dog", "animal", 0),
    "horse": ("horse", "animal", 0), "sheep": ("sheep", "animal", 0), "cow": ("cattle", "animal", 0),
    "elephant": ("elephant", "animal", 0), "bear": ("bear", "animal", 0), "zebra": ("zebra", "animal", 0),
    "giraffe": ("giraffe", "animal", 0), "backpack": ("backpack", "artifact", 0),
    "umbrella": ("umbrella", "artifact", 0), "handbag": ("handbag", "artifact", 0),
    "tie": ("necktie", "artifact", 0), "suitcase": ("suitcase", "artifact", 0),
    "frisbee": ("frisbee", "artifact", 0), "skis": ("ski", "artifact", 0),
    "snowboard": ("snowboard", "artifact", 0), "sports ball": ("ball", "artifact", 0),
    "kite": ("kite", "artifact", 0), "baseball bat": ("baseball_bat", "artifact", 0),
    "baseball glove": ("baseball_glove", "artifact", 0), "skateboard": ("skateboard", "artifact", 0),
    "surfboard": ("surfboard", "artifact", 0), "tennis racket": ("tennis_racket", "artifact", 0),
    "bottle": ("bottle", "artifact", 0), "wine glass": ("wineglass", "artifact", 0),
    "cup": ("cup", "artifact", 0), "fork": ("fork", "artifact", 0), "knife": ("knife", "artifact", 0),
    "spoon": ("spoon", "artifact", 0), "bowl": ("bowl", "artifact", 0), "banana": ("banana", "food", 0),
    "apple": ("apple", "food", 0), "sandwich": ("sandwich", "food", 0), "orange": ("orange", "food", 0),
    "broccoli": ("broccoli", "food", 0), "carrot": ("carrot", "food", 0), "hot dog": ("hotdog", "food", 0),
    "pizza": ("pizza", "food", 0), "donut": ("doughnut", "food", 0), "cake": ("cake", "food", 1),
    "chair": ("chair", "artifact", 0), "couch": ("sofa", "artifact", 0),
    "potted plant": ("pot_plant", "plant", 0), "bed": ("bed", "artifact", 0),
    "dining table": ("dining_table", "artifact", 0), "toilet": ("toilet", "artifact", 1),
    "tv": ("television_receiver", "artifact", 0), "laptop": ("laptop", "artifact", 0),
    "mouse": ("mouse", "artifact", 0), "remote": ("remote_control", "artifact", 0),
    "keyboard": ("computer_keyboard", "artifact", 0), "cell phone": ("cellular_telephone", "artifact", 0),
    "microwave": ("microwave", "artifact", 0), "oven": ("oven", "artifact", 0),
    "toaster": ("toaster", "artifact", 0), "sink": ("sink", "artifact", 0),
    "refrigerator": ("electric_refrigerator", "artifact", 0), "book": ("book", "artifact", 0),
    "clock": ("clock", "artifact", 0), "vase": ("vase", "artifact", 0), "scissors": ("scissors", "artifact", 0),
    "teddy bear": ("teddy", "artifact", 0), "hair drier": ("hand_blower", "artifact", 0),
    "toothbrush": ("toothbrush", "artifact", 0),
}  # fmt: skip

# The broad groups whose COCO boxes a noun outside COCO is searched in (see LearnedDetector).
GROUPS = {"animal": ("animal", "Tops", 0), "vehicle": ("conveyance", "artifact", 0), "person": ("person", "Tops", 0)}
PHYSICAL = ("physical_entity", "Tops", 0)
AGENT_ENDINGS = ("er", "or", "ist")  # English agent nouns: one who climbs, rides, cycles
# An animal or vehicle with no ImageNet class of its own looks like its kin: the ImageNet classes
# under its nearest hypernym that has some, at most this many levels up, and only when they are
# at most KIN_MAX_CLASSES (further up they are no kin: a calf's is every animal).
KIN_LEVELS, KIN_MAX_CLASSES = 2, 20

# Where WordNet's senses are known to miss the everyday visual meaning of a word, the lemma is
# read as another lemma. Documented in docs/models.md; keep it short.
# A word read as one synset (lemma, lexicographer file, n-th sense in it).
EXCEPTIONS = {
    "vehicle": ("conveyance", "artifact", 0),  # WordNet files bus and train under public transport, not vehicle
    "people": ("person", "Tops", 0),  # WordNet: people.n.01 is a group (an abstraction), not persons
    "folk": ("person", "Tops", 0),  # likewise a social group
    "kart": ("go-kart", "artifact", 0),  # the short form is not in WordNet 3.0
    "biker": ("motorcyclist", "person", 0),  # not in WordNet 3.0
    # The young of an animal: WordNet files them under "young mammal", not under their kind.
    "kitten": ("cat", "animal", 0),
    "calf": ("cattle", "animal", 0),
    "foal": ("horse", "animal", 0),
    "colt": ("horse", "animal", 0),
    "filly": ("horse", "animal", 0),
    "lamb": ("sheep", "animal", 0),
    "pup": ("dog", "animal", 0),
    "piglet": ("pig", "animal", 0),
    "cub": ("cub", "animal", 0),  # the young carnivore (first: a novice, then a boy)
    # Everyday things a robot's camera sees, where WordNet's first sense is a figure of speech
    # or a person and no sense is counted more often.
    "whale": ("whale", "animal", 0),  # first: a very large person
    "ostrich": ("ostrich", "animal", 0),  # first: one who refuses to face reality
    "seal": ("seal", "animal", 0),  # first: the stamp
    "stroller": ("baby_buggy", "artifact", 0),  # first: one who strolls
    "excavator": ("power_shovel", "artifact", 0),  # first: a workman who excavates
    "drone": ("drone", "artifact", 0),  # the pilotless aircraft (first: the male bee)
    "monitor": ("television_receiver", "artifact", 0),  # the screen, COCO's "tv" (first: a lizard)
    "cab": ("taxi", "artifact", 0),  # the taxi (first: the driver's compartment)
    "mug": ("mug", "artifact", 0),  # the drinking vessel (a face too, so not a physical word)
    "kayaker": ("canoeist", "person", 0),  # not in WordNet 3.0
}

class WordNet:
    """The noun part of a WordNet 3.0 dictionary: synsets, their hypernyms and lemma senses."""

    def __init__(self, root: Path) -> None:
        self.lex: dict[int, int] = {}  # offset -> lexicographer file number
        self.hypernyms: dict[int, list[int]] = {}  # offset -> hypernym offsets (incl. instance)
        self.words: dict[int, list[str]] = {}
        self.instances: set[int] = set()  # offsets of instances: people, places and things by name
        with open(root / "data.noun", encoding="latin-1") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue  # licence header
                fields = line.split(" | ")[0].split()
                offset, lex = int(fields[0]), int(fields[1])
                n_words = int(fields[3], 16)
                words = [fields[4 + 2 * k].lower() for k in range(n_words)]
                k = 4 + 2 * n_words
                n_ptr = int(fields[k])
                kinds = [fields[k + 1 + 4 * p] for p in range(n_ptr)]
                hyper = [int(fields[k + 2 + 4 * p]) for p in range(n_ptr) if kinds[p] in ("@", "@i")]
                self.lex[offset], self.hypernyms[offset], self.words[offset] = lex, hyper, words
                if "@i" in kinds and "@" not in kinds:
                    self.instances.add(offset)  # a named individual ("Buddy Holly"), not a kind
        self.senses: dict[str, list[int]] = {}  # lemma -> offsets, most frequent first
        self.tagged: dict[str, int] = {}  # lemma -> senses seen in the tagged corpus
        with open(root / "index.noun", encoding="latin-1") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue
                f = line.split()
                n_ptr = int(f[3])
                n_senses, tagged = int(f[4 + n_ptr]), int(f[5 + n_ptr])
                self.senses[f[0]] = [int(x) for x in f[6 + n_ptr : 6 + n_ptr + n_senses]]
                self.tagged[f[0]] = tagged
        self.plurals: dict[str, str] = {}
        with open(root / "noun.exc", encoding="latin-1") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2:
                    self.plurals.setdefault(parts[0], parts[1])
        self._ancestors: dict[int, frozenset[int]] = {}

    def sense(self, lemma: str, lexfile: str, n: int) -> int:
        """The ``n``-th sense of ``lemma`` in lexicographer file ``lexfile``."""
        found = [o for o in self.senses[lemma] if self.lex[o] == LEX[lexfile]]
        return found[n]

    def kinds(self, lemma: str) -> list[int]:
        """The senses of ``lemma`` that are kinds of things, not named individuals: "the crane" is
        never Stephen Crane, WordNet's first sense of it."""
        return [o for o in self.senses[lemma] if o not in self.instances]

    def common_senses(self, lemma: str) -> list[int]:
        """The ``kinds`` of ``lemma`` seen in the tagged corpus (at least the first)."""
        kinds = self.kinds(lemma)
        counted = self.senses[lemma][: max(1, self.tagged[lemma])]
        return [o for o in counted if o in kinds] or kinds[:1]

    def visual_senses(self, lemma: str, groups: Iterable[int]) -> list[int]:
        """``common_senses`` plus the rarer senses in a broad group (animal, vehicle, person) that a
        common sense is in too: the corpus counts "bike" as a motorcycle first, yet a bicycle is
        one as well; "dog" as a person (slang) or "mouse" as a device stay out."""
        common = self.common_senses(lemma)
        shared = {g for g in groups for o in common if g in self.ancestors(o)}
        rare = [o for o in self.kinds(lemma) if o not in common and shared & self.ancestors(o)]
        return common + rare

    def ancestors(self, offset: int) -> frozenset[int]:
        """``offset`` and every synset above it (all hypernym paths)."""
        got = self._ancestors.get(offset)
        if got is None:
            out = {offset}
            for h in self.hypernyms[offset]:
                out |= self.ancestors(h)
            got = self._ancestors[offset] = frozenset(out)
        return got


def imagenet_synsets(wn: WordNet, labels: list[str]) -> list[int | None]:
    """The synset offset of each ImageNet label (``labels[0]`` is the background, None).

    A label's words ("great white shark, white shark, man-eater, ...") are looked up as lemmas;
    the synsets shared by most of its words are its candidates. The 1000 classes are sorted by
    offset, so among candidates the chain that keeps the offsets increasing is chosen (a longest
    increasing subsequence over all candidates), which picks "crane" the bird at index 134 and
    "crane" the machine at index 517.
    """
    candidates: list[list[int]] = [[]]
    for label in labels[1:]:
        counts: dict[int, int] = {}
        for word in label.split(","):
            lemma = word.strip().lower().replace(" ", "_")
            for offset in wn.senses.get(lemma, []):
                counts[offset] = counts.get(offset, 0) + 1
        best = max(counts.values(), default=0)
        candidates.append(sorted(o for o, c in counts.items() if c == best))
    # Longest increasing chain choosing at most one candidate per label (O(N * K^2), N=1000).
    items = [(i, o) for i, cands in enumerate(candidates) for o in cands]
    length = {k: 1 for k in range(len(items))}
    parent: dict[int, int | None] = {k: None for k in range(len(items))}
    for k, (i, o) in enumerate(items):
        for j in range(k - 1, -1, -1):
            pi, po = items[j]
            if pi < i and po < o and length[j] + 1 > length[k]:
                length[k], parent[k] = length[j] + 1, j
    end = max(length, key=lambda k: length[k]) if items else None
    chosen: list[int | None] = [None] * len(labels)
    while end is not None:
        i, o = items[end]
        chosen[i] = o
        end = parent[end]
    for i, cands in enumerate(candidates):
        if chosen[i] is None and len(cands) == 1:
            chosen[i] = cands[0]  # off the chain but unambiguous
    return chosen


# What ``build`` says of a noun: COCO classes, ImageNet classes, narrower, groups, groups beyond COCO.
Described = tuple[list[int], list[int], bool, list[str], list[str], list[int]]


def ranges(values: Iterable[int]) -> list[list[int]]:
    """Sorted integers as ``[first, last]`` runs (ImageNet subtrees are mostly contiguous)."""
    out: list[list[int]] = []
    for v in sorted(set(values)):
        if out and v == out[-1][1] + 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return out


def _nothing(got: Described | None) -> bool:
    """``describe`` found nothing to look for: no physical sense, or one without COCO or ImageNet
    classes or a broad group."""
    return got is None or (not any(got[:2]) and not got[3])


def build(wn: WordNet) -> dict[str, object]:
    coco = {name: wn.sense(*spec) for name, spec in COCO_SENSES.items()}
    coco_index = {coco[name]: COCO_CLASSES.index(name) for name in COCO_SENSES}
    groups = {name: wn.sense(*spec) for name, spec in GROUPS.items()}
    physical = wn.sense(*PHYSICAL)
    animal, person, hominid = groups["animal"], groups["person"], wn.sense("hominid", "animal", 0)
    labels = load_labels(IMAGENET_LABELS)
    inet = imagenet_synsets(wn, labels)
    inet_anc = [(i, wn.ancestors(o)) for i, o in enumerate(inet) if o is not None]
    coco_anc = {o: wn.ancestors(o) for o in coco_index}

    outside = {i: sorted(g for g, go in groups.items() if go in ia)
               for i, ia in inet_anc if not any(c in ia for c in coco_index)}

    def describe(offsets: list[int], common: list[int]) -> Described | None:
        """COCO classes, ImageNet classes, whether narrower than a COCO class, groups, and the groups
        of its ImageNet classes under no COCO class when it has COCO classes, of the senses
        ``offsets``; None when none is a physical thing. A sense at or below a COCO class counts as
        physical even where WordNet files it under communication (traffic light, street sign are
        "signals")."""
        kept = [o for o in offsets if physical in wn.ancestors(o) or any(c in wn.ancestors(o) for c in coco_index)]
        if not kept or kept[0] not in common:
            return None  # the noun's common meaning is abstract ("instruction", "sign")
        if any(animal in wn.ancestors(o) and hominid not in wn.ancestors(o) for o in kept):
            # A noun naming an animal names the animal in a scene; its person senses are figures of
            # speech ("a tiger" of a fierce person, "a cow" of a woman). "man" keeps its person
            # sense: its animal sense is the hominid.
            kept = [o for o in kept if animal in wn.ancestors(o) or person not in wn.ancestors(o)]
        classes: set[int] = set()
        narrower = False
        for o in kept:
            a = wn.ancestors(o)
            for c, idx in coco_index.items():
                if c in a:  # the COCO class is the noun or above it
                    classes.add(idx)
                    narrower |= c != o
                elif o in coco_anc[c]:  # the noun is above the COCO class
                    classes.add(idx)
        imagenet = {i for i, ia in inet_anc if any(o in ia for o in kept)}
        group = sorted({g for g, go in groups.items() for o in kept if go in wn.ancestors(o)})
        beyond = sorted({g for i in imagenet for g in outside.get(i, ())}) if classes else []
        seen_as = set(group) & {"animal", "vehicle"}
        kin = kin_of(kept) if not imagenet and seen_as and "person" not in group else []
        return sorted(classes), sorted(imagenet), narrower, group, beyond, kin

    def kin_of(kept: list[int]) -> list[int]:
        """The ImageNet classes of each sense's kin (``KIN_LEVELS``, ``KIN_MAX_CLASSES``): a deer
        looks like the ruminants ImageNet has (ox, ibex, impala, ...), a cow like an ox."""
        out: set[int] = set()
        for sense in kept:
            level = [sense]
            for _ in range(KIN_LEVELS):
                level = [h for o in level for h in wn.hypernyms[o]]
                found = {i for i, ia in inet_anc if any(h in ia for h in level)}
                if found:
                    out |= found if len(found) <= KIN_MAX_CLASSES else set()
                    break
        return sorted(out)

    entries: list[list[object]] = []
    entry_ids: dict[str, int] = {}
    lemmas: dict[str, int] = {}

    def entry_of(described: Described) -> int:
        """The index of the (deduplicated) table entry for ``describe``'s answer."""
        classes, imagenet, narrower, group, beyond, kin = described
        row = [classes, ranges(imagenet), narrower, "+".join(group), "+".join(beyond), ranges(kin)]
        key = json.dumps(row)
        if key not in entry_ids:
            entry_ids[key] = len(entries)
            entries.append(row)
        return entry_ids[key]
    seen = (groups["animal"], groups["vehicle"])
    things = [c for c in coco_index if c != coco["person"]]
    for lemma in sorted(wn.senses):
        got = describe(wn.visual_senses(lemma, groups.values()), wn.common_senses(lemma))
        if not wn.tagged[lemma] and _nothing(got):
            # No sense of it was ever counted, so WordNet's order says nothing of which is common,
            # and the first tells nothing to look for ("van" the vanguard, "turtle" the sweater):
            # its animals, vehicles and things of COCO classes are what a camera would see ("kite");
            # its people only for an agent noun ("climber", first the vine): the people of other
            # words are mostly proper names ("holly", "basil") or figures of speech ("a peach").
            looked = (*seen, *things, *((groups["person"],) if lemma.endswith(AGENT_ENDINGS) else ()))
            visible = [o for o in wn.kinds(lemma) if any(g in wn.ancestors(o) for g in looked)]
            got = describe(visible, visible) if visible else got
        if got is None and wn.senses[lemma][0] in wn.instances:
            # Foremost a name, and its kinds are no physical things ("mozart", "homer"): said to a
            # robot, a name is a person's (a place's: nothing to look for). A name that is also a
            # visible kind is the kind ("crane", "heron"); a word that is foremost a kind stays
            # one ("black" the colour, not Joseph Black).
            foremost = wn.senses[lemma][:1]
            got = describe(foremost, foremost)
        if got is None:
            continue
        lemmas[lemma.replace("_", " ")] = entry_of(got)
    for word, spec in EXCEPTIONS.items():
        offset = wn.sense(*spec)
        got = describe([offset], [offset])
        if got is not None:
            lemmas[word] = entry_of(got)
    plurals = {p.replace("_", " "): s.replace("_", " ") for p, s in wn.plurals.items()
               if s.replace("_", " ") in lemmas and p.replace("_", " ") not in lemmas}
    mapped = sum(o is not None for o in inet[1:])
    return {
        "about": "Generated by scripts/make_word_classes.py from WordNet 3.0 (Princeton University; licence in "
        "docs/models.md). lemmas: noun -> entry index; entries: [COCO class indices, ImageNet index runs "
        "[first, last] into imagenet_labels.txt, narrower than its COCO class, broad groups, broad groups of its "
        "ImageNet classes under no COCO class (nouns with COCO classes only), ImageNet index runs of its kin "
        "(an animal or vehicle with no ImageNet class of its own)]; physical nouns only; "
        "plurals: irregular plural -> lemma.",
        "coco_classes": list(COCO_CLASSES),
        "imagenet_mapped": mapped,
        "entries": entries,
        "lemmas": lemmas,
        "plurals": plurals,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET, help="WordNet 3.0 dict directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.wordnet / "data.noun").is_file():
        print(f"no WordNet at {args.wordnet} (apt-get install wordnet)", file=sys.stderr)
        return 1
    table = build(WordNet(args.wordnet))
    args.out.write_text(json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(table['lemmas'])} lemmas, {len(table['entries'])} distinct entries, "
          f"{table['imagenet_mapped']}/1000 ImageNet classes mapped, {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
