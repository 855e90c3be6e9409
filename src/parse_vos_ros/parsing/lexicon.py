"""Word lists of the rule parser: closed classes of English plus the motion / pose verb lexicon.

Verbs are listed by base form; every inflection (runs, ran, running) maps back to the base and
each verb knows its gerund, which is the normalised form descriptors are written in.
"""

from __future__ import annotations


def words(text: str) -> frozenset[str]:
    """A word set written as one space-separated string (keeps long lists readable)."""
    return frozenset(text.split())


# --- closed classes -------------------------------------------------------------------------
DETERMINERS = words("a an the this that these those my his her its their our your which what whichever another other")
NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "single": 1, "both": 2, "pair": 2, "couple": 2,
}  # fmt: skip
ALL_WORDS = words("all every each several many multiple some group herd flock school pack team bunch")
# Heads that quantify the noun after "of" ("a group of ducks", "one of the dogs").
QUANTITY_HEADS = frozenset(ALL_WORDS | set(NUMBERS) | {"lot", "lots", "number", "few", "rest", "set", "crowd"})
PRONOUN_HEADS = {
    "someone": ("person", 1), "somebody": ("person", 1), "anyone": ("person", 1), "anybody": ("person", 1),
    "everyone": ("person", "all"), "everybody": ("person", "all"), "something": ("object", 1),
    "anything": ("object", 1), "everything": ("object", "all"), "thing": ("object", 1), "things": ("object", "all"),
    "object": ("object", 1), "objects": ("object", "all"),
    # Said to a robot: "follow me", "track him" (a possessive "her" is a determiner, read first).
    "me": ("person", 1), "him": ("person", 1), "us": ("person", "all"),
}  # fmt: skip
RELATIVE_PRONOUNS = words("that which who whom whose")
AUXILIARIES = words(
    "is are was were be been being am 's 're has have had does do did can could will would seems seem appears appear"
)
NEGATIONS = words("not n't never no")
CONJUNCTIONS = words("and then while as but also")
# Two/three-word prepositions, longest first when matching.
MULTI_PREPOSITIONS = (
    ("in", "front", "of"), ("on", "top", "of"), ("to", "the", "left", "of"), ("to", "the", "right", "of"),
    ("next", "to"), ("close", "to"), ("far", "from"), ("out", "of"), ("in", "between"),
    ("on", "the", "side", "of"), ("in", "the", "middle", "of"), ("at", "the", "edge", "of"),
)  # fmt: skip
LOCATION_PREPOSITIONS = words(
    "in on at near beside behind under below above inside outside among between by beneath atop within "
    "against underneath amid"
)
DIRECTION_PREPOSITIONS = words(
    "to towards toward into onto from across along past through around over up down off after"
)
# Words after "in"/"with" that make the phrase an appearance ("in a red shirt", "with a hat").
APPEARANCE_WORDS = words(
    "red blue green yellow black white brown gray grey orange pink purple dark light striped colorful colored "
    "shirt t-shirt jacket coat hat cap helmet dress skirt pants trousers jeans shorts shoes boots uniform suit "
    "clothes clothing hair beard glasses sunglasses mask scarf backpack bag collar saddle tie vest sweater "
    "hoodie gloves arm arms leg legs head tail ears spots stripes horns wings mane"
)
# Words after "in" that make the phrase a manner of motion ("in circles", "in the same direction").
MANNER_WORDS = words("circle circles direction directions loop loops zigzag")
TEMPORAL_WORDS = words("beginning start end first last moment while")

POSITION_WORDS = words(
    "left right leftmost rightmost middle center centre top bottom upper lower front rear nearest closest "
    "farthest furthest near far foreground background first second third fourth fifth last"
)
# Which of several by size: superlatives, and comparatives ("the smaller of the two dogs").
SIZE_COMPARISONS = words(
    "biggest largest smallest tallest shortest bigger larger smaller taller shorter tiniest tinier"
)
SPEED_ADJECTIVES = words(
    "fast faster fastest slow slower slowest quick quicker quickest moving still stationary motionless static "
    "idle immobile"
)
POSE_ADJECTIVES = words("asleep awake seated parked upright upside sideways bent raised lowered")
MOTION_ADVERBS = words(
    "fast quickly slowly rapidly swiftly faster slower fastest slowest still steadily gradually suddenly forward "
    "forwards backward backwards left right straight continuously constantly repeatedly ahead sideways upward "
    "upwards downward downwards clockwise counterclockwise anticlockwise together quick slow again "
    "constantly frequently briefly leftward leftwards rightward rightwards finally later"
)
# Particles that belong to the verb when no noun phrase follows ("turning around", "walking away").
PARTICLES = words("around away back up down off out over about in")

