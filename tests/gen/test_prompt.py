"""The generation prompt, pinned as golden strings, and the relation explanations."""

from harness.data.examples import Example
from harness.data.labels import SPACES
from harness.recipes.gen.prompt import Sample, from_example, render, strip_markers
from harness.recipes.gen.relations import explain

DEMOS = [Sample("Alice Moreau", "Lisbon", "Alice Moreau lives in Lisbon."),
         Sample("Chen Wei", "Osaka", "Osaka has been home to Chen Wei since childhood.")]

GOLDEN_ONE_BY_ONE = (
    "Task: write one training sample for relation extraction: a sentence that expresses the relation below between "
    "a head entity and a tail entity. Both entities must appear in the sentence word for word.\n"
    "Relation: Lives_In: the head entity (a person) lives in the tail entity (a place).\n"
    "Demonstrations:\n"
    "head: Alice Moreau | tail: Lisbon | sentence: Alice Moreau lives in Lisbon.\n"
    "head: Chen Wei | tail: Osaka | sentence: Osaka has been home to Chen Wei since childhood.\n"
    "Write a new sample that is as different from the above demonstrations as possible: other entities, other "
    "wording, other sentence structure.\n"
    "head:")

GOLDEN_BATCH_NO_DEMOS = (
    "Task: write one training sample for relation extraction: a sentence that expresses the relation below between "
    "a head entity and a tail entity. Both entities must appear in the sentence word for word.\n"
    "Relation: Cause-Effect(e2,e1): an event or object leads to an effect; the head entity is the effect and the "
    "tail entity the cause.\n"
    "Write a new sample.\n"
    "head:")


def test_prompt_one_by_one_golden():
    assert render("Lives_In", DEMOS, "one-by-one") == GOLDEN_ONE_BY_ONE


def test_prompt_batch_without_demonstrations_golden():
    assert render("Cause-Effect(e2,e1)", [], "batch") == GOLDEN_BATCH_NO_DEMOS


def test_prompt_batch_has_no_dissimilarity_instruction():
    text = render("Lives_In", DEMOS, "batch")
    assert "as different" not in text and text.endswith("Write a new sample.\nhead:")


def test_prompt_every_label_space_has_explanations():
    for space in SPACES.values():
        for label in space.labels:
            if space.name == "retacred" and label != "no_relation":
                continue  # Re-TACRED's labels are TACRED's: the generic sentence, as per:city_of_birth below
            assert "relation '" not in explain(label), label  # no generic fallback for the harness's own spaces
    assert explain("Component-Whole") == ("Component-Whole: an object is a component of a larger whole; one entity "
                                         "is the component, the other the whole.")
    assert explain("per:city_of_birth") == ("per:city_of_birth: the sentence expresses the relation "
                                           "'per:city of birth' between the head and the tail entity.")


def test_prompt_demonstration_from_gold_example():
    ex = Example(id="x", text="The <e1>wheel</e1> is part of the <e2>bicycle</e2>.", head="wheel", tail="bicycle",
                 head_span=(8, 13), tail_span=(34, 41), label="Part_Of", split="train")
    assert from_example(ex) == Sample("wheel", "bicycle", "The wheel is part of the bicycle.")
    assert from_example(ex).line() == "head: wheel | tail: bicycle | sentence: The wheel is part of the bicycle."
    assert strip_markers(ex.text) == "The wheel is part of the bicycle."
