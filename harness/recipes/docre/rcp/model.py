"""The RCP classifier (LMRC section 3.1, ATLOP's architecture with one binary logit) and its training loss.

For one document with hidden states H [T, d] and last-layer attention A [heads, T, T]:
  entity embedding    h_e = logsumexp_j H[m_j] over the entity's mention-start (`*`) positions m_j (0 if none)
  entity attention    A_e = mean_j A[:, m_j, :]                                       [heads, T]
  pair context        q = mean_heads(A_h * A_t), q = q / (sum q + 1e-5), c = H^T q    [d]
  extractors          z_h = tanh(W_h [h_h; c] + b_h), z_t = tanh(W_t [h_t; c] + b_t)  [emb]
  grouped bilinear    z split into k = emb / bs blocks of bs; logit = sum_i z_h,i^T W_i z_t,i + b, i.e. a bilinear
                      form whose matrix is block-diagonal with k blocks of bs x bs (ATLOP's memory-saving form)
P(related) = sigmoid(logit). The paper's eq. 6 writes P(NA); this logit is that of "related" (1 - P(NA)); the
reference code uses two sigmoid outputs and BCE on one-hot labels, which is two copies of one binary task.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.recipes.docre.rcp.encoder import encode_long


def entity_pool(hidden: torch.Tensor, att: torch.Tensor, entity_pos: list[list[int]]):
    """(entity embeddings [E, d] by logsumexp, entity attentions [E, heads, T] by mean) of one document."""
    n_ent, most = len(entity_pos), max((len(p) for p in entity_pos), default=0)
    idx = torch.zeros((n_ent, max(most, 1)), dtype=torch.long, device=hidden.device)
    valid = torch.zeros_like(idx, dtype=torch.bool)
    for e, pos in enumerate(entity_pos):
        idx[e, :len(pos)] = torch.tensor(pos, dtype=torch.long)
        valid[e, :len(pos)] = True
    has = valid.any(1)
    emb = hidden[idx]  # [E, M, d]
    # padding slots: -inf (ignored by logsumexp); an entity with no mention: 0s, so no -inf - -inf NaN in backward
    fill = torch.where(has, float("-inf"), 0.0).to(hidden.dtype)[:, None, None]
    emb = torch.where(valid[..., None], emb, fill).logsumexp(1)
    emb = torch.where(has[:, None], emb, torch.zeros_like(emb))
    # mean of the mention rows as one matmul: weights [E, T] (1/|M_e| at the entity's mention positions) x A
    # (a gather of [heads, E, M, T] rows would scatter into a zero-filled [heads, T, T] in backward)
    w = valid.to(att.dtype) / valid.sum(1, keepdim=True).clamp_min(1).to(att.dtype)
    sel = att.new_zeros(n_ent, att.shape[-1]).index_put_((torch.arange(n_ent, device=idx.device)[:, None].expand_as(idx),
                                                          idx), w, accumulate=True)
    return emb, torch.einsum("et,htj->ehj", sel, att)


def pair_context(hidden: torch.Tensor, ent_att: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Localized context embeddings c [P, d] of ``pairs`` [P, 2] from entity attentions [E, heads, T]."""
    q = (ent_att[pairs[:, 0]] * ent_att[pairs[:, 1]]).mean(1)
    q = q / (q.sum(1, keepdim=True) + 1e-5)
    return q @ hidden


