"""RCP on the real pretrained encoder (the ``minilm-l6`` asset, a 6-layer uncased BERT) and two real Re-DocRED dev
documents: BERT's [CLS] / [SEP] around the sequence and around each chunk of a document over 512 tokens, ``*``
markers at the entity positions, finite logits for every candidate pair, a short document's logits independent of
the long one padding its batch, and a training step's gradients (short document) finite on every trained parameter."""

import pytest
import torch

from harness.models.assets import resolve_checkpoint
from harness.recipes.docre.rcp.config import RCPConfig
from harness.recipes.docre.rcp.features import MARK, collate, featurize
from harness.recipes.docre.rcp.model import RCPLoss
from harness.recipes.docre.rcp.stage import build_model, load_encoder_tokenizer
from harness.recipes.docre.reader import read_docred

pytestmark = [pytest.mark.model, pytest.mark.data]
LONG, SHORT = 20, 2  # dev_revised.json: 'Australia–Chile Free Trade Agreement' (544 tokens), 'Mess of Blues' (202)


@pytest.fixture(scope="module")
def setup(data_dir):
    torch.set_num_threads(1)
    docs = read_docred(data_dir / "redocred" / "dev_revised.json")
    tok = load_encoder_tokenizer(resolve_checkpoint("minilm-l6"))
    cfg = RCPConfig(encoder="minilm-l6")
    feats = [featurize(docs[i], tok, cfg.max_doc_len) for i in (LONG, SHORT)]
    model = build_model(cfg, tok).eval()
    return tok, feats, model


def test_bert_specials_and_markers(setup):
    tok, feats, _ = setup
    star = tok.convert_tokens_to_ids(MARK)
    assert len(feats[0]) > 512 >= len(feats[1])
    for f in feats:
        assert f.input_ids[0] == tok.cls_token_id and f.input_ids[-1] == tok.sep_token_id
        assert tok.cls_token_id not in f.input_ids[1:-1] and tok.sep_token_id not in f.input_ids[1:-1]
        assert all(f.input_ids[p] == star for pos in f.entity_pos for p in pos) and all(f.entity_pos)


def test_forward_two_real_documents(setup, monkeypatch):
    tok, feats, model = setup
    seen = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda ids, mask: seen.append(ids.clone()) or encode(ids, mask))
    with torch.no_grad():
        logits = model(collate(feats, tok.pad_token_id))
        alone = model(collate(feats[1:], tok.pad_token_id))
    n_long = len(feats[0].pairs)
    assert logits.shape == (n_long + len(feats[1].pairs),) and torch.isfinite(logits).all()
    segs = seen[0]  # long document -> two 512-token chunks, short document -> one (padded) row
    assert segs.shape == (3, 512)
    for row in segs[:2]:
        assert row[0] == tok.cls_token_id and row[-1] == tok.sep_token_id
    assert segs[0, :511].tolist() == feats[0].input_ids[:511]
    assert segs[1, 1:].tolist() == feats[0].input_ids[-511:]
    torch.testing.assert_close(logits[n_long:], alone, rtol=1e-4, atol=1e-4)


def test_one_training_step_has_finite_gradients(setup):
    tok, feats, model = setup
    model.train()
    batch = collate(feats[1:], tok.pad_token_id)  # the short document (a few seconds on one core)
    loss = RCPLoss(model)(batch, None, float(len(batch["labels"])))
    loss.backward()
    model.eval()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert torch.isfinite(loss) and 0.3 < loss.item() < 1.5  # mean BCE of a fresh head: about log 2
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    model.zero_grad(set_to_none=True)
