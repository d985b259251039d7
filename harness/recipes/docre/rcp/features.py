"""Documents -> RCP features (ATLOP's preprocessing, the reference code's binary labels).

Every word is tokenised on its own (word pieces, no special tokens); a ``*`` token goes before the first and after
the last word of every mention. A mention's position is that of its opening ``*`` in the full sequence
(``start_ids + content + end_ids``). Content beyond ``max_doc_len - specials`` tokens is cut; a mention whose
``*`` is cut is dropped, and an entity with no mention left gets a zero embedding (as ATLOP). Pairs are the
document's candidate pairs (every ordered pair of distinct entities, ``Document.candidate_pairs`` order); a pair's
label is 1 when it holds any gold relation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.recipes.docre.types import Document

MARK = "*"
CLS, SEP = "<cls>", "<sep>"  # the tiny tokenizer's sequence specials


@dataclass(frozen=True)
class Feature:
    title: str
    input_ids: list[int]  # start specials + content + end specials
    entity_pos: list[list[int]]  # per entity: positions of its mentions' opening `*` in input_ids (may be empty)
    pairs: list[tuple[int, int]]  # candidate (h, t) pairs
    labels: list[int]  # 1 = related (any gold relation), per pair

    def __len__(self) -> int:
        return len(self.input_ids)


def special_ids(tok) -> tuple[list[int], list[int]]:
    """(start, end) special ids of one sequence: [CLS] .. [SEP] (BERT), <s> .. </s> (RoBERTa), the tiny ones."""
    if tok.cls_token_id is None or tok.sep_token_id is None:
        raise ValueError("the RCP tokenizer needs a cls and a sep token (BERT / RoBERTa style)")
    return [tok.cls_token_id], [tok.sep_token_id]


def mark_id(tok) -> int:
    ids = tok.convert_tokens_to_ids([MARK])
    if not ids or ids[0] is None or ids[0] == tok.unk_token_id:
        raise ValueError(f"the tokenizer has no single token for the mention marker {MARK!r}")
    return ids[0]


def _marks(doc: Document) -> tuple[set, set]:
    """(sentence, word) indices where a mention starts / ends (inclusive)."""
    starts, ends = set(), set()
    for e in doc.entities:
        for m in e.mentions:
            starts.add((m.sent_id, m.pos[0]))
            ends.add((m.sent_id, m.pos[1] - 1))
    return starts, ends


def featurize(doc: Document, tok, max_doc_len: int) -> Feature:
    """One document's feature (see the module doc)."""
    start_ids, end_ids = special_ids(tok)
    star = mark_id(tok)
    pieces = tok([w for s in doc.sents for w in s], add_special_tokens=False)["input_ids"] if doc.sents else []
    starts, ends = _marks(doc)
    content, where, k = [], {}, 0
    for si, sent in enumerate(doc.sents):
        for wi in range(len(sent)):
            where[(si, wi)] = len(content)
            content += ([star] if (si, wi) in starts else []) + pieces[k] + ([star] if (si, wi) in ends else [])
            k += 1
    room = max_doc_len - len(start_ids) - len(end_ids)
    content = content[:room]
    off = len(start_ids)
    entity_pos = [[where[(m.sent_id, m.pos[0])] + off for m in e.mentions
                   if where[(m.sent_id, m.pos[0])] < len(content)] for e in doc.entities]
    related = doc.related_pairs()
    pairs = doc.candidate_pairs()
    return Feature(doc.title, start_ids + content + end_ids, entity_pos, pairs,
                   [int(p in related) for p in pairs])


def featurize_all(docs: list[Document], tok, max_doc_len: int) -> list[Feature]:
    return [featurize(d, tok, max_doc_len) for d in docs]


def collate(feats: list[Feature], pad_id: int) -> dict:
    """A padded batch: input_ids / attention_mask [B, T], and per document its entity positions and pairs;
    labels [sum pairs] (float)."""
    width = max(len(f) for f in feats)
    ids = torch.full((len(feats), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(feats), width), dtype=torch.long)
    for i, f in enumerate(feats):
        ids[i, :len(f)] = torch.tensor(f.input_ids)
        mask[i, :len(f)] = 1
    pairs = [torch.tensor(f.pairs, dtype=torch.long).reshape(-1, 2) for f in feats]
    labels = torch.tensor([y for f in feats for y in f.labels], dtype=torch.float32)
    return {"input_ids": ids, "attention_mask": mask, "entity_pos": [f.entity_pos for f in feats],
            "pairs": pairs, "labels": labels}


def to_device(batch: dict, device) -> dict:
    return {k: ([p.to(device) for p in v] if k == "pairs" else v.to(device) if torch.is_tensor(v) else v)
            for k, v in batch.items()}


def tokenizer_texts(docs: list[Document]) -> list[str]:
    """The corpus a tiny tokenizer is trained on: every training document's words, in order."""
    return [" ".join(w for s in d.sents for w in s) for d in docs]


def train_tiny_tokenizer(docs: list[Document], vocab_size: int = 1024):
    """A byte-level BPE trained on the documents (harness.models.tokenizer) with cls/sep specials added."""
    from harness.models.tokenizer import train_tokenizer

    tok = train_tokenizer(tokenizer_texts(docs), vocab_size)
    tok.add_special_tokens({"cls_token": CLS, "sep_token": SEP})
    return tok
