"""Sentence embeddings (harness.models.embed): the pooling against a loop, and all-MiniLM-L6-v2's cosine
similarities on fixed sentences against values stored here.

Stored values: computed once (2026-12-04, harness.models.embed on the ``minilm-l6`` asset, torch 2.13.0 CPU fp32,
transformers 5.23.0); the first two are also the ones issue 25 quotes from sentence-transformers' own pipeline
("A man is eating food." vs "A man is eating a piece of bread." 0.755, vs "The girl is carrying a baby." -0.105),
so the transformers-only pooling reproduces the library's."""

import pytest
import torch

from harness.models.embed import mean_pool

SENTENCES = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
             "A man is riding a horse."]
STORED = {(0, 1): 0.755337, (0, 2): -0.104958, (1, 2): -0.061017, (0, 3): 0.247402}


def test_mean_pool_matches_loop():
    torch.manual_seed(0)
    hidden = torch.randn(2, 5, 3, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    got = mean_pool(hidden, mask)
    for b in range(2):
        rows = [hidden[b, t] for t in range(5) if mask[b, t]]
        m = sum(rows) / len(rows)
        torch.testing.assert_close(got[b], m / m.norm(), rtol=1e-12, atol=1e-12)


@pytest.mark.model
def test_minilm_similarities_match_stored_values(minilm):
    v = minilm.embed(SENTENCES)
    assert v.shape == (4, 384)
    torch.testing.assert_close(v.norm(dim=1), torch.ones(4), rtol=0, atol=1e-6)
    sims = v @ v.T
    for (i, j), want in STORED.items():
        assert sims[i, j].item() == pytest.approx(want, abs=1e-4), (SENTENCES[i], SENTENCES[j])
    # padding does not change an embedding: one sentence alone == the same sentence in a padded batch
    torch.testing.assert_close(minilm.embed(SENTENCES[:1])[0], v[0], rtol=0, atol=1e-5)