class GroupedBilinear(nn.Module):
    """logit = sum over blocks i of z_h,i^T W_i z_t,i + b (one output), ATLOP's grouped bilinear."""

    def __init__(self, emb_size: int, block_size: int):
        super().__init__()
        if emb_size % block_size:
            raise ValueError(f"emb_size {emb_size} is not a multiple of block_size {block_size}")
        self.emb, self.bs = emb_size, block_size
        self.linear = nn.Linear(emb_size * block_size, 1)

    def forward(self, zh: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        # = linear(outer product [P, k, bs, bs] flattened), without materialising the outer product (P x emb x bs
        # values, forward and backward: the bulk of a CPU training step with ~400 pairs per document)
        k = self.emb // self.bs
        w = self.linear.weight.view(k, self.bs, self.bs)
        u = torch.einsum("pka,kab->pkb", zh.view(-1, k, self.bs), w)
        return (u * zt.view(-1, k, self.bs)).sum((1, 2)) + self.linear.bias

    def block_matrix(self) -> torch.Tensor:
        """The equivalent [emb, emb] block-diagonal bilinear matrix (tests)."""
        blocks = self.linear.weight.view(self.emb // self.bs, self.bs, self.bs)
        return torch.block_diag(*blocks)


class RCPModel(nn.Module):
    """``forward(batch) -> logits [sum of pairs]`` (documents in batch order, each document's pairs in order)."""

    def __init__(self, encoder: nn.Module, *, emb_size: int, block_size: int, window: int,
                 start_ids: list[int], end_ids: list[int]):
        super().__init__()
        d = encoder.config.hidden_size
        self.encoder = encoder
        self.head_extractor = nn.Linear(2 * d, emb_size)
        self.tail_extractor = nn.Linear(2 * d, emb_size)
        self.bilinear = GroupedBilinear(emb_size, block_size)
        self.window, self.start_ids, self.end_ids = window, list(start_ids), list(end_ids)

    def encode(self, ids, mask):
        out = self.encoder(input_ids=ids, attention_mask=mask, output_attentions=True)
        return out.last_hidden_state, out.attentions[-1]

    def forward(self, batch: dict) -> torch.Tensor:
        hidden, att = encode_long(self.encode, batch["input_ids"], batch["attention_mask"], self.start_ids,
                                  self.end_ids, self.window)
        hs, ts, cs = [], [], []
        # unbind, not hidden[i]: one backward op for the batch instead of a zero-filled [B, H, T, T] per document
        for h_i, a_i, pos, pairs in zip(hidden.unbind(0), att.unbind(0), batch["entity_pos"], batch["pairs"]):
            if len(pairs) == 0:
                continue
            emb, ent_att = entity_pool(h_i, a_i, pos)
            hs.append(emb[pairs[:, 0]])
            ts.append(emb[pairs[:, 1]])
            cs.append(pair_context(h_i, ent_att, pairs))
        if not hs:
            return hidden.new_zeros(0)
        h, t, c = torch.cat(hs), torch.cat(ts), torch.cat(cs)
        zh = torch.tanh(self.head_extractor(torch.cat([h, c], 1)))
        zt = torch.tanh(self.tail_extractor(torch.cat([t, c], 1)))
        return self.bilinear(zh, zt)

    def head_parameters(self) -> list[str]:
        """Names of the parameters trained at ``head_lr`` (everything but the encoder)."""
        return [n for n, _ in self.named_parameters() if not n.startswith("encoder.")]


class RCPLoss(nn.Module):
    """The engine's loss module: ``forward(batch, example_weights, normaliser)`` -> this micro-batch's share of
    the step loss = sum over its pairs of BCE(logit, related) / normaliser, the normaliser being the step's pairs
    over every rank (so a step's loss is the mean BCE over its pairs, the reference's ``BCEWithLogitsLoss``, for
    any split over ranks and micro-batches). ``pos_weight`` weights the related pairs' terms (1 = unweighted)."""

    def __init__(self, model: RCPModel, *, pos_weight: float = 1.0, **_unused):
        super().__init__()
        self.model, self.pos_weight = model, float(pos_weight)

    def forward(self, batch: dict, example_weights=None, normaliser: float = 1.0) -> torch.Tensor:
        if not normaliser > 0:
            raise ValueError(f"the step's pair count must be > 0, got {normaliser}")
        logits = self.model(batch).float()
        pw = torch.tensor(self.pos_weight, device=logits.device) if self.pos_weight != 1.0 else None
        loss = nn.functional.binary_cross_entropy_with_logits(logits, batch["labels"].float(), pos_weight=pw,
                                                              reduction="sum")
        return loss / float(normaliser)
