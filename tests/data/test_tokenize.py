"""Tokenisation on real SemEval examples: the label mask covers exactly the label tokens + EOS, both families."""

import pytest
import torch

from harness.constants import IGNORE_INDEX
from harness.data.labels import SEMEVAL_19
from harness.data.prompts import get_template
from harness.data.readers import read_semeval
from harness.data.tokenize import collate, encode
from harness.models.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def setup(data_dir):
    exs = read_semeval(data_dir / "semeval2010_task8" / "TRAIN_FILE.TXT", "train")
    pick, seen = [], set()
    for ex in exs:  # one example per label, plus a few long and short ones
        if ex.label not in seen:
            pick.append(ex)
            seen.add(ex.label)
    pick += sorted(exs[:400], key=lambda e: len(e.text))[:3] + sorted(exs[:400], key=lambda e: -len(e.text))[:3]
    template = get_template("semeval")
    tok = train_tokenizer([template.render(ex) for ex in exs[:300]] + list(SEMEVAL_19), vocab_size=400)
    return pick, template, tok


@pytest.mark.data
def test_tokenize_causal_mask_is_label_plus_eos(setup):
    exs, template, tok = setup
    assert {ex.label for ex in exs} == set(SEMEVAL_19)
    enc = encode(exs, tok, template, "causal")
    batch = collate(enc, list(range(len(exs))))
    for r, ex in enumerate(exs):
        labels, ids, mask = batch["labels"][r], batch["input_ids"][r], batch["attention_mask"][r]
        target = tok(template.label_prefix + ex.label, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        n_prompt = len(tok(template.render(ex), add_special_tokens=False)["input_ids"])
        kept = (labels != IGNORE_INDEX).nonzero().flatten().tolist()
        assert kept == list(range(n_prompt, n_prompt + len(target)))  # exactly the label tokens + EOS
        assert labels[kept].tolist() == target == ids[kept].tolist()
        assert tok.decode(target[:-1]) == " " + ex.label and target[-1] == tok.eos_token_id
        assert int(mask.sum()) == n_prompt + len(target) and (ids[mask == 0] == enc.pad_id).all()


@pytest.mark.data
def test_tokenize_seq2seq_targets_are_label_plus_eos(setup):
    exs, template, tok = setup
    enc = encode(exs, tok, template, "seq2seq", decoder_start_id=0)
    batch = collate(enc, list(range(len(exs))), pad_to_multiple=8)
    assert batch["labels"].shape[1] % 8 == 0
    for r, ex in enumerate(exs):
        labels, dec_in = batch["labels"][r], batch["decoder_input_ids"][r]
        target = tok(ex.label, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        kept = (labels != IGNORE_INDEX).nonzero().flatten().tolist()
        assert kept == list(range(len(target))) and labels[kept].tolist() == target
        assert dec_in[: len(target)].tolist() == [0] + target[:-1]
        assert int(batch["decoder_attention_mask"][r].sum()) == len(target)
        prompt = tok(template.render(ex))["input_ids"]
        assert batch["input_ids"][r, : len(prompt)].tolist() == prompt
        assert int(batch["attention_mask"][r].sum()) == len(prompt)
        assert tok.decode(target[:-1]) == ex.label
    assert torch.equal(batch["example_index"], torch.arange(len(exs)))
