"""The seed tables' rows -> command lines (harness.recipes.tables.plan, a pure function): every row plans, the
paper's settings reach the argv, roles / data files / flags are listed, shared work is one step."""

import dataclasses
from pathlib import Path

import pytest

from harness.cli import InputError, parse
from harness.recipes.tables.plan import Context, plan_row
from harness.recipes.tables.specs import ROLES, TABLES, select

ROOT = Path(__file__).resolve().parents[2]
CTX = Context(Path("/runs"), Path("/data"), {r: f"/ckpt/{r}" for r in ROLES})


def _sets(argv) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]


def _plan(spec: str, ctx: Context = CTX):
    [(table, row)] = select(spec)
    return plan_row(table, row, ctx)


def test_select_all_table_row_and_errors():
    assert len(select("all")) == sum(len(t.rows) for t in TABLES.values())
    assert [r.id for _, r in select("atlantis-t1")] == ["flan-t5", "qwen2-1.5b", "qwen2-7b"]
    assert [r.id for _, r in select("qa4re/retacred")] == ["retacred"]
    with pytest.raises(ValueError, match="no table 'nope'; known: all, atlantis-t1"):
        select("nope")
    with pytest.raises(ValueError, match="has no row 'x'; its rows: tacred, tacrev"):
        select("qa4re/x")


def test_every_row_has_one_paper_figure_per_column_and_unique_ids():
    for t in TABLES.values():
        assert len({r.id for r in t.rows}) == len(t.rows), t.id
        for r in t.rows:
            assert len(r.paper) == len(t.columns), (t.id, r.id)


@pytest.mark.parametrize("smoke", [False, True])
def test_every_row_plans_and_parses_with_the_harness_grammar(smoke):
    """Each step's argv is a valid command line of this checkout (flags other helpers add are checked by the
    runner's requirements, so they are dropped here when this checkout lacks them)."""
    from harness.recipes.tables.runner import available

    ctx = Context(Path("/runs"), Path("/data"), CTX.ckpts, smoke=smoke, tokenizer="/runs/tokenizer" if smoke else "")
    for table, row in select("all"):
        plan = plan_row(table, row, ctx)
        assert plan.steps and not plan.needs and bool(plan.partial) == (smoke and row.opts.get("dpo", False))
        missing = {r.name for r in plan.requires if r.what == "flag" and not available(r)}
        for step in plan.steps:
            argv = list(step.argv)
            for flag in missing:
                if flag in argv:
                    i = argv.index(flag)
                    del argv[i:i + 2]
            args = parse(argv)
            assert (args.recipe, args.cmd) == tuple(step.argv[:2])
            if smoke:
                assert not any(a.startswith("/ckpt/") for a in step.argv), step.argv


@pytest.mark.parametrize("smoke", [False, True])
def test_a_step_name_is_one_command_line_across_all_rows(smoke):
    from harness.recipes.tables.runner import check_steps

    ctx = Context(Path("/runs"), Path("/data"), CTX.ckpts, smoke=smoke, tokenizer="/runs/tok")
    plans = [plan_row(t, r, ctx) for t, r in select("all")]
    check_steps(plans)  # raises on a name planned with two command lines
    names = [s.name for p in plans for s in p.steps]
    assert len(set(names)) < len(names)  # rows do share steps (LMRC's trained LLMs, RCP, the ICL samples)
    bad = [plans[0], dataclasses.replace(plans[0], steps=(dataclasses.replace(plans[0].steps[0], argv=("x",)),))]
    with pytest.raises(RuntimeError, match="planned twice with different command lines"):
        check_steps(bad)


