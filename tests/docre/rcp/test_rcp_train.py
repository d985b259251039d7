"""RCP end to end with a tiny encoder: the entry point on the crafted fixture (train, propose, the candidates
file of the contract), an interrupted run resumed at an epoch boundary equals an uninterrupted one, refusals,
and a few real Re-DocRED documents through the offline dev->test protocol."""

import json
from pathlib import Path

import pytest
import torch
from support import load_launch

from harness.cli import InputError
from harness.config import load_config
from harness.recipes.docre.config import DocREConfig
from harness.recipes.docre.rcp.config import RCPFiles
from harness.recipes.docre.rcp.train import rcp_train, rcp_trainer
from harness.recipes.docre.reader import read_docred

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "docre" / "fixtures" / "docs.json"
TINY = ["rcp.emb_size=16", "rcp.block_size=4", "rcp.max_len=24", "rcp.max_doc_len=40", "rcp.batch_docs=1",
        "rcp.log_every=1"]


def _sets(run, extra=()):
    f = str(FIXTURE)
    return [f"run_dir={run}", f"rcp.dev_file={f}", f"rcp.train_file={f}", f"rcp.propose_file={f}", *TINY,
            *[f"rcp.{x}" for x in extra]]


def _main(argv):
    return load_launch("docre").main(argv)


def _args(cmd, sets, *extra):
    return [cmd, *[a for s in sets for a in ("--set", s)], *extra]


def test_entry_point_trains_and_writes_the_candidates_file(tmp_path):
    run = tmp_path / "run"
    sets = _sets(run, ["epochs=2"])
    assert _main(_args("rcp-train", sets)) == 0
    files = RCPFiles(run)
    metrics = [json.loads(x) for x in files.metrics.read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4] and all(m["loss"] > 0 for m in metrics)
    assert [e["epoch"] for e in map(json.loads, files.evals.read_text().splitlines())] == [1, 2]
    assert files.best_model.is_file() and (files.checkpoints / "latest").read_text() == "step4"
    assert _main(_args("rcp-propose", sets, "--name", "fx")) == 0
    docs = read_docred(FIXTURE)
    rows = [json.loads(x) for x in files.candidates("fx").read_text().splitlines()]
    thr = json.loads(files.threshold.read_text())
    assert (thr["mode"], thr["threshold"], thr["strict"]) == ("fixed", 0.5, True)  # the default: the reference's > 0.5
    assert [r["title"] for r in rows] == [d.title for d in docs]
    for r, d in zip(rows, docs):
        assert set(r) == {"title", "pairs", "scores"} and len(r["pairs"]) == len(r["scores"])
        assert [tuple(p) for p in r["pairs"]] == [p for p in d.candidate_pairs() if list(p) in r["pairs"]]
        assert all(0.5 < s <= 1 for s in r["scores"])
    stats = json.loads(files.candidate_stats("fx").read_text())
    assert stats["candidate_pairs"] == 18 and stats["proposed_pairs"] == sum(len(r["pairs"]) for r in rows)
    assert stats["related_gold"] == 4 and 0 <= stats["related_recall"] <= 1


class _Stop(Exception):
    pass


def _stop_after_first(rec):
    if rec["epoch"] == 1:
        raise _Stop


def test_resume_at_epoch_boundary_equals_uninterrupted(tmp_path):
    sets = ["epochs=2", "dropout=0.1"]  # dropout: the RNG state must come back with the checkpoint
    full = rcp_trainer(load_config(None, _sets(tmp_path / "full", sets), cls=DocREConfig)).setup()
    full.train()
    cut_cfg = load_config(None, _sets(tmp_path / "cut", sets), cls=DocREConfig)
    cut = rcp_trainer(cut_cfg, on_step=_stop_after_first).setup()
    with pytest.raises(_Stop):
        cut.train()
    cut.close()
    resumed = rcp_trainer(cut_cfg, resume=True).setup()
    assert (resumed.epoch, resumed.step) == (1, 2)
    resumed.train()
    for (n, a), (_, b) in zip(full.objective.model.state_dict().items(), resumed.objective.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=n)
    read = lambda t, f: [json.loads(x) for x in f(RCPFiles(t)).read_text().splitlines()]  # noqa: E731
    for what in (lambda f: f.metrics, lambda f: f.evals):
        a, b = read(tmp_path / "full", what), read(tmp_path / "cut", what)
        for ra, rb in zip(a, b):
            for k in ("step_time_s", "tokens_per_s", "mfu", "peak_mem_gb"):  # timing and memory readout
                ra.pop(k, None), rb.pop(k, None)
        assert a == b
    full.close()
    resumed.close()


def test_refusals(tmp_path):
    cfg = load_config(None, _sets(tmp_path / "r", ["epochs=1"]), cls=DocREConfig)
    rcp_train(cfg)
    with pytest.raises(InputError, match="already holds an RCP training"):
        rcp_trainer(cfg).setup()
    other = load_config(None, _sets(tmp_path / "r", ["epochs=1", "lr=1e-3"]), cls=DocREConfig)
    with pytest.raises(InputError, match=r"another config \(rcp\.lr: 3e-05 there, 0\.001 now\)"):
        rcp_trainer(other, resume=True).setup()
    with pytest.raises(InputError, match="emb_size"):
        rcp_trainer(load_config(None, _sets(tmp_path / "q", ["emb_size=15"]), cls=DocREConfig))
    from harness.recipes.docre.rcp.stage import rcp_propose

    with pytest.raises(InputError, match="other model settings"):
        rcp_propose(load_config(None, _sets(tmp_path / "r", ["epochs=1", "block_size=8"]), cls=DocREConfig))


@pytest.mark.data
def test_real_redocred_dev_to_test_protocol(tmp_path, data_dir, monkeypatch):
    """5 dev documents (3 train, 2 held out) -> 5 test documents, the offline default's files."""
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    from harness.recipes.docre.rcp.stage import rcp_propose

    run = tmp_path / "real"
    cfg = load_config(None, [f"run_dir={run}"] + [f"rcp.{x}" for x in (
        "max_docs=5", "heldout_fraction=0.4", "epochs=1", "emb_size=16", "block_size=4", "max_len=128",
        "max_doc_len=252", "batch_docs=1")], cls=DocREConfig)
    out = rcp_trainer(cfg).setup()
    assert (len(out.objective.train_feats), len(out.objective.tune_feats)) == (3, 2)
    assert max(len(f) for f in out.objective.train_feats + out.objective.tune_feats) > 128  # the two-chunk path runs
    out.train()
    out.close()
    stats = rcp_propose(cfg)
    test = read_docred(data_dir / "redocred" / "test_revised.json")[:5]
    rows = [json.loads(x) for x in RCPFiles(run).candidates("test").read_text().splitlines()]
    assert [r["title"] for r in rows] == [d.title for d in test]
    assert stats["candidate_pairs"] == sum(len(d.candidate_pairs()) for d in test)
    assert stats["related_gold"] == sum(len(d.related_pairs()) for d in test)
