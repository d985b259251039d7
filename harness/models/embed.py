"""Sentence embeddings with a BERT-style encoder, the sentence-transformers recipe written with ``transformers``
only: the last hidden states averaged over the attention mask (padding excluded), then L2-normalised, so a dot
product is the cosine similarity. all-MiniLM-L6-v2 (the ``minilm-l6`` asset) was trained for exactly this pooling
(its ``1_Pooling/config.json``: mean tokens) with inputs cut at 256 tokens (``sentence_bert_config.json``).
"""

from __future__ import annotations

import torch

from harness.models.assets import resolve_checkpoint

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length; longer inputs are cut


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T, d] states, [B, T] 0/1 mask -> [B, d] L2-normalised means over the unmasked positions."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    mean = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=-1)


class SentenceEmbedder:
    """``embed(texts) -> [N, d]`` unit vectors (float32, CPU) from a local encoder checkpoint or asset name."""

    def __init__(self, spec: str = "minilm-l6", *, device: str = "cpu", batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        path = resolve_checkpoint(spec)
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(device).eval()
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def embed(self, texts: list[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tok(texts[i:i + self.batch_size], padding=True, truncation=True, max_length=MAX_TOKENS,
                           return_tensors="pt").to(self.device)
            hidden = self.model(**enc).last_hidden_state
            out.append(mean_pool(hidden.float(), enc["attention_mask"]).cpu())
        return torch.cat(out) if out else torch.zeros(0, self.model.config.hidden_size)