def test_atlantis_rows_carry_the_reports_settings():
    argv = _plan("atlantis-t1/flan-t5").steps[0].argv
    assert argv[:2] == ("atlantis", "experiment")
    opt = {argv[i]: argv[i + 1] for i in range(2, len(argv) - 1) if argv[i].startswith("--") and argv[i] != "--set"}
    assert opt["--large"] == "/ckpt/flan-t5-base" and opt["--small"] == opt["--reference"] == "/ckpt/flan-t5-small"
    assert opt["--dataset"] == "semeval" and opt["--data-dir"] == "/data/semeval2010_task8"
    assert {"train.epochs=8", "train.lr=0.0003", "train.micro_batch=32", "train.grad_accum=1",
            "data.label_space=semeval10", "eval.method=generate"} <= set(_sets(argv))
    big = _plan("atlantis-t1/qwen2-7b").steps[0].argv
    assert "/ckpt/qwen2-7b" in big and "/ckpt/qwen2-1.5b-instruct" in big
    assert {"train.epochs=3", "train.lr=2e-05", "train.micro_batch=1", "train.grad_accum=16"} <= set(_sets(big))
    mid = _sets(_plan("atlantis-t2/qwen2-1.5b").steps[0].argv)
    assert {"train.micro_batch=8", "train.grad_accum=2", "data.label_space=conll04"} <= set(mid)
    noisy = _plan("atlantis-t3/qwen2-1.5b-noise20").steps[0].argv
    assert noisy[noisy.index("--noise") + 1] == "0.2"


def test_global_batch_is_held_over_processes():
    ctx = Context(Path("/runs"), Path("/data"), CTX.ckpts, nproc=2)
    assert "train.grad_accum=1" in _sets(_plan("atlantis-t1/qwen2-1.5b", ctx).steps[0].argv)  # 8 x 1 x 2 = 16
    assert "train.grad_accum=8" in _sets(_plan("atlantis-t1/qwen2-7b", ctx).steps[0].argv)  # 1 x 8 x 2 = 16
    with pytest.raises(InputError, match="--nproc 3: atlantis-t1/flan-t5's batch 32 is not a multiple"):
        _plan("atlantis-t1/flan-t5", Context(Path("/r"), Path("/d"), CTX.ckpts, nproc=3))


def test_missing_roles_are_listed_one_line_each_and_smoke_needs_none():
    plan = _plan("atlantis-t1/qwen2-7b", Context(Path("/r"), Path("/d"), {"qwen2-7b": "/ckpt/7b"}))
    assert plan.roles == ("qwen2-7b", "qwen2-1.5b", "qwen2-1.5b-instruct")
    assert plan.needs == ("needs --ckpt qwen2-1.5b=PATH (Qwen/Qwen2-1.5B (base))",
                          "needs --ckpt qwen2-1.5b-instruct=PATH (Qwen/Qwen2-1.5B-Instruct: p_ref of the 1.5B/7B "
                          "pair)")
    smoke = _plan("atlantis-t1/qwen2-7b", Context(Path("/r"), Path("/d"), {}, smoke=True, tokenizer="/r/tok"))
    assert smoke.needs == () and "tiny-qwen2" in smoke.steps[0].argv and "model.tokenizer=/r/tok" in _sets(
        smoke.steps[0].argv)
    assert "train.epochs=1" in _sets(smoke.steps[0].argv)  # after the paper's 3: the later --set wins


def test_qa4re_rows():
    step = _plan("qa4re/retacred").steps[0]
    argv = step.argv
    assert argv[:2] == ("qa4re", "eval") and argv[argv.index("--model") + 1] == "/ckpt/flan-t5-xxl"
    assert argv[argv.index("--prompting") + 1] == "qa4re" and argv[argv.index("--subset") + 1] == "reference"
    assert {"data.dataset=tacred", "data.data_dir=/data/retacred", "data.label_space=retacred"} <= set(_sets(argv))
    assert step.done == "/runs/qa4re/retacred/qa4re/test.metrics.json"
    semeval = _plan("qa4re/semeval-vanilla").steps[0].argv
    assert semeval[semeval.index("--prompting") + 1] == "vanilla" and "data.dataset=semeval" in _sets(semeval)
    assert "data.label_space=retacred" not in _sets(_plan("qa4re/tacrev").steps[0].argv)


def _docre_config(argv):
    """The DocREConfig a docre step resolves (its --config and --set, as the command loads them)."""
    from harness.config import load_config
    from harness.recipes.docre.config import DocREConfig

    config = argv[argv.index("--config") + 1]
    return load_config(str(ROOT / config), _sets(argv), cls=DocREConfig)


