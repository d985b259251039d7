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

from harness.models.label_rows import lm_head_of
from harness.models.load import family_of
from harness.recipes.qa4re import score as qscore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _qa4re_common import model, questions, tokenizer  # noqa: E402

SPECS = ["tiny-qwen2", "tiny-t5"]


@pytest.fixture(scope="module")
def tok():
    return tokenizer()


def prompt_ids(m, tok, qs):
    shared, cands = qscore.letter_ids(tok)
    return [p + shared for p in qscore.encode_prompts(tok, qs)], cands


def full_logprobs(m, src: list[int], answer: list[int]) -> torch.Tensor:
    """[len(answer), V] float64 log-softmax of a plain full forward predicting each answer token."""
    if family_of(m.config) == "causal":
        logits = m(input_ids=torch.tensor([src + answer])).logits[0, len(src) - 1: len(src) - 1 + len(answer)]
    else:
        dec = torch.tensor([[m.config.decoder_start_token_id] + answer[:-1]])
        logits = m(input_ids=torch.tensor([src]), decoder_input_ids=dec).logits[0]
    return logits.double().log_softmax(-1)


def test_qa4re_letters_answer_forms(tok):
    shared, cands = qscore.letter_ids(tok, 6)
    assert len(cands) == 6 and all(c[-1] == tok.eos_token_id for c in cands)
    assert len({c[0] for c in cands}) == 6  # first tokens tell the letters apart
    assert tok.decode(shared + cands[2][:-1]).strip() == "C"


@pytest.mark.parametrize("spec", SPECS)
def test_qa4re_first_token_argmax_equals_constrained_generate(tok, spec):
    m = model(spec, tok)
    qs = questions(5)
    head_calls = []
    lm_head_of(m).register_forward_hook(lambda *a: head_calls.append(1))
    scores = qscore.option_scores(m, tok, qs, mode="first-token", batch_examples=2)
    assert head_calls == []  # the LM head module never ran over prompt positions
    prompts, cands = prompt_ids(m, tok, qs)
    for q, p, s in zip(qs, prompts, scores):
        allowed = [c[0] for c in cands[: len(q.options)]]
        with torch.no_grad():
            gen = m.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                             max_new_tokens=1, do_sample=False, num_beams=1,
                             prefix_allowed_tokens_fn=lambda b, ids, a=allowed: a, pad_token_id=tok.pad_token_id)
        assert int(gen[0, -1]) in allowed  # constrained generation stayed inside the option letters
        assert allowed.index(int(gen[0, -1])) == int(np.argmax(s))
        with torch.no_grad():
            ref = full_logprobs(m, p, [allowed[0]])[0, allowed]
        np.testing.assert_allclose(s, ref.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spec", SPECS + ["tiny-qwen2-tied"])
def test_qa4re_sequence_scores_equal_brute_force_float64(tok, spec):
    m = model(spec, tok, "float64")
    qs = questions(5)
    scores = qscore.option_scores(m, tok, qs, mode="sequence", batch_examples=2)
    prompts, cands = prompt_ids(m, tok, qs)
    for q, p, s in zip(qs, prompts, scores):
        ref = []
        for c in cands[: len(q.options)]:  # one plain forward per option
            with torch.no_grad():
                lp = full_logprobs(m, p, c)
            ref.append(sum(lp[j, t] for j, t in enumerate(c)).item())
        assert s.shape == (len(q.options),)
        np.testing.assert_allclose(s.astype(np.float64), ref, rtol=1e-6, atol=0)


def test_qa4re_scores_use_head_params_and_restore_mode(tok):
    m = model("tiny-qwen2", tok).train()
    entered = []

    def head_params():
        @contextmanager
        def ctx():
            entered.append(1)
            head = lm_head_of(m)
            yield head.weight, head.bias
        return ctx()

    out = qscore.option_scores(m, tok, questions(3), batch_examples=2, head_params=head_params)
    assert m.training and len(entered) == 2 and [len(s) for s in out] == [6, 2, 6]
    with pytest.raises(ValueError, match="mode"):
        qscore.option_scores(m, tok, questions(1), mode="beam")
    with pytest.raises(ValueError, match="no examples"):
        qscore.option_scores(m, tok, [])


@pytest.mark.slow
def test_qa4re_two_ranks_equal_single_process(tok, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HARNESS_DIST_BACKEND": "cuda:gloo",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                       os.environ.get("PYTHONPATH")]))}
    worker = Path(__file__).with_name("_qa4re_worker.py")
    cmd = torchrun(worker, tmp_path, *SPECS)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    both = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for spec in SPECS:
        m = model(spec, tok)
        for mode in qscore.MODES:
            r0, r1 = both[0][spec][mode], both[1][spec][mode]
            assert r0 == r1  # every rank holds the same gathered result
            single = qscore.option_scores(m, tok, questions(5), mode=mode, batch_examples=2)
            assert [len(s) for s in r0] == [len(s) for s in single]
            for a, b in zip(r0, single):  # other batch padding than one process: fp32 noise only, same argmax
                np.testing.assert_allclose(np.array(a), b, rtol=1e-6, atol=1e-5)
                assert int(np.argmax(a)) == int(np.argmax(b))
        assert both[0][spec]["choices"] == both[1][spec]["choices"] == qscore.greedy_choices(m, tok, questions(5),
                                                                                                batch_examples=2)
