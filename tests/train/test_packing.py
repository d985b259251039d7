"""Packed micro-batches (harness.data.tokenize.pack) against the same examples padded: the layout, the loss and
every gradient of the weighted loss in all normalisation modes, attention confined to each example (checked
against a deliberately leaking mask), and packed scoring."""

import pytest
import torch

from harness.constants import IGNORE_INDEX
from harness.data.examples import Example
from harness.data.prompts import get_template
from harness.data.tokenize import Encoded, collate, encode, pack, pack_rows, packed_batches
from harness.models import label_rows as lr
from harness.models.load import build_model
from harness.models.tokenizer import train_tokenizer
from harness.recipes.atlantis.scoring.score import make_batch, plan_batches, score_batch
from harness.train.loss import WeightedLoss
from harness.train.normaliser import batch_normaliser

TEXTS = ["The <e1>cat</e1> sat on the long <e2>mat</e2> today, and then it slept for a while.",
         "A <e1>burst</e1> caused the <e2>flood</e2>.",
         "Our <e1>company</e1> makes <e2>chairs</e2> in a small town near the sea.",
         "The <e1>key</e1> was in a <e2>box</e2>."]
LABELS = ["Other", "Cause-Effect(e1,e2)", "Product-Producer(e2,e1)", "Content-Container(e1,e2)"]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXTS * 5 + [" ".join(LABELS)], 300)


def _encoded(tok, n: int = 7, no_label: int | None = 3) -> Encoded:
    """``n`` examples of uneven length; example ``no_label`` has an empty target (no label token at all)."""
    exs = [Example(str(i), TEXTS[i % 4] + " x" * i, "h", "t", (0, 1), (0, 1), LABELS[i % 4], "train")
           for i in range(n)]
    enc = encode(exs, tok, get_template("semeval"), "causal")
    if no_label is not None:
        enc.target_ids[no_label] = []
    return enc


def _model(spec: str, tok, dtype=torch.float32):
    torch.manual_seed(0)
    return build_model(spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id).to(dtype)


def test_pack_rows_budget_and_long_examples():
    assert pack_rows([3, 4, 2, 9, 1], 7) == [[0], [1, 2], [3], [4]]  # 4 rows (greedy), balanced within 6
    assert pack_rows([5, 5, 5, 5, 5], 20) == [[0, 1, 2], [3, 4]]  # not [[0, 1, 2, 3], [4]]
    assert pack_rows([4, 4], 100) == [[0, 1]]
    assert pack_rows([10], 4) == [[0]]  # longer than the budget: a row of its own
    with pytest.raises(ValueError):
        pack_rows([1], 0)


def test_pack_layout(tok):
    enc = _encoded(tok, no_label=None)
    idx = [4, 0, 2, 1]
    b = pack(enc, idx, 2 * max(enc.n_tokens(i) for i in idx) - 1)  # at most one or two examples per row
    assert b["input_ids"].shape[0] > 1 and b["example_index"].tolist() == idx
    for slot, i in enumerate(idx):
        at = b["seq_ids"] == slot
        r = int(at.any(dim=1).nonzero()[0])
        assert b["input_ids"][at].tolist() == enc.prompt_ids[i] + enc.target_ids[i]
        assert b["position_ids"][at].tolist() == list(range(enc.n_tokens(i)))
        lab = b["labels"][at]
        assert lab[0] == IGNORE_INDEX and lab[lab != IGNORE_INDEX].tolist() == enc.target_ids[i]
        assert int(at[r].sum()) == enc.n_tokens(i)
    assert int(b["attention_mask"].sum()) == sum(enc.n_tokens(i) for i in idx)
    assert (b["labels"][b["seq_ids"] < 0] == IGNORE_INDEX).all()


