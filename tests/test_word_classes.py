"""Words to classes through the generated WordNet table, on words that are not in our DAVIS expressions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from parse_vos_ros.grounding.vocabulary import analyse_phrase
from parse_vos_ros.grounding.word_classes import classes_for, head_words, same_kind
from parse_vos_ros.grounding.yolox import COCO_CLASSES

REPO = Path(__file__).resolve().parents[1]
ANIMALS = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"}


def coco(phrase: str) -> set[str]:
    return {COCO_CLASSES[i] for i in classes_for(phrase).coco}


def labels() -> list[str]:
    path = REPO / "src/parse_vos_ros/data/models/coral/imagenet_labels.txt"
    return path.read_text(encoding="utf-8").splitlines()


def imagenet_names(phrase: str) -> set[str]:
    names = labels()
    return {names[i].split(",")[0] for i in classes_for(phrase).imagenet}


@pytest.mark.parametrize("word", ["a pedestrian", "the goalkeeper", "two toddlers", "a skier", "the nurse",
                                  "a jogger", "the fishermen", "some teenagers", "the women"])
def test_person_words_map_to_person(word: str) -> None:
    assert coco(word) == {"person"}
    assert classes_for(word).narrower


def test_broad_nouns_cover_their_coco_classes() -> None:
    assert coco("the animals") == ANIMALS
    assert {"car", "bus", "truck", "motorcycle", "bicycle", "airplane", "boat"} <= coco("a vehicle")
    assert "person" not in coco("a vehicle") and "dog" not in coco("a vehicle")
    assert {"cat", "dog", "bear"} <= coco("a mammal") and "bird" not in coco("a mammal")


def test_narrower_nouns_name_their_coco_class_and_imagenet_kinds() -> None:
    assert coco("a flamingo") == {"bird"} and imagenet_names("a flamingo") == {"flamingo"}
    assert coco("the beagle") == {"dog"} and imagenet_names("the beagle") == {"beagle"}
    assert coco("the tabby") == {"cat"}
    assert coco("an ambulance") == {"car"} and "ambulance" in imagenet_names("an ambulance")
    # A broader ImageNet subtree: every terrier breed under "terrier".
    assert len(classes_for("a terrier").imagenet) > 15


def test_nouns_outside_coco_keep_their_group_and_imagenet_subtree() -> None:
    for word, group, kind in (("the tiger", "animal", "tiger"), ("a llama", "animal", "llama"),
                              ("the tractor", "vehicle", "tractor"), ("a gondola", "vehicle", "gondola")):
        found = classes_for(word)
        assert group in found.groups, word
        assert kind in imagenet_names(word), word
    assert not coco("the tiger")  # a tiger is no COCO class (nor a cat: WordNet's cat is the true cat)


def test_a_noun_whose_coco_class_is_withheld_is_outside_coco() -> None:
    bird, cat = COCO_CLASSES.index("bird"), COCO_CLASSES.index("cat")
    swan = classes_for("the black swan")
    assert swan.without(frozenset({cat})) is swan
    blind = swan.without(frozenset({bird}))
    assert (blind.coco, blind.narrower, blind.beyond) == ((), False, ())
    assert blind.groups == swan.groups and blind.imagenet == swan.imagenet  # the classifier still knows swans


def test_an_animal_with_no_imagenet_class_of_its_own_is_looked_for_as_its_kin() -> None:
    deer = classes_for("the deer")
    assert not deer.coco and {"impala", "ox", "ibex"} <= imagenet_names("the deer") and deer.kin == deer.imagenet
    assert imagenet_names("the mule") == {"sorrel", "zebra"}  # the equines ImageNet has
    # A noun of a COCO class keeps its own (none for "cow"): its kin counts only when the class is not.
    cow = classes_for("the cow")
    assert cow.coco and not cow.imagenet and cow.kin
    assert cow.without(frozenset(cow.coco)).imagenet == cow.kin
    # Kin further up is no kin: a calf's would be every animal; nor is a person's.
    assert len(classes_for("the gerbil").imagenet) <= 20 and not classes_for("the doctor").kin


def test_multiword_plural_and_hyphenated_lookups() -> None:
    assert classes_for("the giant pandas").noun == "giant panda"
    assert imagenet_names("a snow leopard") == {"snow leopard"}
    assert classes_for("a kite-surfer").noun == "surfer"  # "kite surfer" is no lemma: its head word
    assert classes_for("the police van in the left lane").noun == "police van"
    assert coco("geese") == {"bird"}  # irregular plural (noun.exc)
    assert head_words("a pale green tractor with a trailer") == ["pale", "green", "tractor"]
    assert classes_for("the skate board").noun == "skateboard"  # two words written as one lemma
    # ... but not after a colour: a white horse is a horse (COCO), not "whitehorse" (a town)
    assert classes_for("the white horse galloping").noun == "horse" and coco("the white horse") == {"horse"}
    assert classes_for("the green house").noun == "house"


@pytest.mark.parametrize(("phrase", "noun"), [
    ("the man carrying a red bag", "man"), ("the woman holding a umbrella", "woman"),
    ("a dog chasing a ball", "dog"), ("the kid riding a bike", "kid"), ("the man with a hat", "man"),
    ("the bird flying away", "bird"), ("the man dressed in black", "man"), ("the horse being led", "horse"),
    ("the plane landing on the runway", "plane"), ("the boy who is riding a bike", "boy"),
    # Not clauses: a participle before the noun, an -ing noun, an -ed adjective.
    ("the running man", "man"), ("the tall building on the left", "building"), ("the long haired girl", "girl"),
    # A relation to another thing: the referent is before it.
    ("the cow closest to the camera", "cow"), ("the dog next to the man", "dog"), ("the ball under the table", "ball"),
    ("the person nearest the door", "person"), ("the pick up truck", "truck"),
])
def test_the_referent_is_the_subject_before_a_participle(phrase: str, noun: str) -> None:
    # One rule for the cue analysis and the class lookup: they once read "carrying a red bag" as the bag.
    assert analyse_phrase(phrase).noun == noun
    assert head_words(phrase)[-1] == noun
    assert classes_for(phrase).noun == noun


def test_abstract_and_unknown_nouns_are_not_in_the_table() -> None:
    for word in ("the instruction", "an idea", "the happiness"):
        found = classes_for(word)
        assert found.noun == "" and not found.coco and not found.imagenet, word
    unknown = classes_for("a zorblax")
    assert unknown.noun == "" and not unknown.coco and not unknown.imagenet


@pytest.mark.slow
def test_table_matches_its_generator(tmp_path: Path) -> None:
    """The committed table is what the script makes from WordNet 3.0 (skipped without WordNet)."""
    wordnet = Path("/usr/share/wordnet")
    if not (wordnet / "data.noun").is_file() or shutil.which(sys.executable) is None:
        pytest.skip("WordNet 3.0 dictionary files not installed (apt-get install wordnet)")
    out = tmp_path / "word_classes.json"
    subprocess.run([sys.executable, str(REPO / "scripts/make_word_classes.py"), "--out", str(out)], check=True,
                   capture_output=True)
    committed = json.loads((REPO / "src/parse_vos_ros/data/word_classes.json").read_text(encoding="utf-8"))
    assert json.loads(out.read_text(encoding="utf-8")) == committed
    assert committed["imagenet_mapped"] == 1000


@pytest.mark.parametrize(("a", "b", "same"), [
    ("man", "girl", True), ("the dog", "animal", True), ("red ball", "ball", True),
    ("the man on the left", "a running man", True), ("kite surfer", "person", True),
    ("car", "truck", False), ("dog", "cat", False), ("blob", "ball", False), ("blob", "blob", True),
])
def test_same_kind_is_the_same_noun_or_a_shared_coco_class(a: str, b: str, same: bool) -> None:
    assert same_kind(a, b) is same and same_kind(b, a) is same


@pytest.mark.parametrize(
    ("word", "classes", "group"),
    [
        ("the white van", {"truck"}, "vehicle"),  # WordNet's first "van" is the vanguard
        ("a turtle", set(), "animal"),  # the first is the sweater
        ("the otter", set(), "animal"),  # the first is the fur
        ("a carrot", {"carrot"}, ""),  # the first is the plant
        ("the kite", {"kite", "bird"}, "animal"),  # the first is a forged cheque
        ("the climber", {"person"}, "person"),  # an agent noun; the first is the vine
    ],
)
def test_words_without_counted_senses_are_read_as_what_a_camera_sees(word: str, classes: set[str], group: str) -> None:
    # No sense of these was counted in WordNet's tagged corpus, so its order is no frequency order.
    words = classes_for(word)
    assert coco(word) == classes and (group in words.groups or not group)


@pytest.mark.parametrize("word", ["the holly", "some basil", "a timothy"])
def test_their_people_are_not_read_so(word: str) -> None:
    # Their person senses are proper names ("Buddy Holly"): a plant stays a plant.
    assert "person" not in coco(word) and "person" not in classes_for(word).groups


@pytest.mark.parametrize(("word", "noun"), [("a breakdancer", "dancer"), ("the kitesurfers", "surfer"),
                                            ("the freerunner", "runner")])
def test_a_compound_outside_wordnet_ending_in_a_person_word_is_a_person(word: str, noun: str) -> None:
    assert classes_for(word).noun == noun and coco(word) == {"person"}


def test_other_compound_tails_say_nothing() -> None:
    # A paraglider is a person, not the glider its last part names: unknown, so any box may hold it.
    assert classes_for("the paraglider").noun == "" and classes_for("a snowkiter").noun == ""


def test_everyday_words_missing_from_wordnet_are_read_as_their_nearest_lemma() -> None:
    # EXCEPTIONS in scripts/make_word_classes.py: WordNet 3.0 has neither word.
    assert classes_for("two bikers").noun == "biker" and coco("two bikers") == {"person"}
    assert classes_for("the red kart").noun == "kart" and "go-kart" in imagenet_names("the red kart")


@pytest.mark.parametrize(
    ("word", "classes", "group", "kind"),
    [
        ("the crane", set(), "", "crane"),  # WordNet's first two are Stephen and Hart Crane
        ("a heron", {"bird"}, "animal", ""),  # the first is Hero of Alexandria
        ("the jay", {"bird"}, "animal", "jay"),  # the first is John Jay
        ("the wren", {"bird"}, "animal", ""),  # the first is Christopher Wren
        ("the morgan", {"horse"}, "animal", ""),  # the first four are people named Morgan
        ("the sombrero", set(), "", "sombrero"),  # the first is a galaxy
    ],
)
def test_a_named_individual_is_never_what_a_common_noun_means(word: str, classes: set[str], group: str,
                                                              kind: str) -> None:
    words = classes_for(word)
    assert "person" not in words.groups and coco(word) == classes and (group in words.groups or not group)
    assert not kind or kind in {name.lower() for name in imagenet_names(word)}


def test_a_word_that_is_foremost_a_name_names_a_person() -> None:
    # Its kinds are no physical things (Mozart's music), so it is the composer; a word that is
    # foremost a kind keeps it ("black" is a colour before it is Joseph Black).
    assert coco("mozart") == {"person"}
    assert classes_for("the black").noun == "" and coco("the black") == set()


@pytest.mark.parametrize(("word", "kind"), [("two kittens", "cat"), ("the calf", "cow"), ("a foal", "horse"),
                                            ("the lamb", "sheep"), ("the pup", "dog")])
def test_the_young_of_an_animal_is_looked_for_as_its_kind(word: str, kind: str) -> None:
    # WordNet files them under "young mammal" only (EXCEPTIONS in scripts/make_word_classes.py).
    assert coco(word) == {kind} and "animal" in classes_for(word).groups


def test_a_cub_is_a_young_animal_not_a_novice() -> None:
    assert "person" not in coco("the bear cub") and "animal" in classes_for("a cub").groups


@pytest.mark.parametrize(("word", "classes", "group"), [
    ("the whale", set(), "animal"), ("an ostrich", {"bird"}, "animal"), ("the seal", set(), "animal"),
    ("the stroller", set(), "vehicle"), ("the drone", set(), "vehicle"), ("the monitor", {"tv"}, ""),
    ("the cab", {"car"}, "vehicle"), ("the kayaker", {"person"}, "person"), ("the excavator", set(), ""),
])
def test_everyday_things_whose_first_sense_is_a_person_or_a_figure_of_speech(word: str, classes: set[str],
                                                                             group: str) -> None:
    # EXCEPTIONS in scripts/make_word_classes.py: a robot's camera sees the animal, the buggy, the UAV.
    found = classes_for(word)
    assert found.noun and coco(word) == classes
    assert (group in found.groups) if group else not found.groups
