"""Documents longer than the encoder window: the two-chunk stitching arithmetic against a fake encoder with known
outputs (float64 loops), and mention positions of a crafted long document mapping back to its words."""

import torch

from harness.recipes.docre.rcp.encoder import encode_long
from harness.recipes.docre.rcp.features import collate, featurize, train_tiny_tokenizer
from harness.recipes.docre.types import Document, Entity, Mention

START, END, W = [101], [102], 10  # one start special, one end special, a window of 10 tokens


def fake_encode(calls):
    """hidden[r, j] = (token id, 1000 r + j); attention[r, h, i, j] = a known positive pattern, rows summing to 1."""
    def encode(ids, mask):
        calls.append(ids.clone())
        b, t = ids.shape
        r = torch.arange(b, dtype=torch.float64)[:, None].expand(b, t)
        j = torch.arange(t, dtype=torch.float64)[None].expand(b, t)
        hidden = torch.stack([ids.double(), 1000 * r + j], -1)
        raw = torch.stack([1 + (ids[:, :, None] * 7 + ids[:, None, :] * (h + 3)) % 11 for h in range(2)], 1).double()
        return hidden, raw / raw.sum(-1, keepdim=True)
    return encode


def _expected(seg_h, seg_a, n, width):
    """The stitched row by loops: chunk 1 = segment 0 content at [0, W-1), chunk 2 = segment 1 content at
    [n - W + 1, n); hidden averaged where both cover, attention summed then rows renormalised."""
    cover = []  # (segment, original position -> segment position)
    cover.append((0, {p: p for p in range(W - len(END))}))
    cover.append((1, {p: p - (n - W) for p in range(n - W + len(START), n)}))
    hid = torch.zeros(width, 2, dtype=torch.float64)
    att = torch.zeros(2, width, width, dtype=torch.float64)
    for p in range(width):
        segs = [(s, m[p]) for s, m in cover if p in m]
        for s, q in segs:
            hid[p] += seg_h[s, q] / len(segs)
        for h in range(2):
            for p2 in range(width):
                att[h, p, p2] = sum(seg_a[s, h, m[p], m[p2]] for s, m in cover if p in m and p2 in m)
    return hid, att / (att.sum(-1, keepdim=True) + 1e-10)


def test_two_chunk_stitching_matches_loops():
    n_long, n_short, width = 16, 7, 16
    ids = torch.zeros(2, width, dtype=torch.long)
    ids[0, :n_long] = torch.tensor(START + list(range(1, n_long - 1)) + END)
    ids[1, :n_short] = torch.tensor(START + list(range(40, 40 + n_short - 2)) + END)
    mask = (torch.arange(width)[None] < torch.tensor([[n_long], [n_short]])).long()
    calls = []
    hid, att = encode_long(fake_encode(calls), ids, mask, START, END, W)
    assert len(calls) == 1 and calls[0].shape == (3, W)  # long row -> 2 segments, short row -> 1
    seg = calls[0]
    assert seg[0].tolist() == ids[0, :W - 1].tolist() + END  # chunk 1: first W-1 tokens + end special
    assert seg[1].tolist() == START + ids[0, n_long - W + 1:n_long].tolist()  # chunk 2: start special + last W-1
    seg_h, seg_a = fake_encode([])(seg, torch.ones_like(seg))
    want_h, want_a = _expected(seg_h[:2], seg_a[:2], n_long, width)
    torch.testing.assert_close(hid[0], want_h, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(att[0], want_a, rtol=1e-12, atol=1e-12)
    assert hid[0, :n_long, 0].tolist() == ids[0, :n_long].double().tolist()  # every position keeps its own token
    overlap = range(n_long - W + 1, W - 1)  # positions 7, 8: averaged 1000*0 + p and 1000*1 + (p - 6)
    assert [hid[0, p, 1].item() for p in overlap] == [(p + 1000 + p - (n_long - W)) / 2 for p in overlap]
    torch.testing.assert_close(att[0, :, :n_long].sum(-1), torch.ones(2, n_long, dtype=torch.float64))
    # the short row is its own segment, padded with zeros
    torch.testing.assert_close(hid[1, :W], seg_h[2])
    assert (hid[1, W:] == 0).all() and (att[1, :, W:] == 0).all() and (att[1, :, :, W:] == 0).all()


def test_short_batch_is_one_plain_call():
    ids = torch.tensor([[101, 5, 6, 102]])
    calls = []
    hid, _ = encode_long(fake_encode(calls), ids, torch.ones_like(ids), START, END, W)
    assert len(calls) == 1 and calls[0].shape == (1, 4) and hid[0, :, 0].tolist() == [101, 5, 6, 102]


def _long_doc(n_sents=12):
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    sents = tuple(tuple(words[(i + k) % len(words)] for k in range(6)) + (".",) for i in range(n_sents))
    ents = tuple(Entity((Mention(sents[s][p], s, (p, p + 1), "MISC"), Mention(sents[s + 5][p + 1], s + 5,
                                                                               (p + 1, p + 2), "MISC")))
                 for s, p in ((0, 0), (3, 2), (6, 4)))
    return Document("long", sents, ents, ())


def test_long_document_mentions_map_back_and_truncate():
    doc = _long_doc()
    tok = train_tiny_tokenizer([doc], vocab_size=300)
    star = tok.convert_tokens_to_ids("*")
    f = featurize(doc, tok, 4000)
    assert len(f) > 2 * 24  # longer than a 24-token window: the two-chunk path
    for e, pos in zip(doc.entities, f.entity_pos):
        assert len(pos) == 2
        for m, p in zip(e.mentions, pos):
            assert f.input_ids[p] == star
            word = tok.decode(f.input_ids[p + 1:p + 1 + len(tok(m.name, add_special_tokens=False)["input_ids"])])
            assert word == m.name
    cut = featurize(doc, tok, 60)  # the cap cuts the later mentions; entities keep the ones before it
    assert len(cut) == 60 and cut.input_ids[-1] == tok.sep_token_id
    assert all(p < 59 for pos in cut.entity_pos for p in pos)
    assert [len(p) for p in cut.entity_pos] == [sum(p < 59 for p in pos) for pos in f.entity_pos]


def test_long_document_runs_through_the_model_in_two_chunks():
    from harness.recipes.docre.rcp.config import RCPConfig
    from harness.recipes.docre.rcp.stage import build_model

    doc = _long_doc()
    tok = train_tiny_tokenizer([doc], vocab_size=300)
    cfg = RCPConfig(emb_size=16, block_size=4, max_len=96, max_doc_len=188)  # the rcp section
    model = build_model(cfg, tok).double()
    f = featurize(doc, tok, cfg.max_doc_len)
    assert 96 < len(f) <= 188 and all(len(p) == 2 for p in f.entity_pos)  # two chunks, nothing cut
    batch = collate([f], tok.pad_token_id)
    logits = model(batch)
    assert logits.shape == (6,) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert torch.isfinite(model.encoder.embeddings.word_embeddings.weight.grad).all()
