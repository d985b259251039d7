"""QA4RE prompts: a relation example becomes a multiple-choice question whose options are relation sentences.

    Determine which option can be inferred from the given Sentence.

    Sentence: The [storm] caused the [flood].
    Options:
    A. [storm] has the effect [flood]
    ...
    S. [storm] has no known relations to [flood]
    Which option can be inferred from the given Sentence?
    Option:

The entity mentions are bracketed (the reference masks them as ``[ent]``); each option fills a relation's
template (``template_data``) with ``subj = [head]`` and ``obj = [tail]``. Options: the relations the pair's type
signature allows (all relations of the set without types), in the set's order, NoTA last; optionally shuffled
per example with a seed (to measure option-position bias). The model answers with the option's letter.
Layout as the reference's ``fill_prompt_format_re_df`` / ``build_final_input`` (projs/QA4RE/qa4re_utils.py:
instruction, blank line, sentence, "Options:", one "{letter}. {option}" line each); the reference's prompt config
YAML (its instruction and question wording) is not in the public repository, so that wording follows the paper.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from harness.data.examples import Example
from harness.data.markers import HEAD_CLOSE, HEAD_OPEN, TAIL_CLOSE, TAIL_OPEN
from harness.recipes.qa4re import template_data as td

INSTRUCTION = "Determine which option can be inferred from the given Sentence."
QUESTION = "Which option can be inferred from the given Sentence?"
ANSWER_CUE = "Option:"
MAX_OPTIONS = 26  # one capital letter per option (the reference's A, B, C, ...)


@dataclass(frozen=True)
class QASet:
    """The templates of one label set (found by label-space name: ``qa_set_for``)."""
    name: str
    templates: dict  # label -> "{subj} ... {obj}" (the NoTA label included)
    nota: str  # the label that plays none-of-the-above (its option is always last, unless shuffled)
    order: tuple[str, ...]  # relation labels (NoTA excluded) in option order
    type_constraints: dict  # "SUBJTYPE:OBJTYPE" -> the relations allowed for that pair ({} = none known)

    def relations_for(self, types: tuple[str, str] | None) -> tuple[str, ...]:
        """The relations offered for a pair with entity ``types`` (None: every relation of the set). A type pair
        no relation allows gets none (the question offers NoTA only), as the reference's constraints say."""
        if types is None or not self.type_constraints:
            return self.order
        return tuple(self.type_constraints.get(f"{types[0]}:{types[1]}", ()))


def _set(name, templates, nota, order=None, constraints=None) -> QASet:
    order = tuple(order or [lab for lab in templates if lab != nota])
    return QASet(name, dict(templates), nota, order, dict(constraints or {}))


QA_SETS = {
    "semeval19": _set("semeval19", td.SEMEVAL_TEMPLATES, "Other", td.SEMEVAL_ORDER),
    "tacred": _set("tacred", td.TACRED_TEMPLATES, "no_relation", constraints=td.TACRED_TYPE_CONSTRAINTS),
    "conll04": _set("conll04", td.CONLL04_TEMPLATES, "No_Relation", constraints=td.CONLL04_TYPE_CONSTRAINTS),
    "synthetic": _set("synthetic", td.SYNTHETIC_TEMPLATES, "No_Relation"),
}
_SPACE_TO_SET = {"semeval19": "semeval19", "tacred": "tacred", "conll04": "conll04", "conll04_all": "conll04",
                 "synthetic": "synthetic"}


def qa_set_for(space_name: str) -> QASet:
    """The QA4RE templates of a label space (``harness.data.labels`` / the registry's spaces)."""
    if space_name not in _SPACE_TO_SET:
        hint = " (QA4RE needs directional labels: set data.label_space=semeval19)" if space_name == "semeval10" else ""
        raise ValueError(f"no QA4RE templates for label space {space_name!r}{hint}; known: {sorted(_SPACE_TO_SET)}")
    return QA_SETS[_SPACE_TO_SET[space_name]]


def letters(n: int) -> list[str]:
    if n > MAX_OPTIONS:
        raise ValueError(f"{n} options but only {MAX_OPTIONS} option letters; use type constraints to cut them")
    return [chr(ord("A") + i) for i in range(n)]


def bracket_sentence(ex: Example) -> str:
    """The example's text with ``<e1>x</e1>`` -> ``[x]`` and ``<e2>y</e2>`` -> ``[y]``."""
    out = ex.text
    for tag in (HEAD_OPEN, TAIL_OPEN):
        out = out.replace(tag, "[")
    for tag in (HEAD_CLOSE, TAIL_CLOSE):
        out = out.replace(tag, "]")
    return out


@dataclass(frozen=True)
class Question:
    """One example as a multiple-choice question."""
    id: str
    prompt: str
    options: tuple[str, ...]  # the label of option k (letter ``letters(K)[k]``)
    gold: str


def options_for(qa: QASet, ex: Example, types: tuple[str, str] | None = None,
                shuffle_seed: int | None = None) -> tuple[str, ...]:
    """The option labels of an example: allowed relations then NoTA; shuffled per example when a seed is given
    (the permutation depends on the seed and the example id only, so it is the same on every rank)."""
    opts = list(qa.relations_for(types)) + [qa.nota]
    if shuffle_seed is not None:
        rng = np.random.default_rng([shuffle_seed, zlib.crc32(ex.id.encode())])
        opts = [opts[i] for i in rng.permutation(len(opts))]
    return tuple(opts)


def build_question(qa: QASet, ex: Example, types: tuple[str, str] | None = None,
                   shuffle_seed: int | None = None) -> Question:
    opts = options_for(qa, ex, types, shuffle_seed)
    subj, obj = f"[{ex.head}]", f"[{ex.tail}]"
    lines = [f"{c}. {qa.templates[lab].format(subj=subj, obj=obj)}" for c, lab in zip(letters(len(opts)), opts)]
    prompt = "\n".join([INSTRUCTION, "", f"Sentence: {bracket_sentence(ex)}", "Options:", *lines, QUESTION,
                        ANSWER_CUE])
    return Question(ex.id, prompt, opts, ex.label)


def build_questions(qa: QASet, examples: list[Example], shuffle_seed: int | None = None,
                    types: dict[str, tuple[str, str]] | None = None) -> list[Question]:
    """``types``: ``{example id: (head type, tail type)}`` (``harness.recipes.qa4re.types``); None: no type constraints."""
    return [build_question(qa, ex, (types or {}).get(ex.id), shuffle_seed) for ex in examples]