def _loss_and_grads(model, batch, weights, mode, normaliser):
    model.zero_grad(set_to_none=True)
    loss = WeightedLoss(model, norm_mode=mode)(batch, weights, normaliser)
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("spec", ["tiny-qwen2", "tiny-qwen2-tied"])
@pytest.mark.parametrize("mode", ["token", "example", "sequence"])
def test_packed_loss_and_gradients_equal_padded(tok, spec, mode):
    enc = _encoded(tok)
    model = _model(spec, tok)
    idx = [5, 0, 3, 6, 1, 2]
    weights = torch.tensor([1.5, 0.0, 2.0, 0.5, 1.0, 0.0])  # zero-weight examples; slot 2 has no label token
    padded = collate(enc, idx)
    packed = pack(enc, idx, 2 * max(enc.n_tokens(i) for i in idx))  # several rows, padded to the longest
    assert packed["input_ids"].shape[0] > 1 and packed["input_ids"].numel() < padded["input_ids"].numel()
    norm = batch_normaliser(padded, "causal", mode)
    assert batch_normaliser(packed, "causal", mode) == norm
    norm += 3.0  # the step's global normaliser also counts other micro-batches
    ref_loss, ref_grads = _loss_and_grads(model, padded, weights, mode, norm)
    loss, grads = _loss_and_grads(model, packed, weights, mode, norm)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-7)
    assert grads.keys() == ref_grads.keys() and len(grads) == len(list(model.parameters()))
    for k in ref_grads:
        torch.testing.assert_close(grads[k], ref_grads[k], rtol=1e-5, atol=1e-7, msg=k)


def _example_scores(model, enc, idx):
    """Per-example label log-likelihood from one packed row holding every example of ``idx``."""
    sums, _ = score_batch(model, pack(enc, idx, 10_000))
    return sums


def _leaky_mask(seq_ids, dtype):
    """A plain causal mask over the whole row: attention crosses example boundaries."""
    return ORIGINAL_MASK(torch.zeros_like(seq_ids), dtype)


ORIGINAL_MASK = lr.block_causal_mask


@pytest.mark.parametrize("leak", [False, True])
def test_no_attention_across_example_boundaries(tok, monkeypatch, leak):
    """Change the middle example of a packed row: its neighbours' scores must not move (and do move when the
    mask is deliberately made to leak, which proves the check can fail)."""
    if leak:
        monkeypatch.setattr(lr, "block_causal_mask", _leaky_mask)
    enc = _encoded(tok, no_label=None)
    model = _model("tiny-qwen2", tok, torch.float64).eval()
    before = _example_scores(model, enc, [0, 1, 2])
    enc.prompt_ids[1] = [(t + 7) % 200 + 3 for t in enc.prompt_ids[1]][:-2]  # other tokens, other length
    after = _example_scores(model, enc, [0, 1, 2])
    assert not torch.allclose(before[1], after[1])
    torch.testing.assert_close(after[0], before[0], rtol=0, atol=1e-12)  # before it in the row: causal anyway
    if leak:
        assert not torch.allclose(after[2], before[2], rtol=0, atol=1e-6)
    else:
        torch.testing.assert_close(after[2], before[2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", ["tiny-qwen2", "tiny-qwen2-tied"])
def test_packed_scores_equal_padded(tok, spec):
    enc = _encoded(tok, n=13, no_label=None)
    model = _model(spec, tok).eval()
    got = torch.zeros(len(enc), dtype=torch.float64)
    ref = torch.zeros(len(enc), dtype=torch.float64)
    budget = 3 * max(enc.n_tokens(i) for i in range(len(enc)))
    batches = plan_batches(enc, budget, packing=True)
    assert batches == packed_batches(enc, list(range(len(enc))), budget) and len(batches) > 1
    assert sorted(i for b in batches for i in b) == list(range(len(enc)))
    for b in batches:
        got[b], counts = score_batch(model, make_batch(enc, b, packing=True))
        assert counts.tolist() == [len(enc.target_ids[i]) for i in b]
    for b in plan_batches(enc, budget):
        ref[b] = score_batch(model, collate(enc, b))[0]
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-4)
