"""``python -m harness tables run all --smoke``: every row of every seed table through the recipes' own commands at
tiny size (presets, one shared tokenizer, a few examples / documents, one epoch). The data folder is built here in
the layout the rows read: the real SemEval, CoNLL04 and Re-DocRED files; TACRED, TACREV and Re-TACRED from the
reader fixture (TACRED is licensed, not in the data folder); DocRED's train / dev / test files (not in the data
folder either) and Re-DocRED's train_revised stand-ins made of a few Re-DocRED documents. The figures of tiny random
models mean nothing; the test checks that every row ran and its figures were read back (the DPO rows stop after
gen pairs under --smoke: harness.recipes.tables.plan.SMOKE_DPO).

Measured (2026-12-04, the shared 2-core machine at load 2.5-3.6): 35 rows, 56 distinct steps, 19 min 50 s; the six
ATLANTIS experiments (8 stage processes each) 720 s of it, the LMRC steps 315 s, generation 95 s, QA4RE 56 s."""

import json
import os
import time
from pathlib import Path

import pytest
from support import ROOT, cli

from harness.recipes.tables.specs import TABLES

FIXTURE_TACRED = ROOT / "tests" / "data" / "fixtures" / "tacred"


def smoke_data(data_dir: Path, out: Path) -> Path:
    out.mkdir()
    for name in ("semeval2010_task8", "conll04"):
        (out / name).symlink_to(data_dir / name)
    for name in ("tacred", "tacrev", "retacred"):
        (out / name).symlink_to(FIXTURE_TACRED)
    dev = json.loads((data_dir / "redocred" / "dev_revised.json").read_text())
    test = json.loads((data_dir / "redocred" / "test_revised.json").read_text())
    files = {"redocred/train_revised.json": dev[:4], "redocred/dev_revised.json": dev[4:8],
             "redocred/test_revised.json": test[:4], "docred/train_annotated.json": dev[8:12],
             "docred/dev.json": dev[12:16], "docred/test.json": test[4:8]}
    for rel, docs in files.items():
        (out / rel).parent.mkdir(exist_ok=True)
        (out / rel).write_text(json.dumps(docs))
    (out / "docred" / "rel_info.json").symlink_to(data_dir / "docred" / "rel_info.json")
    return out


@pytest.mark.slow
@pytest.mark.data
def test_smoke_runs_every_row_of_every_table(tmp_path, data_dir):
    data = smoke_data(data_dir, tmp_path / "data")
    t0 = time.perf_counter()
    res = cli("-m", "harness", "tables", "run", "all", "--smoke", "--data-dir", data, "--run-dir", tmp_path / "runs",
              env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=3600)
    took = time.perf_counter() - t0
    results = json.loads((tmp_path / "runs" / "results.json").read_text())
    rows = {(t["id"], r["id"]): r for t in results["tables"] for r in t["rows"]}
    dpo = {k for k in rows if k[0] == "gen" and k[1].endswith("-dpo")}
    bad = {k: r["lines"] for k, r in rows.items() if r["status"] != ("partial" if k in dpo else "ok")}
    print(f"\nsmoke: {len(rows)} rows in {took:.0f}s; steps run {len(results['step_seconds'])} "
          f"({sum(results['step_seconds'].values()):.0f}s)")
    assert res.rc == 0 and not bad, (bad, res.stdout[-3000:], res.stderr[-3000:])
    assert set(rows) == {(t.id, r.id) for t in TABLES.values() for r in t.rows}
    for t in results["tables"]:
        for r in t["rows"]:
            if (t["id"], r["id"]) in dpo:  # see harness.recipes.tables.plan.SMOKE_DPO
                assert r["lines"][0].startswith("--smoke stops after gen pairs") and r["measured"] is None
            else:
                assert len(r["measured"]) == len(t["columns"])
    md = (tmp_path / "runs" / "results.md").read_text()
    assert "| LMRC-LLaMA2-13B-Chat | 74.08 / " in md  # the paper's figure beside the measured one