def test_lmrc_rows_share_the_trained_models():
    lmrc = _plan("lmrc-t3a/lmrc-13b")
    names = [s.name for s in lmrc.steps]
    assert names == ["docre/docred-llama2-13b-chat-lmrc/train", "docre/docred-rcp/rcp-train",
                     "docre/docred-rcp/propose-dev", "docre/docred-llama2-13b-chat-lmrc/dev-rcp",
                     "docre/docred-rcp/rcp-train", "docre/docred-rcp/propose-test",
                     "docre/docred-llama2-13b-chat-lmrc/test-rcp"]
    pred = lmrc.steps[3].argv
    assert pred[:2] == ("docre", "predict") and pred[pred.index("--candidates") + 1] == \
        "/runs/docre/docred-rcp/rcp/candidates/dev.jsonl"
    assert lmrc.steps[1] == lmrc.steps[4]  # RCP trained once (rcp.propose_file is not a result setting)
    # the same steps (name and argv) in Tables 4 and 5: the runner runs them once
    t4 = {s.name: s for s in _plan("lmrc-t4/lmrc-13b").steps}
    assert all(t4[s.name] == s for s in lmrc.steps if s.name in t4) and len(t4) == 4
    gold = _plan("lmrc-t5/rc-gold").steps
    assert gold[0] == lmrc.steps[0] and gold[1].argv[gold[1].argv.index("--candidates") + 1] == "gold"


def test_lmrc_steps_resolve_to_the_papers_tables_6_and_7():
    lmrc = _plan("lmrc-t3a/lmrc-13b")
    cfg = _docre_config(lmrc.steps[0].argv)  # RC stage (Table 7)
    assert (cfg.prompts.style, cfg.lora.r, cfg.lora.alpha, cfg.train.lr, cfg.train.epochs) == ("lmrc", 8, 16, 1e-4, 8)
    assert (cfg.train.micro_batch, cfg.train.grad_accum, cfg.train.warmup_steps) == (4, 1, 100)
    assert cfg.model.large == "/ckpt/llama2-13b-chat" and cfg.data.train_file == "/data/docred/train_annotated.json"
    assert cfg.data.eval_file == "/data/docred/dev.json" and cfg.run_dir == "/runs/docre/docred-llama2-13b-chat-lmrc"
    r = _docre_config(lmrc.steps[1].argv).rcp  # RCP (Table 6)
    assert (r.encoder, r.epochs, r.batch_docs, r.lr, r.head_lr, r.grad_clip, r.warmup_ratio, r.schedule) == (
        "/ckpt/roberta-large", 30, 4, 3e-5, 1e-4, 1.0, 0.06, "linear")
    assert (r.threshold_mode, r.threshold, r.train_file, r.dev_file) == ("fixed", 0.5, "/data/docred/train_annotated.json",
                                                                         "/data/docred/dev.json")
    ft = _docre_config(_plan("lmrc-t3b/lora-ft-13b").steps[0].argv)  # "Pre" (Table 7), Re-DocRED
    assert (ft.prompts.style, ft.train.epochs, ft.train.warmup_steps, ft.lora.r, ft.lora.alpha) == ("extract", 2, 200,
                                                                                                    8, 16)
    assert ft.data.train_file == "/data/redocred/train_revised.json" and ft.data.facts == ""  # Ign F1: its facts
    two = _docre_config(_plan("lmrc-t3a/lmrc-13b", Context(Path("/r"), Path("/d"), CTX.ckpts, nproc=2)).steps[0].argv)
    assert (two.train.micro_batch, two.train.grad_accum) == (2, 1)  # batch 4 over 2 processes


