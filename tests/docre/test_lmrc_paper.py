"""LMRC's paper settings (Tables 6-7) in examples/lmrc_*.json, value by value; train.warmup_steps (Table 7's 100 /
200 warm-up steps) against a float64 reference; Ign F1's training facts (data.train_file's own, or the offline
protocol's DocRED facts, labelled)."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from harness.config import TrainConfig, load_config
from harness.recipes.docre.config import OFFLINE_FACTS_LABEL, DocREConfig, resolve_paths
from harness.recipes.docre.rcp.config import RCPFiles
from harness.recipes.docre.stage import candidates_spec, evaluate_stage, load_inputs
from harness.train.engine import lr_factor, make_scheduler

ROOT = Path(__file__).resolve().parents[2]
FIX = Path(__file__).parent / "fixtures"
EX = ROOT / "examples"
TARGETS = "q_proj,k_proj,v_proj,o_proj,down_proj,gate_proj,up_proj"


def _load(name: str) -> DocREConfig:
    return load_config(str(EX / f"{name}.json"), [], cls=DocREConfig)


def _llm(cfg, *, epochs, warm):
    t, lo = cfg.train, cfg.lora
    # Table 7: batch size 4 (one rank), epochs, lr 1e-4, warm-up steps, LoRA r 8 / alpha 16
    assert (t.micro_batch * t.grad_accum, t.epochs, t.lr, t.warmup_steps) == (4, epochs, 1e-4, warm)
    assert (lo.r, lo.alpha, lo.dropout, lo.target_modules) == (8, 16, 0.05, TARGETS)  # dropout, modules: the script's
    assert (t.schedule, t.weight_decay, t.grad_clip, t.seed) == ("linear", 0.0, 1.0, 42)  # reference script (HF)
    assert (cfg.decode.max_new_tokens, cfg.decode.relation_align) == (768, 0.0)
    assert cfg.model.large == "/ckpt/Llama-2-13b-chat-hf" and cfg.data.facts == "" and cfg.data.facts_label == ""


def _rcp(r, train, dev, propose):
    # Table 6 (bold) + appendix A: batch 4, 30 epochs, lr 3e-5 encoder / 1e-4 classifier, max grad norm 1.0,
    # linear warm-up over the first 6% of steps; the reference code's seed, window and fixed threshold (> 0.5)
    assert (r.batch_docs * r.grad_accum, r.epochs, r.lr, r.head_lr, r.grad_clip) == (4, 30, 3e-5, 1e-4, 1.0)
    assert (r.warmup_ratio, r.schedule, r.weight_decay, r.seed) == (0.06, "linear", 0.0, 66)
    assert (r.threshold_mode, r.threshold, r.encoder) == ("fixed", 0.5, "/ckpt/roberta-large")
    assert (r.max_len, r.max_doc_len, r.emb_size, r.block_size) == (512, 1022, 768, 64)
    assert (r.train_file, r.dev_file, r.propose_file) == (train, dev, propose)


def test_lmrc_redocred_paper_config_holds_tables_6_and_7():
    cfg = _load("lmrc_redocred_paper")
    rd = "../shared/data/redocred/"
    _llm(cfg, epochs=8, warm=100)  # RC stage
    _rcp(cfg.rcp, rd + "train_revised.json", rd + "dev_revised.json", rd + "test_revised.json")
    assert (cfg.data.train_file, cfg.data.eval_file) == (rd + "train_revised.json", rd + "test_revised.json")
    assert (cfg.prompts.style, cfg.prompts.pairs_per_prompt) == ("lmrc", 0)  # one RC prompt per document
    assert cfg.prompts.candidates == "rcp:test"  # what rcp-propose --name test writes, in whatever run folder
    moved = load_config(str(EX / "lmrc_redocred_paper.json"), ["run_dir=/elsewhere"], cls=DocREConfig)
    assert candidates_spec(moved) == str(RCPFiles("/elsewhere").candidates("test")) == "/elsewhere/rcp/candidates/test.jsonl"
    assert candidates_spec(moved, "gold") == "gold"  # --candidates wins


def test_the_other_lmrc_examples():
    dd, rd = "../shared/data/docred/", "../shared/data/redocred/"
    cfg = _load("lmrc_docred_paper")
    _llm(cfg, epochs=8, warm=100)
    _rcp(cfg.rcp, dd + "train_annotated.json", dd + "dev.json", dd + "dev.json")  # DocRED: Table 6's bold = Re-DocRED's
    assert candidates_spec(cfg) == str(RCPFiles(cfg.run_dir).candidates("dev"))
    for name, style, train, ev in [("lmrc_redocred_loraft", "extract", rd + "train_revised.json",
                                    rd + "test_revised.json"),
                                   ("lmrc_docred_loraft", "extract", dd + "train_annotated.json", dd + "dev.json"),
                                   ("lmrc_docred_llm_preclassifier", "binary", dd + "train_annotated.json",
                                    dd + "dev.json")]:
        cfg = _load(name)
        _llm(cfg, epochs=2, warm=200)  # Table 7's "Pre" column
        assert (cfg.prompts.style, cfg.prompts.pairs_per_prompt, cfg.prompts.candidates) == (style, 20, "")
        assert (cfg.data.train_file, cfg.data.eval_file) == (train, ev)


def _reference(total: int, warm: int) -> np.ndarray:
    """float64 factors for steps 0 .. total: the line from (-1, 0) to (W, 1), then linear decay to (total, 0)."""
    warm = min(warm, total - 1)
    s = np.arange(total + 1, dtype=np.float64)
    return np.where(s < warm, np.interp(s, [-1.0, warm], [0.0, 1.0]), np.clip(1 - (s - warm) / (total - warm), 0, 1))


@pytest.mark.parametrize("warm", [1, 3, 100, 200])
def test_warmup_steps_against_a_float64_reference(warm):
    for total in [1, 2, 5, 99, 100, 101, 250, 1000]:
        got = np.array([lr_factor(s, total, 0.5, "linear", warm) for s in range(total + 1)])  # the ratio is ignored
        np.testing.assert_allclose(got, _reference(total, warm), rtol=0, atol=1e-12, err_msg=f"total={total}")
    assert lr_factor(99, 1000, 0.03, "linear", 100) == pytest.approx(100 / 101) and lr_factor(100, 1000, 0.03,
                                                                                             "linear", 100) == 1.0


def test_warmup_steps_zero_keeps_the_ratio_and_negative_is_refused():
    assert TrainConfig().warmup_steps == 0
    for total in (10, 97, 1000):
        assert [lr_factor(s, total, 0.03, "cosine", 0) for s in range(total)] == \
               [lr_factor(s, total, 0.03, "cosine") for s in range(total)]
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        lr_factor(0, 10, 0.0, "linear", -1)


def test_scheduler_reads_train_warmup_steps():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = make_scheduler(opt, TrainConfig(warmup_steps=3, warmup_ratio=0.5, schedule="linear"), 8)
    seen = []
    for _ in range(8):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(seen, _reference(8, 3)[:8], rtol=0, atol=1e-12)
    make_scheduler(opt, SimpleNamespace(warmup_ratio=0.25, schedule="linear"), 8)  # a config without the field
    assert opt.param_groups[0]["lr"] == pytest.approx(1 / 3)  # the ratio: W = ceil(0.25 * 8) = 2, f(0) = 1 / 3


def _p(title, h, t, r):
    return {"title": title, "h_idx": h, "t_idx": t, "r": r}


# the evaluation file is the fixture (5 gold facts); 4 predictions, 3 correct: Mara 0->1 P19, Mara 0->2 P108 and
# Norland 1->0 P17
PREDS = [_p("Mara Quill", 0, 1, "P19"), _p("Mara Quill", 0, 2, "P108"), _p("Mara Quill", 1, 3, "P17"),
         _p("Norland", 1, 0, "P17")]


def _offline_folder(root: Path) -> Path:
    (root / "redocred").mkdir(parents=True)
    (root / "docred" / "ref").mkdir(parents=True)
    for name in ("dev_revised.json", "test_revised.json"):
        shutil.copy(FIX / "docs.json", root / "redocred" / name)
    shutil.copy(FIX / "rel_info.json", root / "docred" / "rel_info.json")
    shutil.copy(FIX / "facts_mara.fact", root / "docred" / "ref" / "train_annotated.fact")  # (Quill, Harrow Press, P108)
    return root


def test_ign_f1_uses_the_training_files_own_facts(tmp_path):
    root = _offline_folder(tmp_path / "data")
    train = tmp_path / "train.json"  # the training file: only 'Mara Quill' (its 3 facts, every mention-name pair)
    train.write_text(json.dumps(json.loads((FIX / "docs.json").read_text())[:1]))
    cfg = load_config(None, [f"data.data_dir={root}", f"data.train_file={train}"], cls=DocREConfig)
    paths = resolve_paths(cfg.data)
    assert (paths.facts, paths.facts_label) == (train, "")
    res = evaluate_stage(cfg, load_inputs(cfg, train=False), PREDS)
    # correct in train: Mara 0->1 P19 and 0->2 P108 (Norland's fact is not in the training file):
    # IgnP = (3 - 2) / (4 - 2) = 1/2, R = 3/5, Ign F1 = 2 (1/2)(3/5) / (1/2 + 3/5) = 6/11
    assert (res["correct"], res["in_train"], res["facts"], res["facts_label"]) == (3, 2, str(train), "")
    assert res["ign"]["precision"] == pytest.approx(0.5) and res["ign"]["f1"] == pytest.approx(6 / 11)
    given = tmp_path / "given.fact"  # data.facts still wins over the training file
    given.write_text(json.dumps([["Norland", "Tallinford", "P17"]]))
    cfg = load_config(None, [f"data.data_dir={root}", f"data.train_file={train}", f"data.facts={given}"],
                      cls=DocREConfig)
    assert resolve_paths(cfg.data).facts == given


def test_ign_f1_offline_protocol_uses_docred_facts_labelled(tmp_path):
    root = _offline_folder(tmp_path / "data")
    cfg = load_config(None, [f"data.data_dir={root}"], cls=DocREConfig)
    res = evaluate_stage(cfg, load_inputs(cfg, train=False), PREDS)
    # correct in train: only Mara 0->2 P108 (mention 'Quill' x 'Harrow Press'): IgnP = 2 / 3, R = 3/5,
    # Ign F1 = 2 (2/3)(3/5) / (2/3 + 3/5) = 12/19
    assert (res["in_train"], res["facts_label"]) == (1, OFFLINE_FACTS_LABEL)
    assert res["facts"] == str(root / "docred" / "ref" / "train_annotated.fact")
    assert res["ign"]["precision"] == pytest.approx(2 / 3) and res["ign"]["f1"] == pytest.approx(12 / 19)
