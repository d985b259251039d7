"""Instruction templates (the seed paper's), with a name and a content hash recorded in every manifest.

Each dataset names its default template in ``harness.data.registry``; ``data.template`` overrides it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harness.data.examples import Example


@dataclass(frozen=True)
class Template:
    name: str
    text: str  # str.format fields: {sentence} (with markers), {head}, {tail}
    label_prefix: str = ""  # text placed between the prompt and the label (causal models), e.g. " "

    @property
    def hash(self) -> str:
        return hashlib.sha256(f"{self.name}\x00{self.text}\x00{self.label_prefix}".encode()).hexdigest()[:16]

    def render(self, ex: Example) -> str:
        return self.text.format(sentence=ex.text, head=ex.head, tail=ex.tail)


TEMPLATES = {
    "semeval": Template(
        "semeval",
        "Classify the semantic relation between the marked entities in this sentence: {sentence}\nRelation:",
        " ",
    ),
    "conll04": Template(
        "conll04",
        "Classify the relation between {head} and {tail} in this sentence: {sentence}\nRelation:",
        " ",
    ),
    # TACRED-format data: labels are TACRED's own names (per:city_of_birth, org:founded_by, no_relation).
    "tacred": Template(
        "tacred",
        "Classify the relation of the subject {head} to the object {tail} in this sentence: {sentence}\nRelation:",
        " ",
    ),
}
TEMPLATES["synthetic"] = TEMPLATES["semeval"]


def get_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise ValueError(f"unknown prompt template {name!r}; known: {sorted(TEMPLATES)}")
    return TEMPLATES[name]
