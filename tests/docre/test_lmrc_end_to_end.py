"""LMRC end to end through launch/docre.py on a few real Re-DocRED documents with tiny models (the offline dev->test
protocol): rcp-train -> rcp-propose (the candidates file) -> pipeline --candidates (the LLM fine-tuned on gold pairs,
asked about the proposed pairs) -> the official scores. Tiny random models: the figures are near zero by design;
the test checks that every stage hands the next what the contract says."""

import json

import pytest
from support import load_launch
from test_docre_llm import check_outputs, jsonl

from harness.cli import run_main
from harness.recipes.docre.rcp.config import RCPFiles
from harness.recipes.docre.reader import read_docred
from harness.recipes.docre.stage import DocREFiles

RCP = [f"rcp.{x}" for x in ("max_docs=5", "heldout_fraction=0.4", "epochs=1", "emb_size=16", "block_size=4",
                             "max_len=128", "max_doc_len=252", "batch_docs=1", "threshold_mode=recall",
                             "recall_target=0.9")]


def _sets(pairs):
    return [a for s in pairs for a in ("--set", s)]


@pytest.mark.data
def test_lmrc_rcp_candidates_feed_the_llm_stage(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    mod, run = load_launch("docre"), tmp_path / "run"
    assert run_main(mod.main, ["rcp-train", *_sets([f"run_dir={run}", *RCP])]) == 0
    test = tmp_path / "test2.json"  # the first 2 test documents: the evaluation file of both stages
    test.write_text(json.dumps(json.loads((data_dir / "redocred" / "test_revised.json").read_text())[:2]))
    test_docs = read_docred(test)
    assert run_main(mod.main, ["rcp-propose", *_sets([f"run_dir={run}", *RCP]), "--docs", str(test),
                               "--name", "test2"]) == 0
    cands = RCPFiles(run).candidates("test2")
    rows = jsonl(cands)
    assert [r["title"] for r in rows] == [d.title for d in test_docs]

    argv = ["pipeline", *_sets([f"run_dir={run}", f"data.data_dir={data_dir}", f"data.eval_file={test}",
                                "data.max_train_docs=3", "prompts.pairs_per_prompt=50", "train.epochs=1",
                                "decode.max_new_tokens=8"]), "--candidates", str(cands)]
    assert run_main(mod.main, argv) == 0
    files = DocREFiles(run)
    asked = {(r["title"], tuple(p)) for r in rows for p in r["pairs"]}
    n_prompts = sum(-(-len(r["pairs"]) // 50) for r in rows)
    res = check_outputs(files, "test2", n_prompts, {d.title for d in test_docs})
    preds = json.loads(files.predictions("test2").read_text())
    assert all((p["title"], (p["h_idx"], p["t_idx"])) in asked for p in preds)  # only proposed pairs are answered
    assert res["n_gold"] == sum(len(d.facts) for d in test_docs) and 0 <= res["re"]["f1"] <= 1
    print("LMRC tiny end to end:", {k: res[k] for k in ("re", "ign")}, "proposed pairs", len(asked))
