"""QA4RE prompts: a relation example becomes a multiple-choice question whose options are relation sentences
(``prompting="qa4re"``), or, for the paper's vanilla-RE baseline, a list of relation names to answer with one
(``prompting="vanilla"``).

QA4RE (what the reference builds, byte for byte):

    Determine which option can be inferred from the given Sentence.

    Sentence: The [storm] caused the [flood].
    Options:
    A. [storm] has the effect [flood]
    ...
    S. [storm] has no known relations to [flood]

    Which option can be inferred from the given Sentence?
    Option:

Layout of the reference (OSU-NLP-Group/QA4RE @a299f6e, projs/QA4RE/qa4re_utils.py): ``fill_prompt_format_re_df``
builds ``sent + "\\nOptions:\\n"`` and one ``f"{letter}. {option}\\n"`` line per option (so the last option ends
with a newline too) and puts it into the prompt config's ``example_format``; ``build_final_input`` joins the
task instruction and that with a blank line and strips the result. The prompt config YAML (instruction,
``example_format``) is distributed with the reference's data, not in the repository; its wording is the paper's
(Figure 1, "Which option can be inferred from the given Sentence?" / "Option:") and ``example_format`` is
``"Sentence: {}\\nWhich option can be inferred from the given Sentence?\\nOption:"``, which is what puts the blank
line between the last option and the question (the reference's released prompts read the same way). The entity
mentions are bracketed (the reference fills ``ENT1`` / ``ENT2`` of its masked sentence with ``[ent]``); each
option fills a relation's template (``template_data``) with ``subj = [head]`` and ``obj = [tail]``; a relation
with several templates offers one option per template. Options: the relations the pair's type signature allows
(all relations of the set without types), in the set's order, NoTA last; optionally shuffled per example with a
seed (to measure option-position bias; not in the reference). The model answers with the option's letter.

Vanilla RE (the reference's projs/vanillaRE/vanilla_re_utils.py with ``--no_class_explain``, the paper's
"Vanilla" rows): the instruction's first line, one ``- {relation}`` line per allowed relation (NoTA last), a blank
line, ``Sentence: {plain sentence}``, ``Entity 1: {head}``, ``Entity 2: {tail}``, ``Relationship:``. The model
answers with the relation's name (e.g. ``per:city_of_birth``).
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
VANILLA_INSTRUCTION = ("Given a Sentence, and two Entities within the Sentence, classify the relationship between "
                       "the two Entities based on the provided Sentence. All possible Relationships are listed below:")
PROMPTINGS = ("qa4re", "vanilla")
MAX_OPTIONS = 26  # one capital letter per option (the reference's A, B, C, ...)


@dataclass(frozen=True)
class QASet:
    """The templates of one label set (found by label-space name: ``qa_set_for``)."""
    name: str
    templates: dict  # label -> ("{subj} ... {obj}", ...): one option per template (the NoTA label included)
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
    norm = {lab: (t,) if isinstance(t, str) else tuple(t) for lab, t in templates.items()}
    return QASet(name, norm, nota, order, dict(constraints or {}))


QA_SETS = {
    "semeval19": _set("semeval19", td.SEMEVAL_TEMPLATES, "Other", td.SEMEVAL_ORDER),
    "tacred": _set("tacred", td.TACRED_TEMPLATES, "no_relation", constraints=td.TACRED_TYPE_CONSTRAINTS),
    "retacred": _set("retacred", td.RETACRED_TEMPLATES, "no_relation", constraints=td.RETACRED_TYPE_CONSTRAINTS),
    "conll04": _set("conll04", td.CONLL04_TEMPLATES, "No_Relation", constraints=td.CONLL04_TYPE_CONSTRAINTS),
    "synthetic": _set("synthetic", td.SYNTHETIC_TEMPLATES, "No_Relation"),
}
_SPACE_TO_SET = {"semeval19": "semeval19", "tacred": "tacred", "retacred": "retacred", "conll04": "conll04",
                 "conll04_all": "conll04", "synthetic": "synthetic"}


def qa_set_for(space_name: str) -> QASet:
    """The QA4RE templates of a label space (``harness.data.labels`` / the registry's spaces). TACRED and TACREV
    share the ``tacred`` space; Re-TACRED is ``data.label_space=retacred``."""
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
    return _replace_markers(ex.text, "[", "]")


def plain_sentence(ex: Example) -> str:
    """The example's text without its entity markers (the reference's unmasked ``sents``)."""
    return _replace_markers(ex.text, "", "")


def _replace_markers(text: str, open_: str, close: str) -> str:
    for tag in (HEAD_OPEN, TAIL_OPEN):
        text = text.replace(tag, open_)
    for tag in (HEAD_CLOSE, TAIL_CLOSE):
        text = text.replace(tag, close)
    return text


@dataclass(frozen=True)
class Question:
    """One example as a question: option k means label ``options[k]`` and is answered with ``answers[k]``."""
    id: str
    prompt: str
    options: tuple[str, ...]  # the label of option k (a label with several templates appears once per template)
    gold: str
    answers: tuple[str, ...]  # the text that chooses option k: its letter (qa4re) or its label (vanilla)


def choices_for(qa: QASet, ex: Example, types: tuple[str, str] | None = None,
                shuffle_seed: int | None = None) -> tuple[tuple[str, str], ...]:
    """The (label, template) pairs of an example's options: allowed relations then NoTA, one pair per template;
    shuffled per example when a seed is given (the permutation depends on the seed and the example id only, so
    it is the same on every rank)."""
    pairs = [(lab, t) for lab in (*qa.relations_for(types), qa.nota) for t in qa.templates[lab]]
    if shuffle_seed is not None:
        rng = np.random.default_rng([shuffle_seed, zlib.crc32(ex.id.encode())])
        pairs = [pairs[i] for i in rng.permutation(len(pairs))]
    return tuple(pairs)


def options_for(qa: QASet, ex: Example, types: tuple[str, str] | None = None,
                shuffle_seed: int | None = None) -> tuple[str, ...]:
    """The option labels of an example (``choices_for`` without the templates)."""
    return tuple(lab for lab, _ in choices_for(qa, ex, types, shuffle_seed))


def build_question(qa: QASet, ex: Example, types: tuple[str, str] | None = None,
                   shuffle_seed: int | None = None) -> Question:
    """The QA4RE multiple-choice question of an example (layout: the module doc)."""
    pairs = choices_for(qa, ex, types, shuffle_seed)
    subj, obj = f"[{ex.head}]", f"[{ex.tail}]"
    let = letters(len(pairs))
    options = "".join(f"{c}. {t.format(subj=subj, obj=obj)}\n" for c, (_, t) in zip(let, pairs))
    prompt = f"{INSTRUCTION}\n\nSentence: {bracket_sentence(ex)}\nOptions:\n{options}\n{QUESTION}\n{ANSWER_CUE}"
    return Question(ex.id, prompt, tuple(lab for lab, _ in pairs), ex.label, tuple(let))


def build_vanilla_question(qa: QASet, ex: Example, types: tuple[str, str] | None = None,
                           shuffle_seed: int | None = None) -> Question:
    """The vanilla-RE prompt of an example (layout: the module doc): the relation names are the answers."""
    labels = list(dict.fromkeys((*qa.relations_for(types), qa.nota)))  # one line per relation, NoTA last
    if shuffle_seed is not None:
        rng = np.random.default_rng([shuffle_seed, zlib.crc32(ex.id.encode())])
        labels = [labels[i] for i in rng.permutation(len(labels))]
    listing = "\n".join(f"- {lab}" for lab in labels)
    prompt = (f"{VANILLA_INSTRUCTION}\n{listing}\n\nSentence: {plain_sentence(ex)}\nEntity 1: {ex.head}\n"
              f"Entity 2: {ex.tail}\nRelationship:")
    return Question(ex.id, prompt, tuple(labels), ex.label, tuple(labels))


def build_questions(qa: QASet, examples: list[Example], shuffle_seed: int | None = None,
                    types: dict[str, tuple[str, str]] | None = None, prompting: str = "qa4re") -> list[Question]:
    """``types``: ``{example id: (head type, tail type)}`` (``harness.recipes.qa4re.types``); None: no type
    constraints. ``prompting``: qa4re (multiple choice) or vanilla (the relation names)."""
    if prompting not in PROMPTINGS:
        raise ValueError(f"prompting must be one of {PROMPTINGS}, got {prompting!r}")
    build = build_question if prompting == "qa4re" else build_vanilla_question
    return [build(qa, ex, (types or {}).get(ex.id), shuffle_seed) for ex in examples]