FILLER_WORDS = words("uh um uhm er erm ah hmm mm umm okay ok so well actually basically oh hey yeah")
FILLER_PHRASES = (
    ("you", "know"), ("i", "think"), ("kind", "of"), ("sort", "of"), ("i", "guess"),
)  # fmt: skip
# Request openers stripped from the start ("please find the ...", "can you show me ...").
REQUEST_OPENERS = (
    ("can", "you"), ("could", "you"), ("would", "you"), ("will", "you"), ("please",), ("i", "want", "to"),
    ("i", "want"), ("i", "need"), ("i'm", "looking", "for"), ("i", "am", "looking", "for"), ("find",),
    ("locate",), ("show", "me"), ("show",), ("segment",), ("track",), ("highlight",), ("select",),
    ("point", "at"), ("point", "to"), ("look", "at"), ("look", "for"), ("follow",), ("get",), ("give", "me"),
    ("where", "is"), ("where", "are"), ("there", "is"), ("there", "are"), ("there", "'s"), ("it", "'s"), ("it", "is"),
    ("focus", "on"), ("watch",), ("mark",), ("detect",), ("me",), ("for", "me"),
    # Robot instructions whose object is the referent: "go to the chair", "keep an eye on the child".
    ("keep", "an", "eye", "on"), ("keep", "track", "of"), ("go", "to"), ("move", "to"), ("drive", "to"),
    ("walk", "to"), ("approach",), ("stay", "with"), ("stay", "behind"), ("pick", "up"), ("grab",),
)  # fmt: skip
CORRECTION_MARKERS = (("no", "wait"), ("i", "mean"), ("sorry",), ("no",), ("rather",), ("actually", "no"))
ONE_WORDS = frozenset({"one", "ones"})
INTENSIFIERS = words("very really quite too extremely rather pretty so more most less")

# Nouns ending in -ing / -s that are not verb forms or plurals.
ING_NOUNS = words(
    "thing something anything everything nothing ring king wing swing string building ceiling clothing "
    "painting sibling duckling earring spring evening morning railing sling offspring darling pudding"
)
NOT_PLURAL = words(
    "bus glass grass dress species series news lens cactus octopus walrus platypus hippopotamus bass "
    "chess moss boss cross mattress canvas gas its his this is was as us yes"
)
IRREGULAR_PLURALS = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "geese": "goose", "mice": "mouse",
    "feet": "foot", "teeth": "tooth", "oxen": "ox", "persons": "person", "kids": "kid", "calves": "calf",
    "wolves": "wolf", "leaves": "leaf", "knives": "knife", "shelves": "shelf", "halves": "half",
}  # fmt: skip
# Plural in form and meaning only when counted ("three sheep"); read as singular otherwise.
INVARIANT_NOUNS = words("sheep fish deer moose bison cattle aircraft")
COLLECTIVE_PLURALS = frozenset({"cattle"})

