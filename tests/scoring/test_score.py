"""The scoring pass in one process: exact log-likelihoods, batch/padding invariance, arrays, manifest, resume."""

import dataclasses

import numpy as np
import pytest
import torch

from harness.config import RunConfig, ScoringConfig
from harness.data.examples import Example
from harness.data.prompts import Template, get_template
from harness.data.tokenize import collate, encode
from harness.manifest import ManifestMismatch, read_manifest
from harness.models.load import build_model
from harness.models.tokenizer import train_tokenizer
from harness.recipes.atlantis.scoring import store
from harness.recipes.atlantis.scoring.score import plan_batches, run_scoring, score_batch

SENTS = ["The <e1>cat</e1> sat on the <e2>mat</e2>.",
         "A <e1>burst</e1> pipe caused the big <e2>flood</e2> in the old house downtown.",
         "<e1>Ann</e1> works for <e2>Acme</e2>.",
         "The <e1>wheel</e1> of the <e2>bicycle</e2> is bent after the long ride home yesterday evening."]
LABELS = ["Other", "Cause-Effect(e1,e2)", "Member-Collection(e2,e1)", "Component-Whole(e1,e2)"]


def make_examples(n: int) -> list[Example]:
    return [Example(f"ex{i}", SENTS[i % 4] + " x" * (i % 3), "h", "t", (0, 1), (0, 1), LABELS[(i * 7) % 4],
                    "train", is_noisy=(i % 5 == 0)) for i in range(n)]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(SENTS * 3 + LABELS, 300)


def manual_loglik(model, enc, i: int, family: str) -> float:
    """Plain full forward of example i alone (no padding), full logits, float64 log-softmax, summed."""
    b = collate(enc, [i])
    with torch.no_grad():
        if family == "causal":
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[0, :-1]
            tgt = b["labels"][0, 1:]
        else:
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                           decoder_input_ids=b["decoder_input_ids"]).logits[0]
            tgt = b["labels"][0]
    lp = torch.log_softmax(logits.double(), -1)
    keep = tgt != -100
    assert int(keep.sum()) == len(enc.target_ids[i])
    return float(lp[keep].gather(1, tgt[keep].unsqueeze(1)).sum())


@pytest.mark.parametrize("spec,family", [("tiny-qwen2", "causal"), ("tiny-qwen2-tied", "causal"),
                                         ("tiny-t5", "seq2seq")])
def test_score_batch_equals_manual_sum_any_batching(tok, spec, family):
    model = build_model(spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id).eval().double()
    exs = make_examples(7)
    enc = encode(exs, tok, get_template("semeval"), family,
                 decoder_start_id=getattr(model.config, "decoder_start_token_id", None))
    ref = np.array([manual_loglik(model, enc, i, family) for i in range(7)])
    assert np.all(ref < 0) and np.ptp(ref) > 0.1  # distinct, non-trivial scores
    compositions = [[list(range(7))], [[6, 0, 3], [1, 2], [5, 4]], [[i] for i in range(7)]]
    for batches in compositions:
        for mult in (1, 16):  # 16: every row gets extra right padding
            got = np.full(7, np.nan)
            for b in batches:
                batch = collate(enc, b, pad_to_multiple=mult)
                sums, counts = score_batch(model, batch)
                got[b] = sums.numpy()
                assert counts.tolist() == [len(enc.target_ids[i]) for i in b]
            # label_logprobs computes in float32 (its contract); the float64 model makes that the only error
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


def test_score_batch_eos_is_scored(tok):
    model = build_model("tiny-qwen2", vocab_size=len(tok), pad_id=0, eos_id=1).eval().double()
    enc = encode(make_examples(2), tok, get_template("semeval"), "causal")
    assert all(t[-1] == tok.eos_token_id for t in enc.target_ids)
    full, _ = score_batch(model, collate(enc, [0]))
    enc.target_ids[0] = enc.target_ids[0][:-1]  # drop EOS: the score must change by the EOS log-prob
    no_eos, _ = score_batch(model, collate(enc, [0]))
    assert float(full[0]) < float(no_eos[0])


def test_plan_batches_cover_every_example_once(tok):
    enc = encode(make_examples(23), tok, get_template("semeval"), "causal")
    for budget in (1, 64, 256, 10_000):
        flat = sorted(i for b in plan_batches(enc, budget) for i in b)
        assert flat == list(range(23))
    with pytest.raises(ValueError, match="tokens_per_batch"):
        plan_batches(enc, 0)


def _cfg(tmp_path, **scoring):
    cfg = RunConfig(run_dir=str(tmp_path))
    model = dataclasses.replace(cfg.model, large="tiny-qwen2", small="tiny-qwen2-small", reference="tiny-t5",
                                dtype="float32")
    return dataclasses.replace(cfg, model=model, scoring=ScoringConfig(tokens_per_batch=128, **scoring))


