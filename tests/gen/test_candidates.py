"""Completions per step (issue 24): one-by-one draws gen.candidates_per_step (1 = the paper), batch gen.k; the other
mode's field is refused. gold_copy through the stage: counted by reason in metrics.json and rejects.jsonl."""

import json

import pytest
from support import load_launch

from harness.cli import run_main
from harness.config import ConfigError, DataConfig
from harness.data.dataset import load_splits
from harness.recipes.gen import generate as gen_loop
from harness.recipes.gen.config import GenConfig, GenRunConfig, check_gen_config, max_steps, per_step
from harness.recipes.gen.files import GenFiles
from harness.recipes.gen.prompt import ANSWER_PREFIX, Sample, from_example
from harness.recipes.gen.sample import row_seed

SEED = Sample("Alice Moreau", "Lisbon", "Alice Moreau lives in Lisbon.")


def _draws(monkeypatch, texts):
    """Replace the sampler: record every (prompt, seed) row and answer each with ``texts(prompt, seed)``."""
    calls = []

    def fake(model, tok, prompts, seeds, **kw):
        calls.append(list(zip(prompts, seeds)))
        return [texts(p, s) for p, s in zip(prompts, seeds)]

    monkeypatch.setattr(gen_loop, "sample_completions", fake)
    return calls


def test_paper_default_draws_one_completion_per_step(monkeypatch, tmp_path):
    g = GenConfig(samples_per_relation=2, max_steps=3, batch_size=16, seed=7)
    assert (g.mode, g.candidates_per_step, per_step(g)) == ("one-by-one", 1, 1)
    calls = _draws(monkeypatch, lambda p, s: " nothing valid")
    states = {0: gen_loop.new_state("A", 0, [SEED]), 1: gen_loop.new_state("B", 1, [SEED])}
    gen_loop.run_steps(None, None, states, g, GenFiles(tmp_path), frozenset())
    assert len(calls) == 3  # one generate call per step (2 relations x 1 candidate fit one batch)
    for t, rows in enumerate(calls):
        assert [s for _, s in rows] == [row_seed(7, 0, t, 0), row_seed(7, 1, t, 0)]
    assert all(len(p["candidates"]) == 1 for s in states.values() for p in s["prompts"])


def test_best_of_k_draws_k_completions_per_step_and_keeps_the_least_similar(monkeypatch, tmp_path):
    g = GenConfig(candidates_per_step=3, samples_per_relation=1, max_steps=2, batch_size=2, seed=1)
    close = " Chen Wei | tail: Lisbon | sentence: Chen Wei lives in Lisbon. {}"
    far = " Greta Lind | tail: Oulu | sentence: Oulu has been home to Greta Lind since {}."
    lines = {row_seed(1, 0, 0, j): text.format(j) for j, text in enumerate([close, far, close])}
    calls = _draws(monkeypatch, lambda p, s: lines[s])
    states = {0: gen_loop.new_state("A", 0, [SEED])}
    gen_loop.run_steps(None, None, states, g, GenFiles(tmp_path), frozenset())
    assert [len(c) for c in calls] == [2, 1]  # 3 rows in batches of 2; finished after one accepted sample
    assert [s for c in calls for _, s in c] == [row_seed(1, 0, 0, j) for j in range(3)]
    reasons = [c["reason"] for c in states[0]["prompts"][0]["candidates"]]
    assert reasons == ["not_selected", "", "not_selected"]
    assert states[0]["accepted"][0]["sample"]["head"] == "Greta Lind"


