"""Short relation explanations for the prompt's second module, written for this harness (the label spaces in
harness.data.labels carry names only). "head" is the <e1> entity, "tail" the <e2> entity.

Sources: SemEval-2010 Task 8 -- paraphrases of the relation definitions in the task guidelines (Hendrickx et al.,
2010, "SemEval-2010 Task 8: Multi-Way Classification of Semantic Relations between Pairs of Nominals"); the
directional labels (e1,e2) / (e2,e1) say which entity plays which role. CoNLL04 -- paraphrases of the relation
types of Roth and Yih (2004), "A Linear Programming Formulation for Global Inference in Natural Language Tasks".
Synthetic -- read off the phrasings of harness.data.synthetic. A label with no entry (jsonl, TACRED) gets a
generic sentence built from its name (``explain``).
"""

from __future__ import annotations

from harness.data.labels import NO_RELATION, SEMEVAL_OTHER

# SemEval: relation -> (first role, second role, what the relation means)
SEMEVAL_ROLES = {
    "Cause-Effect": ("cause", "effect", "an event or object leads to an effect"),
    "Component-Whole": ("component", "whole", "an object is a component of a larger whole"),
    "Content-Container": ("content", "container", "an object is physically stored in a delineated area of space"),
    "Entity-Destination": ("entity", "destination", "an entity is moving towards a destination"),
    "Entity-Origin": ("entity", "origin", "an entity is coming or is derived from an origin"),
    "Instrument-Agency": ("instrument", "agency", "an agent uses an instrument"),
    "Member-Collection": ("member", "collection", "a member forms a nonfunctional part of a collection"),
    "Message-Topic": ("message", "topic", "a message, written or spoken, is about a topic"),
    "Product-Producer": ("product", "producer", "a producer causes a product to exist"),
}

DEFINITIONS = {
    SEMEVAL_OTHER: "none of the nine SemEval relations holds between the head and the tail entity.",
    # CoNLL04
    "Kill": "the head entity (a person) killed the tail entity (a person).",
    "Live_In": "the head entity (a person) lives in the tail entity (a location).",
    "Located_In": "the head entity (a location) is located in the tail entity (a location).",
    "OrgBased_In": "the head entity (an organization) is based in the tail entity (a location).",
    "Work_For": "the head entity (a person) works for the tail entity (an organization).",
    NO_RELATION: "the sentence mentions both entities but states no relation between them.",
    "no_relation": "the sentence mentions both entities but states no relation between them.",  # TACRED family
    # synthetic (harness.data.synthetic)
    "Works_For": "the head entity (a person) works for or is employed by the tail entity (an organization).",
    "Lives_In": "the head entity (a person) lives in the tail entity (a place).",
    "Part_Of": "the head entity (a part) is a part of the tail entity (an object).",
    "Causes": "the head entity (an event) causes the tail entity (an event).",
}


def _semeval(label: str) -> str | None:
    base, _, direction = label.partition("(")
    if base not in SEMEVAL_ROLES:
        return None
    first, second, meaning = SEMEVAL_ROLES[base]
    if not direction:
        return f"{meaning}; one entity is the {first}, the other the {second}."
    head, tail = (first, second) if direction.startswith("e1,e2") else (second, first)
    return f"{meaning}; the head entity is the {head} and the tail entity the {tail}."


def explain(label: str) -> str:
    """The explanation of ``label``: ``<label>: <definition>``."""
    text = _semeval(label) or DEFINITIONS.get(label)
    if text is None:
        text = f"the sentence expresses the relation '{label.replace('_', ' ')}' between the head and the tail entity."
    return f"{label}: {text}"