def test_run_scoring_arrays_manifest_and_resume(tok, tmp_path):
    exs, tmpl = make_examples(11), get_template("semeval")
    cfg = _cfg(tmp_path)
    sdir = run_scoring(cfg, exs, tmpl, tok, tmp_path)
    man = read_manifest(sdir / "manifest.json")
    assert man["n_examples"] == 11 and man["template_hash"] == tmpl.hash and man["dtype"] == "float32"
    assert set(man["models"]) == {"large", "small", "reference"}
    assert man["models"]["reference"]["family"] == "seq2seq"
    first = {}
    for name in ("large", "small", "reference"):
        a = store.open_arrays(sdir, name, 11, "r")
        assert a.scores.dtype == np.float32 and a.scores.shape == (11,)
        assert a.ntok.dtype == np.int32 and a.done.dtype == np.uint8
        assert a.done.all() and np.isfinite(a.scores).all() and (a.scores < 0).all() and (a.ntok > 0).all()
        first[name] = np.array(a.scores)
    # resume: forget 3 rows of "small"; the rerun restores exactly the same bits and leaves the rest alone
    a = store.open_arrays(sdir, "small", 11, "r+")
    a.scores[[1, 4, 9]] = np.nan
    a.done[[1, 4, 9]] = 0
    a.scores.flush(), a.done.flush()
    run_scoring(cfg, exs, tmpl, tok, tmp_path)
    for name in first:
        assert np.array_equal(store.open_arrays(sdir, name, 11, "r").scores.view(np.uint32),
                              first[name].view(np.uint32))
    _, arrs = store.check_scores(sdir, expected={"n_examples": 11}, names=["large", "small"])
    assert set(arrs) == {"large", "small"}


def test_run_scoring_refuses_mismatched_manifest(tok, tmp_path):
    exs, tmpl = make_examples(5), get_template("semeval")
    run_scoring(_cfg(tmp_path, models="large"), exs, tmpl, tok, tmp_path)
    other = Template("other", tmpl.text + " ", " ")
    with pytest.raises(ManifestMismatch, match="template_hash"):
        run_scoring(_cfg(tmp_path, models="large"), exs, other, tok, tmp_path)
    with pytest.raises(ManifestMismatch, match="dataset_fingerprint"):
        run_scoring(_cfg(tmp_path, models="large"), exs[:4] + make_examples(6)[5:], tmpl, tok, tmp_path)
    with pytest.raises(ManifestMismatch, match="tokens_per_batch"):
        run_scoring(dataclasses.replace(_cfg(tmp_path, models="large"), scoring=ScoringConfig(
            tokens_per_batch=64, models="large")), exs, tmpl, tok, tmp_path)
    a = store.open_arrays(tmp_path / "scores", "large", 5, "r+")
    a.done[2] = 0
    a.done.flush()
    with pytest.raises(ManifestMismatch, match="not scored yet"):
        store.check_scores(tmp_path / "scores", expected={"n_examples": 5}, names=["large"])


def test_run_scoring_unknown_or_empty_role(tok, tmp_path):
    cfg = _cfg(tmp_path, models="large,medium")
    with pytest.raises(ValueError, match="medium"):
        run_scoring(cfg, make_examples(3), get_template("semeval"), tok, tmp_path)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, reference=""),
                              scoring=ScoringConfig(models="reference"))
    with pytest.raises(ValueError, match="model.reference is empty"):
        run_scoring(cfg, make_examples(3), get_template("semeval"), tok, tmp_path)


def test_imports_stay_light():
    """weights is pure numpy (no torch); the pass pulls in neither deepspeed nor triton."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['deepspeed'] = sys.modules['triton'] = None  # see tests/test_boundaries.py\n"
            "import harness.recipes.atlantis.scoring.weights as w; a = 'torch' in sys.modules\n"
            "import harness.recipes.atlantis.scoring.score\n"
            "print(a)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "False"


def test_launch_accepts_deepspeed_local_rank():
    from harness.cli import parse
    from harness.shims import translate

    args = parse(translate("score.py", ["--local_rank=1", "--set", "scoring.models=large", "--skip-weights"]))
    assert args.set == ["scoring.models=large"] and args.skip_weights


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,atol", [("float32", 1e-3), ("bfloat16", 0.5)])
def test_score_batch_on_cuda_matches_cpu_reference(tok, dtype, atol):
    """On CUDA (fp32, then the bf16 default) the pass's scores match the float64 CPU reference; bf16 within the
    error of bf16 activations over ~10 label tokens."""
    import copy

    cpu = build_model("tiny-qwen2", vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id).eval()
    exs = make_examples(9)
    enc = encode(exs, tok, get_template("semeval"), "causal")
    ref_model = copy.deepcopy(cpu).double()
    ref = np.array([manual_loglik(ref_model, enc, i, "causal") for i in range(9)])
    gpu = copy.deepcopy(cpu).to(device="cuda", dtype=getattr(torch, dtype))  # the same weights, rounded
    got = np.full(9, np.nan)
    for b in plan_batches(enc, 64):
        got[b] = score_batch(gpu, collate(enc, b), "cuda")[0].numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=atol)
