"""The generation prompt's three modules (task description, relation explanation, demonstrations) and the one-line
sample format the generator writes and the parser reads.

Choices the paper (arXiv 2505.23108) leaves open, made here:
- Output format: one line ``head: <head> | tail: <tail> | sentence: <sentence>``; the prompt ends with ``head:`` so
  the completion starts inside the sample, and a completion ends at its first newline (or EOS). Entities are
  given as strings, not marked inside the sentence; the parser finds them verbatim and inserts <e1>/<e2>.
- Demonstrations use the same line format. one-by-one: the last ``gen.window`` accepted samples, newest last,
  the window seeded with ``gen.seed_gold`` gold training examples (gold label) that leave it as samples arrive.
  batch: the gold seeds only, the same prompt at every step (the paper's direct-prompting baseline asks for
  samples without the dissimilarity instruction; here one sample per completion, ``gen.k`` completions per prompt).
- The dissimilarity instruction (one-by-one only) names what should differ: entities, wording, structure.
- Exact wording: below (golden-string tests in tests/gen/test_prompt.py pin it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harness.data.examples import Example
from harness.data.markers import MARKER_TAGS
from harness.recipes.gen.relations import explain

TASK = ("Task: write one training sample for relation extraction: a sentence that expresses the relation below "
        "between a head entity and a tail entity. Both entities must appear in the sentence word for word.")
ANSWER_PREFIX = "head:"
DIVERSE = ("Write a new sample that is as different from the above demonstrations as possible: other entities, "
           "other wording, other sentence structure.")
PLAIN = "Write a new sample."
PROMPT_VERSION = "gen-prompt-v1"  # bump when the wording changes (recorded in manifests)


@dataclass(frozen=True)
class Sample:
    """A generated (or gold) sample in the prompt's terms: entity strings and the plain sentence."""
    head: str
    tail: str
    sentence: str

    def line(self) -> str:
        return f"{ANSWER_PREFIX} {self.head} | tail: {self.tail} | sentence: {self.sentence}"


def strip_markers(text: str) -> str:
    for tag in MARKER_TAGS:
        text = text.replace(tag, "")
    return text


def from_example(ex: Example) -> Sample:
    return Sample(ex.head, ex.tail, strip_markers(ex.text))


def render(label: str, demos: list[Sample], mode: str) -> str:
    """The full prompt text (no special tokens): task, relation explanation, demonstrations, instruction."""
    parts = [TASK, f"Relation: {explain(label)}"]
    if demos:
        parts.append("Demonstrations:\n" + "\n".join(d.line() for d in demos))
    parts.append(DIVERSE if (mode == "one-by-one" and demos) else PLAIN)
    return "\n".join(parts) + "\n" + ANSWER_PREFIX


def prompt_hash() -> str:
    blob = "\x00".join([PROMPT_VERSION, TASK, ANSWER_PREFIX, DIVERSE, PLAIN])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
