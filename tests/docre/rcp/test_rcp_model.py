"""RCP's pooling and classifier against naive float64 loops (the LMRC / ATLOP formulas written out)."""

import math

import pytest
import torch

from harness.recipes.docre.rcp.model import GroupedBilinear, RCPLoss, entity_pool, pair_context


def _doc(seed=0, t=11, d=6, heads=3):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(t, d, generator=g, dtype=torch.float64)
    att = torch.rand(heads, t, t, generator=g, dtype=torch.float64)
    att = att / att.sum(-1, keepdim=True)
    return hidden, att


ENTITY_POS = [[1, 4, 9], [2], [6, 7], []]  # an entity with no mention left (cut by truncation) gets zeros


def test_entity_pool_logsumexp_and_mean_attention_vs_loop():
    hidden, att = _doc()
    emb, ent_att = entity_pool(hidden, att, ENTITY_POS)
    for e, pos in enumerate(ENTITY_POS):
        for k in range(hidden.shape[1]):
            want = math.log(sum(math.exp(hidden[p, k].item()) for p in pos)) if pos else 0.0
            assert emb[e, k].item() == pytest.approx(want, rel=1e-12, abs=1e-12)
        for h in range(att.shape[0]):
            for j in range(att.shape[2]):
                want = sum(att[h, p, j].item() for p in pos) / len(pos) if pos else 0.0
                assert ent_att[e, h, j].item() == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_pair_context_vs_loop():
    hidden, att = _doc(1)
    _, ent_att = entity_pool(hidden, att, ENTITY_POS)
    pairs = torch.tensor([[0, 1], [1, 0], [2, 0], [0, 3], [3, 2]])
    got = pair_context(hidden, ent_att, pairs)
    heads, t, d = att.shape[0], hidden.shape[0], hidden.shape[1]
    for r, (h, tl) in enumerate(pairs.tolist()):
        q = [sum(ent_att[h, i, j].item() * ent_att[tl, i, j].item() for i in range(heads)) / heads for j in range(t)]
        s = sum(q) + 1e-5
        want = [sum(q[j] / s * hidden[j, k].item() for j in range(t)) for k in range(d)]
        torch.testing.assert_close(got[r], torch.tensor(want, dtype=torch.float64), rtol=1e-12, atol=1e-14)


def test_entity_without_mention_has_finite_gradients():
    hidden, att = _doc(2)
    hidden.requires_grad_(True)
    emb, ent_att = entity_pool(hidden, att, ENTITY_POS)
    c = pair_context(hidden, ent_att, torch.tensor([[3, 0], [0, 3]]))
    (emb.sum() + c.sum()).backward()
    assert torch.isfinite(hidden.grad).all()


@pytest.mark.parametrize("emb, bs", [(12, 4), (12, 12), (6, 1)])
def test_grouped_bilinear_equals_block_diagonal_bilinear(emb, bs):
    torch.manual_seed(0)
    gb = GroupedBilinear(emb, bs).double()
    zh, zt = torch.randn(5, emb, dtype=torch.float64), torch.randn(5, emb, dtype=torch.float64)
    w = gb.block_matrix()
    assert w.shape == (emb, emb)
    off = torch.ones(emb, emb, dtype=torch.bool)
    for i in range(emb // bs):
        off[i * bs:(i + 1) * bs, i * bs:(i + 1) * bs] = False
    assert (w[off] == 0).all()  # block-diagonal
    want = torch.einsum("pi,ij,pj->p", zh, w, zt) + gb.linear.bias
    torch.testing.assert_close(gb(zh, zt), want, rtol=1e-12, atol=1e-12)
    # and element by element: logit = b + sum_block sum_{a,c} zh[a] W[a, c] zt[c]
    p = 2
    loop = gb.linear.bias.item() + sum(zh[p, a].item() * w[a, c].item() * zt[p, c].item()
                                      for a in range(emb) for c in range(emb))
    assert gb(zh, zt)[p].item() == pytest.approx(loop, rel=1e-12)


class _Fixed(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, batch):
        return self.logits


def test_loss_is_bce_sum_over_normaliser_with_pos_weight():
    logits = torch.tensor([0.3, -1.2, 2.0, 0.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    for pw in (1.0, 3.0):
        got = RCPLoss(_Fixed(logits), pos_weight=pw)({"labels": y}, None, 10.0)
        want = sum(-(pw * yi * math.log(1 / (1 + math.exp(-li))) + (1 - yi) * math.log(1 - 1 / (1 + math.exp(-li))))
                   for li, yi in zip(logits.tolist(), y.tolist())) / 10.0
        assert got.item() == pytest.approx(want, rel=1e-6)  # the loss runs in float32


def test_rcp_modules_import_without_deepspeed():
    """House rule: deepspeed only through harness/train/deepspeed_api.py, imported when a DS engine is built."""
    import subprocess
    import sys

    code = ("import sys\nsys.modules['deepspeed'] = None\n"
            "import harness.recipes.docre.rcp.train, harness.recipes.docre.rcp.stage\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]


def test_grouped_bilinear_gradients_match_the_outer_product_form():
    """The forward without the materialised outer product has the gradients of ATLOP's literal form:
    linear(flatten(zh_block outer zt_block)) (float64)."""
    torch.manual_seed(1)
    emb, bs = 12, 4
    gb = GroupedBilinear(emb, bs).double()
    zh = torch.randn(7, emb, dtype=torch.float64, requires_grad=True)
    zt = torch.randn(7, emb, dtype=torch.float64, requires_grad=True)
    g = torch.randn(7, dtype=torch.float64)
    (gb(zh, zt) * g).sum().backward()
    got = [zh.grad.clone(), zt.grad.clone(), gb.linear.weight.grad.clone(), gb.linear.bias.grad.clone()]
    for t in (zh, zt, gb.linear.weight, gb.linear.bias):
        t.grad = None
    k = emb // bs
    outer = zh.view(-1, k, bs, 1) * zt.view(-1, k, 1, bs)
    (gb.linear(outer.reshape(-1, emb * bs)).squeeze(-1) * g).sum().backward()
    want = [zh.grad, zt.grad, gb.linear.weight.grad, gb.linear.bias.grad]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