# --- verbs ----------------------------------------------------------------------------------
# Verbs of displacement, speed, stillness and turning: what a trajectory can show.
MOTION_VERBS = words(
    "move run walk fly swim jump hop skip crawl climb ride drive cycle race rush dash sprint jog trot gallop "
    "march stroll wander roam pace travel go come leave enter exit cross approach pass overtake chase follow "
    "lead flee escape retreat advance return turn spin rotate roll slide glide dive fall drop rise descend "
    "ascend land stop halt pause stay remain wait start begin keep continue accelerate decelerate "
    "slow speed hurry swerve circle zigzag shift swing sway bounce leap waddle stumble slither creep sneak "
    "swoop soar hover float drift paddle surf skate ski skateboard push pull drag head step "
    "back reverse park arrive depart join gather scatter play dance twirl row fight wrestle struggle shake wag flap "
    "nod wave kick throw catch bite hit attack peck dig"
)
# Motion verbs that do not by themselves take the doer from place to place: stillness, aspect
# ("keeps running": the verb beside it says), actions in place (waving, kicking, digging). The
# rest of MOTION_VERBS (``DISPLACEMENT_VERBS``) are what a trajectory shows as moving.
IN_PLACE_VERBS = words(
    "stop halt pause stay remain wait start begin keep continue park shake wag flap nod wave kick throw catch "
    "bite hit attack peck dig play fight wrestle struggle hover sway"
)
DISPLACEMENT_VERBS = MOTION_VERBS - IN_PLACE_VERBS
# Posture and single-frame actions: what a crop can show.
POSE_VERBS = words(
    "sit stand lie kneel crouch squat lean bend hold wear carry eat drink look watch face raise lift hang "
    "perch rest sleep lay stretch hug kiss read talk smile touch point pose feed hide open close use stare gaze graze "
    "observe sniff"
)
IRREGULAR_PAST = {
    "run": "ran", "swim": "swam", "fly": "flew", "sit": "sat", "stand": "stood", "lie": "lay", "go": "went",
    "come": "came", "ride": "rode", "drive": "drove", "fall": "fell", "hold": "held", "wear": "wore",
    "eat": "ate", "drink": "drank", "lead": "led", "spin": "spun", "swing": "swung", "bite": "bit",
    "hide": "hid", "catch": "caught", "throw": "threw", "shake": "shook", "begin": "began", "keep": "kept",
    "dig": "dug", "sleep": "slept", "kneel": "knelt", "bend": "bent", "rise": "rose", "fight": "fought",
    "flee": "fled", "hit": "hit", "creep": "crept", "sneak": "snuck", "leap": "leapt", "feed": "fed",
    "slide": "slid", "lay": "laid",
}  # fmt: skip
DOUBLING = words("run swim sit hop skip jog trot spin slip drop stop dig grab drag step nod wag hit get set")
# Forms never read as verbs because the adjective/direction reading dominates.
NOT_VERB_FORMS = words(
    "left lay back head circle swing park parked rest point face use close open lead hit hits leads points faces "
    "uses closes opens rests heads parks circles"
)


def gerund(base: str) -> str:
    """``run`` -> ``running``, ``move`` -> ``moving``, ``lie`` -> ``lying``."""
    head = base
    if head.endswith("ie"):
        out = head[:-2] + "ying"
    elif head.endswith("e") and not head.endswith(("ee", "ye", "oe")) and len(head) > 2:
        out = head[:-1] + "ing"
    elif head in DOUBLING:
        out = head + head[-1] + "ing"
    else:
        out = head + "ing"
    return out


def _inflections(base: str) -> set[str]:
    """Every form of verb ``base``: itself, its gerund, third person and past (``run`` -> runs, ran, running)."""
    head = base
    forms = {head, gerund(head)}
    if head.endswith(("s", "sh", "ch", "x", "z", "o")):
        forms.add(head + "es")
    elif head.endswith("y") and head[-2:-1] not in "aeiou":
        forms.add(head[:-1] + "ies")
    else:
        forms.add(head + "s")
    if head in IRREGULAR_PAST:
        forms.add(IRREGULAR_PAST[head])
    elif head.endswith("e"):
        forms.add(head + "d")
    elif head.endswith("y") and head[-2:-1] not in "aeiou":
        forms.add(head[:-1] + "ied")
    elif head in DOUBLING:
        forms.add(head + head[-1] + "ed")
    else:
        forms.add(head + "ed")
    return forms


def _verb_table() -> dict[str, tuple[str, str]]:
    """word form -> (gerund, kind) with kind "motion" or "pose"; pose wins on a clash (``lay``)."""
    table: dict[str, tuple[str, str]] = {}
    for kind, verbs in (("motion", MOTION_VERBS), ("pose", POSE_VERBS)):
        for base in verbs:
            for form in _inflections(base):
                if form not in NOT_VERB_FORMS or form == gerund(base):
                    table[form] = (gerund(base), kind)
    return table


VERB_FORMS = _verb_table()
