"""Sampling through Hugging Face ``model.generate`` with one seeded ``torch.Generator`` per completion.

HF's own sampling draws from the global RNG for the whole batch, so a completion would depend on which other
completions share its batch (and so on the batch size and the world size). Here ``RowSampler``, a logits processor,
draws each row's next token with that row's generator (temperature, then top-p, then ``torch.multinomial``) and
leaves only that token finite; ``generate`` runs greedy, so it takes the drawn token. A row's draws are then a
function of its own seed and its own tokens only: resume and sharding reproduce it exactly (up to the float noise
of batched matmuls, which moves a draw only when it falls within ~1e-7 of a boundary). Temperature 0 = greedy.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from harness.eval.batches import pad_rows


def row_seed(seed: int, relation: int, step: int, candidate: int) -> int:
    """A 63-bit seed of one completion, distinct for distinct (seed, relation, step, candidate)."""
    import hashlib

    blob = f"{seed}:{relation}:{step}:{candidate}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") & ((1 << 63) - 1)


class RowSampler(LogitsProcessor):
    def __init__(self, seeds: list[int], temperature: float, top_p: float, device):
        self.temperature, self.top_p = temperature, top_p
        self.gens = []
        for s in seeds:
            g = torch.Generator(device=device)
            g.manual_seed(s)
            self.gens.append(g)

    def _pick(self, logits: torch.Tensor, gen: torch.Generator) -> int:
        if self.temperature == 0:
            return int(logits.argmax())
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1:
            sorted_p, order = probs.sort(descending=True)
            keep = (sorted_p.cumsum(0) - sorted_p) < self.top_p  # the smallest prefix reaching top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
        return int(torch.multinomial(probs, 1, generator=gen))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(scores, float("-inf"))
        for i, gen in enumerate(self.gens):
            out[i, self._pick(scores[i], gen)] = 0.0
        return out


def sample_completions(model, tokenizer, prompts: list[str], seeds: list[int], *, temperature: float, top_p: float,
                       max_new_tokens: int) -> list[str]:
    """One completion per prompt (row i drawn with ``seeds[i]``), cut at EOS, decoded without special tokens."""
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids, mask = pad_rows(rows, max(len(r) for r in rows), pad, model.device, left=True)
    sampler = RowSampler(seeds, temperature, top_p, model.device)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                             num_beams=1, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
                             logits_processor=LogitsProcessorList([sampler]))
    texts = []
    for row in out[:, ids.shape[1]:].tolist():
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id)]
        texts.append(tokenizer.decode(row, skip_special_tokens=True))
    return texts
