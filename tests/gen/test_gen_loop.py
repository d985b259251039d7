"""The generation loop on a tiny random model: greedy runs repeat exactly, a crash + resume equals an uninterrupted
run, the samples written are a dataset the harness reads, and the refusals of launch/gen.py."""

import json
from pathlib import Path

import pytest
import torch
from support import load_launch

from harness.cli import run_main
from harness.config import DataConfig
from harness.data.dataset import load_splits
from harness.models.load import build_model
from harness.models.tokenizer import train_tokenizer
from harness.recipes.gen.config import GenConfig
from harness.recipes.gen.files import GenFiles
from harness.recipes.gen.generate import demos, finished, new_state, run_steps
from harness.recipes.gen.prompt import Sample, render
from harness.recipes.gen.sample import sample_completions

ROOT = Path(__file__).resolve().parents[2]
SETS = ["data.synthetic_size=24", "gen.relations=Works_For,Lives_In,Causes", "gen.samples_per_relation=2",
        "gen.candidates_per_step=2", "gen.max_steps=3", "gen.max_new_tokens=10", "gen.seed_gold=1",
        "gen.gold_per_relation=1", "gen.batch_size=4"]


def gen_args(run_dir, *extra):
    out = ["generate", "--set", f"run_dir={run_dir}"]
    for s in [*SETS, *extra]:
        out += ["--set", s]
    return out


def outputs(run_dir) -> dict[str, str]:
    f = GenFiles(run_dir)
    paths = [f.candidates, f.rejects, f.metrics, f.split("train"), f.split("test")]
    return {p.name: p.read_text() for p in paths}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("full")
    assert run_main(load_launch("gen").main, gen_args(run_dir)) == 0
    return run_dir


def test_generate_writes_a_dataset_the_harness_trains_on(uninterrupted):
    f = GenFiles(uninterrupted)
    man = json.loads(f.manifest.read_text())
    splits = load_splits(DataConfig(dataset="jsonl", data_dir=str(f.samples), label_space="synthetic"))
    real = load_splits(DataConfig(synthetic_size=24))
    assert [ex.text for ex in splits.test] == [ex.text for ex in real.test]  # the real test split
    assert len(splits.train) + len(splits.dev) == man["counts"]["train"] + man["counts"]["dev"]
    cands = [json.loads(line) for line in f.candidates.read_text().splitlines()]
    assert len(cands) == 3 * 3 and all(len(c["candidates"]) == 2 for c in cands)  # nothing valid: every step runs
    metrics = json.loads(f.metrics.read_text())
    assert metrics["overall"]["candidates"] == 18 == sum(metrics["overall"]["rejects"].values())
    assert len(f.rejects.read_text().splitlines()) == 18
    assert man["counts"]["gold"] == 3


def test_generate_resume_after_crash_equals_uninterrupted(uninterrupted, tmp_path):
    class Crash(Exception):
        pass

    def crash(step):
        if step == 2:
            raise Crash

    mod = load_launch("gen")
    with pytest.raises(Crash):
        mod.main(gen_args(tmp_path), on_step=crash)
    states = [json.loads(GenFiles(tmp_path).state(i).read_text())["step"] for i in range(3)]
    assert states == [2, 2, 2] and not GenFiles(tmp_path).manifest.exists()
    assert run_main(mod.main, gen_args(tmp_path)) == 0
    assert outputs(tmp_path) == outputs(uninterrupted)


def test_generate_refuses_other_settings(uninterrupted, capsys):
    assert run_main(load_launch("gen").main, gen_args(uninterrupted, "gen.top_p=0.5")) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "gen.top_p: 0.95 there, 0.5 now" in err
    assert run_main(load_launch("gen").main, gen_args(uninterrupted, "gen.batch_size=3")) == 0  # not a result field


def test_generate_refuses_bad_config_and_no_samples(tmp_path, capsys):
    assert run_main(load_launch("gen").main, gen_args(tmp_path, "gen.mode=many")) == 2
    assert "gen.mode='many'" in capsys.readouterr().err
    assert run_main(load_launch("gen").main, gen_args(tmp_path, "gen.k=4")) == 2  # batch's count under one-by-one
    err = capsys.readouterr().err
    assert "gen.k=4 is batch mode's completions per prompt" in err and len(err.strip().splitlines()) == 1
    assert run_main(load_launch("gen").main, gen_args(tmp_path / "b", "gen.gold_per_relation=0", "gen.max_steps=1")) == 2
    assert "no training samples: all 6 candidates were rejected" in capsys.readouterr().err


