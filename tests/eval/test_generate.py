import sys
from pathlib import Path

import pytest
import torch

from harness.data.labels import SEMEVAL_19
from harness.data.prompts import get_template
from harness.data.tokenize import encode
from harness.eval.generate import generate_predict, greedy_texts, match_label
from harness.models.load import family_of

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rank_common import examples, model, tokenizer  # noqa: E402

TPL = get_template("semeval")


def test_match_label_exact_normalised_invalid():
    assert match_label(" Cause-Effect(e1,e2) ", SEMEVAL_19) == ("Cause-Effect(e1,e2)", "exact")
    assert match_label("cause effect (E1, e2)", SEMEVAL_19) == ("Cause-Effect(e1,e2)", "normalised")
    assert match_label("Cause-Effect", SEMEVAL_19) == (None, "invalid")  # direction missing: never guessed
    assert match_label("", SEMEVAL_19) == (None, "invalid")
    assert match_label("a b", ["ab", "a-b"]) == (None, "invalid")  # ambiguous after normalising


def _manual_greedy(m, tok, prompt, max_new):
    """Full forward per step, no cache, argmax; stops at EOS."""
    causal = family_of(m.config) == "causal"
    out = []
    with torch.no_grad():
        for _ in range(max_new):
            if causal:
                logits = m(input_ids=torch.tensor([prompt + out])).logits[0, -1]
            else:
                dec = torch.tensor([[m.config.decoder_start_token_id] + out])
                logits = m(input_ids=torch.tensor([prompt]), decoder_input_ids=dec).logits[0, -1]
            t = int(logits.argmax())
            if t == tok.eos_token_id:
                break
            out.append(t)
    return tok.decode(out, skip_special_tokens=True)


@pytest.mark.parametrize("spec", ["tiny-qwen2", "tiny-t5"])
def test_greedy_batched_equals_manual_greedy(spec):
    tok = tokenizer()
    m = model(spec, tok, "float64")
    exs = examples(3)
    enc = encode(exs, tok, TPL, family_of(m.config), labels=["Other"] * 3)
    texts = greedy_texts(m, tok, enc.prompt_ids, pad_id=enc.pad_id, max_new_tokens=6)  # padded batch
    assert texts == [_manual_greedy(m, tok, p, 6) for p in enc.prompt_ids]


def test_generate_predict_counts_invalid_never_maps():
    tok = tokenizer()
    m = model("tiny-qwen2", tok)
    preds, decoded = generate_predict(m, tok, examples(3), SEMEVAL_19, TPL, batch_examples=2, max_new_tokens=4)
    assert len(preds) == len(decoded["texts"]) == 3
    for p, t in zip(preds, decoded["texts"]):
        assert p == match_label(t, SEMEVAL_19)[0]
    assert sum(decoded["match_counts"].values()) == 3
    assert decoded["match_counts"]["invalid"] == sum(p is None for p in preds)