def test_counts_per_step_and_refused_mixtures():
    assert per_step(GenConfig(mode="batch", samples_per_relation=8)) == 8  # gen.k = 0: the whole batch at once
    assert max_steps(GenConfig(mode="batch", samples_per_relation=8)) == 4
    assert per_step(GenConfig(mode="batch", k=3, samples_per_relation=8)) == 3
    assert max_steps(GenConfig(mode="batch", k=3, samples_per_relation=8)) == 12
    assert max_steps(GenConfig(candidates_per_step=4, samples_per_relation=8)) == 32  # one accepted per step at most
    with pytest.raises(ConfigError, match=r"gen.k=2 is batch mode's .* set gen.candidates_per_step instead"):
        check_gen_config(GenRunConfig(gen=GenConfig(k=2)))
    with pytest.raises(ConfigError, match=r"gen.candidates_per_step=2 is one-by-one's best-of-k; gen.mode=batch"):
        check_gen_config(GenRunConfig(gen=GenConfig(mode="batch", candidates_per_step=2)))
    with pytest.raises(ConfigError, match=r"gen.candidates_per_step=0: must be >= 1"):
        check_gen_config(GenRunConfig(gen=GenConfig(candidates_per_step=0)))
    with pytest.raises(ConfigError, match=r"gen.k=-1: must be >= 0"):
        check_gen_config(GenRunConfig(gen=GenConfig(mode="batch", k=-1)))
    check_gen_config(GenRunConfig(gen=GenConfig(mode="batch", k=2)))
    check_gen_config(GenRunConfig(gen=GenConfig(candidates_per_step=2)))


SETS = ["data.synthetic_size=24", "gen.relations=Works_For,Lives_In", "gen.samples_per_relation=2",
        "gen.max_steps=2", "gen.max_new_tokens=4", "gen.seed_gold=1", "gen.gold_per_relation=1"]


def _args(run_dir, *extra):
    out = ["generate", "--set", f"run_dir={run_dir}"]
    for s in [*SETS, *extra]:
        out += ["--set", s]
    return out


def test_stage_rejects_gold_copies_and_counts_them_by_reason(monkeypatch, tmp_path, capsys):
    train = load_splits(DataConfig(synthetic_size=24)).train
    copy = from_example(train[-1]).line()[len(ANSWER_PREFIX):]  # a gold training sentence verbatim
    by_seed = {row_seed(0, 0, 0, 0): copy,
               row_seed(0, 1, 0, 0): "  " + copy.lower().replace(" ", "  "),  # the same up to case and spacing
               row_seed(0, 0, 1, 0): " Ann Lee | tail: Oslo | sentence: Ann Lee lives in Oslo.",
               row_seed(0, 1, 1, 0): " Bo Ek | tail: Rome | sentence: Bo Ek works in Rome."}
    calls = _draws(monkeypatch, lambda p, s: by_seed[s])
    mod = load_launch("gen")
    assert run_main(mod.main, _args(tmp_path)) == 0
    assert [len(c) for c in calls] == [2, 2]  # 2 relations x 1 candidate, 2 steps
    f = GenFiles(tmp_path)
    metrics = json.loads(f.metrics.read_text())
    assert metrics["overall"]["rejects"] == {"gold_copy": 2} and metrics["overall"]["accepted"] == 2
    assert [m["rejects"] for m in metrics["relations"].values()] == [{"gold_copy": 1}, {"gold_copy": 1}]
    assert metrics["overall"]["entity_presence"] == 1.0  # gold copies are well-formed
    rejects = [json.loads(line) for line in f.rejects.read_text().splitlines()]
    assert [(r["relation"], r["step"], r["reason"]) for r in rejects] == [("Works_For", 0, "gold_copy"),
                                                                          ("Lives_In", 0, "gold_copy")]
    rows = [json.loads(line) for line in f.split("train").read_text().splitlines()]
    rows += [json.loads(line) for line in f.split("dev").read_text().splitlines()] if f.split("dev").exists() else []
    assert sorted(r["id"] for r in rows if r["id"].startswith("gen:")) == ["gen:Lives_In:1:0", "gen:Works_For:1:0"]
    assert run_main(mod.main, ["pairs", "--run-dir", str(tmp_path)]) == 2  # one candidate per prompt: no pairs
    assert "every prompt has one candidate" in capsys.readouterr().err
