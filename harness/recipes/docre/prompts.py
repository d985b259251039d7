"""LMRC's prompts and their answers, built from entity pairs: the relation-classification prompt (style ``lmrc``, the
seed paper's Table 12), the full-extraction prompt of its preliminary experiment (``extract``, Table 11: the "LoRA FT
LLM" baseline) and the LLM pre-classifier of its Table 5 ablation (``binary``: harness.recipes.docre.binary).

    <HEADER>                             "Below is an instruction ... completes the request."
    ### Instruction:                     the RC instruction (relations from a set, maybe several per pair)
    ### Relation set:                    the relation names of rel_info.json, in its order, as LMRC's code writes
                                         them: a Python list literal ['head of government', 'country', ...]
    ### Text:                            the document's tokens joined by single spaces, sentences in order
    ### <k> Entity pairs:                one '(head| -| tail)' per line
    ### Response:                        (the prompt ends here, after a newline)
Answer (the training target): one '(head| relation name| tail)' per line, pairs in the prompt's order, a pair's
relations in the gold file's order; the text after '### Response:\\n' up to EOS.
``extract`` (Table 11) differs in the instruction only (whether a pair is related at all, None when not) and in the
answer: a pair without a gold relation is answered '(head| None| tail)' at its place in the prompt's order (the
reference code's generate_for_re_finetune).

Entity names: an entity is named by its first mention (DocRED's convention, as LMRC does). Some documents hold
several entities with the same first-mention name (14 Re-DocRED dev, 25 test documents); there LMRC's prompts are
ambiguous. Rule here: in vertexSet order, the first entity with a name keeps it, the k-th (k >= 2) is named
'<name> #<k>' (k raised past any name already taken). ``entity_names`` gives each document's names, distinct by
construction, and the parser (harness.recipes.docre.parse) maps a name back through the same table.

Splitting: a document's pairs go into prompts of at most ``pairs_per_prompt`` pairs (in order; the last one holds
the rest), LMRC's n(n-1)/k inputs per document; 0 puts all pairs in one prompt. A document without pairs gets no
prompt.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from harness.recipes.docre.types import Document

HEADER = ("Below is an instruction that describes a task, paired with an input that provides further context. "
          "Write a response that appropriately completes the request.")
INSTRUCTION = ("This is a relation classification task. we will provide entity pairs that require relation "
               "classification. Your task is to select relations for each entity pair from the given relation set "
               "based on the information in the text. There may be multiple relations between an entity pair.\n"
               "The format of the input entity pair is '(head entity| -| tail entity)'.\n"
               "Your output format is '(head entity| relation| tail entity)'.")
EXTRACT_INSTRUCTION = ("Your task is to determine whether there are relations between the entity pairs based on the "
                       "information in the text. If there exists relations, select relations for the entity pairs "
                       "from the relation set; if there is no relation, return None.\n"
                       "The format of the input entity pair is '(head entity| -| tail entity)'.\n"
                       "Your output format is '(head entity| relation/None| tail entity)'.")
INSTRUCTIONS = {"lmrc": INSTRUCTION, "extract": EXTRACT_INSTRUCTION}  # binary: harness.recipes.docre.binary
STYLES = ("lmrc", "extract", "binary")
NONE = "None"  # the extract style's answer for a pair without a relation (the parser drops it as 'none')


def check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"prompts.style must be one of {' | '.join(STYLES)}, got {style!r}")
    return style


@dataclass(frozen=True)
class Prompt:
    id: str  # "<document index>:<chunk>" (unique within a file)
    title: str  # the document's title
    doc: int  # document index in its file
    chunk: int  # 0-based prompt number within the document
    pairs: tuple[tuple[int, int], ...]  # the (h, t) entity pairs asked, in prompt order
    text: str  # the full prompt, ending with "### Response:\n"
    answer: str | None  # gold answer lines (None when built without gold)

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "doc": self.doc, "chunk": self.chunk,
                "pairs": [list(p) for p in self.pairs], "prompt": self.text, "answer": self.answer}


def entity_names(doc: Document) -> list[str]:
    """Each entity's prompt name: the first mention's, '<name> #<k>' for the k-th entity sharing it."""
    taken = set(e.name for e in doc.entities)
    seen: Counter = Counter()
    out = []
    for e in doc.entities:
        seen[e.name] += 1
        name, k = e.name, seen[e.name]
        if k > 1:
            while f"{e.name} #{k}" in taken:
                k += 1
            name = f"{e.name} #{k}"
            taken.add(name)
        out.append(name)
    return out


def relation_set(relations: dict[str, str]) -> str:
    """LMRC's relation set: the names as a Python list literal, in rel_info.json order."""
    return str(list(relations.values()))


