"""Shared tiny fixtures of the ranking tests (also imported by the 2-rank worker script)."""

from harness.data.examples import Example
from harness.data.labels import SEMEVAL_19
from harness.models.load import build_model
from harness.models.tokenizer import train_tokenizer

TEXTS = [
    "The <e1>cat</e1> sat on the long <e2>mat</e2> today.",
    "A <e1>burst</e1> caused the <e2>flood</e2>.",
    "Short <e1>a</e1> <e2>b</e2>.",
    "The <e1>company</e1> fabricates plastic <e2>chairs</e2> in a very large factory near the river.",
]
GOLD = ["Cause-Effect(e2,e1)", "Cause-Effect(e1,e2)", "Other", "Product-Producer(e2,e1)", "Other"]


def tokenizer():
    return train_tokenizer(TEXTS * 5 + list(SEMEVAL_19), 400)


def examples(n=5):
    return [Example(str(i), TEXTS[i % len(TEXTS)], "h", "t", (0, 1), (0, 1), GOLD[i % len(GOLD)], "test")
            for i in range(n)]


def model(spec, tok, dtype="float32"):
    m = build_model(spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id, seed=0)
    return (m.double() if dtype == "float64" else m).eval()