def test_pairs_and_metrics_commands(uninterrupted, tmp_path, capsys):
    mod = load_launch("gen")
    assert run_main(mod.main, ["pairs", "--run-dir", str(uninterrupted)]) == 0
    assert GenFiles(uninterrupted).pairs.read_text() == ""  # no valid candidate at all: no pair
    assert run_main(mod.main, ["metrics", "--run-dir", str(uninterrupted)]) == 0
    assert "rejects by reason" in capsys.readouterr().out
    assert run_main(mod.main, ["pairs", "--run-dir", str(tmp_path)]) == 2
    assert "manifest not found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny():
    tok = train_tokenizer([render("Lives_In", [Sample("Ann Lee", "Oslo", "Ann Lee lives in Oslo.")], "one-by-one")])
    model = build_model("tiny-qwen2", vocab_size=len(tok), dtype="float32", seed=0)
    return model.eval(), tok


def test_sampling_does_not_depend_on_the_batch(tiny):
    model, tok = tiny
    prompts = ["head: a | tail:", "Relation: Lives_In", "x"]
    kw = dict(temperature=1.0, top_p=0.9, max_new_tokens=8)
    together = sample_completions(model, tok, prompts, [5, 6, 7], **kw)
    alone = [sample_completions(model, tok, [p], [s], **kw)[0] for p, s in zip(prompts, [5, 6, 7])]
    assert together == alone
    assert sample_completions(model, tok, prompts[:1], [8], **kw) != together[:1]  # the seed matters


def _overfit(model, tok, prompt: str, completion: str, steps: int = 150) -> None:
    """Teach the tiny model one completion (greedy then writes it after this prompt)."""
    ids = tok(prompt + completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    x = torch.tensor([ids])
    labels = x.clone()
    labels[0, :n_prompt] = -100
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model(input_ids=x, labels=labels).loss.backward()
        opt.step()
    model.eval()


def test_one_by_one_greedy_is_deterministic_and_fills_the_window(tmp_path):
    seed = Sample("Ann Lee", "Oslo", "Ann Lee lives in Oslo.")
    g = GenConfig(mode="one-by-one", candidates_per_step=1, window=2, samples_per_relation=3, max_steps=3, temperature=0.0,
                  max_new_tokens=32)
    tok = train_tokenizer([render("Lives_In", [seed], "one-by-one")])
    torch.manual_seed(0)
    model = build_model("tiny-qwen2", vocab_size=len(tok), dtype="float32", seed=0)
    written = " Bo Ek | tail: Rome | sentence: Bo Ek lives in Rome."
    _overfit(model, tok, render("Lives_In", [seed], "one-by-one"), written)
    runs = []
    for name in ("a", "b"):
        states = {0: new_state("Lives_In", 0, [seed])}
        run_steps(model, tok, states, g, GenFiles(tmp_path / name), frozenset())
        runs.append(states[0])
    assert runs[0] == runs[1]
    state = runs[0]
    assert state["prompts"][0]["candidates"][0]["text"] == written  # greedy reproduces what it was taught
    assert [a["sample"]["sentence"] for a in state["accepted"]] == ["Bo Ek lives in Rome."]
    assert demos(state, g) == [seed, Sample("Bo Ek", "Rome", "Bo Ek lives in Rome.")]
    assert state["prompts"][1]["prompt"] == render("Lives_In", demos(state, g), "one-by-one")
    assert finished(state, g) and state["step"] == 3
    assert json.loads(GenFiles(tmp_path / "a").state(0).read_text()) == state


def test_verifier_agreement_by_hand_and_through_the_command(uninterrupted, tmp_path):
    from harness.data.prompts import get_template
    from harness.eval.rank import rank_predict
    from harness.recipes.gen.stage import metrics
    from harness.recipes.gen.verify import agreement, verify

    real = load_splits(DataConfig(synthetic_size=24))
    exs = real.test[:6]
    preds = [exs[0].label, "x", exs[2].label, "x", "x", "x"]
    got = agreement(exs, preds)
    assert got["overall"] == {"n": 6, "agree": 2 / 6}
    assert sum(r["n"] for r in got["relations"].values()) == 6
    tok = train_tokenizer([ex.text for ex in real.train] + list(real.label_space.labels))
    model = build_model("tiny-qwen2", vocab_size=len(tok), dtype="float32", seed=0).eval()
    template = get_template("synthetic")
    want, _ = rank_predict(model, tok, exs, list(real.label_space.labels), template)
    assert verify(model, tok, exs, real.label_space.labels, template) == agreement(exs, want)
    model.save_pretrained(tmp_path / "verifier")
    tok.save_pretrained(tmp_path / "verifier")
    out = metrics(str(uninterrupted), str(tmp_path / "verifier"))
    assert out["verifier"]["overall"] == {"n": 0, "agree": None}  # nothing was generated by the random model
    assert json.loads(GenFiles(uninterrupted).metrics.read_text())["verifier"]["model"] == str(tmp_path / "verifier")
