import pytest
import torch
import torch.nn.functional as F

from harness.constants import IGNORE_INDEX
from harness.data.examples import Example
from harness.data.prompts import get_template
from harness.data.tokenize import collate, encode
from harness.models.label_rows import label_rows, lm_head_of
from harness.models.load import build_model
from harness.models.tokenizer import train_tokenizer

TEXTS = ["The <e1>cat</e1> sat on the long <e2>mat</e2> today.", "A <e1>burst</e1> caused the <e2>flood</e2>."]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXTS * 5 + ["Cause-Effect(e1,e2) Other"], 300)


def _examples():
    labels = ["Other", "Cause-Effect(e1,e2)", "Other", "Cause-Effect(e1,e2)"]
    return [Example(str(i), TEXTS[i % 2], "h", "t", (0, 1), (0, 1), labels[i], "train") for i in range(4)]


@pytest.mark.parametrize("spec", ["tiny-qwen2", "tiny-qwen2-tied", "tiny-t5"])
def test_label_rows_match_full_forward_loss(tok, spec):
    model = build_model(spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id).eval()
    model.double()
    family = "seq2seq" if "t5" in spec else "causal"
    enc = encode(_examples(), tok, get_template("semeval"), family,
                 decoder_start_id=getattr(model.config, "decoder_start_token_id", None))
    batch = collate(enc, [0, 1, 2, 3])
    n_label = sum(len(t) for t in enc.target_ids)
    with torch.no_grad():
        rows = label_rows(model, batch)
        assert rows.hidden.shape[0] == n_label  # label rows only
        mine = F.cross_entropy(lm_head_of(model)(rows.hidden), rows.targets, reduction="sum") / n_label
        keys = ("input_ids", "attention_mask", "labels", "decoder_input_ids", "decoder_attention_mask")
        ref = model(**{k: v for k, v in batch.items() if k in keys}).loss
    # HF upcasts logits to fp32 in its causal loss, hence the fp32 tolerance
    torch.testing.assert_close(mine, ref.to(mine.dtype), rtol=1e-6, atol=1e-6)
    # rows belong to the right examples, in order
    counts = torch.bincount(rows.row_batch, minlength=4).tolist()
    assert counts == [len(t) for t in enc.target_ids]


def test_collate_causal_masks_prompt_and_covers_label_plus_eos(tok):
    enc = encode(_examples(), tok, get_template("semeval"), "causal")
    batch = collate(enc, [1, 0])
    for r, i in enumerate([1, 0]):
        lab = batch["labels"][r]
        keep = lab[lab != IGNORE_INDEX].tolist()
        assert keep == enc.target_ids[i] and keep[-1] == tok.eos_token_id
        n = len(enc.prompt_ids[i])
        assert (lab[:n] == IGNORE_INDEX).all()
        assert batch["input_ids"][r, n: n + len(keep)].tolist() == keep
