"""Greedy decoding with exact and normalised matching to the label space.

An output that matches no label (or, normalised, more than one) is INVALID: its prediction is ``None``, it is
counted and scored wrong, never mapped to a label. Sharded like ranking (``harness.eval.batches``): every rank
calls ``generate`` the same number of times (dummy batches dropped), with ``synced_gpus`` when several ranks run.
"""

from __future__ import annotations

import re

from harness import dist
from harness.data.examples import Example
from harness.data.prompts import Template
from harness.data.tokenize import encode
from harness.eval.batches import pad_rows, sharded_batches
from harness.models.load import family_of


def normalise(text: str) -> str:
    """Case, whitespace, hyphens and underscores ignored: ``cause effect (E1, e2)`` ~ ``Cause-Effect(e1,e2)``."""
    return re.sub(r"[\s\-_]+", "", text.lower())


def match_label(text: str, labels) -> tuple[str | None, str]:
    """(label or None, how) with how in exact | normalised | invalid."""
    t = text.strip()
    if t in labels:
        return t, "exact"
    hits = [lab for lab in labels if normalise(lab) == normalise(t)]
    if len(hits) == 1:
        return hits[0], "normalised"
    return None, "invalid"


def greedy_texts(model, tokenizer, prompts: list[list[int]], *, pad_id: int, max_new_tokens: int) -> list[str]:
    """Greedy continuations of token-id prompts, cut at the first EOS, decoded without special tokens."""
    causal = family_of(model.config) == "causal"
    ids, mask = pad_rows(prompts, max(len(p) for p in prompts), pad_id, model.device, left=causal)
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                         num_beams=1, pad_token_id=pad_id, eos_token_id=tokenizer.eos_token_id,
                         synced_gpus=dist.world() > 1)
    new = out[:, ids.shape[1]:] if causal else out[:, 1:]
    texts = []
    for row in new.tolist():
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id)]
        texts.append(tokenizer.decode(row, skip_special_tokens=True))
    return texts


def generate_predict(model, tokenizer, examples: list[Example], labels, template: Template, *,
                     batch_examples: int = 16, max_new_tokens: int = 16) -> tuple[list[str | None], dict]:
    """Predictions (None = invalid) and {"texts", "match_counts"} for every example, on every rank."""
    if not examples:
        raise ValueError("no examples to decode")
    family = family_of(model.config)
    enc = encode(examples, tokenizer, template, family, labels=[labels[0]] * len(examples))

    def decode(idx: list[int]) -> list[str]:
        return greedy_texts(model, tokenizer, [enc.prompt_ids[i] for i in idx], pad_id=enc.pad_id,
                            max_new_tokens=max_new_tokens)

    merged = {}
    for idx, batch_texts in sharded_batches(model, len(examples), batch_examples, decode):
        merged.update(zip(idx, batch_texts))
    texts = [merged[i] for i in range(len(examples))]
    preds, counts = [], {"exact": 0, "normalised": 0, "invalid": 0}
    for t in texts:
        lab, how = match_label(t, labels)
        preds.append(lab)
        counts[how] += 1
    return preds, {"texts": texts, "match_counts": counts}
