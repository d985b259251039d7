"""The LLM stage end to end (launch/docre.py on a tiny random model: figures near zero by design, the files and
their formats are what is checked), the LoRA merge against the adapter forward in float64, and the stage on real
Re-DocRED documents (dev -> test, the offline protocol)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from support import load_launch

from harness.cli import run_main
from harness.config import load_config
from harness.models.load import build_model
from harness.recipes.docre.config import DocREConfig, LoRAConfig
from harness.recipes.docre.llm import inject_lora, merge_lora
from harness.recipes.docre.stage import DocREFiles

ROOT = Path(__file__).resolve().parents[2]
FIX = Path(__file__).parent / "fixtures"
FIXTURE_DATA = ["--set", f"data.train_file={FIX / 'docs.json'}", "--set", f"data.eval_file={FIX / 'docs.json'}",
                "--set", f"data.rel_info={FIX / 'rel_info.json'}", "--set", f"data.facts={FIX / 'facts_mara.fact'}"]
FAST = ["--set", "train.epochs=2", "--set", "train.lr=3e-3", "--set", "decode.max_new_tokens=12"]


def jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def check_outputs(files: DocREFiles, name: str, n_prompts: int, titles: set) -> dict:
    gens = jsonl(files.generations(name))
    preds = json.loads(files.predictions(name).read_text())
    res = json.loads(files.eval_json(name).read_text())
    assert len(gens) == res["n_prompts"] == n_prompts and all(isinstance(g["generation"], str) for g in gens)
    assert all(set(p) == {"title", "h_idx", "t_idx", "r"} and p["title"] in titles for p in preds)
    parse = res["parse"]
    assert parse["n_predictions"] == len(preds) == res["n_submitted"]
    assert parse["n_pieces"] == len(preds) + sum(parse["dropped"].values())
    assert set(res) >= {"re", "ign", "intra", "inter", "evidence"}
    return res


def test_pipeline_on_the_crafted_fixture(tmp_path):
    files = DocREFiles(tmp_path / "run")
    argv = ["pipeline", "--set", f"run_dir={files.root}", *FIXTURE_DATA, *FAST]
    assert run_main(load_launch("docre").main, argv) == 0
    train_prompts = jsonl(files.prompts("train.docs"))
    assert [p["id"] for p in train_prompts] == ["0:0", "1:0"]  # 'Empty' has no facts, no training prompt
    assert train_prompts[0]["answer"].startswith("(Mara Quill| place of birth| Tallinford)")
    steps = jsonl(files.llm / "metrics.jsonl")
    assert [r["step"] for r in steps] == [1, 2, 3, 4] and all(r["loss"] > 0 for r in steps)  # 2 prompts x 2 epochs
    assert (files.export / "config.json").is_file()
    res = check_outputs(files, "docs", 2, {"Mara Quill", "Norland", "Empty"})
    assert res["facts_label"] == "" and res["n_gold"] == 5
    cfg = json.loads(files.config.read_text())
    assert cfg["train"]["epochs"] == 2 and (cfg["prompts"]["style"], cfg["prompts"]["candidates"]) == ("lmrc", "")
    assert [p["pairs"] for p in jsonl(files.generations("docs"))] == [[[0, 1], [0, 2]], [[0, 1], [1, 0]]]  # gold


def test_llm_preclassifier_ablation_commands(tmp_path, monkeypatch):
    """Table 5's "w/o pre-classifier w LLM" as commands: a binary-style pipeline (train.warmup_steps checked in the
    logged learning rates) writes the candidates file from its answers, an lmrc predict asks about exactly those
    pairs. The pre-classifier's answers are fixed here ('1.Yes' per prompt: a tiny random model's are noise), so
    the detection figures are known by hand."""
    import harness.recipes.docre.llm as llm
    from harness.recipes.docre import binary
    from harness.recipes.docre.pairs import read_candidates
    from harness.recipes.docre.reader import read_docred

    mod, pre, rc = load_launch("docre"), DocREFiles(tmp_path / "pre"), DocREFiles(tmp_path / "rc")
    argv = ["pipeline", "--set", f"run_dir={pre.root}", *FIXTURE_DATA, *FAST, "--set", "prompts.style=binary",
            "--set", "prompts.pairs_per_prompt=5", "--set", "train.epochs=1", "--set", "train.warmup_steps=2",
            "--set", "train.schedule=linear"]
    with monkeypatch.context() as m:
        m.setattr(llm, "generate", lambda model, tok, prompts, **kw: ["1.Yes"] * len(prompts))
        assert run_main(mod.main, argv) == 0
    lrs = [r["lr"] for r in jsonl(pre.llm / "metrics.jsonl")]  # 5 prompts (12 + 6 pairs in fives), 5 steps
    assert lrs == pytest.approx([3e-3 * f for f in (1 / 3, 2 / 3, 1, 2 / 3, 1 / 3)])
    train_prompts = jsonl(pre.prompts("train.docs"))
    assert [len(p["pairs"]) for p in train_prompts] == [5, 5, 2, 5, 1] and train_prompts[0]["answer"].startswith(
        "1.Yes\n2.Yes\n3.No")  # Mara: (0,1) P19 and (0,2) employer / member of are related, (0,3) is not
    docs = read_docred(FIX / "docs.json")
    cands = read_candidates(pre.candidates("docs"), docs)  # the RCP contract, checked by its reader
    # the first pair of each prompt: Mara (0,1), (1,3), (3,1); Norland (0,1), (2,1); gold related pairs: Mara (0,1),
    # (0,2), Norland (0,1), (1,0) -> 5 proposed, 2 correct, P 2/5, R 2/4, F1 4/9; 18 - 5 pairs never answered
    assert cands == [[(0, 1), (1, 3), (3, 1)], [(0, 1), (2, 1)], []]
    res = json.loads(pre.eval_json("docs").read_text())
    d = res["detection"]
    assert (res["style"], d["proposed"], d["correct"], d["gold"]) == ("binary", 5, 2, 4)
    assert d["f1"] == pytest.approx(4 / 9) and res["dropped"] == dict.fromkeys(binary.REASONS, 0) | {"missing": 13}
    # step 2: the RC stage asked about the pre-classifier's pairs (its model here: any HF folder will do)
    argv = ["predict", "--set", f"run_dir={rc.root}", *FIXTURE_DATA, *FAST, "--model", str(pre.export),
            "--candidates", str(pre.candidates("docs"))]
    assert run_main(mod.main, argv) == 0
    gens = jsonl(rc.generations("docs"))
    assert [g["pairs"] for g in gens] == [[[0, 1], [1, 3], [3, 1]], [[0, 1], [2, 1]]]
    asked = {(d.title, p) for d, c in zip(docs, cands) for p in c}
    preds = json.loads(rc.predictions("docs").read_text())
    assert all((p["title"], (p["h_idx"], p["t_idx"])) in asked for p in preds)


def test_prompts_command_and_all_pairs(tmp_path):
    files = DocREFiles(tmp_path / "run")
    argv = ["prompts", "--set", f"run_dir={files.root}", "--set", "prompts.pairs_per_prompt=5", "--candidates", "all",
            *FIXTURE_DATA]
    assert run_main(load_launch("docre").main, argv) == 0
    rows = jsonl(files.prompts("eval.docs"))
    assert [r["id"] for r in jsonl(files.prompts("train.docs"))] == ["0:0", "1:0"]
    assert [len(r["pairs"]) for r in rows] == [5, 5, 2, 5, 1]  # 12 pairs of Mara, 6 of Norland, none of Empty


def test_input_errors_are_one_line(tmp_path, capsys):
    mod = load_launch("docre")
    argv = ["predict", "--set", f"run_dir={tmp_path}", *FIXTURE_DATA]
    assert run_main(mod.main, argv) == 2
    assert "not a Hugging Face model folder" in capsys.readouterr().err
    assert run_main(mod.main, ["prompts", "--set", "prompts.pairs_per_promt=3"]) == 2
    assert "pairs_per_prompt" in capsys.readouterr().err
    bad = tmp_path / "c.jsonl"
    bad.write_text(json.dumps({"title": "Norland", "pairs": [], "scores": []}) + "\n")
    assert run_main(mod.main, ["prompts", "--set", f"run_dir={tmp_path}", "--candidates", str(bad), *FIXTURE_DATA]) == 2
    assert "title 'Norland' but the document at that position is 'Mara Quill'" in capsys.readouterr().err


def test_lora_merge_equals_the_adapter_forward():
    torch.manual_seed(0)
    model = build_model("tiny-qwen2", vocab_size=64, seed=0).double()
    model = inject_lora(model, LoRAConfig(r=4, alpha=8, dropout=0.0))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)  # B starts at zero: make the adapters count
    ids = torch.randint(0, 64, (2, 9))
    model.eval()
    with torch.no_grad():
        want = model(input_ids=ids).logits
        got = merge_lora(model)(input_ids=ids).logits
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert not any("lora_" in n or "base_layer" in n for n in model.state_dict())


def test_pipeline_with_lora_exports_a_plain_model(tmp_path):
    files = DocREFiles(tmp_path / "run")
    argv = ["pipeline", "--set", f"run_dir={files.root}", "--set", "lora.r=4", *FIXTURE_DATA, *FAST]
    assert run_main(load_launch("docre").main, argv) == 0
    with safe_open(str(files.export / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and not any("lora_" in k or "base_layer" in k for k in keys)
    check_outputs(files, "docs", 2, {"Mara Quill", "Norland", "Empty"})


def test_config_defaults_offline_protocol(tmp_path):
    from harness.recipes.docre.config import resolve_paths

    cfg = load_config(None, ["data.data_dir=" + str(tmp_path), "train.epochs=1"], cls=DocREConfig)
    assert (cfg.train.micro_batch, cfg.train.lr, cfg.train.eval_split, cfg.prompts.pairs_per_prompt) == (1, 1e-4, "", 0)
    paths = resolve_paths(cfg.data)
    assert (paths.train.name, paths.eval.name, paths.facts.name) == ("dev_revised.json", "test_revised.json",
                                                                     "train_annotated.fact")
    assert paths.facts_label == "(DocRED-train facts)"


@pytest.mark.data
def test_pipeline_on_real_redocred_documents(tmp_path, data_dir):
    """The offline protocol on 3 documents: train on Re-DocRED dev's first 3, predict on test's first 2."""
    files = DocREFiles(tmp_path / "run")
    argv = ["pipeline", "--set", f"run_dir={files.root}", "--set", f"data.data_dir={data_dir}",
            "--set", "data.max_train_docs=3", "--set", "data.max_eval_docs=2", "--set", "prompts.pairs_per_prompt=20",
            "--set", "train.epochs=1", "--set", "decode.max_new_tokens=8"]
    assert run_main(load_launch("docre").main, argv) == 0
    train_prompts = jsonl(files.prompts("train.dev_revised"))
    assert len({p["title"] for p in train_prompts}) == 3 and all(len(p["pairs"]) <= 20 for p in train_prompts)
    from harness.recipes.docre.reader import read_docred

    test_docs = read_docred(data_dir / "redocred" / "test_revised.json")[:2]
    n_prompts = sum(-(-len(d.related_pairs()) // 20) for d in test_docs)
    res = check_outputs(files, "test_revised", n_prompts, {d.title for d in test_docs})
    assert res["facts_label"] == "(DocRED-train facts)" and res["n_gold"] == sum(len(d.facts) for d in test_docs)


def test_resume_refuses_other_prompt_settings(tmp_path, capsys):
    mod = load_launch("docre")
    base = ["train-llm", "--set", f"run_dir={tmp_path / 'run'}", *FIXTURE_DATA, "--set", "train.epochs=1"]
    assert run_main(mod.main, base) == 0
    assert run_main(mod.main, [*base, "--resume", "--set", "prompts.pairs_per_prompt=1"]) == 2
    assert "prompts.pairs_per_prompt: 0 there, 1 now" in capsys.readouterr().err  # the one settings check's format
    assert run_main(mod.main, [*base, "--resume"]) == 0  # same settings: nothing left to train
    assert run_main(mod.main, base) == 2  # a used folder without --resume / --overwrite
    assert "--overwrite" in capsys.readouterr().err