def doc_text(doc: Document) -> str:
    return " ".join(" ".join(s) for s in doc.sents)


def pair_line(names: list[str], h: int, t: int) -> str:
    return f"({names[h]}| -| {names[t]})"


def triple_line(names: list[str], h: int, r_name: str, t: int) -> str:
    return f"({names[h]}| {r_name}| {names[t]})"


def render(rel_set: str, text: str, pair_lines: list[str], style: str = "lmrc") -> str:
    return (f"{HEADER}\n\n### Instruction:\n{INSTRUCTIONS[style]}\n\n### Relation set:\n{rel_set}\n\n"
            f"### Text:\n{text}\n\n### {len(pair_lines)} Entity pairs:\n" + "\n".join(pair_lines)
            + "\n\n### Response:\n")


def gold_answer(doc: Document, names: list[str], pairs, relations: dict[str, str], style: str = "lmrc") -> str:
    """The gold triples of ``pairs`` (in order; a pair's relations in the file's order), one per line; ``extract``:
    '(head| None| tail)' for a pair without one."""
    by_pair: dict[tuple[int, int], list[str]] = {}
    for f in doc.facts:
        by_pair.setdefault((f.h, f.t), []).append(f.r)
    lines = []
    for h, t in pairs:
        rels = [relations[r] for r in by_pair.get((h, t), ())] or ([NONE] if style == "extract" else [])
        lines += [triple_line(names, h, r_name, t) for r_name in rels]
    return "\n".join(lines)


def chunks(pairs: list, size: int) -> list[list]:
    if size < 0:
        raise ValueError(f"pairs_per_prompt must be >= 0 (0 = all pairs in one prompt), got {size}")
    size = size or max(len(pairs), 1)
    return [pairs[i: i + size] for i in range(0, len(pairs), size)]


def doc_prompts(doc: Document, index: int, pairs, relations: dict[str, str], *, pairs_per_prompt: int,
                with_answer: bool, style: str = "lmrc") -> list[Prompt]:
    """The prompts of one document over ``pairs`` (ordered (h, t) entity pairs) in ``style``."""
    if check_style(style) == "binary":
        from harness.recipes.docre.binary import binary_prompt as make
    else:
        make = _rc_prompt
    names, rel_set, text = entity_names(doc), relation_set(relations), doc_text(doc)
    out = []
    for k, part in enumerate(chunks([tuple(p) for p in pairs], pairs_per_prompt)):
        prompt, answer = make(doc, names, rel_set, text, part, relations, style, with_answer)
        out.append(Prompt(f"{index}:{k}", doc.title, index, k, tuple(part), prompt, answer))
    return out


def _rc_prompt(doc, names, rel_set, text, part, relations, style, with_answer) -> tuple[str, str | None]:
    prompt = render(rel_set, text, [pair_line(names, h, t) for h, t in part], style)
    return prompt, gold_answer(doc, names, part, relations, style) if with_answer else None


def build_prompts(docs: list[Document], pairs_by_doc: list, relations: dict[str, str], *, pairs_per_prompt: int,
                  with_answer: bool, style: str = "lmrc") -> list[Prompt]:
    """Every document's prompts; ``pairs_by_doc[i]`` are document i's pairs."""
    if len(pairs_by_doc) != len(docs):
        raise ValueError(f"{len(pairs_by_doc)} pair lists for {len(docs)} documents")
    return [p for i, (d, pairs) in enumerate(zip(docs, pairs_by_doc))
            for p in doc_prompts(d, i, pairs, relations, pairs_per_prompt=pairs_per_prompt, with_answer=with_answer,
                                 style=style)]
