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


# ---- sdpa_segments (harness.models.attention): per-example SDPA on packed rows, issue 22 ---------------------------
def _seg_model(spec: str, tok, attn: str, dtype=torch.float64):
    torch.manual_seed(0)
    return build_model(spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id,
                       attn_impl=attn).to(dtype)


@pytest.mark.parametrize("spec", ["tiny-qwen2", "tiny-qwen2-tied"])
@pytest.mark.parametrize("row_tokens", [0, 1, 3])  # x the longest example: 0 = one example per row
def test_sdpa_segments_packed_equals_padded(tok, spec, row_tokens):
    """Loss and every gradient of the weighted loss on packed rows under ``sdpa_segments`` against the same
    examples padded under plain sdpa, in float64 (odd lengths, a row of one example, rows ending in padding, an
    example without label tokens): equal to 1e-10. In float32 the two agree to the 1e-5 of the 4-D-mask test."""
    enc = _encoded(tok)
    idx = [5, 0, 3, 6, 1, 2, 4]
    longest = max(enc.n_tokens(i) for i in idx)
    packed = pack(enc, idx, max(1, row_tokens * longest))
    assert (packed["seq_ids"] < 0).any() or row_tokens == 3  # some rows end in padding
    weights = torch.tensor([1.5, 0.0, 2.0, 0.5, 1.0, 0.3, 0.7])
    padded = collate(enc, idx)
    norm = batch_normaliser(padded, "causal", "token") + 3.0
    ref_loss, ref_grads = _loss_and_grads(_seg_model(spec, tok, "sdpa"), padded, weights, "token", norm)
    model = _seg_model(spec, tok, "sdpa_segments")
    assert model.config._attn_implementation == "sdpa_segments"
    loss, grads = _loss_and_grads(model, packed, weights, "token", norm)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-10, atol=1e-12)
    assert grads.keys() == ref_grads.keys() and len(grads) == len(list(model.parameters()))
    for k in ref_grads:
        torch.testing.assert_close(grads[k], ref_grads[k], rtol=1e-10, atol=1e-12, msg=k)


def test_sdpa_segments_padded_batches_are_plain_sdpa(tok):
    """Without segments (padded batches, scoring) the function is transformers' sdpa: identical outputs."""
    enc = _encoded(tok)
    b = collate(enc, [0, 1, 2, 5])
    outs = [lr.body_hidden(_seg_model("tiny-qwen2", tok, a, torch.float32), b) for a in ("sdpa", "sdpa_segments")]
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=0)


def test_segment_bounds():
    from harness.models.attention import segment_bounds

    ids = torch.tensor([[0, 0, 0, 1, 1, -1], [2, 2, 2, 2, 2, 2]])
    assert segment_bounds(ids) == [[(0, 3), (3, 5), (5, 6)], [(0, 6)]]


# ---- the default (packed) path on the GPU: run by scripts/device_run.sh (pytest -m gpu) ---------------------------
GPU_TOL = {torch.float32: 1e-4, torch.bfloat16: 3e-2}  # relative, on the loss and on each gradient's norm of error


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("attn", ["sdpa", "sdpa_segments"])  # sdpa: the 4-D block mask (the default without flash)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("spec", ["tiny-qwen2", "qwen2-0.5b-shape"])
def test_gpu_packed_loss_and_gradients_equal_padded(tok, spec, dtype, attn):
    """On CUDA: the weighted loss and every gradient on packed rows (several rows, padding, an example without
    label tokens) equal the same examples padded under sdpa. fp32: 1e-4 relative (SDPA's CUDA kernels sum in
    other orders than the padded run's); bf16: 3e-2 relative on the loss and on ||g_packed - g_padded|| / ||g_padded||
    per parameter (bf16 rounding of activations that differ by layout)."""
    enc = _encoded(tok)
    idx = [5, 0, 3, 6, 1, 2, 4]
    weights = torch.tensor([1.5, 0.0, 2.0, 0.5, 1.0, 0.3, 0.7], device="cuda")
    to = lambda b: {k: v.cuda() for k, v in b.items()}  # noqa: E731
    padded = to(collate(enc, idx))
    packed = to(pack(enc, idx, 2 * max(enc.n_tokens(i) for i in idx)))
    norm = batch_normaliser(padded, "causal", "token")
    got = {}
    for name, batch, impl in (("padded", padded, "sdpa"), ("packed", packed, attn)):
        torch.manual_seed(0)
        model = build_model(spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id,
                            device="cuda", attn_impl=impl, dtype=str(dtype).replace("torch.", ""))
        got[name] = _loss_and_grads(model, batch, weights, "token", norm)
    tol = GPU_TOL[dtype]
    (ref_loss, ref_grads), (loss, grads) = got["padded"], got["packed"]
    assert abs(float(loss) - float(ref_loss)) <= tol * abs(float(ref_loss))
    assert grads.keys() == ref_grads.keys()
    for k, g in ref_grads.items():
        err = float((grads[k].float() - g.float()).norm())
        assert err <= tol * float(g.float().norm()) + 1e-6, f"{k}: |diff| {err:.3g} vs |grad| {float(g.norm()):.3g}"
