"""bitsandbytes 8-bit / 4-bit scoring of a saved checkpoint: it runs, moves the scores a little, and is recorded
in the manifest (the measured figure is in benchmarks/README.md, "Quantized scoring")."""

import dataclasses

import numpy as np
import pytest

from harness.config import RunConfig, ScoringConfig
from harness.data.prompts import get_template
from harness.manifest import read_manifest
from harness.models.load import build_model
from harness.models.tokenizer import save_tokenizer, train_tokenizer
from harness.recipes.atlantis.scoring import store
from harness.recipes.atlantis.scoring.score import run_scoring
from tests.scoring.test_score import LABELS, SENTS, make_examples

pytest.importorskip("bitsandbytes")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    tok = train_tokenizer(SENTS * 3 + LABELS, 300)
    model = build_model("tiny-qwen2", vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
    model.save_pretrained(d)
    save_tokenizer(tok, d / "tok")
    return d, tok


def _score(ckpt, tok, run_dir, quantize):
    cfg = RunConfig(run_dir=str(run_dir))
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, large=str(ckpt), dtype="float32",
                                                             quantize=quantize),
                              scoring=ScoringConfig(tokens_per_batch=256, models="large"))
    exs = make_examples(16)
    sdir = run_scoring(cfg, exs, get_template("semeval"), tok, run_dir)
    assert read_manifest(sdir / "manifest.json")["models"]["large"]["quantize"] == quantize
    return np.array(store.open_arrays(sdir, "large", 16, "r").scores, dtype=np.float64)


@pytest.fixture(scope="module")
def fp32_scores(checkpoint, tmp_path_factory):
    ckpt, tok = checkpoint
    return _score(ckpt, tok, tmp_path_factory.mktemp("fp32"), "")


@pytest.mark.parametrize("quantize,bound", [("8bit", 0.05), ("4bit", 0.2)])
def test_quantized_scores_move_a_little(checkpoint, fp32_scores, tmp_path, quantize, bound):
    ckpt, tok = checkpoint
    ref = fp32_scores
    got = _score(ckpt, tok, tmp_path / quantize, quantize)
    diff = np.abs(got - ref)
    print(f"{quantize}: |score diff| mean {diff.mean():.4f} max {diff.max():.4f} nats; "
          f"scores mean {ref.mean():.2f}; rank corr {np.corrcoef(got, ref)[0, 1]:.5f}")
    assert np.isfinite(got).all()
    assert 0 < diff.max() < bound  # quantisation did change the model, but not much


def test_quantize_refused_for_presets(tmp_path):
    tok = train_tokenizer(SENTS, 300)
    cfg = RunConfig(run_dir=str(tmp_path))
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, quantize="8bit"),
                              scoring=ScoringConfig(models="large"))
    with pytest.raises(ValueError, match="checkpoints only"):
        run_scoring(cfg, make_examples(3), get_template("semeval"), tok, tmp_path)
