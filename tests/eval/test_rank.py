import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from support import torchrun

from harness.data.labels import SEMEVAL_19
from harness.data.prompts import get_template
from harness.data.tokenize import encode, encode_label
from harness.eval import rank as ranking
from harness.eval.batches import pad_rows
from harness.models.label_rows import lm_head_of
from harness.models.load import family_of

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rank_common import examples, model, tokenizer  # noqa: E402

TPL = get_template("semeval")


@pytest.fixture(scope="module")
def tok():
    return tokenizer()


def reference_scores(m, tok, exs, labels) -> torch.Tensor:
    """One example at a time, a plain full forward (no cache, full logits over every position) of the prompt
    followed by each candidate (the candidates of one example right-padded into one batch), float64."""
    fam = family_of(m.config)
    start = getattr(m.config, "decoder_start_token_id", None)
    enc = encode(exs, tok, TPL, fam, decoder_start_id=start, labels=[labels[0]] * len(exs))
    cands = [encode_label(tok, lab, fam, TPL) for lab in labels]
    out = torch.zeros(len(exs), len(labels), dtype=torch.float64)
    with torch.no_grad():
        for i in range(len(exs)):
            p = enc.prompt_ids[i]
            if fam == "causal":
                ids, mask = pad_rows([p + c for c in cands], len(p) + max(map(len, cands)), 0, "cpu")
                logp = m(input_ids=ids, attention_mask=mask).logits.double().log_softmax(-1)
                offset = len(p) - 1
            else:
                dec, dmask = pad_rows([[start] + c[:-1] for c in cands], max(map(len, cands)), 0, "cpu")
                src = torch.tensor([p] * len(cands))
                logp = m(input_ids=src, decoder_input_ids=dec, decoder_attention_mask=dmask).logits.double()
                logp = logp.log_softmax(-1)
                offset = 0
            for k, c in enumerate(cands):
                out[i, k] = sum(logp[k, offset + j, t] for j, t in enumerate(c))
    return out


@pytest.mark.parametrize("spec", ["tiny-qwen2", "tiny-qwen2-tied", "tiny-t5"])
def test_rank_equals_per_example_full_forward_argmax(tok, spec, monkeypatch):
    m = model(spec, tok, "float64")
    exs = examples(5)  # prompts of 4 lengths; batches of 2 -> padding and a partial last batch
    head_calls = []
    lm_head_of(m).register_forward_hook(lambda *a: head_calls.append(1))
    rows_seen = []
    real = ranking.label_logprobs
    monkeypatch.setattr(ranking, "label_logprobs", lambda h, w, t, bias=None: (rows_seen.append(h.shape[0]),
                                                                          real(h, w, t, bias=bias))[1])
    scores = ranking.rank_scores(m, tok, exs, SEMEVAL_19, TPL, batch_examples=2)
    assert head_calls == []  # the LM head module never ran (no [tokens, vocab] logits over prompt positions)
    ref = reference_scores(m, tok, exs, SEMEVAL_19)
    # label_logprobs computes in fp32: a 10-token sum of log-probs ~ -60 carries ~1e-5 absolute error
    torch.testing.assert_close(torch.from_numpy(scores).double(), ref, rtol=1e-6, atol=2e-4)
    assert (scores.argmax(1) == ref.argmax(1).numpy()).all()
    # the head saw exactly the label rows (every candidate's tokens + EOS, per example)
    fam = family_of(m.config)
    n_label_tokens = sum(len(encode_label(tok, lab, fam, TPL)) for lab in SEMEVAL_19)
    assert rows_seen == [2 * n_label_tokens, 2 * n_label_tokens, n_label_tokens]


def test_rank_predict_restores_mode_and_uses_head_params(tok):
    m = model("tiny-qwen2", tok).train()
    entered = []

    def head_params():
        @contextmanager
        def ctx():
            entered.append(1)
            head = lm_head_of(m)
            yield head.weight, head.bias
        return ctx()

    preds, scores = ranking.rank_predict(m, tok, examples(3), SEMEVAL_19, TPL, batch_examples=2, head_params=head_params)
    assert m.training and len(entered) == 2 and scores.shape == (3, 19)
    assert preds == [SEMEVAL_19[k] for k in scores.argmax(1)]
    with pytest.raises(ValueError, match="no examples"):
        ranking.rank_scores(m, tok, [], SEMEVAL_19, TPL)


def test_rank_rejects_zero_element_head(tok):
    m = model("tiny-qwen2", tok)

    def zero_shard():
        @contextmanager
        def ctx():
            yield torch.empty(0), None
        return ctx()

    with pytest.raises(ValueError, match="partitioned shard"):
        ranking.rank_scores(m, tok, examples(1), SEMEVAL_19, TPL, head_params=zero_shard)


@pytest.mark.slow
def test_rank_two_ranks_equal_single_process_and_equal_forward_counts(tok, tmp_path):
    specs = ["tiny-qwen2", "tiny-t5"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                     os.environ.get("PYTHONPATH")])),
           "HARNESS_DIST_BACKEND": "cuda:gloo"}  # the NCCL twin: CPU tensors refused on the default group
    worker = Path(__file__).with_name("_rank_worker.py")
    cmd = torchrun(worker, tmp_path, *specs)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    both = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for spec in specs:
        r0, r1 = both[0][spec], both[1][spec]
        assert r0["scores"] == r1["scores"]  # every rank holds the same gathered result
        # 5 examples, shards of 3 and 2, batches of 2: rank 1 runs a dummy batch. Per batch the causal body
        # runs once (the prompt and its candidates packed into one row; the KV-cache path ran it twice), the T5
        # encoder once.
        assert r0["calls"] == r1["calls"] == 2 * 1
        single = ranking.rank_scores(model(spec, tok), tok, examples(5), SEMEVAL_19, TPL, batch_examples=2)
        np.testing.assert_allclose(np.array(r0["scores"]), single, rtol=0, atol=1e-4)
        assert (np.array(r0["scores"]).argmax(1) == single.argmax(1)).all()


@pytest.mark.parametrize("spec", ["tiny-qwen2", "tiny-qwen2-tied"])
def test_packed_ranking_equals_kv_cache_ranking(tok, spec):
    """Prompt once with every candidate packed after it (one body call) = prompt through a KV cache expanded over
    the candidates: fp32 scores to float64-reference tolerance, the same rankings."""
    m = model(spec, tok)
    exs = examples(5)
    calls = []
    m.base_model.register_forward_hook(lambda *a: calls.append(1))
    packed = ranking.rank_scores(m, tok, exs, SEMEVAL_19, TPL, batch_examples=2)
    assert len(calls) == 3  # one body call per batch of 2 (5 examples)
    kv = ranking.rank_scores(m, tok, exs, SEMEVAL_19, TPL, batch_examples=2, packed=False)
    assert len(calls) == 3 + 6
    np.testing.assert_allclose(packed, kv, rtol=1e-5, atol=1e-4)
    assert (packed.argmax(1) == kv.argmax(1)).all()
    ref = reference_scores(m, tok, exs, SEMEVAL_19).numpy()
    np.testing.assert_allclose(packed, ref, rtol=1e-5, atol=1e-4)
