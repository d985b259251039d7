"""launch/experiment.py --train-data generated on the embedded default: generator warm-up -> generate -> reference ->
scoring -> SFT and ATLANTIS on the generated folder -> evaluation on the REAL test split (1 rank)."""

import json
import os
from pathlib import Path

import pytest
from support import cli

from harness.config import DataConfig
from harness.data.dataset import load_splits
from harness.recipes.gen.prompt import strip_markers

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_experiment_trains_on_generated_samples_end_to_end(tmp_path):
    root = tmp_path / "exp"
    proc = cli("-m", "harness", "atlantis", "experiment", "--run-dir", root, "--nproc", "1", "--train-data", "generated",
               "--seeds", "1", "--set", "data.synthetic_size=64", "--set", "data.synthetic_test_size=16", "--set", "train.epochs=1", "--gen-set", "gen.gold_per_relation=8",
               env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)
    assert proc.rc == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((root / "summary.json").read_text())
    gen = summary["generate"]
    print("\ngenerate:", gen["counts"], "accepted", gen["overall"]["accepted"], "of", gen["overall"]["candidates"],
          "candidates; rejects", gen["overall"]["rejects"])
    print("diversity:", {k: gen["overall"][k] for k in ("distinct_1", "distinct_2", "self_bleu", "similarity")})
    for name in ("sft", "atlantis"):
        run = summary["per_seed"]["0"][name]
        print(f"{name}: macro-F1 {100 * run['macro_f1']:.2f} %, accuracy {100 * run['accuracy']:.2f} %")
    assert "generate" in summary["timings_s"]
    assert gen["overall"]["candidates"] == sum(gen["overall"]["rejects"].values()) + gen["overall"]["accepted"]
    assert (root / "generate" / "warmup" / "export" / "config.json").is_file()  # generation ran the warmed-up model
    rows = [json.loads(line) for line in (Path(gen["samples"]) / "train.jsonl").read_text().splitlines()]
    generated = [r for r in rows if r["id"].startswith("gen:")]
    real_train = {strip_markers(ex.text) for ex in load_splits(DataConfig(synthetic_size=64)).train}
    copies = sum(strip_markers(r["text"]) in real_train for r in generated)
    print(f"training split: {len(generated)} generated ({copies} of them a gold training sentence verbatim) + "
          f"{len(rows) - len(generated)} gold")
    assert gen["counts"]["generated"] > 0 and generated  # generated samples are in the training split
    assert copies == 0 and gen["overall"]["rejects"].get("gold_copy", 0) > 0  # gold copies are rejected, counted
    data = json.loads((root / "seed-0" / "sft" / "data" / "manifest.json").read_text())
    assert data["dataset"] == "jsonl" and data["config"]["data_dir"] == gen["samples"]
    assert data["counts"]["train"] + data["counts"]["dev"] == gen["counts"]["train"] + gen["counts"]["dev"]
    real_test = load_splits(DataConfig(synthetic_size=64)).test
    assert data["counts"]["test"] == len(real_test) == 16  # evaluated on the real test split