def test_lora_ft_and_llm_preclassifier_rows():
    ft = _plan("lmrc-t3b/lora-ft-13b")
    assert ft.steps[1].argv[ft.steps[1].argv.index("--candidates") + 1] == "all"
    assert ft.outputs["test:eval"].endswith("eval-test-all/predict/test_revised.eval.json")
    assert "/data/redocred/test_revised.json" in ft.files and "roberta-large" not in ft.roles
    binary = _plan("lmrc-t5/no-rcp-llm")
    names = [s.name for s in binary.steps]
    assert names == ["docre/docred-llama2-13b-chat-binary/train", "docre/docred-llama2-13b-chat-lmrc/train",
                     "docre/docred-llama2-13b-chat-binary/dev-all", "docre/docred-llama2-13b-chat-lmrc/dev-llm-binary"]
    assert _docre_config(binary.steps[0].argv).prompts.style == "binary"
    last = binary.steps[3].argv
    assert last[last.index("--candidates") + 1] == \
        "/runs/docre/docred-llama2-13b-chat-binary/eval-dev-all/predict/dev.candidates.jsonl"
    assert any(r.name == "binary" for r in binary.requires)
    assert "/data/docred/test.json" not in binary.files  # a dev-only row does not need the test file


def test_gen_rows():
    icl = _plan("gen/semeval-icl")
    gen = _sets(icl.steps[0].argv)
    assert {"gen.mode=one-by-one", "gen.candidates_per_step=1", "model.large=/ckpt/generator"} <= set(gen)
    assert [s.argv[:2] for s in icl.steps] == [("gen", "generate"), ("atlantis", "train"), ("atlantis", "eval")]
    direct = _sets(_plan("gen/semeval-direct").steps[0].argv)
    assert "gen.mode=batch" in direct and not any(s.startswith("gen.candidates_per_step") for s in direct)
    dpo = _plan("gen/tacred-dpo").steps
    assert [s.name for s in dpo] == ["gen/tacred-dpo-pairs/generate", "gen/tacred-dpo-pairs/pairs",
                                     "gen/tacred-dpo-train", "gen/tacred-dpo/generate", "gen/tacred-dpo/re-train",
                                     "gen/tacred-dpo/re-eval"]
    assert "gen.candidates_per_step=2" in _sets(dpo[0].argv)  # pairs need two candidates per prompt
    assert dpo[2].argv[dpo[2].argv.index("--pairs") + 1] == "/runs/gen/tacred-dpo-pairs/pairs.jsonl"
    assert {"model.large=/runs/gen/tacred-dpo-train/export", "gen.candidates_per_step=1"} <= set(_sets(dpo[3].argv))
    smoke = plan_row(*select("gen/tacred-dpo")[0], Context(Path("/r"), Path("/d"), {}, smoke=True, tokenizer="t"))
    assert [s.name for s in smoke.steps] == ["gen/tacred-dpo-pairs/generate", "gen/tacred-dpo-pairs/pairs"]
    assert smoke.partial.startswith("--smoke stops after gen pairs")


def test_paper_settings_doc_names_only_fields_and_flags_that_exist():
    """docs/paper_settings.md: every `section.key` it names is a field of a config of this checkout, every --flag
    a flag of some command."""
    import re

    from harness.cli import parser
    from harness.config import RunConfig
    from harness.recipes.docre.config import DocREConfig
    from harness.recipes.gen.config import GenRunConfig

    text = (ROOT / "docs" / "paper_settings.md").read_text()
    keys = set()
    for cls in (RunConfig, DocREConfig, GenRunConfig):
        keys |= set(_all_fields(cls()))
    named = set(re.findall(r"`(?:[^`]*?[ (])?((?:data|model|train|eval|scoring|weights|dpo|gen|rcp|prompts|lora|decode)"
                           r"\.[a-z_0-9]+)(?![a-z_0-9])", text)) - {"eval.json"}  # a file name, not a field
    assert named and not named - keys, sorted(named - keys)
    flags = set()

    def walk(p):
        for a in p._actions:
            flags.update(a.option_strings)
            if isinstance(a.choices, dict):  # a subparsers action: recipe or command name -> its parser
                for sub in a.choices.values():
                    walk(sub)
    walk(parser())
    used = set(re.findall(r"`[^`]*?(--[a-z][a-z-]+)", text))
    assert used and not used - flags, sorted(used - flags)


def _all_fields(cfg) -> list[str]:
    import dataclasses

    return [f"{s.name}.{f.name}" for s in dataclasses.fields(cfg) if dataclasses.is_dataclass(getattr(cfg, s.name))
            for f in dataclasses.fields(getattr(cfg, s.name))]
