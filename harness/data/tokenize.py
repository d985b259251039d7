"""Examples -> token ids for both model families, and padded or packed batches.

Canonical form (index i = example i everywhere downstream):
  prompt_ids[i]  the rendered prompt (causal: no special tokens; seq2seq: the tokenizer's own, e.g. T5's </s>)
  target_ids[i]  the label text (+ the template's label_prefix for causal models) followed by EOS
Batches:
  causal   input_ids = prompt + target; labels = [-100]*len(prompt) + target (HF layout: unshifted,
           the position t label is predicted from hidden t-1)
  seq2seq  input_ids = prompt; decoder_input_ids = [start] + target[:-1]; labels = target
Packed batches (causal only, ``pack``): the examples' prompt + target sequences concatenated in order into rows of
at most a token budget (``pack_rows``: fewest rows, balanced), rows right-padded to the longest row;
``position_ids`` restart at 0 for each example and ``seq_ids`` name each token's example slot (0..B-1 in
``indices`` order; -1 = padding), from which harness.models.label_rows confines attention to each example and
maps label rows to their example.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.constants import IGNORE_INDEX
from harness.data.examples import Example
from harness.data.prompts import Template


@dataclass
class Encoded:
    prompt_ids: list[list[int]]
    target_ids: list[list[int]]
    family: str  # causal | seq2seq
    pad_id: int
    eos_id: int
    decoder_start_id: int  # seq2seq only (the model config's decoder_start_token_id)

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def n_tokens(self, i: int) -> int:
        """Tokens example i costs in a batch row (causal: prompt+target; seq2seq: the larger side)."""
        p, t = len(self.prompt_ids[i]), len(self.target_ids[i])
        return p + t if self.family == "causal" else max(p, t)


def encode_label(tokenizer, label: str, family: str, template: Template) -> list[int]:
    """Target ids of a label text: (prefix +) label tokens + EOS."""
    text = (template.label_prefix + label) if family == "causal" else label
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return list(ids) + [tokenizer.eos_token_id]


def encode(examples: list[Example], tokenizer, template: Template, family: str, *,
           decoder_start_id: int | None = None, labels: list[str] | None = None) -> Encoded:
    """Tokenise prompts and targets (the training label, unless ``labels`` overrides per example)."""
    if family not in ("causal", "seq2seq"):
        raise ValueError(f"family must be 'causal' or 'seq2seq', got {family!r}")
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; targets end with EOS")
    prompts = [template.render(ex) for ex in examples]
    prompt_ids = tokenizer(prompts, add_special_tokens=(family == "seq2seq"))["input_ids"]
    label_texts = labels if labels is not None else [ex.train_label for ex in examples]
    cache: dict[str, list[int]] = {}
    target_ids = []
    for lab in label_texts:
        if lab not in cache:
            cache[lab] = encode_label(tokenizer, lab, family, template)
        target_ids.append(cache[lab])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    start = pad if decoder_start_id is None else decoder_start_id
    return Encoded([list(p) for p in prompt_ids], target_ids, family, pad, tokenizer.eos_token_id, start)


def collate(enc: Encoded, indices: list[int], *, pad_to_multiple: int = 1) -> dict[str, torch.Tensor]:
    """A right-padded batch of examples ``indices`` (plus ``example_index``)."""
    if enc.family == "causal":
        seqs = [enc.prompt_ids[i] + enc.target_ids[i] for i in indices]
        labs = [[IGNORE_INDEX] * len(enc.prompt_ids[i]) + enc.target_ids[i] for i in indices]
        out = _pad(seqs, labs, enc.pad_id, pad_to_multiple)
    else:
        enc_in = [enc.prompt_ids[i] for i in indices]
        tgt = [enc.target_ids[i] for i in indices]
        dec_in = [[enc.decoder_start_id] + t[:-1] for t in tgt]
        out = _pad(enc_in, None, enc.pad_id, pad_to_multiple)
        dec = _pad(dec_in, tgt, enc.pad_id, pad_to_multiple)
        out["decoder_input_ids"] = dec["input_ids"]
        out["decoder_attention_mask"] = dec["attention_mask"]
        out["labels"] = dec["labels"]
    out["example_index"] = torch.tensor(indices, dtype=torch.long)
    return out


def _pad(seqs: list[list[int]], labs: list[list[int]] | None, pad_id: int, multiple: int) -> dict:
    width = max(len(s) for s in seqs)
    width = -(-width // multiple) * multiple
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    lab = torch.full((len(seqs), width), IGNORE_INDEX, dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[r, : len(s)] = 1
        if labs is not None:
            lab[r, : len(labs[r])] = torch.tensor(labs[r], dtype=torch.long)
    out = {"input_ids": ids, "attention_mask": mask}
    if labs is not None:
        out["labels"] = lab
    return out


def token_budget_batches(enc: Encoded, indices: list[int], tokens_per_batch: int) -> list[list[int]]:
    """Sort ``indices`` by length (stable, ties by index) and cut batches whose padded size
    (rows x longest row) stays within ``tokens_per_batch`` (a single longer example gets its own batch)."""
    order = sorted(indices, key=lambda i: (enc.n_tokens(i), i))
    batches, cur, longest = [], [], 0
    for i in order:
        n = enc.n_tokens(i)
        if cur and max(longest, n) * (len(cur) + 1) > tokens_per_batch:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    return batches


def pack_rows(lengths: list[int], row_tokens: int) -> list[list[int]]:
    """Slots 0..len-1 in order, cut into as few rows as a greedy fill within ``row_tokens`` makes (a longer
    example gets a row of its own), balanced: the smallest budget <= ``row_tokens`` that still gives that many rows,
    so the rows, padded to the longest, waste little (a full row and a nearly empty last one would not)."""
    if row_tokens <= 0:
        raise ValueError(f"the packed row budget must be > 0 tokens, got {row_tokens}")
    n = len(_greedy_rows(lengths, row_tokens))
    budget = -(-sum(lengths) // n)
    while len(rows := _greedy_rows(lengths, budget)) > n:
        budget += 1
    return rows


def _greedy_rows(lengths: list[int], row_tokens: int) -> list[list[int]]:
    rows, cur, used = [], [], 0
    for slot, n in enumerate(lengths):
        if cur and used + n > row_tokens:
            rows.append(cur)
            cur, used = [], 0
        cur.append(slot)
        used += n
    if cur:
        rows.append(cur)
    return rows


def pack(enc: Encoded, indices: list[int], row_tokens: int) -> dict[str, torch.Tensor]:
    """A packed batch of causal examples ``indices`` (see the module doc): input_ids, labels, position_ids,
    seq_ids [R, T], attention_mask [R, T] (1 = a real token; the model never sees it: the attention follows
    ``seq_ids``), example_index [B]. The first token of every example has no label (the padded layout drops it
    with the shift), so no example is predicted from its neighbour's last hidden state."""
    if enc.family != "causal":
        raise ValueError("packed batches are for causal models only (seq2seq batches stay padded)")
    seqs = [enc.prompt_ids[i] + enc.target_ids[i] for i in indices]
    rows = pack_rows([len(s) for s in seqs], row_tokens)
    width = max(sum(len(seqs[k]) for k in row) for row in rows)
    shape = (len(rows), width)
    out = {"input_ids": torch.full(shape, enc.pad_id, dtype=torch.long),
           "labels": torch.full(shape, IGNORE_INDEX, dtype=torch.long),
           "position_ids": torch.zeros(shape, dtype=torch.long),
           "seq_ids": torch.full(shape, -1, dtype=torch.long),
           "attention_mask": torch.zeros(shape, dtype=torch.long)}
    for r, row in enumerate(rows):
        at = 0
        for k in row:
            i, n = indices[k], len(seqs[k])
            lab = [IGNORE_INDEX] * len(enc.prompt_ids[i]) + enc.target_ids[i]
            lab[0] = IGNORE_INDEX
            _fill(out, r, at, n, seqs[k], lab, k)
            at += n
        out["position_ids"][r, at:] = torch.arange(width - at)  # padding: a segment of its own
    out["example_index"] = torch.tensor(indices, dtype=torch.long)
    return out


def _fill(out: dict, r: int, at: int, n: int, seq: list[int], lab: list[int], slot: int) -> None:
    sl = slice(at, at + n)
    out["input_ids"][r, sl] = torch.tensor(seq, dtype=torch.long)
    out["labels"][r, sl] = torch.tensor(lab, dtype=torch.long)
    out["position_ids"][r, sl] = torch.arange(n)
    out["seq_ids"][r, sl] = slot
    out["attention_mask"][r, sl] = 1


def packed_batches(enc: Encoded, indices: list[int], tokens_per_batch: int) -> list[list[int]]:
    """Sort ``indices`` by length (stable, ties by index) and cut batches whose summed tokens stay within
    ``tokens_per_batch`` (a single longer example gets its own batch): the packed counterpart of
    ``token_budget_batches``."""
    order = sorted(indices, key=lambda i: (enc.n_tokens(i), i))
    return [[order[k] for k in row] for row in _greedy_rows([enc.n_tokens(i) for i in order], tokens_per_batch)]
