"""Shared tiny fixtures of the QA4RE scoring tests (also imported by the 2-rank worker script)."""

from harness.data.synthetic import make_synthetic
from harness.models.load import build_model
from harness.models.tokenizer import train_tokenizer
from harness.recipes.qa4re.prompts import build_question, qa_set_for

CONLL = qa_set_for("conll04")


def questions(n=5):
    """Synthetic examples as CoNLL04-set questions: odd ones with a type signature (2 options), even ones
    without (6 options), so batches mix option counts and prompt lengths."""
    exs = make_synthetic(4 * n, 0)[1][:n]
    sigs = [("Peop", "Org"), ("Loc", "Loc")]
    out = []
    for i, e in enumerate(exs):
        e = type(e)(**{**e.__dict__, "label": "Work_For"})
        out.append(build_question(CONLL, e, sigs[i % 2] if i % 2 else None))
    return out


def tokenizer():
    return train_tokenizer([q.prompt for q in questions(8)] * 3, 400)


def model(spec, tok, dtype="float32"):
    m = build_model(spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id, seed=0)
    return (m.double() if dtype == "float64" else m).eval()
